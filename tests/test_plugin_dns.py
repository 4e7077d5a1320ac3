"""The dns plugin against a real DNS server on 127.0.0.1 (UDP and TCP), alone and through the app."""
from __future__ import annotations

import threading
import time

import dns.message
import dns.query
import dns.rcode
import pytest

from dns_server import DnsTestServer, Zone
from dtf_catalog import default_catalog
from plugins.base import Context, PluginError, PluginStopped, Subject
from plugins.dns import DnsPlugin, ns_domain
from plugins.local import LocalPlugin
from store import Observation, Store
from support import ServerThread, run_transform

CATALOG = default_catalog()


def shop_zone() -> Zone:
    zone = Zone().soa("shop.test", "ns1.dnsco.test", "hostmaster.dnsco.test")
    zone.add("shop.test", "A", "198.51.100.7", "198.51.100.9").add("shop.test", "AAAA", "2001:db8::7")
    zone.add("shop.test", "MX", "10 mx1.mailco.test.", "20 mx2.mailco.test.")
    zone.add("shop.test", "NS", "ns1.dnsco.test.", "ns2.dnsco.test.")
    zone.add("www.shop.test", "CNAME", "edge.cdn.test.")
    zone.add("edge.cdn.test", "CNAME", "e1.cdn.test.").add("e1.cdn.test", "A", "198.51.100.8")
    zone.add("7.100.51.198.in-addr.arpa", "PTR", "host7.shop.test.")
    zone.add("9.100.51.198.in-addr.arpa", "PTR", "elsewhere.shop.test.")   # does not resolve back
    zone.add("host7.shop.test", "A", "198.51.100.7")
    zone.add("nullmx.test", "MX", "0 .").add("nullmx.test", "A", "198.51.100.20")
    zone.soa("dotted.test", "ns.dotted.test", "john\\.doe.dotted.test").add("www.dotted.test", "A", "198.51.100.30")
    zone.add("big.test", "A", *[f"198.51.100.{n}" for n in range(100, 140)])
    zone.add("sub.ns.bigdns.test", "A", "198.51.100.50")
    zone.add("plain.test", "NS", "ricardo.ns.bigdns.test.", "zara.ns.bigdns.test.")
    return zone


@pytest.fixture(scope="module")
def server():
    with DnsTestServer(shop_zone()) as running:
        yield running


def plugin_for(server, **settings) -> DnsPlugin:
    base = {"servers": "127.0.0.1", "port": server.port, "allow_reserved": "true", "timeout": 1, "lifetime": 2}
    base.update(settings)
    return DnsPlugin(CATALOG, base)


def values(plugin, pivot_id, subject, deadline=5.0) -> list[str]:
    ctx = Context(deadline=time.monotonic() + deadline)
    return [f.value for f in plugin.extract(CATALOG.pivot(pivot_id), subject, ctx)]


# ---- extraction ----------------------------------------------------------------------------------

@pytest.mark.parametrize("pivot_id, name, expected", [
    ("P0103.001", "www.shop.test", ["edge.cdn.test", "e1.cdn.test"]),
    ("P0103.002", "shop.test", ["mx1.mailco.test", "mx2.mailco.test"]),
    ("P0103.003", "shop.test", ["198.51.100.7", "198.51.100.9", "2001:db8::7"]),
    ("P0201", "shop.test", ["198.51.100.7", "198.51.100.9", "2001:db8::7"]),
    ("P0103.004", "shop.test", ["hostmaster.dnsco.test"]),
    ("P0103.004", "www.shop.test", ["hostmaster.dnsco.test"]),      # behind a CNAME: the domain's zone
    ("P0103.004", "www.dotted.test", ["john.doe.dotted.test"]),     # NODATA authority SOA, escaped dot
    ("P0103.005", "shop.test", ["host7.shop.test", "elsewhere.shop.test"]),
    ("P0103.006", "shop.test", ["ns1.dnsco.test", "ns2.dnsco.test"]),
    ("P0103.006", "www.shop.test", ["ns1.dnsco.test", "ns2.dnsco.test"]),   # falls back to the zone
    ("P0103.007", "shop.test", ["dnsco.test"]),
    ("P0101.010", "shop.test", ["ns1.dnsco.test", "ns2.dnsco.test"]),
    ("P0101.011", "plain.test", ["ns.bigdns.test"]),
    ("P0103.002", "nullmx.test", []),                                # a null MX is no mail server
    ("P0103.001", "shop.test", []),
])
def test_extract_from_a_domain(server, pivot_id, name, expected):
    assert sorted(values(plugin_for(server), pivot_id, Subject("domain", name))) == sorted(expected)


def test_findings_are_normalised_and_name_the_source(server):
    findings = plugin_for(server).extract(CATALOG.pivot("P0103.006"), Subject("domain", "shop.test"), Context())
    assert {(f.source, f.key == f.value) for f in findings} == {("dns", True)}
    assert all(not f.value.endswith(".") for f in findings)


def test_ptr_of_an_address(server):
    assert values(plugin_for(server), "P0103.005", Subject("ip", "198.51.100.7")) == ["host7.shop.test"]
    assert values(plugin_for(server), "P0103.005", Subject("ip", "198.51.100.77")) == []   # NXDOMAIN


def test_reverse_lookup_keeps_only_names_that_resolve_back(server):
    plugin, ctx = plugin_for(server), Context()
    confirmed = plugin.expand(CATALOG.pivot("P0201"), "198.51.100.7", frozenset({"domain"}), ctx)
    assert [(h.subject.kind, h.subject.value, h.value) for h in confirmed.hits] == [("domain", "host7.shop.test", "198.51.100.7")]
    unconfirmed = plugin.expand(CATALOG.pivot("P0201"), "198.51.100.9", frozenset({"domain"}), ctx)
    assert unconfirmed.hits == []   # its PTR name has no address: not a domain pointing at it


def test_ptr_name_expands_to_its_addresses(server):
    found = plugin_for(server).expand(CATALOG.pivot("P0103.005"), "host7.shop.test", frozenset({"ip", "domain"}), Context())
    assert [(h.subject.kind, h.subject.value) for h in found.hits] == [("ip", "198.51.100.7")]


def test_missing_names_and_records_are_answers_not_errors(server):
    plugin = plugin_for(server)
    assert values(plugin, "P0103.003", Subject("domain", "nothing-here.test")) == []
    assert values(plugin, "P0103.002", Subject("domain", "www.dotted.test")) == []


def test_name_server_domain_drops_the_first_label():
    assert ns_domain("ricardo.ns.cloudflare.com") == "ns.cloudflare.com"
    assert ns_domain("dns1.regway.com") == "regway.com"
    assert ns_domain("regway.com") == "regway.com"            # never a bare public suffix
    assert ns_domain("ns1.example.co.uk") == "example.co.uk"


# ---- transport -----------------------------------------------------------------------------------

def test_truncated_udp_answer_falls_back_to_tcp(server):
    server.truncate_udp.add("big.test")
    try:
        before_udp, before_tcp = server.count("big.test", "A", "udp"), server.count("big.test", "A", "tcp")
        found = values(plugin_for(server, memo_seconds=0), "P0103.003", Subject("domain", "big.test"))
        assert len(found) == 40
        assert server.count("big.test", "A", "udp") > before_udp
        assert server.count("big.test", "A", "tcp") > before_tcp
    finally:
        server.truncate_udp.discard("big.test")


def test_server_answers_a_direct_tcp_query(server):
    response = dns.query.tcp(dns.message.make_query("shop.test", "NS"), "127.0.0.1", port=server.port, timeout=2)
    assert response.rcode() == dns.rcode.NOERROR
    assert sorted(r.target.to_text() for r in response.answer[0]) == ["ns1.dnsco.test.", "ns2.dnsco.test."]


# ---- failures, deadline, reserved names ----------------------------------------------------------

@pytest.mark.parametrize("rcode, text", [(dns.rcode.SERVFAIL, "SERVFAIL"), (dns.rcode.REFUSED, "REFUSED")])
def test_server_failure_is_a_plugin_error(rcode, text):
    with DnsTestServer(shop_zone()) as failing:
        failing.rcode = rcode
        with pytest.raises(PluginError, match=text):
            values(plugin_for(failing), "P0103.006", Subject("domain", "shop.test"))


def test_some_lookups_failing_keeps_the_others():
    with DnsTestServer(shop_zone()) as flaky:
        flaky.rcode_for["9.100.51.198.in-addr.arpa"] = dns.rcode.SERVFAIL
        with pytest.raises(PluginStopped, match="SERVFAIL") as stopped:
            values(plugin_for(flaky), "P0103.005", Subject("domain", "shop.test"))
        assert [f.value for f in stopped.value.partial] == ["host7.shop.test"]


def test_silent_resolver_times_out_within_the_deadline():
    with DnsTestServer(shop_zone()) as dead:
        dead.silent = True
        plugin = plugin_for(dead, timeout=5, lifetime=5)
        started = time.monotonic()
        with pytest.raises(PluginError, match="no answer"):
            values(plugin, "P0103.006", Subject("domain", "shop.test"), deadline=0.8)
        assert time.monotonic() - started < 1.5
        assert dead.count("shop.test", "NS") >= 1


def test_reserved_names_are_not_sent_without_permission(server):
    plugin = plugin_for(server, allow_reserved="false")
    before = server.count()
    assert values(plugin, "P0103.006", Subject("domain", "shop.test")) == []
    assert values(plugin, "P0103.005", Subject("ip", "198.51.100.7")) == []
    assert plugin.expand(CATALOG.pivot("P0201"), "198.51.100.7", frozenset({"domain"}), Context()).hits == []
    assert server.count() == before


def test_concurrent_lookups_of_one_name_share_a_query(server):
    server.reset_counts()
    plugin = plugin_for(server)
    results = {}
    threads = [threading.Thread(target=lambda p=p: results.__setitem__(p, values(plugin, p, Subject("domain", "shop.test"))))
               for p in ("P0103.006", "P0103.007", "P0101.010", "P0101.011")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["P0103.007"] == ["dnsco.test"] and len(results["P0101.010"]) == 2
    assert server.count("shop.test", "NS") == 1


@pytest.mark.parametrize("settings, word", [({"port": "fiftythree"}, "port"), ({"servers": "dns.google"}, "servers"),
                                            ({"allow_reserved": "maybe"}, "allow_reserved"), ({"timeout": "-1"}, "timeout")])
def test_bad_settings_are_refused_clearly(settings, word):
    with pytest.raises(ValueError, match=word):
        DnsPlugin(CATALOG, settings)


# ---- through the Flask app over a socket ---------------------------------------------------------

def service_with(tmp_path, server, deadline=None, **settings):
    from transforms.service import Service

    store_path = tmp_path / "store.sqlite3"
    store = Store(store_path)
    store.write_batch([Observation("domain", "shop.test", "P0103.006", "ns9.stored.test", "ns9.stored.test",
                                   "seed", "2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z")])
    plugins = [LocalPlugin(store, CATALOG), plugin_for(server, **settings)]
    return Service(store_path, CATALOG, plugins=plugins, deadline=deadline)


def test_failing_resolver_gives_a_partial_error_and_the_store_still_answers(tmp_path):
    from web.app import create_app

    with DnsTestServer(shop_zone()) as failing:
        failing.rcode = dns.rcode.SERVFAIL
        with ServerThread(create_app(service_with(tmp_path, failing))) as web:
            answer = run_transform(web.url, "dtfp0103006extractdomain", "maltego.Domain", "shop.test")
    assert answer.values() == {"ns9.stored.test"}
    partial = [text for kind, text in answer.messages if kind == "PartialError"]
    assert partial and partial[0].startswith("dns:") and "SERVFAIL" in partial[0]


def test_slow_resolver_answer_arrives_within_the_deadline(tmp_path):
    from web.app import create_app

    with DnsTestServer(shop_zone()) as slow:
        slow.delay = 4.0
        with ServerThread(create_app(service_with(tmp_path, slow, deadline=1.5, timeout=5, lifetime=5))) as web:
            started = time.monotonic()
            answer = run_transform(web.url, "dtfp0103006extractdomain", "maltego.Domain", "shop.test")
            elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed
    assert answer.values() == {"ns9.stored.test"}
    assert any(kind == "PartialError" and text.startswith("dns:") for kind, text in answer.messages)


def test_live_answers_merge_with_the_store_through_the_app(tmp_path, server):
    from web.app import create_app

    with ServerThread(create_app(service_with(tmp_path, server))) as web:
        answer = run_transform(web.url, "dtfp0103006extractdomain", "maltego.Domain", "shop.test")
        reverse = run_transform(web.url, "dtfp0201pivotipv4address", "maltego.IPv4Address", "198.51.100.7")
    assert answer.values() == {"ns9.stored.test", "ns1.dnsco.test", "ns2.dnsco.test"}
    sources = {e.value: e.link["dtf.sources"] for e in answer.entities}
    assert sources["ns1.dnsco.test"] == "dns" and sources["ns9.stored.test"] == "seed"
    assert {e.type for e in answer.entities} == {"maltego.NSRecord"}
    assert reverse.values() == {"host7.shop.test"}
    assert reverse.entities[0].link["dtf.pivot"] == "P0201"
