"""SecurityTrails: which domains share an IP, a mail or name server, a registrant e-mail or organisation,
or a keyword; and a domain's registrar, dates, registrant and name servers from its WHOIS.

Requests: `POST /v1/domains/list?include_ips=false&page=<n>` with `{"filter": {<field>: <value>}}`
(the filter form works on every plan; `query.py` renders the DSL form for hIGMA), and
`GET /v1/domain/<name>/whois`. The key travels in the `APIKEY` header. 100 records a page, at most
`meta.max_page` pages (100, i.e. 10000 records); each page costs a query, so paging also stops at
`max_pages` (default 2). Dates arrive in three encodings across endpoints: epoch milliseconds
(domain lists, WHOIS history), ISO timestamps with offsets like `-0700` (domain WHOIS) and plain
`YYYY-MM-DD` (DNS history); `st_date` reads all three.
"""
from __future__ import annotations

import datetime as dt
import re

from dtf_catalog import Pivot
from store.importer import Record, RecordError
from store.normalize import InvalidValue, iso_timestamp, normalize, registrable_parts

from . import query
from .api_client import Gather, KeyedPlugin, json_documents, whole_number
from .base import Context, Expansion, Finding, Hit, PluginError, PluginSkipped, Subject
from .keys import key_setting

LIST = "/v1/domains/list"
WHOIS = "/v1/domain/{domain}/whois"
EXTRACTS = ("P0101.001", "P0101.002", "P0101.003", "P0101.004", "P0101.010")
# DSL / filter field -> the pivot a matching domain holds the value under (for the importer)
FIELD_PIVOTS = {"ipv4": "P0103.003", "ipv6": "P0103.003", "mx": "P0103.002", "ns": "P0101.010",
                "cname": "P0103.001", "whois_email": "P0101.004", "whois_organization": "P0101.003"}
_DSL_TERM = re.compile(r"(\w+)\s*=\s*'([^']*)'")


class SecurityTrailsPlugin(KeyedPlugin):
    service = "securitytrails"
    default_base_url = "https://api.securitytrails.com"
    default_rate = 5.0            # X-Ratelimit-Limit-Second in its answers; lowered if the header says less
    default_page_size = 100       # fixed by SecurityTrails
    max_page_size = 100
    default_max_pages = 2
    auth_header = "APIKEY"
    global_settings = [key_setting("securitytrails")]
    extract_pivots = EXTRACTS

    # ---- expand: filter -> domains --------------------------------------------------------------------

    def expand(self, pivot: Pivot, key: str, wanted: frozenset[str], ctx: Context) -> Expansion:
        if ctx.limit <= 0:   # the analyst asked for no results: spend no query on them
            return Expansion()
        field, value, check = self._filter(pivot, key)
        gather = Gather(ctx.limit, wanted)
        body = {"filter": {field: value}}
        with self.client(ctx) as api:
            try:
                for page in range(1, self.max_pages + 1):
                    data = api.post(LIST, {"include_ips": "false", "page": page}, body)
                    records, total, last_page = _list_page(data)
                    gather.total = total
                    for record in records:
                        gather.fetched += 1
                        hit = record_hit(record, pivot, key)
                        if hit is not None and (check is None or check(hit.subject.value)):
                            gather.add(hit)
                    if not records or (total is not None and gather.fetched >= total):
                        gather.exhausted = True
                        break
                    if gather.full or (last_page is not None and page >= last_page):
                        break
            except PluginError as exc:
                raise gather.stopped(exc) from None
        return gather.expansion()

    @staticmethod
    def _filter(pivot: Pivot, key: str):
        """(filter field, value, local check or None): a domain pattern is searched by its longest
        literal run as `keyword` and the pattern itself is checked on each answer."""
        if pivot.id == "P0102.002" and (query.has_glob(key) or query.is_regex(key)):
            body = key[1:-1] if query.is_regex(key) else key
            runs = [r.strip("-") for r in re.split(r"[^a-z0-9-]+", body.lower()) if len(r.strip("-")) >= 3]
            if not runs or query.is_regex(key) and any(c in body for c in "|()"):
                raise PluginSkipped(f"cannot search pattern {key!r}: no literal part of 3+ characters to use as keyword")
            return "keyword", max(runs, key=len), lambda name: query.pattern_matches(key, name)
        try:
            field, value = query.securitytrails_filter(pivot.id, key)
        except query.Unsupported as exc:
            raise PluginSkipped(f"cannot search {pivot.id} {key!r}: {exc}") from None
        return field, value, None

    # ---- extract: domain WHOIS ------------------------------------------------------------------------

    def extract(self, pivot: Pivot, subject: Subject, ctx: Context) -> list[Finding]:
        if pivot.id not in EXTRACTS or subject.kind != "domain":
            return []
        self.require_key(ctx)   # before the memo: an analyst without a key gets no one else's answers
        suffix, label, _ = registrable_parts(subject.value)   # WHOIS belongs to the registered name
        domain = f"{label}.{suffix}" if label != suffix else subject.value
        whois = self.memo.get(("whois", self.base_url, domain), lambda: self._whois(domain, ctx))
        if not whois:
            return []
        return [Finding(pivot.id, display, value_key, self.name) for display, value_key in
                whois_values(whois).get(pivot.id, [])]

    def _whois(self, domain: str, ctx: Context) -> dict | None:
        with self.client(ctx) as api:
            data = api.get(WHOIS.format(domain=domain))
        if data is not None and not isinstance(data, dict):
            raise PluginError("SecurityTrails WHOIS answer is not a JSON object")
        return data


# ---- parsing (shared with the importer) ---------------------------------------------------------------

def st_date(raw) -> str | None:
    """A calendar date from epoch milliseconds (or seconds), an ISO timestamp with any offset
    (`2007-10-09T11:20:50-0700`), or a plain `YYYY-MM-DD`; None when absent or unreadable."""
    if raw is None or isinstance(raw, bool) or raw == "":
        return None
    if isinstance(raw, str) and re.fullmatch(r"\s*-?\d{9,14}\s*", raw):
        raw = int(raw)
    if isinstance(raw, (int, float)):
        seconds = raw / 1000 if abs(raw) > 10_000_000_000 else raw
        try:
            return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).date().isoformat()
        except (OverflowError, OSError, ValueError):
            return None
    text = str(raw).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    try:
        return iso_timestamp(text)[:10]
    except InvalidValue:
        return None


def _list_page(data) -> tuple[list[dict], int | None, int | None]:
    if data is None:
        return [], 0, None
    if not isinstance(data, dict) or not isinstance(data.get("records", []), list):
        raise PluginError("SecurityTrails list answer has no records list")
    meta = data.get("meta") or {}
    return ([r for r in data.get("records") or [] if isinstance(r, dict)],
            whole_number(data.get("record_count")), whole_number(meta.get("max_page")))


def _norm(kind: str, raw) -> tuple[str, str] | None:
    if raw in (None, "") or isinstance(raw, bool):
        return None
    try:
        return normalize(kind, raw)
    except InvalidValue:
        return None


def record_hit(record: dict, pivot: Pivot, key: str) -> Hit | None:
    name = _norm("domain", record.get("hostname"))
    if name is None:
        return None
    return Hit(Subject("domain", name[1]), pivot.id, key, "securitytrails", value_key=key)


def record_values(record: dict) -> dict[str, list[tuple[str, str]]]:
    """Registrar and creation date a domains/list record carries (dates in epoch ms)."""
    whois = record.get("whois") or {}
    values = {}
    registrar = _norm("text", whois.get("registrar"))
    if registrar:
        values["P0101.001"] = [registrar]
    created = st_date(whois.get("createdDate"))
    if created:
        values["P0101.002"] = [(created, created)]
    return values


def whois_values(whois: dict) -> dict[str, list[tuple[str, str]]]:
    """Pivot -> [(display, key)] from a domain WHOIS answer (current or a history item)."""
    values: dict[str, list[tuple[str, str]]] = {}

    def put(pivot_id: str, kind: str, raw) -> None:
        pair = _norm(kind, raw)
        if pair and pair not in values.setdefault(pivot_id, []):
            values[pivot_id].append(pair)

    put("P0101.001", "text", whois.get("registrarName") or whois.get("registrar"))
    created = st_date(whois.get("createdDate"))
    if created:
        put("P0101.002", "date", created)
    contacts = whois.get("contacts") or whois.get("contact") or []
    for contact in contacts if isinstance(contacts, list) else []:
        if isinstance(contact, dict) and str(contact.get("type", "")).lower() == "registrant":
            put("P0101.003", "text", contact.get("organization"))
            put("P0101.004", "email", contact.get("email"))
    for server in whois.get("nameServers") or []:
        put("P0101.010", "dns", server)
    return {k: v for k, v in values.items() if v}


def dsl_terms(text) -> list[tuple[str, str]]:
    """(field, value) equality terms of a DSL query such as `ipv4 = '1.1.1.1'` (as echoed in meta.query)."""
    return _DSL_TERM.findall(text) if isinstance(text, str) else []


# ---- importer: saved domains/list and WHOIS answers ---------------------------------------------------

def read_export(path, progress=None):
    """`import securitytrails FILE...`: domains/list answers (their `meta.query` says what every listed
    domain shares) and domain WHOIS answers."""
    for location, document in json_documents(path, progress):
        if isinstance(document, Exception):
            yield location, document
            continue
        if isinstance(document, dict) and isinstance(document.get("records"), list):
            shared = [(FIELD_PIVOTS[f], v) for f, v in dsl_terms((document.get("meta") or {}).get("query"))
                      if f in FIELD_PIVOTS]
            for index, record in enumerate(document["records"]):
                yield from _list_records(f"{location}:records[{index}]", record, shared)
        elif isinstance(document, dict) and document.get("domain") and (
                "registrarName" in document or "nameServers" in document or "contacts" in document):
            yield from _whois_records(location, document)
        else:
            yield location, RecordError("neither a domains/list answer (records) nor a domain WHOIS answer")


def _list_records(location: str, record, shared) -> list:
    if not isinstance(record, dict):
        return [(location, RecordError("a record is not a JSON object"))]
    name = _norm("domain", record.get("hostname"))
    if name is None:
        return [(location, RecordError(f"hostname {record.get('hostname')!r} is not a domain name"))]
    out = []
    for pivot_id, pairs in record_values(record).items():
        for display, _ in pairs:
            out.append((location, Record("domain", name[1], pivot_id, display, "securitytrails")))
    for pivot_id, value in shared:
        out.append((location, Record("domain", name[1], pivot_id, value, "securitytrails")))
    return out


def _whois_records(location: str, whois: dict) -> list:
    name = _norm("domain", whois.get("domain"))
    if name is None:
        return [(location, RecordError(f"domain {whois.get('domain')!r} is not a domain name"))]
    seen = st_date(whois.get("updatedDate"))
    return [(location, Record("domain", name[1], pivot_id, display, "securitytrails", seen, seen))
            for pivot_id, pairs in whois_values(whois).items() for display, _ in pairs]
