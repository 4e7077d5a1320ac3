"""The command line as a user runs it: `list --json`, `demo --if-empty`, `stats`, `runserver`."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dtf_catalog import default_catalog

ROOT = Path(__file__).resolve().parent.parent


def env_for(db: Path) -> dict:
    return dict(os.environ, DTF_DB=str(db), DTF_PLUGINS="local", DTF_CONFIG=str(ROOT / "tests" / "no-config.yaml"),
                PYTHONUNBUFFERED="1")


def cli(db: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "server.py"), *args], env=env_for(db), capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def listed(tmp_path_factory) -> list[dict]:
    result = cli(tmp_path_factory.mktemp("list") / "s.sqlite3", "list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_list_json_shape(listed):
    assert isinstance(listed, list) and listed
    catalog = default_catalog()
    names = [t["name"] for t in listed]
    assert len(names) == len(set(names)), "transform names are unique"
    for item in listed:
        assert {"name", "path", "kind", "pivot", "input", "outputs", "set"} <= set(item), item
        assert re.fullmatch(r"[A-Za-z0-9]+", item["name"]), item["name"]
        assert item["path"] == f"/run/{item['name']}/"
        assert isinstance(item["kind"], str) and item["kind"]
        assert item["pivot"] is None or item["pivot"] in catalog.pivots, item["pivot"]
        assert re.fullmatch(r"(maltego|dtf)\.[A-Za-z0-9]+", item["input"]), item["input"]
        assert isinstance(item["outputs"], list) and item["outputs"]
        assert all(re.fullmatch(r"(maltego|dtf)\.[A-Za-z0-9]+", t) for t in item["outputs"]), item["outputs"]
        assert isinstance(item["set"], str) and item["set"]
    kinds = {t["kind"] for t in listed}
    assert {"pivot", "extract", "expand"} <= kinds
    pivoted = {t["pivot"] for t in listed if t["kind"] == "pivot"}
    assert pivoted == set(catalog.pivots), "one pivot transform (at least) for each of the 37 pivots"
    for item in listed:
        if item["kind"] in ("pivot", "extract", "expand"):
            tactic = catalog.pivot(item["pivot"]).tactic
            assert tactic in item["set"], (item["name"], item["set"])


def test_list_json_matches_what_the_server_serves(listed, demo_server):
    with urllib.request.urlopen(f"{demo_server.url}/transforms.json", timeout=10) as response:
        served = json.loads(response.read())
    assert [t["name"] for t in served] == [t["name"] for t in listed]


def test_list_text_counts_transforms(tmp_path, listed):
    result = cli(tmp_path / "s.sqlite3", "list")
    assert result.returncode == 0
    assert result.stdout.strip().splitlines()[-1] == f"{len(listed)} transforms"


def test_demo_if_empty_twice(tmp_path):
    db = tmp_path / "s.sqlite3"
    first = cli(db, "demo", "--if-empty")
    assert first.returncode == 0, first.stderr
    loaded = re.search(r"read (\d+), added (\d+), updated 0, rejected 0", first.stdout)
    assert loaded and int(loaded.group(2)) > 1000, first.stdout
    stats = json.loads(cli(db, "stats").stdout)
    second = cli(db, "demo", "--if-empty")
    assert second.returncode == 0
    assert "not loaded" in second.stdout and "added" not in second.stdout
    assert json.loads(cli(db, "stats").stdout) == stats
    again = cli(db, "demo")  # without --if-empty: loads again, and adds nothing twice
    assert re.search(r"added 0, updated 0, rejected 0", again.stdout), again.stdout
    assert json.loads(cli(db, "stats").stdout)["observations"] == stats["observations"] == int(loaded.group(2))


def test_no_command_prints_help(tmp_path):
    result = cli(tmp_path / "s.sqlite3")
    assert result.returncode == 2 and "runserver" in result.stdout


def _listening_addresses(port: int) -> set[str]:
    """Local addresses bound to `port`, from /proc/net/tcp{,6} (LISTEN state)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if int(port_hex, 16) == port and fields[3] == "0A":
                found.add(address)
    return found


def test_runserver_binds_loopback_by_default(tmp_path):
    db = tmp_path / "s.sqlite3"
    process = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "runserver", "--port", "0"],
                               env=env_for(db), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, port, seen = time.monotonic() + 20, None, []
        while port is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"http://([\d.]+):(\d+)/", line)
            if match:
                assert match.group(1) == "127.0.0.1", line
                port = int(match.group(2))
        assert port, "".join(seen) + process.stderr.read() if process.poll() is not None else "".join(seen)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            health = json.loads(response.read())
        assert health["status"] == "ok" and health["catalog_revision"] == "b6d34da"
        assert health["transforms"] > 37 * 2
        addresses = _listening_addresses(port)
        if addresses:
            assert addresses == {"0100007F"}, f"listening on {addresses}, not only 127.0.0.1"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
