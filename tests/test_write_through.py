"""What live plugins learn stays in the store, and the engine's TTL cache spares repeated lookups.

Live answers come from the dns plugin talking to a real DNS server on 127.0.0.1; the "offline"
service afterwards is built from configuration with only the local plugin enabled.
"""
from __future__ import annotations

import datetime as dt

import pytest

from dns_server import DnsTestServer, Zone
from dtf_catalog import default_catalog
from plugins.dns import DnsPlugin
from plugins.local import LocalPlugin
from store import Store
from support import ServerThread, run_transform

CATALOG = default_catalog()


@pytest.fixture()
def resolver():
    zone = Zone()
    for name in ("shop.test", "partner.test"):
        zone.add(name, "NS", "ns1.dnsco.test.", "ns2.dnsco.test.")
    zone.add("shop.test", "A", "198.51.100.7").add("shop.test", "MX", "10 mx.mailco.test.")
    zone.add("7.100.51.198.in-addr.arpa", "PTR", "host7.shop.test.").add("host7.shop.test", "A", "198.51.100.7")
    with DnsTestServer(zone) as server:
        yield server


def live_service(store_path, resolver):
    from transforms.service import Service

    dns_plugin = DnsPlugin(CATALOG, {"servers": "127.0.0.1", "port": resolver.port, "allow_reserved": "true",
                                     "memo_seconds": "0", "timeout": 1, "lifetime": 2})
    return Service(store_path, CATALOG, plugins=[LocalPlugin(Store(store_path), CATALOG), dns_plugin])


def offline_service(store_path, monkeypatch):
    """Built the way the server builds it, from configuration: only `local` enabled."""
    from transforms.service import Service

    monkeypatch.setenv("DTF_PLUGINS", "local")
    service = Service(store_path, CATALOG)
    assert [p.name for p in service.plugins] == ["local"]
    return service


def serve(service):
    from web.app import create_app

    return ServerThread(create_app(service))


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_live_extract_answers_later_from_the_store(tmp_path, resolver, monkeypatch):
    store_path = tmp_path / "store.sqlite3"
    started = now()
    with serve(live_service(store_path, resolver)) as web:
        live = run_transform(web.url, "dtfp0103006extractdomain", "maltego.Domain", "shop.test")
        run_transform(web.url, "dtfp0103006extractdomain", "maltego.Domain", "partner.test")
    finished = now()
    assert live.values() == {"ns1.dnsco.test", "ns2.dnsco.test"}

    rows = Store(store_path).values_of([("domain", "shop.test")], ["P0103.006"])
    assert {(r.value, r.source) for r in rows} == {("ns1.dnsco.test", "dns"), ("ns2.dnsco.test", "dns")}
    assert all(started <= r.first_seen <= finished and started <= r.last_seen <= finished for r in rows)

    queries = resolver.count()
    with serve(offline_service(store_path, monkeypatch)) as web:
        stored = run_transform(web.url, "dtfp0103006extractdomain", "maltego.Domain", "shop.test")
        expanded = run_transform(web.url, "dtfp0103006expand", "maltego.NSRecord", "ns1.dnsco.test")
        pivoted = run_transform(web.url, "dtfp0103006pivotdomain", "maltego.Domain", "shop.test")
    assert resolver.count() == queries                     # nothing was asked live
    assert stored.values() == live.values()
    for entity in stored.entities:
        assert entity.link["dtf.sources"] == "dns"
        assert started <= entity.link["dtf.first_seen"] <= finished
    assert expanded.values() == {"shop.test", "partner.test"}
    assert pivoted.values() == {"partner.test"}


def test_live_expand_hits_are_written_through(tmp_path, resolver, monkeypatch):
    store_path = tmp_path / "store.sqlite3"
    with serve(live_service(store_path, resolver)) as web:
        live = run_transform(web.url, "dtfp0201pivotipv4address", "maltego.IPv4Address", "198.51.100.7")
    assert live.values() == {"host7.shop.test"}
    with serve(offline_service(store_path, monkeypatch)) as web:
        stored = run_transform(web.url, "dtfp0201pivotipv4address", "maltego.IPv4Address", "198.51.100.7")
    assert stored.values() == {"host7.shop.test"}
    assert stored.entities[0].link["dtf.sources"] == "dns"


def test_repeated_transform_is_answered_by_the_ttl_cache(tmp_path, resolver):
    store_path = tmp_path / "store.sqlite3"
    with serve(live_service(store_path, resolver)) as web:
        first = run_transform(web.url, "dtfp0103002extractdomain", "maltego.Domain", "shop.test")
        asked = resolver.count("shop.test", "MX")
        second = run_transform(web.url, "dtfp0103002extractdomain", "maltego.Domain", "shop.test")
        assert resolver.count("shop.test", "MX") == asked == 1     # the plugin's own memo is off here
        run_transform(web.url, "dtfp0103006extractdomain", "maltego.Domain", "shop.test")
        assert resolver.count("shop.test", "NS") == 1              # another lookup still goes out
    assert first.values() == second.values() == {"mx.mailco.test"}
