"""SecurityTrails plugin against a loopback server replaying recorded domains/list and WHOIS answers.

The server checks the POST body (`{"filter": {...}}`), the page and include_ips parameters and the
APIKEY header; answers carry the recorded rate-limit headers.
"""
from __future__ import annotations

import pytest

from api_replay import (ReplayServer, Reply, fixture, fixture_text, keyed_service, recorded_headers, serving,
                        transform_name)
from dtf_catalog import default_catalog
from plugins.securitytrails import SecurityTrailsPlugin, st_date, whois_values
from support import run_transform

KEY = "st-test-key-55e2"
LIST = "/v1/domains/list"
ONE_ONE = "securitytrails/domains-list_filter-ipv4-1.1.1.1_page1_2019-10.json"
SMALL = "securitytrails/domains-list_filter-ipv4-89.35.39.84_2019-10.json"
WHOIS = "securitytrails/domain-whois_github-com_2019-10.json"
HEADERS = "securitytrails/domains-list_2019-10.headers.json"
SETTINGS = {"global#securitytrails_api_key": KEY}


@pytest.fixture()
def replay():
    with ReplayServer() as server:
        yield server


def plugin(replay, **settings):
    return SecurityTrailsPlugin(default_catalog(), {"base_url": replay.url, "rate_per_second": 100, **settings})


def run(server, service, kind, pivot, entity_type, value, soft=12, **kwargs):
    name = transform_name(service, kind, pivot, entity_type)
    return run_transform(server.url, name, entity_type, value, settings=SETTINGS, soft=soft, hard=10000, **kwargs)


def test_reverse_ip_posts_the_filter_and_caps_at_the_limit(replay, tmp_path):
    replay.add("POST", LIST, Reply(200, fixture(ONE_ONE), recorded_headers(HEADERS)))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)], with_local=True)
    with serving(service) as server:
        response = run(server, service, "pivot", "P0201", "maltego.IPv4Address", "1.1.1.1")
    [sent] = replay.requests
    assert sent.params == {"include_ips": "false", "page": "1"}
    assert sent.json == {"filter": {"ipv4": "1.1.1.1"}}
    assert sent.headers["apikey"] == KEY and sent.headers["content-type"] == "application/json"
    assert "apikey" not in sent.params
    records = fixture(ONE_ONE)["records"]
    assert response.values() == {r["hostname"] for r in records[:12]}
    assert ("Inform", "showing 12 of 59251 (source: securitytrails)") in response.messages


def test_meta_max_page_ends_paging(replay, tmp_path):
    replay.add("POST", LIST, Reply(200, fixture(SMALL)))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay, max_pages=5)], with_local=True)
    with serving(service) as server:
        response = run(server, service, "pivot", "P0201", "maltego.IPv4Address", "89.35.39.84", soft=50)
    assert len(replay.requests) == 1
    assert response.values() == {"jppost-bto.top"}
    assert not [m for m in response.messages if "showing" in m[1]]


def test_second_page_over_quota_keeps_the_first(replay, tmp_path):
    replay.add("POST", LIST, Reply(200, fixture(ONE_ONE), recorded_headers(HEADERS)),
               Reply(429, {"message": "You've exceeded the usage limits for your account."}))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0103.002", "maltego.MXRecord", "ASPMX.L.GOOGLE.COM", soft=150)
    assert [(r.params["page"], r.json) for r in replay.requests] == [
        ("1", {"filter": {"mx": "aspmx.l.google.com"}}), ("2", {"filter": {"mx": "aspmx.l.google.com"}})]
    assert len(response.entities) == 100
    # the recorded X-Ratelimit-Limit-Second: 5 slows the plugin (configured at 100/s) to 5 a second
    assert replay.requests[1].at - replay.requests[0].at >= 0.18
    assert [k for k, t in response.messages if "HTTP 429" in t] == ["PartialError"]
    assert ("Inform", "showing 100 of 59251 (source: securitytrails)") in response.messages


def test_page_cap_setting_limits_the_queries_spent(replay, tmp_path):
    replay.add("POST", LIST, Reply(200, fixture(ONE_ONE)))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay, max_pages=1)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0101.004", "maltego.EmailAddress", "Domains@Example.com", soft=500)
    assert [r.json for r in replay.requests] == [{"filter": {"whois_email": "domains@example.com"}}]
    assert ("Inform", "showing 100 of 59251 (source: securitytrails)") in response.messages


def test_a_domain_pattern_searches_its_keyword_and_checks_the_pattern(replay, tmp_path):
    replay.add("POST", LIST, Reply(200, fixture(ONE_ONE)))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay, max_pages=1)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0102.002", "dtf.DomainPattern", "*-static.*", soft=100)
    assert replay.requests[0].json == {"filter": {"keyword": "static"}}
    assert response.values() == {"mjsx-static.025xyd.com", "szsxl-static.025xyd.com"}


def test_whois_extract_gives_registrar_dates_registrant_and_name_servers(replay, tmp_path):
    replay.add("GET", "/v1/domain/github.com/whois", Reply(200, fixture(WHOIS)))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "extract", "P0101", "maltego.Domain", "github.com", soft=50)
    assert len(replay.requests) == 1 and replay.requests[0].headers["apikey"] == KEY
    values = {(e.link["dtf.pivot"], e.value) for e in response.entities}
    assert {("P0101.001", "MarkMonitor, Inc."), ("P0101.002", "2007-10-09"), ("P0101.003", "GitHub, Inc."),
            ("P0101.010", "ns1.p16.dynect.net"), ("P0101.010", "ns-1707.awsdns-21.co.uk")} <= values
    assert not any(p == "P0101.004" for p, _ in values)   # contactEmail is the registrar's abuse desk


def test_three_date_encodings_read_alike():
    assert st_date(1191930528000) == st_date("1191930528000") == "2007-10-09"      # epoch ms (lists, history)
    assert st_date("2007-10-09T11:20:50-0700") == "2007-10-09"                      # ISO with offset (WHOIS)
    assert st_date("2007-10-09T20:20:50-0700") == "2007-10-10"                      # ... read in UTC
    assert st_date("2019-10-18") == "2019-10-18"                                    # plain date (DNS history)
    assert st_date(None) is None and st_date("not a date") is None
    history = fixture("securitytrails/history-whois_github-com_2019-10.json")["result"]["items"][0]
    assert whois_values(history)["P0101.002"] == [("2007-10-09", "2007-10-09")]
    assert ("hostmaster@github.com", "hostmaster@github.com") in whois_values(history)["P0101.004"]


def test_the_plain_text_401_names_the_service_and_the_setting(replay, tmp_path):
    recorded = fixture_text("securitytrails/error-401_domains-list_2023-10.txt")
    body = recorded.split("\n\n", 1)[1]
    assert body.strip() == "Please check user credentials"
    replay.add("POST", LIST, Reply(401, body))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0101.010", "maltego.NSRecord", "ns1.p16.dynect.net")
    assert replay.requests[0].json == {"filter": {"ns": "ns1.p16.dynect.net"}}
    assert response.messages == [("PartialError", "securitytrails: SecurityTrails rejected the API key (HTTP 401); "
                                  "check the global#securitytrails_api_key setting (or DTF_SECURITYTRAILS_API_KEY "
                                  "on the server)")]


def test_dsl_conversion_for_higma():
    converted = SecurityTrailsPlugin(default_catalog(), {}).to_query(
        [("P0101.004", "Admin@Example.com"), ("P0101.010", "*.ns.cloudflare.com"), ("P0201", "1.1.1.1"),
         ("P0401.001", "Login")])
    assert converted["query"] == ("whois_email = 'admin@example.com' AND ns like '%.ns.cloudflare.com' "
                                  "AND ipv4 = '1.1.1.1'")
    assert converted["covers"] == ["P0101.004", "P0101.010", "P0201"]
    assert [p for p, _ in converted["unsupported"]] == ["P0401.001"]
