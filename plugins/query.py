"""DTF pivots written in the keyed sources' own query languages (used by their plugins and by hIGMA).

The interface
-------------
    convert(backend, group) -> {"query": str, "covers": [pivot ids], "unsupported": [(pivot id, reason)]}

`group` is an AND group: a list of `(pivot_id, value)` pairs, or `(pivot_id, value, implementation)`
triples where `implementation` names the hash type the way hIGMA rules do (SHA256, MMH3, SSDEEP...).
`query` joins every pair the backend can express; `covers` lists their pivot IDs (once each, in order);
`unsupported` names each pair left out and why. An empty `query` means nothing could be expressed.
Each keyed plugin class offers the same as `to_query(group)`; `BACKENDS` lists the backend names.

Values may carry glob wildcards (`teams-*`, `*.ns.cloudflare.com`): they become the backend's own
wildcard syntax where the field has one, and are reported as unsupported where it has none. A value
like `>=400` on a numeric field becomes a range where the backend has ranges.

Mapping tables
--------------
urlscan.io (Search API `q`, Elasticsearch query-string syntax, pairs joined with ` AND `):
  P0401.001 HTTP title         page.title:"<title>"            glob: page.title:(word AND wor*)
  P0401.004 same resources     hash:<sha256>                   SHA-256 only (the body hash urlscan keeps)
  P0401.006 resource name      (task.url:"<name>" OR filename:"<name>")   the scanned URL or any loaded file
  P0401.007 response code      page.status:<code>              comparisons: page.status:>=400
  P0203 / P0203.002 AS number  page.asn:AS<n>                  urlscan stores the AS prefix
  P0203.001 AS name            page.asnname:"<name>"
  P0203.003 AS country         page.country:<CC>               (the country of the page's IP)
  P0201 / P0103.003 IP         page.ip:<ip>                    IPv6 and CIDR values are quoted
  P0102 domain                 page.domain:<name>              glob kept (page.domain:*.example.com)
  P0102.001 TLD                page.domain:*.<tld>
  P0102.002 substring          page.domain:<glob>              a plain word w becomes *w*; /re/ a Lucene regexp

Shodan (host search `query`, filters joined with a space, which Shodan reads as AND; a comma inside
a value means OR, so text values have their commas turned into spaces):
  P0401.001 HTTP title         http.title:"<title>"            only leading/trailing * (substring match)
  P0401.004 same resources     http.favicon.hash:<mmh3>        implementation HTML/html_hash: http.html_hash
  P0401.007 response code      http.status:<code>
  P0301 issuer organisation    ssl:"<org>"                     the filter list has no ssl.cert.issuer.o;
                                                               `ssl` is free text over the TLS banner
  P0302 SAN                    ssl:"<name>"                    (same reason: SANs are not a filter)
  P0203 / P0203.002 AS number  asn:AS<n>
  P0203.001 AS name            org:"<name>"                    Shodan's owner organisation
  P0203.003 AS country         country:<CC>
  P0201 / P0103.003 IP         ip:<ip>                         a CIDR value: net:<cidr>
  P0202 proximity              net:<cidr>                      an address: its /24 (the catalog default)
  P0102 domain                 hostname:<name>                 *.example.com -> hostname:example.com

SecurityTrails (domain search DSL, as sent in `{"query": ...}` to /v1/domains/list; the plugin itself
sends the equivalent `{"filter": {...}}` body, which needs no DSL plan):
  P0201 / P0103.003 IP         ipv4 = '<ip>'   (ipv6 = for IPv6)
  P0103.002 MX                 mx = '<host>'
  P0101.010 / P0103.006 NS     ns = '<host>'
  P0103.001 CNAME              cname = '<host>'
  P0103.004 SOA RName          soa_email = '<rname as e-mail>'
  P0101.004 registrant e-mail  whois_email = '<email>'
  P0101.003 registrant org     whois_organization = '<org>'
  P0102.002 substring          keyword = '<word>'; glob: apex_domain like 'teams-%' (like needs a Business plan)
  P0102 domain                 apex_domain = '<registrable domain>'
  P0102.001 TLD                tld = '<tld>'
  Any other field with a glob value: <field> like '<% pattern>'.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Callable, Iterable

from store.normalize import InvalidValue, asn, dns_name, email, registrable_parts

BACKENDS = ("urlscan", "shodan", "securitytrails")
GLOB_CHARS = "*?"
COMPARISON = re.compile(r"^(>=|<=|>|<)\s*(.+)$")


class Unsupported(ValueError):
    """A pivot value the backend cannot express; the message says why."""


def convert(backend: str, group: Iterable) -> dict:
    """Render an AND group of (pivot id, value[, implementation]) for `backend` (see module doc)."""
    try:
        render, joiner = _RENDERERS[backend]
    except KeyError:
        raise ValueError(f"unknown query backend {backend!r}; known: {', '.join(BACKENDS)}") from None
    terms, covers, unsupported = [], [], []
    for item in group:
        pivot_id, value, implementation = _unpack(item)
        try:
            terms.append(render(pivot_id, value, implementation))
        except Unsupported as exc:
            unsupported.append((pivot_id, str(exc)))
            continue
        if pivot_id not in covers:
            covers.append(pivot_id)
    return {"query": joiner.join(dict.fromkeys(terms)), "covers": covers, "unsupported": unsupported}


def supported_pivots(backend: str) -> frozenset[str]:
    """Pivot IDs the backend has a field for (values may still be refused, e.g. an SSDEEP hash)."""
    return frozenset(_FIELDS[backend])


def _unpack(item) -> tuple[str, str, str | None]:
    if isinstance(item, dict):
        pivot_id, value, implementation = item.get("pivot") or item.get("id"), item.get("value"), item.get("implementation")
    else:
        items = tuple(item)
        if len(items) not in (2, 3):
            raise ValueError(f"expected (pivot id, value[, implementation]), got {item!r}")
        pivot_id, value, implementation = (items + (None,))[:3]
    if value is None or not str(value).strip():
        raise ValueError(f"pivot {pivot_id} has no value")
    return str(pivot_id).strip(), str(value).strip(), (str(implementation).strip() if implementation else None)


def has_glob(value: str) -> bool:
    return any(c in value for c in GLOB_CHARS)


def is_regex(value: str) -> bool:
    return len(value) > 2 and value.startswith("/") and value.endswith("/")


def pattern_matches(pattern: str, name: str) -> bool:
    """The store's reading of a domain pattern: a glob matches the whole name, `/re/` searches it,
    and a plain word is a substring (so a source's looser answer can be checked locally)."""
    pattern = pattern.strip().lower()
    if is_regex(pattern):
        try:
            return re.search(pattern[1:-1], name) is not None
        except re.error:
            return False
    if not has_glob(pattern):
        return pattern in name
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


_DISPLAY = {"urlscan": "urlscan.io", "shodan": "Shodan", "securitytrails": "SecurityTrails"}


def _no_field(backend: str, pivot_id: str) -> Unsupported:
    return Unsupported(f"{_DISPLAY[backend]} has no search field for {pivot_id}")


def hash_type(value: str, implementation: str | None) -> str:
    """SHA256, SHA1, MD5, SHA512, MMH3, SSDEEP, TLSH or UNKNOWN: the implementation if given, else the form."""
    if implementation:
        return implementation.upper().replace("-", "").replace("_", "")
    text = value.strip()
    hex_lengths = {32: "MD5", 40: "SHA1", 64: "SHA256", 128: "SHA512"}
    if re.fullmatch(r"[0-9a-fA-F]+", text) and len(text) in hex_lengths:
        return hex_lengths[len(text)]
    if re.fullmatch(r"-?\d{1,11}", text):
        return "MMH3"
    if re.fullmatch(r"\d+:[A-Za-z0-9/+]+:[A-Za-z0-9/+]+", text):
        return "SSDEEP"
    if re.fullmatch(r"(?i)(t1)?[0-9a-f]{70,72}", text):
        return "TLSH"
    return "UNKNOWN"


def _asn(value: str) -> str:
    try:
        return asn(value)
    except InvalidValue as exc:
        raise Unsupported(str(exc)) from None


def _host(value: str) -> str:
    try:
        return dns_name(value)
    except InvalidValue as exc:
        raise Unsupported(str(exc)) from None


def _ip_or_network(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=False) if "/" in value else ipaddress.ip_address(value)
    except ValueError:
        raise Unsupported(f"{value!r} is not an IP address or CIDR network") from None


def _country(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise Unsupported(f"{value!r} is not a two-letter country code")
    return value.upper()


def _int(value: str) -> str:
    if not re.fullmatch(r"-?\d+", value):
        raise Unsupported(f"{value!r} is not a whole number")
    return str(int(value))


# ---- urlscan.io ------------------------------------------------------------------------------------

_LUCENE_SPECIAL = set('+-=&|><!(){}[]^"~*?:\\/ ')


def lucene_escape(text: str, keep: str = "") -> str:
    """Escape query-string specials (a hyphen inside a word is left alone, as urlscan reads it so)."""
    out = []
    for i, char in enumerate(text):
        if char in keep:
            out.append(char)
        elif char == "-" and 0 < i < len(text) - 1:
            out.append(char)
        elif char in _LUCENE_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def lucene_phrase(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _urlscan_domain_pattern(value: str, substring: bool) -> str:
    pattern = value.strip().lower()
    if is_regex(pattern):
        body = pattern[1:-1]
        body = (body[1:] if body.startswith("^") else ".*" + body)
        body = (body[:-1] if body.endswith("$") else body + ".*")
        return f"page.domain:/{body}/"
    if substring and not has_glob(pattern):
        pattern = f"*{pattern}*"
    return "page.domain:" + lucene_escape(pattern, keep=GLOB_CHARS)


def _urlscan(pivot_id: str, value: str, implementation: str | None) -> str:
    if pivot_id == "P0401.001":
        if has_glob(value):
            words = [lucene_escape(w, keep=GLOB_CHARS) for w in value.split() if w.strip(GLOB_CHARS)]
            if not words:
                raise Unsupported("a title made only of wildcards matches everything")
            return "page.title:(" + " AND ".join(words) + ")"
        return "page.title:" + lucene_phrase(value)
    if pivot_id == "P0401.004":
        kind = hash_type(value, implementation)
        if kind != "SHA256" or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise Unsupported(f"urlscan searches SHA-256 body hashes only, not {kind}")
        return f"hash:{value.lower()}"
    if pivot_id == "P0401.006":
        name = lucene_phrase(value)
        return f"(task.url:{name} OR filename:{name})"
    if pivot_id == "P0401.007":
        comparison = COMPARISON.match(value)
        if comparison:
            return f"page.status:{comparison.group(1)}{_int(comparison.group(2).strip())}"
        return f"page.status:{_int(value)}"
    if pivot_id in ("P0203", "P0203.002"):
        return f"page.asn:AS{_asn(value)}"
    if pivot_id == "P0203.001":
        return "page.asnname:" + lucene_phrase(value)
    if pivot_id == "P0203.003":
        return f"page.country:{_country(value)}"
    if pivot_id in ("P0201", "P0103.003"):
        address = _ip_or_network(value)
        text = str(address)
        return f"page.ip:{lucene_phrase(text)}" if (":" in text or "/" in text) else f"page.ip:{text}"
    if pivot_id == "P0102":
        return _urlscan_domain_pattern(value, substring=False) if (has_glob(value) or is_regex(value)) \
            else "page.domain:" + lucene_escape(_host(value))
    if pivot_id == "P0102.001":
        tld = value.strip().lstrip("*").lstrip(".").lower()
        if not tld or has_glob(tld):
            raise Unsupported(f"{value!r} is not a top-level domain")
        return "page.domain:*." + lucene_escape(tld)
    if pivot_id == "P0102.002":
        return _urlscan_domain_pattern(value, substring=True)
    if pivot_id == "P0301":
        raise Unsupported("urlscan keeps the TLS issuer's common name (page.tlsIssuer), not its organisation")
    raise _no_field("urlscan", pivot_id)


# ---- Shodan ----------------------------------------------------------------------------------------

def shodan_value(text: str) -> str:
    """A filter value: quoted when it holds spaces or commas; Shodan has no escape for a double quote."""
    if '"' in text:
        raise Unsupported("Shodan filters cannot hold a double quote")
    return f'"{text}"' if re.search(r"[\s,:]", text) else text


def _shodan_text(value: str) -> str:
    core = value.strip()
    if has_glob(core.strip("*")) or "?" in core:
        raise Unsupported("Shodan has no wildcard syntax (text filters already match words inside the field)")
    # a comma separates alternatives inside a Shodan filter value (even quoted); the words still match
    core = " ".join(core.strip("*").replace(",", " ").split())
    if not core:
        raise Unsupported("a value made only of wildcards matches everything")
    return f'"{core}"' if '"' not in core else shodan_value(core)


def _shodan(pivot_id: str, value: str, implementation: str | None) -> str:
    if pivot_id == "P0401.001":
        return "http.title:" + _shodan_text(value)
    if pivot_id == "P0401.004":
        kind = hash_type(value, implementation)
        if kind in ("HTML", "HTMLHASH", "MMH3HTML"):
            return f"http.html_hash:{_int(value)}"
        if kind in ("MMH3", "FAVICON", "MMH3FAVICON", "FAVICONHASH"):
            return f"http.favicon.hash:{_int(value)}"
        raise Unsupported(f"Shodan searches MurmurHash3 favicon/HTML hashes only, not {kind}")
    if pivot_id == "P0401.007":
        return f"http.status:{_int(value)}"
    if pivot_id in ("P0301", "P0302"):
        return "ssl:" + _shodan_text(value)
    if pivot_id in ("P0203", "P0203.002"):
        return f"asn:AS{_asn(value)}"
    if pivot_id == "P0203.001":
        return "org:" + _shodan_text(value)
    if pivot_id == "P0203.003":
        return f"country:{_country(value)}"
    if pivot_id in ("P0201", "P0103.003"):
        address = _ip_or_network(value)
        return f"net:{address}" if "/" in str(address) else f"ip:{address}"
    if pivot_id == "P0202":
        address = _ip_or_network(value)
        if "/" not in str(address):
            prefix = 24 if address.version == 4 else 64
            address = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
        return f"net:{address}"
    if pivot_id == "P0102":
        name = value.strip().lower()
        if name.startswith("*."):
            name = name[2:]
        if has_glob(name) or is_regex(name):
            raise Unsupported("Shodan's hostname filter takes a name (it matches subdomains), not a pattern")
        return f"hostname:{_host(name)}"
    raise _no_field("shodan", pivot_id)


# ---- SecurityTrails --------------------------------------------------------------------------------

# pivot -> (filter / DSL field, value normaliser); the plugin's filter body uses the same table
SECURITYTRAILS_FIELDS: dict[str, tuple[str, Callable[[str], str]]] = {
    "P0201": ("ipv4", lambda v: str(ipaddress.ip_address(v))),
    "P0103.003": ("ipv4", lambda v: str(ipaddress.ip_address(v))),
    "P0103.002": ("mx", dns_name),
    "P0101.010": ("ns", dns_name),
    "P0103.006": ("ns", dns_name),
    "P0103.001": ("cname", dns_name),
    "P0103.004": ("soa_email", lambda v: email(v) if "@" in v else email(dns_name(v).replace(".", "@", 1))),
    "P0101.004": ("whois_email", email),
    "P0101.003": ("whois_organization", lambda v: " ".join(v.split())),
    "P0102.002": ("keyword", lambda v: v.strip().lower()),
    "P0102": ("apex_domain", dns_name),
    "P0102.001": ("tld", lambda v: v.strip().lstrip("*").lstrip(".").lower()),
}


def securitytrails_filter(pivot_id: str, value: str) -> tuple[str, str]:
    """(filter field, value) for the /domains/list filter body; raises Unsupported."""
    try:
        field, clean = SECURITYTRAILS_FIELDS[pivot_id]
    except KeyError:
        raise _no_field("securitytrails", pivot_id) from None
    try:
        text = clean(value)
    except (InvalidValue, ValueError) as exc:
        raise Unsupported(str(exc)) from None
    if field == "ipv4" and ":" in text:
        field = "ipv6"
    if field == "apex_domain" and registrable_parts(text)[2]:
        raise Unsupported("SecurityTrails filters on the registrable (apex) domain, not a host name")
    return field, text


def _sql_string(text: str) -> str:
    if "'" in text:
        raise Unsupported("the SecurityTrails DSL has no documented escape for a single quote")
    return f"'{text}'"


def _securitytrails(pivot_id: str, value: str, implementation: str | None) -> str:
    if is_regex(value):
        raise Unsupported("the SecurityTrails DSL has no regular expressions")
    if has_glob(value):
        field = SECURITYTRAILS_FIELDS.get(pivot_id, (None,))[0]
        if field is None:
            raise _no_field("securitytrails", pivot_id)
        if field == "keyword":
            field = "apex_domain"
        like = value.strip().lower().replace("*", "%").replace("?", "_")
        return f"{field} like {_sql_string(like)}"
    field, text = securitytrails_filter(pivot_id, value)
    return f"{field} = {_sql_string(text)}"


_RENDERERS: dict[str, tuple[Callable[[str, str, str | None], str], str]] = {
    "urlscan": (_urlscan, " AND "),
    "shodan": (_shodan, " "),
    "securitytrails": (_securitytrails, " AND "),
}

# Pivots each backend has a field for (used for the plugins' capabilities and `supported_pivots`).
_FIELDS: dict[str, tuple[str, ...]] = {
    "urlscan": ("P0401.001", "P0401.004", "P0401.006", "P0401.007", "P0203", "P0203.001", "P0203.002",
                "P0203.003", "P0201", "P0103.003", "P0102", "P0102.001", "P0102.002"),
    "shodan": ("P0401.001", "P0401.004", "P0401.007", "P0301", "P0302", "P0203", "P0203.001", "P0203.002",
               "P0203.003", "P0201", "P0103.003", "P0202", "P0102"),
    "securitytrails": tuple(SECURITYTRAILS_FIELDS),
}
