"""API keys in one place: where they come from, how they are declared to Maltego, and that they never
show up in logs, answers or the store."""
from __future__ import annotations

import logging
import socket

from api_replay import ReplayServer, Reply, fixture, keyed_service, serving, transform_name
from dtf_catalog import default_catalog
from plugins import keys
from plugins.registry import global_settings
from plugins.securitytrails import SecurityTrailsPlugin
from plugins.shodan import ShodanPlugin
from plugins.urlscan import UrlscanPlugin
from support import maltego_request, parse_response, post, run_transform

EMPTY_SEARCH = {"results": [], "total": 0, "has_more": False}


def test_every_keyed_plugin_declares_its_global_setting_once():
    declared = {s.id: s for s in global_settings()}
    for service, cls in (("urlscan", UrlscanPlugin), ("shodan", ShodanPlugin), ("securitytrails", SecurityTrailsPlugin)):
        [setting] = cls.global_settings
        assert setting.id == f"global#{service}_api_key" and setting.id in declared
        assert (setting.type, setting.optional, setting.popup, setting.global_setting) == ("string", True, False, True)


def test_resolution_order_request_then_environment_then_config(monkeypatch):
    monkeypatch.delenv("DTF_SHODAN_API_KEY", raising=False)
    config = {"api_key": "from-config"}
    assert keys.resolve("shodan", {}, config) == "from-config"
    monkeypatch.setenv("DTF_SHODAN_API_KEY", "from-env")
    assert keys.resolve("shodan", {}, config) == "from-env"
    assert keys.resolve("shodan", {"global#shodan_api_key": "from-maltego"}, config) == "from-maltego"
    assert keys.resolve("shodan", {"global#shodan_api_key": "  "}, config) == "from-env"   # blank means unset
    monkeypatch.delenv("DTF_SHODAN_API_KEY")
    assert keys.resolve("shodan", {}, {}) is None


def test_the_key_sent_follows_the_same_order(tmp_path, monkeypatch):
    monkeypatch.delenv("DTF_URLSCAN_API_KEY", raising=False)
    with ReplayServer() as replay:
        replay.add("GET", "/api/v1/search/", Reply(200, EMPTY_SEARCH))
        plugin = UrlscanPlugin(default_catalog(), {"base_url": replay.url, "rate_per_second": 100,
                                                   "api_key": "key-from-config"})
        service = keyed_service(tmp_path / "s.sqlite3", [plugin])
        name = transform_name(service, "expand", "P0203", "maltego.AS")
        with serving(service) as server:
            run_transform(server.url, name, "maltego.AS", "1")
            monkeypatch.setenv("DTF_URLSCAN_API_KEY", "key-from-env")
            run_transform(server.url, name, "maltego.AS", "2")
            run_transform(server.url, name, "maltego.AS", "3", settings={"global#urlscan_api_key": "key-from-maltego"})
    assert [r.headers["api-key"] for r in replay.requests] == ["key-from-config", "key-from-env", "key-from-maltego"]


def test_redact_blanks_raw_and_url_encoded_keys():
    keys.remember("abc/def+ghi=")
    assert keys.redact("GET /x?key=abc%2Fdef%2Bghi%3D and abc/def+ghi=") == "GET /x?key=[redacted] and [redacted]"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_keys_never_reach_logs_answers_or_the_store(tmp_path, caplog, monkeypatch):
    secret = "DTFSECRET-9f8e7d6c5b4a3210"
    for name in ("DTF_URLSCAN_API_KEY", "DTF_SHODAN_API_KEY", "DTF_SECURITYTRAILS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.DEBUG)
    settings = {"global#urlscan_api_key": secret, "global#shodan_api_key": secret,
                "global#securitytrails_api_key": secret}
    store = tmp_path / "secret.sqlite3"
    answers = []
    with ReplayServer() as replay:
        pages = fixture("urlscan/search_pagination_search-after_2021-12.trimmed.json")["pages"]
        replay.add("GET", "/api/v1/search/", Reply(200, pages[0]["body_trimmed"]), Reply(429, "slow down"),
                   Reply(200, "{broken"))
        replay.add("GET", "/shodan/host/search", Reply(200, fixture("shodan/host-search_query-ip-1.1.1.1_minify-true_2023-03.json")),
                   Reply(401, {"error": f"Invalid API key {secret}"}))   # a service echoing the key back
        replay.add("POST", "/v1/domains/list", Reply(200, fixture("securitytrails/domains-list_filter-ipv4-1.1.1.1_page1_2019-10.json")),
                   Reply(500, "oops"))
        plugins = [UrlscanPlugin(default_catalog(), {"base_url": replay.url, "rate_per_second": 100}),
                   ShodanPlugin(default_catalog(), {"base_url": replay.url, "rate_per_second": 100}),
                   SecurityTrailsPlugin(default_catalog(), {"base_url": replay.url, "rate_per_second": 100,
                                                            "retries": 0})]
        unreachable = ShodanPlugin(default_catalog(), {"base_url": f"http://127.0.0.1:{_closed_port()}"})
        unreachable.name = "shodan2"
        service = keyed_service(store, plugins + [unreachable], with_local=True)
        calls = [("expand", "P0203", "maltego.AS", "15133"),                     # urlscan + shodan pages
                 ("expand", "P0203", "maltego.AS", "13335"),                     # urlscan 429, shodan 401 echoing
                 ("expand", "P0203", "maltego.AS", "64500"),                     # urlscan paused; others
                 ("pivot", "P0201", "maltego.IPv4Address", "1.1.1.1"),           # securitytrails list + 500
                 ("expand", "P0101.010", "maltego.NSRecord", "ns1.example.net")]
        with serving(service) as server:
            for kind, pivot, entity_type, value in calls:
                name = transform_name(service, kind, pivot, entity_type)
                status, _, text = post(f"{server.url}/run/{name}/",
                                       maltego_request(entity_type, value, settings=settings, soft=50, hard=50))
                assert status == 200
                answers.append(text)
    assert any(r.headers.get("api-key") == secret for r in replay.requests)          # the key was really used
    assert any(r.params.get("key") == secret for r in replay.requests)
    messages = " ".join(parse_response(text).message_text() for text in answers)
    assert "rejected the API key" in messages and "429" in messages and "cannot reach Shodan" in messages
    url_logs = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("/shodan/host/search?" in m and keys.REDACTED in m for m in url_logs)  # the URL was logged, blanked
    assert secret not in caplog.text
    assert all(secret not in text for text in answers)
    assert service.store.stats()["observations"] > 0
    for path in store.parent.glob(store.name + "*"):
        assert secret.encode() not in path.read_bytes(), path
