"""The crt.sh plugin against a loopback server replaying the recorded answer for www.example.com,
an older-shaped answer (no common_name / serial_number) and the failure modes."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dtf_catalog import default_catalog
from http_replay import ReplayServer, Route, fixture_route, json_route
from plugins.base import Context, PluginError, PluginSkipped, Subject
from plugins.crtsh import CrtshPlugin
from plugins.parsers.crtsh import distinguished_name, issuer_organisation, parse_certificates
from plugins.registry import PluginConfig, build_plugins
from store import Store
from support import ServerThread, run_transform

CATALOG = default_catalog()
FIXTURE = "identity-www-example-com_exclude-expired_2023-10.json"


@pytest.fixture(scope="module")
def recorded(shared_dir) -> Path:
    return shared_dir / "fixtures" / "api" / "crtsh" / FIXTURE


def plugin(server: ReplayServer, **settings) -> CrtshPlugin:
    return CrtshPlugin(CATALOG, {"base_url": server.url, "allow_loopback": "true", **settings})


def extract(crtsh: CrtshPlugin, pivot_id: str, name: str) -> list[str]:
    ctx = Context(deadline=time.monotonic() + 8)
    return [f.value for f in crtsh.extract(CATALOG.pivot(pivot_id), Subject("domain", name), ctx)]


def older_shape(recorded: Path) -> list[dict]:
    """The recorded rows as crt.sh wrote them before 2021: no common_name, no serial_number;
    plus a wildcard certificate whose name_value lists several names, one per line."""
    rows = json.loads(recorded.read_text())
    for row in rows:
        row.pop("common_name"), row.pop("serial_number")
    rows.append({"issuer_ca_id": 16418, "issuer_name": 'C=US, O="Let\'s Encrypt", CN=R3',
                 "name_value": "*.example.com\nwww.example.com\nstatic.example.net", "id": 4000000001,
                 "entry_timestamp": "2021-03-01T10:00:00.5", "not_before": "2021-03-01T09:00:00",
                 "not_after": "2021-05-30T09:00:00"})
    return rows


def test_recorded_answer_gives_issuer_names_and_date(recorded):
    with ReplayServer() as server:
        server.add("/", fixture_route(recorded, query={"q": "www.example.com"}))
        crtsh = plugin(server)
        found = {pivot: extract(crtsh, pivot, "www.example.com") for pivot in ("P0301", "P0302", "P0303")}
        asked = server.requests_to("/")
    assert found == {"P0301": ["DigiCert Inc"], "P0302": ["www.example.org"], "P0303": ["2023-01-13"]}
    assert len(asked) == 1  # three leaves, one request
    assert asked[0].query == {"q": "www.example.com", "output": "json", "exclude": "expired", "deduplicate": "Y"}


def test_precertificate_and_certificate_are_one(recorded):
    certificates = parse_certificates(json.loads(recorded.read_text()))
    assert len(certificates) == 1
    assert sorted(certificates[0].ids) == [8396709327, 8913351873]
    assert certificates[0].logged == "2023-01-13T13:18:21Z"   # the earlier CT entry


def test_older_answers_without_common_name_or_serial(recorded):
    certificates = parse_certificates(older_shape(recorded))
    assert len(certificates) == 2                              # the duplicate pair still merges
    newest, older = certificates
    assert newest.issuer_org == "DigiCert Inc" and newest.names == ["www.example.com"]
    assert older.issuer_org == "Let's Encrypt"
    assert older.names == ["example.com", "www.example.com", "static.example.net"]   # wildcard -> base name
    with ReplayServer() as server:
        server.add("/", json_route(older_shape(recorded), query={"q": "www.example.com"}))
        crtsh = plugin(server)
        assert extract(crtsh, "P0302", "www.example.com") == ["example.com", "static.example.net"]
        assert sorted(extract(crtsh, "P0301", "www.example.com")) == ["DigiCert Inc", "Let's Encrypt"]
        assert extract(crtsh, "P0303", "www.example.com") == ["2023-01-13", "2021-03-01"]


def test_expand_a_san_name_to_its_certificate_neighbours(recorded):
    with ReplayServer() as server:
        server.add("/", json_route(older_shape(recorded), query={"q": "www.example.com"}))
        crtsh = plugin(server, include_expired="yes")
        expansion = crtsh.expand(CATALOG.pivot("P0302"), "www.example.com", frozenset({"domain"}),
                                 Context(deadline=time.monotonic() + 8))
        asked = server.requests_to("/")[0].query
    assert {h.subject.value for h in expansion.hits} == {"example.com", "static.example.net"}
    assert all(h.pivot == "P0302" and h.value == "www.example.com" and h.source == "crtsh" for h in expansion.hits)
    assert "exclude" not in asked


def test_issuer_dn_parsing():
    assert issuer_organisation('C=US, O="DigiCert, Inc.", CN=DigiCert Global G2') == "DigiCert, Inc."
    assert issuer_organisation("C=BE, O=GlobalSign nv-sa, CN=GlobalSign RSA OV SSL CA 2018") == "GlobalSign nv-sa"
    assert issuer_organisation(r"C=GB, O=Sectigo\, Ltd, CN=x") == "Sectigo, Ltd"
    assert issuer_organisation("CN=Self Signed") is None
    assert distinguished_name("C=US, CN=a=b") == [("C", "US"), ("CN", "a=b")]


def test_nothing_found_is_not_an_error():
    with ReplayServer() as server:
        server.add("/", json_route([], query={"q": "quiet-name.com"}))
        crtsh = plugin(server)
        assert extract(crtsh, "P0302", "quiet-name.com") == []
        assert extract(crtsh, "P0301", "missing-name.com") == []    # unrouted: the replay's 404


def test_special_use_names_are_not_asked():
    with ReplayServer() as server:
        with pytest.raises(PluginSkipped, match=r"under \.test, a special-use TLD"):
            extract(plugin(server), "P0301", "login.bank.test")
        assert server.received == []


@pytest.mark.parametrize("route, expected", [
    (Route(429, b"Too Many Requests"), "crt.sh is rate-limiting us (HTTP 429)"),
    (Route(500, b"boom"), "crt.sh had a server error (HTTP 500)"),
    (Route(502, b"<html>Bad gateway</html>", {"Content-Type": "text/html"}), "crt.sh had a server error (HTTP 502)"),
    (Route(200, b"<html><body>database busy</body></html>", {"Content-Type": "text/html"}),
     "crt.sh answered with something that is not JSON (text/html"),
    (Route(200, b'{"error": "nope"}', {"Content-Type": "application/json"}), "a JSON array"),
])
def test_failures_name_what_happened(route, expected):
    with ReplayServer() as server:
        server.add("/", route)
        with pytest.raises(PluginError) as caught:
            extract(plugin(server), "P0301", "www.example.com")
    assert expected in str(caught.value)


def test_a_busy_server_is_retried_once(recorded):
    with ReplayServer() as server:
        server.add("/", fixture_route(recorded))
        server.add("/", Route(503, b"busy", times=1))
        assert extract(plugin(server), "P0301", "www.example.com") == ["DigiCert Inc"]
        assert len(server.requests_to("/")) == 2
    with ReplayServer() as server:
        server.add("/", Route(503, b"busy"))
        with pytest.raises(PluginError, match="HTTP 503"):
            extract(plugin(server), "P0301", "www.example.com")
        assert len(server.requests_to("/")) == 2      # bounded: one retry, no more


def test_no_retry_when_the_deadline_cannot_hold_one():
    with ReplayServer() as server:
        server.add("/", Route(503, b"busy"))
        crtsh = plugin(server)
        with pytest.raises(PluginError, match=r"server error \(HTTP 503\)"):
            crtsh.extract(CATALOG.pivot("P0301"), Subject("domain", "www.example.com"),
                          Context(deadline=time.monotonic() + 0.5))
        assert len(server.requests_to("/")) == 1


def test_a_silent_server_times_out():
    with ReplayServer() as server:
        server.add("/", Route(200, b"[]", delay=3.0))
        started = time.monotonic()
        with pytest.raises(PluginError, match="did not answer within 0.4 s"):
            extract(plugin(server, timeout="0.4"), "P0301", "www.example.com")
        assert time.monotonic() - started < 2.0


def test_an_oversized_answer_is_refused(recorded):
    rows = json.loads(recorded.read_text()) * 400
    with ReplayServer() as server:
        server.add("/", json_route(rows))
        with pytest.raises(PluginError, match="cap; refused"):
            extract(plugin(server, max_bytes="50000"), "P0301", "www.example.com")


def test_through_maltego_with_write_through(tmp_path, recorded):
    from transforms.service import Service
    from web.app import create_app

    path = tmp_path / "store.sqlite3"
    with ReplayServer() as server:
        server.add("/", fixture_route(recorded, query={"q": "www.example.com"}))
        plugins = build_plugins(Store(path), CATALOG, PluginConfig(
            ["local", "crtsh"], {"crtsh": {"base_url": server.url, "allow_loopback": "1"}}))
        with ServerThread(create_app(Service(path, CATALOG, plugins))) as app:
            issuer = run_transform(app.url, "dtfp0301extractdomain", "maltego.Domain", "www.example.com")
            san = run_transform(app.url, "dtfp0302extractdomain", "maltego.Domain", "www.example.com")
    assert [(e.value, e.link.get("dtf.sources")) for e in issuer.entities] == [("DigiCert Inc", "crtsh")]
    assert [e.value for e in san.entities] == ["www.example.org"]
    assert san.entities[0].link.get("dtf.first_seen", "").startswith("2023-01-13")

    offline = build_plugins(Store(path), CATALOG, PluginConfig(["local"], {}))
    with ServerThread(create_app(Service(path, CATALOG, offline))) as app:
        again = run_transform(app.url, "dtfp0301extractdomain", "maltego.Domain", "www.example.com")
        expand = run_transform(app.url, "dtfp0302expand", "maltego.DNSName", "www.example.org")
    assert [(e.value, e.link.get("dtf.sources")) for e in again.entities] == [("DigiCert Inc", "crtsh")]
    assert [e.value for e in expand.entities] == ["www.example.com"]
