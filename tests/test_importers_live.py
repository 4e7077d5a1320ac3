"""`python server.py import rdap|crtsh|pdns FILE...`: the live sources' formats, read by the same
parsers the plugins use; afterwards the store alone answers the extract transforms (Flask app
over a socket, only the local plugin enabled)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dtf_catalog import default_catalog
from plugins.registry import PluginConfig, build_plugins
from store import Store
from support import ServerThread, run_transform

ROOT = Path(__file__).resolve().parent.parent
CATALOG = default_catalog()


def import_files(store_path: Path, fmt: str, *files: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DTF_DB": str(store_path), "DTF_PLUGINS": "local",
           "DTF_CONFIG": str(ROOT / "tests" / "no-config.yaml")}
    return subprocess.run([sys.executable, "server.py", "import", fmt, *map(str, files), "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def store_app(tmp_path):
    """A function giving a Flask app over `tmp_path`'s store with only the local plugin, on a socket."""
    from transforms.service import Service
    from web.app import create_app

    path = tmp_path / "store.sqlite3"
    servers = []

    def start():
        plugins = build_plugins(Store(path), CATALOG, PluginConfig(["local"], {}))
        server = ServerThread(create_app(Service(path, CATALOG, plugins))).__enter__()
        servers.append(server)
        return server.url

    yield path, start
    for server in servers:
        server.__exit__(None, None, None)


def extracted(base_url: str, transform: str, entity_type: str, value: str) -> set[tuple[str, str, str]]:
    answer = run_transform(base_url, transform, entity_type, value, soft=100, hard=100)
    assert not answer.exceptions, answer.exceptions
    return {(e.link.get("dtf.pivot"), e.value, e.link.get("dtf.sources")) for e in answer.entities}


def test_import_rdap_registry_and_registrar_answers(store_app, shared_dir):
    path, start = store_app
    rdap = shared_dir / "fixtures" / "api" / "rdap"
    done = import_files(path, "rdap", rdap / "verisign-com_domain-google-com_2024-07.json",
                        rdap / "markmonitor-registrar_domain-google-com_2024-07.json")
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["rejected"] == 0 and stats["added"] > 0
    found = extracted(start(), "dtfp0101extractdomain", "maltego.Domain", "google.com")
    assert found == {
        ("P0101.001", "MarkMonitor Inc.", "rdap"), ("P0101.002", "1997-09-15", "rdap"),
        ("P0101.003", "Google LLC", "rdap"), ("P0101.011", "google.com", "rdap"),
        *{("P0101.010", f"ns{n}.google.com", "rdap") for n in range(1, 5)}}
    again = json.loads(import_files(path, "rdap", rdap / "verisign-com_domain-google-com_2024-07.json").stdout)
    assert again["added"] == 0   # idempotent


def test_import_crtsh_answer(store_app, shared_dir):
    path, start = store_app
    done = import_files(path, "crtsh",
                        shared_dir / "fixtures" / "api" / "crtsh" / "identity-www-example-com_exclude-expired_2023-10.json")
    assert done.returncode == 0, done.stderr
    url = start()
    assert {(p, v) for p, v, _ in extracted(url, "dtfp0301extractdomain", "maltego.Domain", "www.example.com")} == {
        ("P0301", "DigiCert Inc")}
    assert {(p, v) for p, v, _ in extracted(url, "dtfp0302extractdomain", "maltego.Domain", "www.example.com")} == {
        ("P0302", "www.example.org")}
    assert {(p, v) for p, v, _ in extracted(url, "dtfp0303extractdomain", "maltego.Domain", "www.example.org")} == {
        ("P0303", "2023-01-13")}
    expand = run_transform(url, "dtfp0302expand", "maltego.DNSName", "www.example.org")
    assert [e.value for e in expand.entities] == ["www.example.com"]


def test_import_passive_dns(store_app, tmp_path):
    path, start = store_app
    lines = [
        {"rrname": "evil-login.example", "rrtype": "A", "rdata": "203.0.113.7", "time_first": 1700000000,
         "time_last": 1710000000, "count": 4},                                              # CIRCL style
        {"rrname": "evil-login.example.", "rrtype": "AAAA", "rdata": ["2001:db8::7"], "time_first": 1700000000,
         "time_last": 1700000500},                                                          # DNSDB style
        {"rrname": "www.evil-login.example.", "rrtype": "CNAME", "rdata": ["evil-login.example."],
         "zone_time_first": 1690000000, "zone_time_last": 1690000100},
        {"rrname": "evil-login.example", "rrtype": "MX", "rdata": "10 mx1.mailhost.example.", "time_first": 1700000000,
         "time_last": 1700000000},
        {"rrname": "evil-login.example", "rrtype": "NS", "rdata": ["ns1.regway.com.", "ns2.regway.com."],
         "time_first": 1700000000, "time_last": 1700000000},
        {"rrname": "evil-login.example", "rrtype": "SOA",
         "rdata": "ns1.regway.com. badguy.mailbox.example. 2024010101 7200 3600 1209600 300",
         "time_first": 1700000000, "time_last": 1700000000},
        {"rrname": "7.113.0.203.in-addr.arpa.", "rrtype": "PTR", "rdata": "host7.hoster.example.",
         "time_first": 1700000000, "time_last": 1700000000},
        {"rrname": "evil-login.example", "rrtype": "TXT", "rdata": "v=spf1 -all", "time_first": 1700000000,
         "time_last": 1700000000},
        "not an object",
    ]
    dump = tmp_path / "pdns.jsonl"
    dump.write_text("\n".join(json.dumps(line) for line in lines) + "\n{broken\n")
    done = import_files(path, "pdns", dump)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["rejected"] == 3
    assert "rrtype TXT has no DTF pivot" in done.stderr and "not JSON" in done.stderr
    url = start()
    found = {(p, v) for p, v, _ in extracted(url, "dtfp0103extractdomain", "maltego.Domain", "evil-login.example")}
    assert found == {("P0103.003", "203.0.113.7"), ("P0103.003", "2001:db8::7"),
                     ("P0103.002", "mx1.mailhost.example"), ("P0103.006", "ns1.regway.com"),
                     ("P0103.006", "ns2.regway.com"), ("P0103.007", "regway.com"),
                     ("P0103.004", "badguy.mailbox.example"),
                     ("P0103.005", "host7.hoster.example")}   # the PTR of its address, lifted by the store
    cname = extracted(url, "dtfp0103001extractdomain", "maltego.Domain", "www.evil-login.example")
    assert {(p, v) for p, v, _ in cname} == {("P0103.001", "evil-login.example")}
    ptr = extracted(url, "dtfp0103005extractipv4address", "maltego.IPv4Address", "203.0.113.7")
    assert {(p, v) for p, v, _ in ptr} == {("P0103.005", "host7.hoster.example")}
    first_seen = {e.value: e.link.get("dtf.first_seen") for e in run_transform(
        url, "dtfp0103003extractdomain", "maltego.Domain", "evil-login.example").entities}
    assert first_seen["203.0.113.7"].startswith("2023-11-14")    # epoch 1700000000


def test_unusable_files_are_reported_and_change_nothing(store_app, tmp_path):
    path, _ = store_app
    junk = tmp_path / "junk.json"
    junk.write_text("<html>not json</html>")
    for fmt, reason in (("rdap", "not JSON"), ("crtsh", "not a crt.sh JSON answer")):
        done = import_files(path, fmt, junk)
        assert done.returncode == 1 and reason in done.stderr, (fmt, done.stderr)
    entity = tmp_path / "entity.json"
    entity.write_text(json.dumps({"objectClassName": "entity", "handle": "X"}))
    done = import_files(path, "rdap", entity)
    assert done.returncode == 1 and "not 'domain'" in done.stderr
    assert Store(path).stats()["observations"] == 0
