"""Passive DNS in the common output format (JSON lines: rrname, rrtype, rdata, time_first, time_last).

CIRCL writes `rdata` as a string, DNSDB as a list of strings, and DNSDB adds zone_time_* when
the record came from a zone file; times are epoch seconds. Each record type maps to one DNS
pivot: A/AAAA -> P0103.003, CNAME -> .001, MX -> .002, SOA (its RNAME) -> .004, PTR -> .005
(on the address), NS -> .006 plus the name server's registered domain -> .007.
"""
from __future__ import annotations

import datetime as dt
import ipaddress

from store.importer import Record, RecordError, json_lines

from .names import clean_name, registered_domain

RRTYPE_PIVOTS = {"A": "P0103.003", "AAAA": "P0103.003", "CNAME": "P0103.001", "MX": "P0103.002",
                 "SOA": "P0103.004", "PTR": "P0103.005", "NS": "P0103.006"}
NS_DOMAIN = "P0103.007"


class PdnsRecordError(ValueError):
    """One passive-DNS record cannot be used; the message says why."""


def facts(record: dict) -> list[tuple[str, str, str, str]]:
    """(subject kind, subject, pivot ID, raw value) for one passive-DNS record."""
    if not isinstance(record, dict):
        raise PdnsRecordError("expected a JSON object")
    rrtype = str(record.get("rrtype") or "").strip().upper()
    rrname = str(record.get("rrname") or "").strip()
    if not rrtype or not rrname:
        raise PdnsRecordError("missing field 'rrname' or 'rrtype'")
    if rrtype not in RRTYPE_PIVOTS:
        raise PdnsRecordError(f"rrtype {rrtype} has no DTF pivot (supported: {', '.join(RRTYPE_PIVOTS)})")
    rdata = record.get("rdata")
    values = rdata if isinstance(rdata, list) else [rdata]
    values = [str(v).strip() for v in values if v not in (None, "") and str(v).strip()]
    if not values:
        raise PdnsRecordError("missing field 'rdata'")
    pivot = RRTYPE_PIVOTS[rrtype]
    out = []
    for value in values:
        if rrtype == "PTR":
            out.append(("ip", reverse_pointer_address(rrname), pivot, value))
            continue
        if rrtype == "MX":
            value = value.split()[-1]
        elif rrtype == "SOA":
            fields = value.split()
            if len(fields) < 2:
                raise PdnsRecordError(f"SOA rdata {value!r} has no RNAME")
            value = fields[1]
        out.append(("domain", rrname, pivot, value))
        if rrtype == "NS":
            domain = registered_domain(value)
            if domain:
                out.append(("domain", rrname, NS_DOMAIN, domain))
    return out


def seen_times(record: dict) -> tuple[str | None, str | None]:
    """(first, last) as ISO timestamps: time_* preferred, zone_time_* otherwise."""
    first = record.get("time_first", record.get("zone_time_first"))
    last = record.get("time_last", record.get("zone_time_last"))
    return epoch_to_iso(first), epoch_to_iso(last)


def epoch_to_iso(raw) -> str | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, bool):
        raise PdnsRecordError(f"{raw!r} is not a time")
    if isinstance(raw, (int, float)) or (isinstance(raw, str) and raw.strip().isdigit()):
        seconds = float(raw)
        if seconds > 10_000_000_000:  # milliseconds
            seconds /= 1000
        try:
            return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (OverflowError, OSError, ValueError):
            raise PdnsRecordError(f"{raw!r} is not a time") from None
    return str(raw)  # an ISO string: the importer normalises and validates it


def reverse_pointer_address(name: str) -> str:
    """The address a PTR owner name stands for (4.3.2.1.in-addr.arpa -> 1.2.3.4, ip6.arpa nibbles too)."""
    text = name.strip().rstrip(".").lower()
    if text.endswith(".in-addr.arpa"):
        octets = text[: -len(".in-addr.arpa")].split(".")
        if len(octets) == 4:
            try:
                return str(ipaddress.IPv4Address(".".join(reversed(octets))))
            except ValueError:
                pass
    elif text.endswith(".ip6.arpa"):
        nibbles = text[: -len(".ip6.arpa")].split(".")
        if len(nibbles) == 32 and all(len(n) == 1 for n in nibbles):
            digits = "".join(reversed(nibbles))
            try:
                return str(ipaddress.IPv6Address(":".join(digits[i:i + 4] for i in range(0, 32, 4))))
            except ValueError:
                pass
    if clean_name(text) is None:
        raise PdnsRecordError(f"PTR owner {name!r} is not a name")
    raise PdnsRecordError(f"PTR owner {name!r} is not a full in-addr.arpa or ip6.arpa name")


# ---- importer ------------------------------------------------------------------------------------

def read_pdns(path, progress=None):
    """`import pdns FILE`: passive-DNS JSON lines; each supported record yields one or two records."""
    for location, record in json_lines(path, progress):
        if isinstance(record, RecordError):
            yield location, record
            continue
        try:
            first, last = seen_times(record) if isinstance(record, dict) else (None, None)
            found = facts(record)
        except ValueError as exc:  # bad time or PdnsRecordError
            yield location, RecordError(str(exc))
            continue
        for kind, subject, pivot, value in found:
            yield location, Record(kind, subject, pivot, value, first_seen=first, last_seen=last)
