"""Shodan plugin against a loopback server replaying the recorded host search answer.

The recorded answer is for `ip:1.1.1.1`; the server returns it for the queries each test expects and
checks the exact query string (query, page, minify, key) the plugin sends.
"""
from __future__ import annotations

import copy
import re

import pytest

from api_replay import ReplayServer, Reply, fixture, keyed_service, serving, transform_name
from dtf_catalog import default_catalog
from plugins.shodan import ShodanPlugin, banner_values, certificate_names, der_dns_names, unescape_bytes
from support import run_transform

KEY = "shodan-test-key-81c0"
SEARCH = "/shodan/host/search"
HOSTS = "shodan/host-search_query-ip-1.1.1.1_minify-true_2023-03.json"
SETTINGS = {"global#shodan_api_key": KEY}
EMPTY = {"matches": [], "total": 0}


@pytest.fixture()
def replay():
    with ReplayServer() as server:
        yield server


def plugin(replay, **settings):
    return ShodanPlugin(default_catalog(), {"base_url": replay.url, "rate_per_second": 100, **settings})


def asking(query):
    return lambda seen: seen.params.get("query") == query


def run(server, service, kind, pivot, entity_type, value, soft=50, **kwargs):
    name = transform_name(service, kind, pivot, entity_type)
    return run_transform(server.url, name, entity_type, value, settings=SETTINGS, soft=soft, hard=10000, **kwargs)


def ssl_banner():
    return next(m for m in fixture(HOSTS)["matches"] if "ssl" in m)


def test_extract_reads_one_host_search_for_every_leaf(replay, tmp_path):
    replay.add("GET", SEARCH, Reply(200, fixture(HOSTS)), when=asking("hostname:one.one.one.one"))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        http = run(server, service, "extract", "P0401", "maltego.Domain", "one.one.one.one")
        issuer = run(server, service, "extract", "P0301", "maltego.Domain", "one.one.one.one")
        sans = run(server, service, "extract", "P0302", "maltego.Domain", "one.one.one.one")
    assert [r.params for r in replay.requests] == [
        {"query": "hostname:one.one.one.one", "page": "1", "minify": "true", "key": KEY}]
    values = {(e.link["dtf.pivot"], e.value) for e in http.entities}
    assert {("P0401.001", "301 Moved Permanently"), ("P0401.001", "403 Forbidden"), ("P0401.004", "-1903558660"),
            ("P0401.004", "1456990795"), ("P0401.004", "1471629837"), ("P0401.007", "403")} <= values
    assert issuer.values() == {"DigiCert Inc"}
    assert sans.values() == {"cloudflare-dns.com", "one.one.one.one"}   # *.cloudflare-dns.com folds into its base


def test_san_names_from_the_certificate_and_from_the_raw_extension_agree():
    banner = ssl_banner()
    from_pem = certificate_names(banner["ssl"])
    without_chain = copy.deepcopy(banner["ssl"])
    without_chain.pop("chain")
    from_extension = certificate_names(without_chain)
    assert from_pem == from_extension == ["cloudflare-dns.com", "*.cloudflare-dns.com", "one.one.one.one"]
    raw = next(e["data"] for e in banner["ssl"]["cert"]["extensions"] if e["name"] == "subjectAltName")
    assert der_dns_names(unescape_bytes(raw)) == from_pem
    with pytest.raises(ValueError):
        der_dns_names(unescape_bytes(raw)[:20])
    assert banner_values(banner)["P0303"] == [("2023-01-12", "2023-01-12")]


def test_title_expand_sends_a_quoted_filter(replay, tmp_path):
    replay.add("GET", SEARCH, Reply(200, fixture(HOSTS)), when=asking('http.title:"403 forbidden"'))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0401.001", "maltego.WebTitle", "403 Forbidden")
    assert not replay.unmatched and len(replay.requests) == 1
    assert response.values() == {"one.one.one.one"}
    assert {e.link["dtf.value"] for e in response.entities} == {"403 Forbidden"}


def test_an_integer_hash_is_tried_as_favicon_then_as_html_hash(replay, tmp_path):
    replay.add("GET", SEARCH, Reply(200, EMPTY), when=asking("http.favicon.hash:-1903558660"))
    replay.add("GET", SEARCH, Reply(200, fixture(HOSTS)), when=asking("http.html_hash:-1903558660"))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0401.004", "maltego.Hash", "-1903558660")
    assert [r.params["query"] for r in replay.requests] == ["http.favicon.hash:-1903558660", "http.html_hash:-1903558660"]
    assert response.values() == {"one.one.one.one"}


def test_proximity_searches_the_net_ranges_around_the_address(replay, tmp_path):
    expected = "net:1.1.1.0/29,1.1.1.8/30,1.1.1.12/31"    # 1.1.1.5 +/- 8, kept inside its /24
    replay.add("GET", SEARCH, Reply(200, fixture(HOSTS)), when=asking(expected))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)], with_local=True)
    with serving(service) as server:
        response = run(server, service, "pivot", "P0202", "maltego.IPv4Address", "1.1.1.5")
    assert not replay.unmatched and len(replay.requests) == 1
    assert response.values() == {"1.1.1.1"}


def test_asn_paging_is_paced_and_a_quota_answer_keeps_the_first_page(replay, tmp_path):
    first = {**fixture(HOSTS), "total": 250}
    quota = {"error": "Insufficient query credits, please upgrade your API plan or wait for the monthly limit to reset"}
    replay.add("GET", SEARCH, Reply(200, first), Reply(402, quota))
    service = keyed_service(tmp_path / "s.sqlite3",
                            [ShodanPlugin(default_catalog(), {"base_url": replay.url})])   # default pace: 1/s
    with serving(service) as server:
        response = run(server, service, "expand", "P0203", "maltego.AS", "13335")
    assert [r.params for r in replay.requests] == [
        {"query": "asn:AS13335", "page": "1", "minify": "true", "key": KEY},
        {"query": "asn:AS13335", "page": "2", "minify": "true", "key": KEY}]
    assert replay.requests[1].at - replay.requests[0].at >= 0.95
    assert response.values() == {"1.1.1.1", "one.one.one.one"}
    partial = [t for k, t in response.messages if k == "PartialError"]
    assert len(partial) == 1 and partial[0].startswith("shodan: Shodan quota reached (HTTP 402): Insufficient query credits")
    assert ("Inform", "showing 2 of 250 (source: shodan)") in response.messages


def test_the_reported_total_ends_paging(replay, tmp_path):
    replay.add("GET", SEARCH, Reply(200, fixture(HOSTS)))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0203", "maltego.AS", "13335")
    assert len(replay.requests) == 1    # 12 banners of 12: nothing more to ask for
    assert not [m for m in response.messages if "showing" in m[1]]


def test_a_forbidden_key_names_the_setting(replay, tmp_path):
    replay.add("GET", SEARCH, Reply(403, {"error": "Access denied (403 Forbidden)"}))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0203", "maltego.AS", "13335")
    assert response.messages == [("PartialError", "shodan: Shodan rejected the API key (HTTP 403); check the "
                                  "global#shodan_api_key setting (or DTF_SHODAN_API_KEY on the server)")]


def test_issuer_organisation_uses_a_filter_shodan_has():
    filters = set(fixture("shodan/host-search-filters_list.json"))
    converted = ShodanPlugin(default_catalog(), {}).to_query([("P0301", "DigiCert Inc"), ("P0203", "AS13335"),
                                                               ("P0102", "*.example.com")])
    assert converted["query"] == 'ssl:"DigiCert Inc" asn:AS13335 hostname:example.com'
    assert "ssl.cert.issuer.o" not in filters and "ssl" in filters
    # a comma would turn the value into alternatives; words still match without it
    assert ShodanPlugin(default_catalog(), {}).to_query([("P0203.001", "Cloudflare, Inc.")])["query"] == 'org:"Cloudflare Inc."'
    assert set(re.findall(r"(?:^|\s)([\w.]+):", converted["query"])) == {"ssl", "asn", "hostname"} <= filters
