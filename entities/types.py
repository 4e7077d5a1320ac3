"""Which Maltego entity type shows which kind of thing, and under which property its value lives.

Data, read by transforms and by the pack writer; it imports nothing of ours.
"""
from __future__ import annotations

import ipaddress

# Subject kinds (what infrastructure is) -> the Maltego types that carry them.
SUBJECT_TYPES: dict[str, tuple[str, ...]] = {
    "domain": ("maltego.Domain",),
    "ip": ("maltego.IPv4Address", "maltego.IPv6Address"),
    "url": ("maltego.URL",),
    "hash": ("maltego.Hash",),
    "email": ("maltego.EmailAddress",),
    "cert": ("maltego.X509Certificate",),
}

# Maltego types accepted as input for a subject kind: the standard type and the DNS-name family.
INPUT_KIND_OF_TYPE: dict[str, str] = {
    "maltego.Domain": "domain",
    "maltego.DNSName": "domain",
    "maltego.Website": "domain",
    "maltego.NSRecord": "domain",
    "maltego.MXRecord": "domain",
    "maltego.IPv4Address": "ip",
    "maltego.IPv6Address": "ip",
    "maltego.URL": "url",
    "maltego.Hash": "hash",
    "maltego.EmailAddress": "email",
    "maltego.X509Certificate": "cert",
}

# The property holding each type's value (standard types as Maltego defines them).
VALUE_PROPERTY: dict[str, str] = {
    "maltego.Phrase": "text",
    "maltego.Domain": "fqdn",
    "maltego.DNSName": "fqdn",
    "maltego.Website": "fqdn",
    "maltego.NSRecord": "fqdn",
    "maltego.MXRecord": "fqdn",
    "maltego.IPv4Address": "ipv4-address",
    "maltego.IPv6Address": "ipv6-address",
    "maltego.AS": "as.number",
    "maltego.Netblock": "ipv4-range",
    "maltego.URL": "url",
    "maltego.Hash": "properties.hash",
    "maltego.EmailAddress": "email",
    "maltego.X509Certificate": "subject",
    "maltego.WebTitle": "title",
    "maltego.Organization": "title",
    "maltego.Location": "location.name",
}

# Short names that old clients send in Entity@Type without a Genealogy.
LEGACY_NAMES: dict[str, str] = {name.split(".", 1)[1]: name for name in VALUE_PROPERTY}
LEGACY_NAMES.update({"IPAddress": "maltego.IPv4Address", "IPv4Address": "maltego.IPv4Address", "AS": "maltego.AS"})

CUSTOM_PREFIX = "dtf."


def value_property(entity_type: str) -> str:
    """dtf.* types keep their value in `dtf.<lower-case name>`, e.g. dtf.Registrar -> dtf.registrar."""
    if entity_type in VALUE_PROPERTY:
        return VALUE_PROPERTY[entity_type]
    if entity_type.startswith(CUSTOM_PREFIX):
        return CUSTOM_PREFIX + entity_type[len(CUSTOM_PREFIX):].lower()
    return "value"


def type_for_subject(kind: str, value: str) -> str:
    """The Maltego type for one piece of infrastructure; IPs pick v4 or v6 by the address."""
    if kind == "ip":
        return ip_type(value)
    return SUBJECT_TYPES[kind][0]


def ip_type(value: str) -> str:
    try:
        return "maltego.IPv6Address" if ipaddress.ip_address(value).version == 6 else "maltego.IPv4Address"
    except ValueError:
        return "maltego.IPv4Address"


def types_for_value(entity: str, kind: str) -> tuple[str, ...]:
    """All types a value entity may arrive as: an IP value may be v4 or v6."""
    if kind == "ip":
        return SUBJECT_TYPES["ip"]
    return (entity,)


def entity_for_value(entity: str, kind: str, value: str) -> str:
    return ip_type(value) if kind == "ip" else entity


def resolve_type(declared: str, genealogy: list[str]) -> str:
    """The most specific known type of a request entity: Genealogy first, then the legacy short name."""
    for name in genealogy:
        if name in VALUE_PROPERTY or name.startswith(CUSTOM_PREFIX) or name in INPUT_KIND_OF_TYPE:
            return name
    if genealogy:
        return genealogy[0]
    return LEGACY_NAMES.get(declared, declared)


def short_name(entity_type: str) -> str:
    """`maltego.IPv4Address` -> `IPv4Address`, used in transform names."""
    return entity_type.rsplit(".", 1)[-1]
