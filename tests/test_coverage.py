"""`server.py coverage` and the plugin configuration it reports (enabled, disabled, settings)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dtf_catalog import default_catalog
from plugins.registry import AVAILABLE, build_plugins, load_config

ROOT = Path(__file__).resolve().parent.parent
CATALOG = default_catalog()
LIVE_MINE = ("dns", "cymru", "tls")


def coverage(*args, env: dict | None = None, config: Path | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DTF_")}
    environment["DTF_CONFIG"] = str(config or ROOT / "tests" / "no-config.yaml")
    environment.update(env or {})
    return subprocess.run([sys.executable, "server.py", "coverage", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def matrix() -> dict:
    done = coverage("--json", env={"DTF_PLUGINS": "local,dns"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_json_shape_lists_every_plugin_and_pivot(matrix):
    assert set(matrix) == {"plugins", "pivots"}
    assert [p["name"] for p in matrix["plugins"]] == list(AVAILABLE)
    assert all(set(p) >= {"name", "enabled", "live"} and "error" not in p for p in matrix["plugins"])
    assert [p["id"] for p in matrix["pivots"]] == list(CATALOG.pivots)
    for pivot in matrix["pivots"]:
        assert set(pivot) == {"id", "name", "plugins"}
        assert all(abilities and set(abilities) <= {"extract", "expand"} for abilities in pivot["plugins"].values())


def test_enabled_and_live_flags(matrix):
    flags = {p["name"]: (p["enabled"], p["live"]) for p in matrix["plugins"]}
    assert flags["local"] == (True, False)
    assert flags["dns"] == (True, True)
    assert flags["cymru"] == (False, True) and flags["tls"] == (False, True)


def test_matrix_cells(matrix):
    cells = {p["id"]: p["plugins"] for p in matrix["pivots"]}
    assert cells["P0103.006"]["local"] == ["extract", "expand"]
    assert cells["P0103.006"]["dns"] == ["extract"]
    assert cells["P0201"]["dns"] == ["extract", "expand"]
    assert cells["P0203.001"]["cymru"] == ["extract"]
    assert cells["P0303"]["tls"] == ["extract"]
    assert "dns" not in cells["P0301"]
    assert cells["P0103"]["dns"] == ["extract", "expand"]    # a parent shows what serves its children


def test_dns_as_and_certificate_pivots_have_a_live_plugin_and_the_store(matrix):
    for pivot in matrix["pivots"]:
        if pivot["id"].startswith(("P0103", "P0203", "P030", "P0101.01")):
            assert "local" in pivot["plugins"], pivot["id"]
            assert set(LIVE_MINE) & set(pivot["plugins"]), pivot["id"]


def test_disable_by_environment():
    done = coverage("--json", env={"DTF_DISABLE_PLUGINS": ",".join(n for n in AVAILABLE if n != "local")})
    assert done.returncode == 0, done.stderr
    assert {p["name"]: p["enabled"] for p in json.loads(done.stdout)["plugins"]} == {n: n == "local" for n in AVAILABLE}


def test_config_file_and_a_broken_plugin_setting(tmp_path):
    config = tmp_path / "dtf.yaml"
    config.write_text("plugins:\n  enabled: [local, dns, cymru]\n  disabled: [cymru]\n  tls: {port: https}\n")
    done = coverage("--json", config=config)
    assert done.returncode == 0, done.stderr
    plugins = {p["name"]: p for p in json.loads(done.stdout)["plugins"]}
    assert [n for n, p in plugins.items() if p["enabled"]] == ["local", "dns"]
    assert "port" in plugins["tls"]["error"]
    assert all("error" not in p for n, p in plugins.items() if n != "tls")


def test_text_table_and_unknown_plugin():
    done = coverage(env={"DTF_PLUGINS": "local,cymru"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["pivot", "name", "local"]
    row = next(line for line in lines if line.startswith("P0203.003"))
    assert row.split()[-len(AVAILABLE):][list(AVAILABLE).index("cymru")] == "e"
    assert any(line.split()[:2] == ["cymru", "enabled"] for line in lines)
    assert any(line.split()[:2] == ["dns", "disabled"] for line in lines)
    broken = coverage(env={"DTF_PLUGINS": "local,nosuch"})
    assert broken.returncode == 2 and "nosuch" in broken.stderr and "Traceback" not in broken.stderr


# ---- the configuration the server builds its plugins from ----------------------------------------------

def test_default_enables_every_plugin(monkeypatch, tmp_path):
    monkeypatch.delenv("DTF_PLUGINS", raising=False)
    monkeypatch.delenv("DTF_DISABLE_PLUGINS", raising=False)
    assert load_config(tmp_path / "absent.yaml").enabled == list(AVAILABLE)


def test_offline_analyst_disables_the_live_plugins(monkeypatch, tmp_path):
    from transforms.service import Service

    monkeypatch.delenv("DTF_PLUGINS", raising=False)
    config = tmp_path / "dtf.yaml"
    config.write_text("plugins:\n  disabled: [" + ", ".join(n for n in AVAILABLE if n != "local") + "]\n")
    monkeypatch.setenv("DTF_CONFIG", str(config))
    service = Service(tmp_path / "store.sqlite3", CATALOG)
    assert [p.name for p in service.plugins] == ["local"]


def test_settings_reach_the_plugins_and_environment_wins(monkeypatch, tmp_path):
    monkeypatch.delenv("DTF_PLUGINS", raising=False)
    config = tmp_path / "dtf.yaml"
    config.write_text("plugins:\n  enabled: [local, dns, cymru]\n  dns: {servers: '127.0.0.1', port: 5353}\n"
                      "  cymru: {servers: '127.0.0.2', timeout: 0.5}\n")
    monkeypatch.setenv("DTF_CYMRU_PORT", "5454")
    plugins = {p.name: p for p in build_plugins(None, CATALOG, load_config(config)) if p.name != "local"}
    assert (plugins["dns"].lookup.settings.servers, plugins["dns"].lookup.settings.port) == (("127.0.0.1",), 5353)
    assert (plugins["cymru"].lookup.settings.port, plugins["cymru"].lookup.settings.timeout) == (5454, 0.5)


def test_bad_setting_stops_the_build_with_a_clear_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("DTF_PLUGINS", "local,dns")
    monkeypatch.setenv("DTF_DNS_LIFETIME", "forever")
    with pytest.raises(ValueError, match="dns plugin: setting lifetime='forever'"):
        build_plugins(None, CATALOG, load_config(tmp_path / "absent.yaml"))
