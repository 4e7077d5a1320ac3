"""The cymru plugin against a local DNS server serving Team Cymru's documented TXT answers."""
from __future__ import annotations

import time

import dns.name
import dns.rcode
import dns.reversename
import pytest

from dns_server import DnsTestServer, Zone, cymru_transcript
from dtf_catalog import default_catalog
from plugins.base import Context, PluginError, Subject
from plugins.cymru import CymruPlugin, parse_as_name, parse_origin
from plugins.local import LocalPlugin
from store import Store
from support import ServerThread, run_transform

CATALOG = default_catalog()
TRANSCRIPT = "fixtures/api/cymru/dns-txt_documented-answers.txt"


def answer_fields(answer: str) -> list[str]:
    return [f.strip() for f in answer.strip('"').split("|")]


def address_of(query: str) -> str | None:
    """The address a full-length origin/origin6 query name asks about (None for shorter names)."""
    for zone, arpa, labels in ((".origin.asn.cymru.com", ".in-addr.arpa", 4), (".origin6.asn.cymru.com", ".ip6.arpa", 32)):
        if query.endswith(zone):
            head = query[: -len(zone)]
            if head.count(".") + 1 == labels:
                return dns.reversename.to_address(dns.name.from_text(head + arpa))
    return None


@pytest.fixture(scope="module")
def sections(shared_dir):
    return dict(cymru_transcript(shared_dir / TRANSCRIPT))


def section(sections, letter: str):
    return next(pairs for title, pairs in sections.items() if title.startswith(f"[{letter}]"))


def zone_of(pairs) -> Zone:
    zone = Zone()
    for name, answer in pairs:
        if name:
            zone.add(name, "TXT", answer)
    return zone


def plugin_for(server, **settings) -> CymruPlugin:
    base = {"servers": "127.0.0.1", "port": server.port, "timeout": 1, "lifetime": 2, "allow_reserved": "true"}
    base.update(settings)
    return CymruPlugin(CATALOG, base)


def extract(plugin, pivot_id, subject) -> list[str]:
    return [f.value for f in plugin.extract(CATALOG.pivot(pivot_id), subject, Context(deadline=time.monotonic() + 5))]


# ---- the documented answers --------------------------------------------------------------------------

def test_documented_origin_answers(sections):
    pairs = section(sections, "A")
    asked = [(address_of(name), answer) for name, answer in pairs if name and address_of(name)]
    assert len(asked) == 2   # one IPv4 and one IPv6 full-length query in the documentation
    with DnsTestServer(zone_of(pairs)) as server:
        plugin = plugin_for(server)
        for ip, answer in asked:
            fields = answer_fields(answer)
            assert extract(plugin, "P0203", Subject("ip", ip)) == fields[0].split()
            assert extract(plugin, "P0203.002", Subject("ip", ip)) == fields[0].split()
            assert extract(plugin, "P0203.003", Subject("ip", ip)) == [fields[2]]


def test_documented_as_name(sections):
    pairs = section(sections, "A")
    as_answer = next(answer for name, answer in pairs if name and name.upper().startswith("AS"))
    ip = next(address_of(n) for n, _ in pairs if n and address_of(n) and "." in address_of(n))
    with DnsTestServer(zone_of(pairs)) as server:
        assert extract(plugin_for(server), "P0203.001", Subject("ip", ip)) == [answer_fields(as_answer)[4]]


def test_live_data_drift_is_read_not_assumed(sections):
    """Section B: the same question answered by another AS years later."""
    pairs = section(sections, "B")
    name, answer = next((n, a) for n, a in pairs if n and n.endswith(".origin.asn.cymru.com"))
    with DnsTestServer(zone_of(pairs)) as server:
        assert extract(plugin_for(server), "P0203", Subject("ip", address_of(name))) == answer_fields(answer)[0].split()


def test_ipwhois_raw_answers_parse(sections):
    origin, described = [answer for _, answer in section(sections, "C")]
    parsed = parse_origin(origin)
    assert (parsed.asns, parsed.prefix, parsed.country) == (("15169",), "74.125.225.0/24", "US")
    assert parse_as_name(described) == ("15169", "GOOGLE - Google Inc., US")
    zone = Zone().add("229.225.125.74.origin.asn.cymru.com", "TXT", origin).add("AS15169.asn.cymru.com", "TXT", described)
    with DnsTestServer(zone) as server:
        plugin = plugin_for(server)
        assert extract(plugin, "P0203.001", Subject("ip", "74.125.225.229")) == ["GOOGLE - Google Inc., US"]


def test_multi_origin_and_most_specific_prefix(sections):
    a_pairs, b_pairs = section(sections, "A"), section(sections, "B")
    peer = next(answer for name, answer in a_pairs if name and ".peer." in name)     # several ASNs in one field
    narrow = next(answer for name, answer in a_pairs if name == "31.108.90.216.origin.asn.cymru.com")
    wide = next(answer for name, answer in b_pairs if name == "31.108.90.216.origin.asn.cymru.com")
    zone = Zone().add("31.108.90.216.origin.asn.cymru.com", "TXT", wide, narrow)
    zone.add("32.108.90.216.origin.asn.cymru.com", "TXT", peer)
    with DnsTestServer(zone) as server:
        plugin = plugin_for(server)
        assert extract(plugin, "P0203", Subject("ip", "216.90.108.31")) == answer_fields(narrow)[0].split()
        assert extract(plugin, "P0203", Subject("ip", "216.90.108.32")) == answer_fields(peer)[0].split()
        assert len(answer_fields(peer)[0].split()) == 5


# ---- domains: many addresses, in parallel ----------------------------------------------------------------

def test_domain_addresses_are_looked_up_in_parallel(sections):
    zone = zone_of(section(sections, "A"))
    addresses = [f"216.90.108.{n}" for n in (31, 41, 51, 61)]
    zone.add("many.test", "A", *addresses)
    for n in (41, 51, 61):
        zone.add(f"{n}.108.90.216.origin.asn.cymru.com", "TXT", f'"6450{n % 10} | 216.90.108.{n}/32 | DE | ripencc | 2020-01-01"')
    with DnsTestServer(zone) as server:
        server.delay = 0.3
        plugin = plugin_for(server)
        started = time.monotonic()
        found = extract(plugin, "P0203", Subject("domain", "many.test"))
        elapsed = time.monotonic() - started
        assert sorted(found) == ["23028", "64501"]     # one finding per AS, whichever address led to it
        assert server.count(rdtype="TXT") == 4
    assert elapsed < 1.2, f"4 origin lookups of 0.3 s took {elapsed:.2f} s: not parallel"


def test_private_and_unrouted_addresses(sections):
    with DnsTestServer(zone_of(section(sections, "A"))) as server:
        plugin = plugin_for(server, allow_reserved="false")
        assert extract(plugin, "P0203", Subject("ip", "10.0.0.1")) == []
        assert extract(plugin, "P0203", Subject("ip", "192.0.2.1")) == []
        assert server.count() == 0                         # never asked about
        assert extract(plugin, "P0203", Subject("ip", "8.8.4.4")) == []     # NXDOMAIN: not in the table
        assert server.count("4.4.8.8.origin.asn.cymru.com", "TXT") == 1


def test_server_failure_is_a_plugin_error(sections):
    with DnsTestServer(zone_of(section(sections, "A"))) as server:
        server.rcode = dns.rcode.SERVFAIL
        with pytest.raises(PluginError, match="SERVFAIL"):
            extract(plugin_for(server), "P0203", Subject("ip", "216.90.108.31"))


# ---- through the app, with write-through ---------------------------------------------------------------

def test_as_pivot_through_the_app_and_from_the_store_afterwards(tmp_path, sections):
    from transforms.service import Service
    from web.app import create_app

    store_path = tmp_path / "store.sqlite3"
    with DnsTestServer(zone_of(section(sections, "A"))) as server:
        live = Service(store_path, CATALOG, plugins=[LocalPlugin(Store(store_path), CATALOG), plugin_for(server)])
        with ServerThread(create_app(live)) as web:
            answer = run_transform(web.url, "dtfp0203extractipv4address", "maltego.IPv4Address", "216.90.108.31")
        assert server.count("31.108.90.216.origin.asn.cymru.com", "TXT") == 1   # three leaves, one lookup
    found = {(e.type, e.value, e.link["dtf.pivot"]) for e in answer.entities}
    assert found == {("maltego.AS", "23028", "P0203"), ("dtf.ASName", "TEAMCYMRU - SAUNET", "P0203.001"),
                     ("maltego.Location", "US", "P0203.003")}
    offline = Service(store_path, CATALOG, plugins=[LocalPlugin(Store(store_path), CATALOG)])
    with ServerThread(create_app(offline)) as web:
        again = run_transform(web.url, "dtfp0203extractipv4address", "maltego.IPv4Address", "216.90.108.31")
    assert {(e.type, e.value) for e in again.entities} == {(t, v) for t, v, _ in found}
    assert {e.link["dtf.sources"] for e in again.entities} == {"cymru"}
