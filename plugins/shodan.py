"""Shodan host search: which other hosts share a title, an HTML or favicon hash, a certificate issuer,
an AS, a network neighbourhood or a host name.

Requests: `GET /shodan/host/search?query=&page=&minify=true&key=` (the key is a query parameter, so it
is blanked out of urllib3's debug log by `keys`). 100 banners a page; every filtered search and every
page after the first costs a query credit, so paging stops early (`max_pages`, default 2). The filter
list (`/shodan/host/search/filters`) has no `ssl.cert.issuer.o`, so the issuer organisation is searched
as free text over the TLS banner (`ssl:"<org>"`). SAN names are read from the leaf certificate of
`ssl.chain` with cryptography, or decoded from the raw `subjectAltName` extension bytes when no PEM
is present.
"""
from __future__ import annotations

import codecs
import datetime as dt
import ipaddress
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from dtf_catalog import Pivot
from store.importer import Record, RecordError
from store.normalize import InvalidValue, iso_timestamp, normalize

from . import query
from .api_client import Gather, KeyedPlugin, json_documents
from .base import Context, Expansion, Finding, Hit, PluginError, PluginSkipped, Subject
from .keys import key_setting

SEARCH = "/shodan/host/search"
EXTRACTS = ("P0401.001", "P0401.004", "P0401.007", "P0301", "P0302", "P0303", "P0203", "P0203.002",
            "P0201", "P0103.003")
MAX_PROXIMITY_ADDRESSES = 4096


class ShodanPlugin(KeyedPlugin):
    service = "shodan"
    default_base_url = "https://api.shodan.io"
    default_rate = 1.0            # the official client's own pace
    default_page_size = 100       # fixed by Shodan
    max_page_size = 100
    default_max_pages = 2
    auth_param = "key"
    global_settings = [key_setting("shodan")]
    extract_pivots = EXTRACTS

    # ---- expand -----------------------------------------------------------------------------------

    def expand(self, pivot: Pivot, key: str, wanted: frozenset[str], ctx: Context) -> Expansion:
        if ctx.limit <= 0:   # the analyst asked for no results: spend no query on them
            return Expansion()
        accept = None
        if pivot.id == "P0202":
            queries, accept = self._proximity(pivot, key, ctx)
        elif pivot.id == "P0401.004" and query.hash_type(key, None) == "MMH3":
            # one integer, two hash fields: the favicon first, the HTML body when no favicon matches
            queries = [f"http.favicon.hash:{key}", f"http.html_hash:{key}"]
        else:
            converted = query.convert("shodan", [(pivot.id, key)])
            if not converted["query"]:
                raise PluginSkipped(f"cannot search {pivot.id} {key!r}: {converted['unsupported'][0][1]}")
            queries = [converted["query"]]
        gather = Gather(ctx.limit, wanted)
        with self.client(ctx) as api:
            try:
                for text in queries:
                    self._search(api, text, pivot, key, gather, accept)
                    if gather.fetched:
                        break
            except PluginError as exc:
                raise gather.stopped(exc) from None
        return gather.expansion()

    def _search(self, api, text: str, pivot: Pivot, key: str, gather: Gather, accept) -> None:
        for page in range(1, self.max_pages + 1):
            data = api.get(SEARCH, {"query": text, "page": page, "minify": "true"})
            matches, total = _search_page(data)
            gather.total = total
            for banner in matches:
                gather.fetched += 1
                for hit in banner_hits(banner, pivot, key):
                    if accept is None or hit.subject.kind != "ip" or accept(hit.subject.value):
                        gather.add(hit)
            if not matches or (total is not None and gather.fetched >= total):
                gather.exhausted = True
                return
            if gather.full:
                return

    def _proximity(self, pivot: Pivot, key: str, ctx: Context):
        """`net:` ranges covering key ± distance (inside the same /N when asked), and a check that
        keeps only addresses within that distance, the key itself excluded."""
        try:
            distance = int(str(ctx.setting("distance", pivot.params.get("distance", 8))).strip())
            prefix_text = str(ctx.setting("same_prefix", pivot.params.get("same_prefix", 24))).strip().lower()
            same_prefix = None if prefix_text in ("", "0", "any", "none", "off", "false") else int(prefix_text)
        except ValueError:
            raise PluginError("settings distance/same_prefix must be whole numbers") from None
        if not 0 < distance <= MAX_PROXIMITY_ADDRESSES:
            raise PluginError(f"setting distance={distance} is outside 1..{MAX_PROXIMITY_ADDRESSES} for Shodan")
        address = ipaddress.ip_address(key)
        low, high = int(address) - distance, int(address) + distance
        if same_prefix is not None and address.version == 4:
            network = ipaddress.ip_network(f"{address}/{same_prefix}", strict=False)
            low, high = max(low, int(network.network_address)), min(high, int(network.broadcast_address))
        top = (1 << (32 if address.version == 4 else 128)) - 1
        low, high = max(low, 0), min(high, top)
        make = ipaddress.IPv4Address if address.version == 4 else ipaddress.IPv6Address
        ranges = ipaddress.summarize_address_range(make(low), make(high))
        text = "net:" + ",".join(str(r) for r in ranges)

        def accept(ip: str) -> bool:
            number = int(ipaddress.ip_address(ip))
            return low <= number <= high and number != int(address)
        return [text], accept

    # ---- extract --------------------------------------------------------------------------------------

    def extract(self, pivot: Pivot, subject: Subject, ctx: Context) -> list[Finding]:
        if pivot.id not in EXTRACTS or subject.kind in pivot.self_value:
            return []
        text = host_query(subject)
        if text is None:
            return []
        self.require_key(ctx)   # before the memo: an analyst without a key gets no one else's answers
        banners = self.memo.get(("host", self.base_url, subject), lambda: self._banners(text, ctx))
        found: list[Finding] = []
        for banner in banners:
            if not _banner_is(banner, subject):
                continue
            seen = banner_time(banner)
            for display, value_key in banner_values(banner).get(pivot.id, []):
                if not any(f.key == value_key for f in found):
                    found.append(Finding(pivot.id, display, value_key, self.name, seen, seen))
        return found

    def _banners(self, text: str, ctx: Context) -> list[dict]:
        with self.client(ctx) as api:
            matches, _ = _search_page(api.get(SEARCH, {"query": text, "page": 1, "minify": "true"}))
        return matches


# ---- parsing (shared with the importer) ---------------------------------------------------------------

def _search_page(data) -> tuple[list[dict], int | None]:
    if data is None:
        return [], 0
    if not isinstance(data, dict) or not isinstance(data.get("matches", []), list):
        raise PluginError("Shodan search answer has no matches list")
    try:
        total = int(data["total"]) if data.get("total") is not None else None
    except (TypeError, ValueError):
        total = None
    return [m for m in data.get("matches") or [] if isinstance(m, dict)], total


def host_query(subject: Subject) -> str | None:
    if subject.kind == "ip":
        return f"ip:{subject.value}"
    if subject.kind == "domain":
        return f"hostname:{subject.value}"
    if subject.kind == "url":
        host = _norm("url", subject.value)
        name = urlsplit(host[1]).hostname if host else None
        if name:
            return f"ip:{name}" if _norm("ip", name) else f"hostname:{name}"
    return None


def _banner_is(banner: dict, subject: Subject) -> bool:
    """Shodan's hostname filter also matches subdomains; keep banners of the subject itself."""
    if subject.kind == "ip":
        return _norm("ip", banner.get("ip_str")) == (subject.value, subject.value)
    names = {s.value for s in banner_subjects(banner) if s.kind == "domain"}
    if subject.kind == "url":
        host = urlsplit(subject.value).hostname or ""
        return host in names or _norm("ip", banner.get("ip_str")) == (host, host)
    return subject.value in names


def _norm(kind: str, raw) -> tuple[str, str] | None:
    if raw in (None, "") or isinstance(raw, bool):
        return None
    try:
        return normalize(kind, raw)
    except InvalidValue:
        return None


def banner_time(banner: dict) -> str | None:
    raw = banner.get("timestamp")
    try:
        return iso_timestamp(raw) if raw else None
    except InvalidValue:
        return None


def banner_subjects(banner: dict) -> list[Subject]:
    found = []
    ip = _norm("ip", banner.get("ip_str"))
    if ip:
        found.append(Subject("ip", ip[1]))
    for name in banner.get("hostnames") or []:
        pair = _norm("domain", name)
        if pair and Subject("domain", pair[1]) not in found:
            found.append(Subject("domain", pair[1]))
    return found


def banner_hits(banner: dict, pivot: Pivot, key: str) -> list[Hit]:
    seen = banner_time(banner)
    display = key
    if pivot.id == "P0401.001":
        # Shodan matches words of the title; the pivot is the same title, so other banners are left out
        title = (banner.get("http") or {}).get("title")
        if not isinstance(title, str) or " ".join(title.split()).casefold() != key:
            return []
        display = " ".join(title.split())
    return [Hit(subject, pivot.id, display, "shodan", seen, seen, value_key=key) for subject in banner_subjects(banner)]


def banner_values(banner: dict) -> dict[str, list[tuple[str, str]]]:
    """Pivot -> [(display, key)] one banner carries."""
    http = banner.get("http") or {}
    ssl = banner.get("ssl") or {}
    cert = ssl.get("cert") or {}
    values: dict[str, list[tuple[str, str]]] = {}

    def put(pivot_id: str, kind: str, raw) -> None:
        pair = _norm(kind, raw)
        if pair and pair not in values.setdefault(pivot_id, []):
            values[pivot_id].append(pair)

    put("P0401.001", "text", http.get("title"))
    put("P0401.004", "hash", http.get("html_hash"))
    put("P0401.004", "hash", (http.get("favicon") or {}).get("hash"))
    put("P0401.007", "int", http.get("status"))
    put("P0301", "text", (cert.get("issuer") or {}).get("O"))
    for name in certificate_names(ssl):
        put("P0302", "dns", name)
    put("P0303", "date", cert_date(cert.get("issued")))
    for pivot_id in ("P0203", "P0203.002"):
        put(pivot_id, "asn", banner.get("asn"))
    for pivot_id in ("P0201", "P0103.003"):
        put(pivot_id, "ip", banner.get("ip_str"))
    return {k: v for k, v in values.items() if v}


def cert_date(raw) -> str | None:
    """Shodan writes certificate dates as YYYYMMDDhhmmssZ."""
    if not isinstance(raw, str):
        return None
    try:
        return dt.datetime.strptime(raw.strip(), "%Y%m%d%H%M%SZ").date().isoformat()
    except ValueError:
        return None


# ---- SAN names ------------------------------------------------------------------------------------------

def certificate_names(ssl: dict) -> list[str]:
    """DNS names of the leaf certificate's subjectAltName: from the PEM chain, else the raw extension."""
    cert = ssl.get("cert") or {}
    wanted = ((cert.get("fingerprint") or {}).get("sha256") or "").lower()
    chain = [c for c in ssl.get("chain") or [] if isinstance(c, str) and "BEGIN CERTIFICATE" in c]
    leaf = None
    for pem in chain:
        try:
            candidate = x509.load_pem_x509_certificate(pem.encode("ascii"))
        except ValueError:
            continue
        if candidate.fingerprint(hashes.SHA256()).hex() == wanted:   # the banner's own certificate
            leaf = candidate
            break
        leaf = leaf or candidate                                      # else the chain's first one
    if leaf is not None:
        try:
            names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            return [str(n) for n in names.get_values_for_type(x509.DNSName)]
        except x509.ExtensionNotFound:
            return []
    for extension in cert.get("extensions") or []:
        if isinstance(extension, dict) and extension.get("name") == "subjectAltName":
            try:
                return der_dns_names(unescape_bytes(extension.get("data") or ""))
            except ValueError:
                return []
    return []


def unescape_bytes(text: str) -> bytes:
    """Shodan writes raw extension bytes as a Python-escaped string (`0\\x81\\x9b\\x82...`)."""
    try:
        return codecs.escape_decode(text.encode("latin-1"))[0]
    except (UnicodeEncodeError, ValueError) as exc:
        raise ValueError(f"extension data is not an escaped byte string ({exc})") from None


def der_dns_names(data: bytes) -> list[str]:
    """dNSName entries of a DER GeneralNames SEQUENCE (RFC 5280 4.2.1.6); other name forms skipped."""
    tag, body, rest = _der_item(data)
    if tag != 0x30 or rest:
        raise ValueError("subjectAltName is not one DER SEQUENCE")
    names = []
    while body:
        tag, value, body = _der_item(body)
        if tag == 0x82:  # [2] IMPLICIT IA5String
            names.append(value.decode("ascii"))
    return names


def _der_item(data: bytes) -> tuple[int, bytes, bytes]:
    if len(data) < 2:
        raise ValueError("truncated DER")
    tag, length, offset = data[0], data[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(data) < 2 + count:
            raise ValueError("bad DER length")
        length = int.from_bytes(data[2:2 + count], "big")
        offset = 2 + count
    if len(data) < offset + length:
        raise ValueError("truncated DER")
    return tag, data[offset:offset + length], data[offset + length:]


# ---- importer: saved host search answers ------------------------------------------------------------

def read_export(path, progress=None):
    """`import shodan FILE...`: host search answers ({"matches": [...]}), banner arrays or banner JSON
    lines (`shodan download` files, gzip included)."""
    for location, document in json_documents(path, progress):
        if isinstance(document, Exception):
            yield location, document
            continue
        if isinstance(document, dict) and isinstance(document.get("matches"), list):
            for index, banner in enumerate(document["matches"]):
                yield from _banner_records(f"{location}:matches[{index}]", banner)
        elif isinstance(document, dict) and document.get("ip_str"):
            yield from _banner_records(location, document)
        else:
            yield location, RecordError("neither a host search answer (matches) nor a banner (ip_str)")


def _banner_records(location: str, banner) -> list:
    if not isinstance(banner, dict):
        return [(location, RecordError("a banner is not a JSON object"))]
    ip = _norm("ip", banner.get("ip_str"))
    if ip is None:
        return [(location, RecordError("the banner has no usable ip_str"))]
    seen = banner_time(banner)
    records = []
    values = banner_values(banner)
    # what the host serves is recorded on its address; the store lifts it to the names resolving there
    for pivot_id in ("P0401.001", "P0401.004", "P0401.007", "P0301", "P0302", "P0303", "P0203"):
        for display, _ in values.get(pivot_id, []):
            records.append((location, Record("ip", ip[1], pivot_id, display, "shodan", seen, seen)))
    for subject in banner_subjects(banner):
        if subject.kind == "domain":
            records.append((location, Record("domain", subject.value, "P0103.003", ip[1], "shodan", seen, seen)))
    return records
