"""The RDAP plugin against a loopback server replaying the recorded registry and registrar answers.

Chain exercised: IANA bootstrap -> Verisign (registry) -> MarkMonitor (the registrar's `related`
answer), plus the failure modes a registry shows (404, 429, 500, silence, not JSON).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dtf_catalog import default_catalog
from http_replay import ReplayServer, Route, fixture_route, json_route
from plugins.base import Context, PluginError, PluginSkipped, Subject
from plugins.netguard import Guard
from plugins.parsers.rdap import event_date, parse_domain
from plugins.rdap import SNAPSHOT, Bootstrap, RdapPlugin, refresh_bootstrap
from plugins.registry import PluginConfig, build_plugins
from store import Store
from support import ServerThread, run_transform

ROOT = Path(__file__).resolve().parent.parent
CATALOG = default_catalog()
REGISTRATION_PIVOTS = ("P0101.001", "P0101.002", "P0101.003", "P0101.004", "P0101.010", "P0101.011")


@pytest.fixture(scope="module")
def rdap_dir(shared_dir) -> Path:
    return shared_dir / "fixtures" / "api" / "rdap"


def registry_server(server: ReplayServer, rdap_dir: Path) -> None:
    """Verisign's answer at /com/v1/, its `related` link pointed at our MarkMonitor replay."""
    server.add("/com/v1/domain/google.com", fixture_route(
        rdap_dir / "verisign-com_domain-google-com_2024-07.json",
        replace={"https://rdap.markmonitor.com": server.url}, content_type="application/rdap+json"))
    server.add("/rdap/domain/GOOGLE.COM", fixture_route(
        rdap_dir / "markmonitor-registrar_domain-google-com_2024-07.json", content_type="application/rdap+json"))


def plugin(**settings) -> RdapPlugin:
    return RdapPlugin(CATALOG, {"allow_loopback": "true", **settings})


def values(rdap: RdapPlugin, pivot_id: str, domain: str = "google.com", deadline: float = 8.0) -> list[str]:
    ctx = Context(deadline=time.monotonic() + deadline)
    return [f.value for f in rdap.extract(CATALOG.pivot(pivot_id), Subject("domain", domain), ctx)]


def test_bootstrap_registry_and_registrar_chain(rdap_dir):
    with ReplayServer() as server:
        registry_server(server, rdap_dir)
        bootstrap = json.loads((rdap_dir / "iana-bootstrap-dns_2024-07.json").read_text())
        for service in bootstrap["services"]:
            if "com" in service[0]:
                service[1] = [f"{server.url}/com/v1/"]
        server.add("/rdap/dns.json", json_route(bootstrap))
        rdap = plugin(bootstrap_url=f"{server.url}/rdap/dns.json")
        found = {pivot: values(rdap, pivot, "mail.google.com") for pivot in REGISTRATION_PIVOTS}
        order = [r.path for r in server.received]
        accept = server.requests_to("/com/v1/domain/google.com")[0].headers.get("Accept", "")

    assert found["P0101.001"] == ["MarkMonitor Inc."]          # registry fn (registrar has only org)
    assert found["P0101.002"] == ["1997-09-15"]                # Z at the registry, +0000 with ms at the registrar
    assert found["P0101.003"] == ["Google LLC"]                # org survives the registrar's redaction
    assert found["P0101.004"] == []                            # no e-mail published
    assert found["P0101.010"] == ["ns1.google.com", "ns2.google.com", "ns3.google.com", "ns4.google.com"]
    assert found["P0101.011"] == ["google.com"]
    # a sub-domain is looked up as its registered domain; six leaves share one chain of three requests
    assert order == ["/rdap/dns.json", "/com/v1/domain/google.com", "/rdap/domain/GOOGLE.COM"]
    assert "application/rdap+json" in accept


def test_registry_answer_stands_when_the_registrar_fails(rdap_dir):
    with ReplayServer() as server:
        registry_server(server, rdap_dir)
        server.add("/rdap/domain/GOOGLE.COM", Route(500, b"oops"))
        rdap = plugin(base_url=f"{server.url}/com/v1/")
        assert values(rdap, "P0101.001") == ["MarkMonitor Inc."]
        assert values(rdap, "P0101.003") == []
        assert len(server.requests_to("/rdap/domain/GOOGLE.COM")) >= 1


def test_following_the_registrar_can_be_switched_off(rdap_dir):
    with ReplayServer() as server:
        registry_server(server, rdap_dir)
        rdap = plugin(base_url=f"{server.url}/com/v1/", follow_related="false")
        assert values(rdap, "P0101.010")[0] == "ns1.google.com"
        assert server.requests_to("/rdap/domain/GOOGLE.COM") == []


def test_not_found_is_no_data_not_an_error():
    with ReplayServer() as server:
        rdap = plugin(base_url=f"{server.url}/")
        assert values(rdap, "P0101.001", "unregistered-name.com") == []
        assert server.requests_to("/domain/unregistered-name.com")


@pytest.mark.parametrize("route, expected", [
    (Route(429, b"slow down", {"Retry-After": "30"}), "rate-limiting us (HTTP 429), retry after 30 s"),
    (Route(500, b"boom"), "server error (HTTP 500)"),
    (Route(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}), "not JSON (text/html"),
    (Route(200, b"[1, 2]", {"Content-Type": "application/json"}), "is unusable"),
    (Route(400, b"bad"), "refused the query (HTTP 400)"),
])
def test_failures_name_what_happened(route, expected):
    with ReplayServer() as server:
        server.add("/domain/example.com", route)
        rdap = plugin(base_url=f"{server.url}/", retries="0")
        with pytest.raises(PluginError, match=None) as caught:
            values(rdap, "P0101.001", "example.com")
    assert expected in str(caught.value)


def test_a_silent_server_times_out_within_the_deadline():
    with ReplayServer() as server:
        server.add("/domain/example.com", Route(200, b"{}", delay=3.0))
        rdap = plugin(base_url=f"{server.url}/", timeout="0.5")
        started = time.monotonic()
        with pytest.raises(PluginError, match="did not answer within 0.5 s"):
            values(rdap, "P0101.001", "example.com")
        assert time.monotonic() - started < 2.0


def test_loopback_is_refused_unless_allowed(rdap_dir):
    with ReplayServer() as server:
        registry_server(server, rdap_dir)
        rdap = RdapPlugin(CATALOG, {"base_url": f"{server.url}/com/v1/"})
        with pytest.raises(PluginError, match="loopback address; refused"):
            values(rdap, "P0101.001")
        assert server.received == []


def test_shipped_snapshot_finds_registries():
    bootstrap = Bootstrap.from_file(SNAPSHOT)
    assert len(bootstrap) > 1000
    assert bootstrap.base_urls("www.google.com") == ["https://rdap.verisign.com/com/v1/"]
    assert bootstrap.base_urls("bbc.co.uk") == ["https://rdap.nominet.uk/uk/"]
    assert bootstrap.base_urls("norid.no") == ["https://rdap.norid.no/"]
    assert bootstrap.base_urls("example.invalid") == []


def test_a_tld_without_rdap_or_registry_is_an_inform_not_an_error():
    rdap = RdapPlugin(CATALOG, {})
    with pytest.raises(PluginSkipped, match=r"no RDAP service is published for \.ru"):
        values(rdap, "P0101.001", "example.ru")
    with pytest.raises(PluginSkipped, match=r"shop.example.test is under \.test, a special-use TLD"):
        values(rdap, "P0101.001", "shop.example.test")


def test_date_layouts_seen_in_the_wild():
    assert event_date("1997-09-15T04:00:00Z") == "1997-09-15"
    assert event_date("1997-09-15T07:00:00.000+0000") == "1997-09-15"
    assert event_date("2001-02-03T23:30:00-0500") == "2001-02-04"          # UTC date
    assert event_date("2020-05-06T07:08:09.123456789Z") == "2020-05-06"    # nanoseconds
    assert event_date("2020-05-06") == "2020-05-06"
    assert event_date("not a date") is None
    assert event_date(None) is None


def test_cctld_shape_without_events_and_with_nested_contacts():
    """A NORID-like answer (made for this test): no events, handles instead of names, the
    registrant nested under the registrar, an e-mail that is published."""
    doc = {
        "objectClassName": "domain", "ldhName": "fjord-example.no", "handle": "FJO123D-NORID",
        "entities": [
            {"objectClassName": "entity", "handle": "reg42-NORID", "roles": ["registrar"],
             "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Fjord Registrar AS"]]],
             "entities": [{"objectClassName": "entity", "roles": ["registrant"], "handle": "FE1O-NORID",
                           "vcardArray": ["vcard", [["fn", {}, "text", "Fjord Example AS"],
                                                    ["org", {}, "text", ["Fjord Example AS", "IT"]],
                                                    ["email", {}, "text", "hostmaster@fjord-example.no"]]]}]},
            {"objectClassName": "entity", "roles": ["technical"], "handle": "TEC1-NORID"},
        ],
        "nameservers": [{"objectClassName": "nameserver", "ldhName": "NS1.Fjord-Host.NO."},
                        {"objectClassName": "nameserver", "handle": "no-name-server"}],
    }
    facts = parse_domain(doc)
    assert facts.registrars == ["Fjord Registrar AS"]
    assert facts.registrations == []
    assert facts.registrants == ["Fjord Example AS, IT", "Fjord Example AS"]
    assert facts.registrant_emails == ["hostmaster@fjord-example.no"]
    assert facts.nameservers == ["ns1.fjord-host.no"]
    assert ("P0101.011", "fjord-host.no") in facts.pairs()


def test_redacted_registrant_values_are_skipped():
    doc = {"objectClassName": "domain", "ldhName": "example.org", "entities": [
        {"roles": ["registrant"], "vcardArray": ["vcard", [
            ["fn", {}, "text", "REDACTED FOR PRIVACY"], ["org", {}, "text", "Data Protected"],
            ["email", {}, "text", "Please query the RDDS service of the Registrar of Record"]]]},
        {"roles": ["registrant"], "vcardArray": ["vcard", [
            ["org", {}, "text", "Privacy service provided by Withheld for Privacy ehf"],
            ["email", {}, "text", "redacted@redacted.invalid"]]]},
    ]}
    facts = parse_domain(doc)
    assert facts.registrants == [] and facts.registrant_emails == []


def test_refresh_writes_a_valid_snapshot_atomically(tmp_path, rdap_dir):
    target = tmp_path / "dns.json"
    target.write_text("previous")
    with ReplayServer() as server:
        server.add("/rdap/dns.json", fixture_route(rdap_dir / "iana-bootstrap-dns_2024-07.json"))
        server.add("/broken.json", json_route({"services": "not a list"}))
        with pytest.raises(ValueError):
            refresh_bootstrap(f"{server.url}/broken.json", target, guard=Guard(allow_loopback=True))
        assert target.read_text() == "previous"
        loaded = refresh_bootstrap(f"{server.url}/rdap/dns.json", target, guard=Guard(allow_loopback=True))
        command = subprocess.run(
            [sys.executable, "-m", "plugins.rdap", "refresh", "--url", f"{server.url}/rdap/dns.json",
             "--output", str(tmp_path / "cli.json"), "--allow-loopback"],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
        refused = subprocess.run(
            [sys.executable, "-m", "plugins.rdap", "refresh", "--url", f"{server.url}/rdap/dns.json",
             "--output", str(tmp_path / "refused.json")],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert len(loaded) == len(Bootstrap.from_file(target)) > 1000
    assert command.returncode == 0 and "TLDs" in command.stdout, command.stderr
    assert Bootstrap.from_file(tmp_path / "cli.json").base_urls("google.com") == ["https://rdap.verisign.com/com/v1/"]
    assert refused.returncode == 1 and "loopback" in refused.stderr
    assert not (tmp_path / "refused.json").exists()


def _service(path: Path, names: list[str], settings: dict):
    from transforms.service import Service

    store = Store(path)
    plugins = build_plugins(store, CATALOG, PluginConfig(names, settings))
    return Service(path, CATALOG, plugins)


def test_through_maltego_with_write_through(tmp_path, rdap_dir):
    from web.app import create_app

    path = tmp_path / "store.sqlite3"
    with ReplayServer() as registry:
        registry_server(registry, rdap_dir)
        live = _service(path, ["local", "rdap"], {"rdap": {"base_url": f"{registry.url}/com/v1/",
                                                           "allow_loopback": "1"}})
        with ServerThread(create_app(live)) as app:
            answer = run_transform(app.url, "dtfp0101extractdomain", "maltego.Domain", "google.com", soft=50, hard=50)
    got = {(e.link.get("dtf.pivot"), e.value) for e in answer.entities}
    assert ("P0101.001", "MarkMonitor Inc.") in got and ("P0101.003", "Google LLC") in got
    assert ("P0101.010", "ns4.google.com") in got and ("P0101.011", "google.com") in got
    assert all(e.link.get("dtf.sources") == "rdap" for e in answer.entities)
    assert not answer.exceptions

    offline = _service(path, ["local"], {})
    with ServerThread(create_app(offline)) as app:
        again = run_transform(app.url, "dtfp0101extractdomain", "maltego.Domain", "google.com", soft=50, hard=50)
        date = run_transform(app.url, "dtfp0101002extractdomain", "maltego.Domain", "google.com")
    assert {(e.link.get("dtf.pivot"), e.value) for e in again.entities} == got
    assert [e.value for e in date.entities] == ["1997-09-15"]


def test_a_failing_registry_is_a_partial_error_beside_the_store(tmp_path):
    from web.app import create_app

    path = tmp_path / "store.sqlite3"
    with ReplayServer() as registry:
        registry.add("/domain/example.com", Route(500, b"boom"))
        service = _service(path, ["local", "rdap"], {"rdap": {"base_url": f"{registry.url}/", "retries": "0",
                                                              "allow_loopback": "yes"}})
        from store import Observation
        service.store.write_batch([Observation("domain", "example.com", "P0101.001", "Known Registrar",
                                               "known registrar", "analyst", "2024-01-01T00:00:00Z",
                                               "2024-01-01T00:00:00Z")])
        with ServerThread(create_app(service)) as app:
            answer = run_transform(app.url, "dtfp0101extractdomain", "maltego.Domain", "example.com")
    assert [e.value for e in answer.entities] == ["Known Registrar"]
    partials = [text for kind, text in answer.messages if kind == "PartialError"]
    assert partials == ["rdap: RDAP registry had a server error (HTTP 500)"]
