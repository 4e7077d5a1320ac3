"""Small helpers on DNS names that several parsers need."""
from __future__ import annotations

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
