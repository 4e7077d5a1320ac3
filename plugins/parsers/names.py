"""Small helpers on DNS names that several parsers need."""
from __future__ import annotations

import ipaddress

from store.normalize import InvalidValue, dns_name, registrable_parts


def clean_name(raw) -> str | None:
    """A normalised host name, wildcard label stripped, or None when `raw` is not one."""
    if not isinstance(raw, str):
        return None
    try:
        return dns_name(raw.strip())
    except InvalidValue:
        return None


def registered_domain(name: str) -> str | None:
    """The registrable domain of a host name (ns1.example.co.uk -> example.co.uk), per the PSL."""
    host = clean_name(name)
    if host is None:
        return None
    suffix, label, _ = registrable_parts(host)
    if not label or label == suffix:
        return None
    return f"{label}.{suffix}"


# Special-use TLDs (RFC 2606, 6761, 6762, 7686, 9476 and ICANN's .internal): no registry, no public CA.
RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost", "local", "onion", "internal", "alt"})


def reserved_tld(name: str) -> str | None:
    """The special-use TLD `name` sits under (`test` for a.b.test, `home.arpa` too), else None."""
    labels = name.lower().rstrip(".").split(".")
    if labels[-2:] == ["home", "arpa"]:
        return "home.arpa"
    return labels[-1] if labels[-1] in RESERVED_TLDS else None


# Names and networks reserved for documentation and testing (RFC 2606, 5737, 3849, 9637): they never exist on
# the Internet, so live plugins leave them alone unless a test allows them.
RESERVED_SECOND_LEVEL = ("example.com", "example.net", "example.org")
DOCUMENTATION_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20"))


def is_reserved_name(name: str) -> bool:
    """True for names under a special-use TLD or the documentation domains (a.example.com, x.test)."""
    name = name.rstrip(".").lower()
    if reserved_tld(name):
        return True
    return any(name == s or name.endswith("." + s) for s in RESERVED_SECOND_LEVEL)


def is_documentation_address(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address.version == net.version and address in net for net in DOCUMENTATION_NETWORKS)
