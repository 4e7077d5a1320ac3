"""urlscan.io plugin against a loopback server replaying recorded Search and Result API answers.

The server side checks what the plugin sends (query, size, search_after, API-Key header); the Maltego
side goes through the Flask app over a socket, so messages are checked as an analyst sees them.
"""
from __future__ import annotations

import copy
import time

import pytest

from api_replay import (ReplayServer, Reply, fixture, keyed_service, recorded_headers, serving,
                        transform_name)
from dtf_catalog import default_catalog
from plugins.urlscan import UrlscanPlugin, scan_values
from support import run_transform

KEY = "urlscan-test-key-4b1d"
SEARCH = "/api/v1/search/"
PAGES = "urlscan/search_pagination_search-after_2021-12.trimmed.json"
MODERN = "urlscan/search_page-domain-example-com_date-range_2023-09.json"
RESULT = "urlscan/result_7f0aa2ab-www-wikipedia-org_2019-07.json"
HEADERS = "urlscan/search_domain-wikipedia-org_2020-08.headers.json"
SETTINGS = {"global#urlscan_api_key": KEY}


@pytest.fixture()
def replay():
    with ReplayServer() as server:
        yield server


def plugin(replay, **settings):
    return UrlscanPlugin(default_catalog(), {"base_url": replay.url, "rate_per_second": 100, **settings})


def pages():
    recorded = fixture(PAGES)["pages"]
    return [page["body_trimmed"] for page in recorded]


def run(server, service, kind, pivot, entity_type, value, soft=50, settings=SETTINGS, **kwargs):
    name = transform_name(service, kind, pivot, entity_type)
    return run_transform(server.url, name, entity_type, value, settings=settings, soft=soft, hard=10000, **kwargs)


def test_search_pages_with_search_after_until_the_source_runs_dry(replay, tmp_path):
    first, second = pages()
    replay.add("GET", SEARCH, Reply(200, first, recorded_headers(HEADERS)), Reply(200, second),
               Reply(200, {"results": [], "total": 1752, "has_more": False}))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0203", "maltego.AS", "AS15133")
    sent = [r.params for r in replay.to(SEARCH)]
    # has_more is false on the first real page although 1752 exist: paging goes on regardless
    assert first["has_more"] is False
    assert sent == [
        {"q": "page.asn:AS15133", "size": "100"},
        {"q": "page.asn:AS15133", "size": "100", "search_after": "1589040498988,decbe701-64ea-4b75-a5b4-4db106b675f5"},
        {"q": "page.asn:AS15133", "size": "100", "search_after": ",".join(map(str, second["results"][-1]["sort"]))},
    ]
    assert all(r.headers.get("api-key") == KEY for r in replay.requests)
    assert all("key" not in r.params for r in replay.requests)
    assert response.values() == {"www.example.com", "example.com", "2606:2800:220:1:248:1893:25c8:1946"}
    assert ("Inform", "showing 3 of 1752 (source: urlscan)") in response.messages
    assert all(e.link.get("dtf.pivot") == "P0203" and e.link.get("dtf.sources") == "urlscan" for e in response.entities)
    assert not replay.unmatched


def test_paging_stops_once_the_result_limit_is_reached(replay, tmp_path):
    first, second = pages()
    replay.add("GET", SEARCH, Reply(200, first), Reply(200, second))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0203", "maltego.AS", "15133", soft=2)
    assert len(replay.to(SEARCH)) == 1
    assert len(response.entities) == 2
    assert ("Inform", "showing 2 of 1752 (source: urlscan)") in response.messages


def test_page_cap_stops_paging_and_says_how_many_exist(replay, tmp_path):
    first, second = pages()
    replay.add("GET", SEARCH, Reply(200, first), Reply(200, second))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay, max_pages=1, page_size=3)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0203", "maltego.AS", "15133")
    assert [r.params["size"] for r in replay.to(SEARCH)] == ["3"]
    assert ("Inform", "showing 3 of 1752 (source: urlscan)") in response.messages


def test_title_search_on_the_modern_answer_keeps_the_title_as_urlscan_wrote_it(replay, tmp_path):
    replay.add("GET", SEARCH, Reply(200, fixture(MODERN)), Reply(200, {"results": [], "total": 1511}))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0401.001", "maltego.WebTitle", "Example Domain", soft=12)
    assert replay.requests[0].params == {"q": 'page.title:"example domain"', "size": "100"}
    assert {"example.com", "www.example.com"} <= response.values()
    assert {e.link["dtf.value"] for e in response.entities} == {"Example Domain"}
    assert any(m == ("Inform", f"showing {len(response.entities)} of 1511 (source: urlscan)") for m in response.messages)


def test_domain_pattern_is_sent_as_a_wildcard_and_checked_on_the_answers(replay, tmp_path):
    replay.add("GET", SEARCH, Reply(200, fixture(MODERN)), Reply(200, {"results": [], "total": 1511}))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0102.002", "dtf.DomainPattern", "www.*")
    assert replay.requests[0].params["q"] == "page.domain:www.*"
    assert response.values() == {"www.example.com"}   # example.com is in the answer but does not match


def test_extract_reads_the_newest_scan_once_for_all_leaves(replay, tmp_path):
    replay.add("GET", SEARCH, Reply(200, fixture(MODERN)))
    replay.add("GET", "/api/v1/result/dcfa5d74-e058-4bfa-8308-1ed94aeb8ff6/", Reply(404, {"message": "not found"}))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        titles = run(server, service, "extract", "P0401", "maltego.Domain", "example.com")
    assert [r.params for r in replay.to(SEARCH)] == [{"q": "page.domain:example.com", "size": "10"}]
    assert len(replay.to("/api/v1/result/dcfa5d74-e058-4bfa-8308-1ed94aeb8ff6/")) == 1
    by_pivot = {(e.link["dtf.pivot"], e.value) for e in titles.entities}
    assert by_pivot == {("P0401.001", "Example Domain"), ("P0401.007", "200")}
    assert not [m for m in titles.messages if m[0] == "PartialError"]   # a scan without a result is no error


def test_result_api_gives_hashes_and_file_names_of_what_the_page_loaded(replay, tmp_path):
    result = fixture(RESULT)
    # the search entry of that scan, as the Search API lists it: its task and page, no title (2018 shape)
    entry = {"_id": result["task"]["uuid"], "task": result["task"], "page": result["page"],
             "sort": [1516081688514, result["task"]["uuid"]]}
    replay.add("GET", SEARCH, Reply(200, {"results": [entry], "total": 1, "has_more": False}))
    replay.add("GET", f"/api/v1/result/{result['task']['uuid']}/", Reply(200, result))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        hashes = run(server, service, "extract", "P0401.004", "maltego.URL", "https://www.wikipedia.org/")
        names = run(server, service, "extract", "P0401.006", "maltego.URL", "https://www.wikipedia.org/")
    assert replay.requests[0].params["q"] == '(page.url:"https://www.wikipedia.org/" OR task.url:"https://www.wikipedia.org/")'
    expected = {r["response"]["hash"] for r in result["data"]["requests"]} | set(result["lists"]["hashes"])
    assert hashes.values() == expected and len(expected) == 6
    assert {"Wikipedia-logo-v2.png", "index-47f5f07682.js", "sprite-6e35f464.svg"} <= names.values()
    assert len(replay.to(SEARCH)) == 1   # the second transform reused the scan it found


def test_older_and_newer_shapes_read_alike():
    modern = fixture(MODERN)["results"][0]
    old = copy.deepcopy(modern)
    old["page"].pop("title")
    old["page"]["asn"] = "15133"          # as Result API lists write it
    old["page"]["status"] = 200           # a number, not the usual string
    new_values, old_values = scan_values(modern), scan_values(old)
    assert new_values["P0203"] == old_values["P0203"] == [("15133", "15133")]
    assert new_values["P0401.007"] == old_values["P0401.007"] == [("200", "200")]
    assert new_values["P0401.001"] == [("Example Domain", "example domain")]
    assert "P0401.001" not in old_values


def test_429_stops_the_plugin_keeps_what_was_found_and_pauses_later_requests(replay, tmp_path):
    first, _ = pages()
    replay.add("GET", SEARCH, Reply(200, first), Reply(429, {"message": "Rate limit exceeded"}, {"Retry-After": "120"}))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0203", "maltego.AS", "15133")
        assert len(replay.requests) == 2
        assert response.values() == {"www.example.com", "example.com", "2606:2800:220:1:248:1893:25c8:1946"}
        partial = [t for k, t in response.messages if k == "PartialError"]
        assert partial == ["urlscan: urlscan.io rate limit or quota reached (HTTP 429); not asked again for 120 s"]
        assert ("Inform", "showing 3 of 1752 (source: urlscan)") in response.messages
        # what was found before the stop reached the store
        assert {r.subject for r in service.store.subjects_with(["P0203"], "15133", 10)} >= {"example.com"}
        later = run(server, service, "expand", "P0203", "maltego.AS", "13335")
    assert len(replay.requests) == 2          # the pause held: urlscan was not asked again
    assert any("paused" in t for k, t in later.messages if k == "PartialError")


def test_exhausted_rate_limit_window_pauses_until_it_resets(replay, tmp_path):
    headers = recorded_headers(HEADERS)
    assert headers["X-Rate-Limit-Remaining"] == "149990"
    spent = {**headers, "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset-After": "600"}
    empty = {"results": [], "total": 0, "has_more": False}
    replay.add("GET", SEARCH, Reply(200, empty, headers), Reply(200, empty, spent))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        run(server, service, "expand", "P0203", "maltego.AS", "1")
        run(server, service, "expand", "P0203", "maltego.AS", "2")
        blocked = run(server, service, "expand", "P0203", "maltego.AS", "3")
    assert len(replay.requests) == 2
    assert any("paused" in t for k, t in blocked.messages if k == "PartialError")


def test_server_errors_are_retried_with_backoff_within_the_deadline(replay, tmp_path):
    first, _ = pages()
    replay.add("GET", SEARCH, Reply(503, "busy"), Reply(502, "busy"), Reply(200, {**first, "total": 3}))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0203", "maltego.AS", "15133")
    assert len(replay.requests) == 3
    assert replay.requests[2].at - replay.requests[1].at >= 0.4     # backoff before the third attempt
    assert len(response.entities) == 3 and not [m for m in response.messages if m[0] == "PartialError"]


def test_a_server_error_that_persists_is_reported_after_bounded_retries(replay, tmp_path):
    replay.add("GET", SEARCH, Reply(500, "down"))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay, retries=2)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0203", "maltego.AS", "15133")
    assert len(replay.requests) == 3
    assert response.messages == [("PartialError", "urlscan: urlscan.io answered HTTP 500 (server error) after 3 attempts")]


def test_a_retry_after_longer_than_the_deadline_is_not_waited_for(replay, tmp_path):
    replay.add("GET", SEARCH, Reply(503, "maintenance", {"Retry-After": "30"}))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)], deadline=3.0)
    with serving(service) as server:
        started = time.monotonic()
        response = run(server, service, "expand", "P0203", "maltego.AS", "15133")
        elapsed = time.monotonic() - started
    assert len(replay.requests) == 1 and elapsed < 1.5
    assert response.messages == [("PartialError", "urlscan: urlscan.io answered HTTP 503 (server error)")]


def test_a_slow_answer_past_the_deadline_ends_with_a_message_in_time(replay, tmp_path):
    replay.add("GET", SEARCH, Reply(200, {"results": [], "total": 0}, delay=4.0))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)], deadline=1.5)
    with serving(service) as server:
        started = time.monotonic()
        response = run(server, service, "expand", "P0203", "maltego.AS", "15133")
        elapsed = time.monotonic() - started
    assert elapsed < 2.5
    assert response.messages == [("PartialError", "urlscan: urlscan.io gave no answer within the deadline")]


def test_malformed_json_is_reported_as_such(replay, tmp_path):
    replay.add("GET", SEARCH, Reply(200, '{"results": [{"task": '))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0203", "maltego.AS", "15133")
    assert len(response.messages) == 1
    kind, text = response.messages[0]
    assert kind == "PartialError" and "malformed JSON" in text


def test_without_a_key_the_plugin_is_skipped_with_one_inform(replay, tmp_path, monkeypatch):
    monkeypatch.delenv("DTF_URLSCAN_API_KEY", raising=False)
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "pivot", "P0401", "maltego.Domain", "example.com", settings={})
    assert replay.requests == []
    skipped = [m for m in response.messages if "global#urlscan_api_key" in m[1]]
    assert len(skipped) == 1 and skipped[0][0] == "Inform"
    assert "DTF_URLSCAN_API_KEY" in skipped[0][1]
    assert not [m for m in response.messages if m[0] == "PartialError"]


def test_a_rejected_key_names_the_service_and_the_setting(replay, tmp_path):
    replay.add("GET", SEARCH, Reply(401, {"message": "API key supplied but not found in database!", "status": 401}))
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0203", "maltego.AS", "15133")
    assert response.messages == [("PartialError", "urlscan: urlscan.io rejected the API key (HTTP 401); check the "
                                  "global#urlscan_api_key setting (or DTF_URLSCAN_API_KEY on the server)")]


def test_values_urlscan_cannot_search_are_skipped_not_failed(replay, tmp_path):
    service = keyed_service(tmp_path / "s.sqlite3", [plugin(replay)])
    with serving(service) as server:
        response = run(server, service, "expand", "P0401.004", "maltego.Hash", "-1903558660")
    assert replay.requests == []
    assert response.messages and response.messages[0][0] == "Inform"
    assert "SHA-256" in response.messages[0][1]


def test_query_conversion_matches_and_extends_the_higma_reference():
    converted = UrlscanPlugin(default_catalog(), {}).to_query(
        [("P0401.006", "ads.php"), ("P0401.007", 200), ("P0203", "399629")])
    assert converted == {"query": '(task.url:"ads.php" OR filename:"ads.php") AND page.status:200 AND page.asn:AS399629',
                         "covers": ["P0401.006", "P0401.007", "P0203"], "unsupported": []}
    teams = UrlscanPlugin(default_catalog(), {}).to_query(
        [("P0401.001", "Download Microsoft Teams Desktop and Mobile Apps | Microsoft Teams"),
         ("P0102.002", "teams-*"), ("P0201", "185.117.91.141"),
         ("P0401.004", "3:qVZxQXbZ6iWtBqTRlvN3LBAdhH7vZVjexRoAqRAdTwIAqo76GRoAqWQoMhFIeAqM:qzxO96PKvp2dhHiXdq3v7rdqWQoMTpAN", "SSDEEP"),
         ("P0101.001", "NameCheap, Inc.")])
    assert teams["query"] == ('page.title:"Download Microsoft Teams Desktop and Mobile Apps | Microsoft Teams" '
                              'AND page.domain:teams-* AND page.ip:185.117.91.141')
    assert [p for p, _ in teams["unsupported"]] == ["P0401.004", "P0101.001"]
    assert "SSDEEP" in teams["unsupported"][0][1]
