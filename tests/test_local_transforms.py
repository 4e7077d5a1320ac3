"""`python server.py local NAME VALUE [PROPS]`, the way Maltego runs a local transform:
arguments in, Maltego XML on stdout, properties as `k=v#k2=v2` with backslash escapes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support import parse_response, run_transform

ROOT = Path(__file__).resolve().parent.parent
SEEDS = yaml.safe_load((ROOT / "demo" / "seeds.yaml").read_text(encoding="utf-8"))["seeds"]


@pytest.fixture(scope="module")
def demo_db(demo_service) -> Path:
    """The session demo store, read by the subprocesses (they never write to it)."""
    return demo_service.store.path


@pytest.fixture(scope="module")
def names(demo_service) -> dict[tuple[str, str, str], str]:
    return {(s.kind, s.pivot, s.input): s.name for s in demo_service.registry}


def local(db: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DTF_DB=str(db), DTF_PLUGINS="local", DTF_CONFIG=str(ROOT / "tests" / "no-config.yaml"))
    return subprocess.run([sys.executable, str(ROOT / "server.py"), "local", *args], env=env, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


def test_local_run_matches_the_http_answer(demo_db, names, demo_server):
    seed = SEEDS["P0101.010"]
    name = names[("pivot", "P0101.010", seed["type"])]
    result = local(demo_db, name, seed["value"])
    assert result.returncode == 0, result.stderr
    answer = parse_response(result.stdout)
    assert set(seed["expect"]) <= answer.values()
    over_http = run_transform(demo_server.url, name, seed["type"], seed["value"], soft=100, hard=100)
    assert answer.values() == over_http.values()


def test_escaped_properties_carry_a_trail(demo_db, names):
    seed = SEEDS["P0101.001"]
    earlier = [{"pivot": "P0401.001", "value": "Sale #1 = today", "from": "shop.example"}]
    trail_text = json.dumps(earlier, separators=(",", ":"))
    escaped = trail_text.replace("\\", "\\\\").replace("#", "\\#").replace("=", "\\=")
    props = f"fqdn={seed['value']}#dtf.trail={escaped}#note=a\\=b\\#c"
    result = local(demo_db, names[("pivot", "P0101.001", seed["type"])], seed["value"], props)
    assert result.returncode == 0, result.stderr
    answer = parse_response(result.stdout)
    assert answer.entities and not answer.exceptions
    for entity in answer.entities:
        trail = json.loads(entity.fields["dtf.trail"])
        assert trail[0] == earlier[0], "the escaped # and = come back unescaped"
        assert trail[1]["pivot"] == "P0101.001" and trail[1]["from"] == seed["value"]


def test_extract_then_expand_locally(demo_db, names):
    seed = SEEDS["P0203.002"]
    extracted = parse_response(local(demo_db, names[("extract", "P0203.002", seed["type"])], seed["value"]).stdout)
    assert [e.value for e in extracted.entities] == ["64502"]
    step = extracted.entities[0].fields["dtf.trail"].replace("#", "\\#").replace("=", "\\=")
    expanded = parse_response(local(demo_db, names[("expand", "P0203.002", "maltego.AS")], "AS64502",
                                    f"dtf.trail={step}").stdout)
    assert set(seed["expect"]) <= expanded.values() and seed["value"] in expanded.values()
    assert all(len(json.loads(e.fields["dtf.trail"])) == 2 for e in expanded.entities)


@pytest.mark.parametrize("args, expected", [
    (("dtfnosuchtransform", "calmoriver.test"), "dtfnosuchtransform"),
    (("{pivot}", "not a domain"), "not a DNS name"),
    (("{pivot}", "   "), "no value"),
])
def test_local_errors_are_maltego_messages(demo_db, names, args, expected):
    name = args[0].replace("{pivot}", names[("pivot", "P0101.001", "maltego.Domain")])
    result = local(demo_db, name, *args[1:])
    assert result.returncode == 0
    assert "Traceback" not in result.stdout + result.stderr
    answer = parse_response(result.stdout)
    assert any(expected in text for text in answer.exceptions), answer.exceptions


def test_malformed_props_are_tolerated(demo_db, names):
    seed = SEEDS["P0102.003"]
    result = local(demo_db, names[("pivot", "P0102.003", seed["type"])], seed["value"], "novalue#=#\\#x=#dtf.trail=[oops")
    answer = parse_response(result.stdout)
    assert not answer.exceptions and set(seed["expect"]) <= answer.values()
