"""Team Cymru IP -> AS over DNS TXT: the AS announcing an address, its name and country.

Queries (formats in shared/reference/intel-apis.md, section d):
  <reversed octets>.origin.asn.cymru.com TXT   -> "ASN [ASN...] | prefix | CC | registry | allocated"
  <reversed nibbles>.origin6.asn.cymru.com TXT -> the same for IPv6
  AS<n>.asn.cymru.com TXT                      -> "ASN | CC | registry | allocated | AS name"
An unrouted address answers NXDOMAIN: no findings. When an address is covered by several announced
prefixes the most specific one wins, as it does in routing; a prefix announced by several ASes
(space-separated) yields every one of them.

Values: P0203 and P0203.002 the AS number, P0203.001 the AS name (one more lookup per AS, made
only for that pivot), P0203.003 the country of the prefix's allocation (the origin answer's CC,
which describes the address rather than the AS's home).

A domain is first resolved (A and AAAA) with the same resolver; all its addresses, then all their
ASes, are looked up in parallel. Private, loopback and other non-routable addresses are never
asked about: Cymru knows nothing of them. Resolver settings are the dns plugin's (`servers`,
`port`, `timeout`, `lifetime`, `memo_seconds`, `allow_reserved`, `max_addresses`), read from this
plugin's own settings (`DTF_CYMRU_SERVERS`...).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.name
import dns.reversename

from dtf_catalog import Catalog, Pivot
from store.normalize import InvalidValue, normalize

from .base import EXTRACT, Context, Expansion, Finding, PluginError, Subject
from .parsers import normalised_values
from .parsers.names import is_documentation_address, is_reserved_name
from .dns import (DnsLookup, ResolverSettings, partial_or_whole,
                  setting_int)

ORIGIN_ZONE = dns.name.from_text("origin.asn.cymru.com")
ORIGIN6_ZONE = dns.name.from_text("origin6.asn.cymru.com")
ASN_ZONE = "asn.cymru.com"


@dataclass(frozen=True)
class Origin:
    """One origin answer: the announcing AS numbers and the prefix's country."""
    asns: tuple[str, ...]
    prefix: str
    country: str
    registry: str = ""
    allocated: str = ""

    @property
    def prefix_length(self) -> int:
        try:
            return ipaddress.ip_network(self.prefix, strict=False).prefixlen
        except ValueError:
            return -1


def txt_text(rdata) -> str:
    return b"".join(rdata.strings).decode("utf-8", "replace")


def parse_origin(text: str) -> Origin | None:
    """`23028 | 216.90.108.0/24 | US | arin | 1998-09-25` (several ASNs space-separated)."""
    fields = [f.strip() for f in text.strip().strip('"').split("|")]
    if len(fields) < 3:
        return None
    asns = []
    for token in fields[0].split():
        try:
            asns.append(normalize("asn", token)[1])
        except InvalidValue:
            continue    # "NA" for unrouted space
    if not asns:
        return None
    return Origin(tuple(dict.fromkeys(asns)), fields[1], fields[2].upper(),
                  fields[3] if len(fields) > 3 else "", fields[4] if len(fields) > 4 else "")


def parse_as_name(text: str) -> tuple[str, str] | None:
    """`23028 | US | arin | 2002-01-04 | TEAMCYMRU - SAUNET` -> ("23028", "TEAMCYMRU - SAUNET")."""
    fields = [f.strip() for f in text.strip().strip('"').split("|")]
    if len(fields) < 5:
        return None
    try:
        number = normalize("asn", fields[0])[1]
    except InvalidValue:
        return None
    name = "|".join(fields[4:]).strip()
    return (number, name) if name and name.upper() != "NA" else None


def origin_query(ip: str) -> str:
    return dns.reversename.from_address(ip, v4_origin=ORIGIN_ZONE, v6_origin=ORIGIN6_ZONE).to_text(omit_final_dot=True)


def best_origin(answers: list[Origin]) -> Origin | None:
    """The most specific announced prefix covering the address."""
    return max(answers, key=lambda o: o.prefix_length, default=None)


class CymruPlugin:
    name = "cymru"
    live = True

    PIVOTS = ("P0203", "P0203.001", "P0203.002", "P0203.003")

    def __init__(self, catalog: Catalog, settings: dict | None = None):
        self.catalog = catalog
        settings = dict(settings or {})
        self.lookup = DnsLookup(self.name, ResolverSettings.read(self.name, settings))
        self.max_addresses = setting_int(self.name, settings, "max_addresses", 8, 1, 256)

    def capabilities(self) -> dict[str, set[str]]:
        return {pivot_id: {EXTRACT} for pivot_id in self.PIVOTS}

    def expand(self, pivot: Pivot, key: str, wanted: frozenset[str], ctx: Context) -> Expansion:
        raise PluginError(f"cannot list the addresses of a {pivot.id} value over DNS")

    def extract(self, pivot: Pivot, subject: Subject, ctx: Context) -> list[Finding]:
        problems: list[str] = []
        ips = self._addresses(subject, ctx, problems)
        origins = self._origins(ips, ctx, problems)
        if pivot.id == "P0203.003":
            raw = [o.country for o in origins if o.country]
        elif pivot.id == "P0203.001":
            raw = self._as_names([asn for o in origins for asn in o.asns], ctx, problems)
        else:
            raw = [asn for o in origins for asn in o.asns]
        findings = [Finding(pivot.id, display, key, self.name)
                    for display, key in normalised_values(pivot.value.kind, raw)]
        return partial_or_whole(findings, problems)

    # ---- steps -----------------------------------------------------------------------------------------

    def _addresses(self, subject: Subject, ctx: Context, problems: list[str]) -> list[str]:
        if subject.kind == "ip":
            ips = [subject.value]
        elif subject.kind == "domain":
            if is_reserved_name(subject.value) and not self.lookup.allow_reserved:
                return []
            ips = self.lookup.addresses(subject.value, ctx, problems)
        else:
            return []
        return [ip for ip in ips if self._routable(ip)][: self.max_addresses]

    def _routable(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if self.lookup.allow_reserved and is_documentation_address(ip):
            return True
        return address.is_global

    def _origins(self, ips: list[str], ctx: Context, problems: list[str]) -> list[Origin]:
        if not ips:
            return []
        questions = [(origin_query(ip), "TXT") for ip in ips]
        answers = self.lookup.many(questions, ctx, problems)
        chosen = []
        for question in questions:
            records = answers.get((question[0].lower(), "TXT"))
            if records is None:
                continue
            parsed = [o for o in (parse_origin(txt_text(r)) for r in records.rdata) if o]
            origin = best_origin(parsed)
            if origin is not None:
                chosen.append(origin)
        return chosen

    def _as_names(self, asns: list[str], ctx: Context, problems: list[str]) -> list[str]:
        asns = list(dict.fromkeys(asns))
        if not asns:
            return []
        answers = self.lookup.many([(f"AS{n}.{ASN_ZONE}", "TXT") for n in asns], ctx, problems)
        names = []
        for number in asns:
            records = answers.get((f"as{number}.{ASN_ZONE}", "TXT"))
            for rdata in records.rdata if records else ():
                parsed = parse_as_name(txt_text(rdata))
                if parsed and parsed[0] == number:
                    names.append(parsed[1])
        return names
