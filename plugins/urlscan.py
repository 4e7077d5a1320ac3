"""urlscan.io: which other scanned pages share a title, a body hash, a file name, a status, an AS or an IP.

Expand uses the Search API (`GET /api/v1/search/?q=&size=&search_after=`), paging with the `sort` of
the last result until the analyst's limit, the reported `total` or the page cap is reached (`has_more`
is not trusted: it is false in real answers that hold more). Extract reads the newest scan of a host,
URL or IP from the same search, and the Result API (`GET /api/v1/result/<uuid>/`) for the hashes and
file names of everything the page loaded. Parsing tolerates older shapes: no `page.title`, AS numbers
as `AS123` or `123`, numbers sent as strings.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from dtf_catalog import Pivot
from store.importer import Record, RecordError
from store.normalize import InvalidValue, iso_timestamp, normalize

from . import query
from .api_client import Gather, KeyedPlugin, json_documents, whole_number
from .base import Context, Expansion, Finding, Hit, PluginError, PluginSkipped, Subject
from .keys import key_setting

SEARCH = "/api/v1/search/"
RESULT = "/api/v1/result/{uuid}/"
SCANS_FOR_EXTRACT = 10

# extract: pivot -> where its value lives (in the newest scan's search entry, or in the Result API)
FROM_SCAN = ("P0401.001", "P0401.007", "P0203", "P0203.002", "P0203.001", "P0201", "P0103.003")
FROM_RESULT = ("P0401.004", "P0401.006")


class UrlscanPlugin(KeyedPlugin):
    service = "urlscan"
    default_base_url = "https://urlscan.io"
    default_rate = 1.0            # plan limits are per minute/hour; one search a second stays well inside
    default_page_size = 100       # urlscan's own default
    max_page_size = 10000
    default_max_pages = 5
    auth_header = "API-Key"
    global_settings = [key_setting("urlscan")]
    extract_pivots = FROM_SCAN + FROM_RESULT

    # ---- expand: value -> scans -> pages ------------------------------------------------------------

    def expand(self, pivot: Pivot, key: str, wanted: frozenset[str], ctx: Context) -> Expansion:
        if ctx.limit <= 0:   # the analyst asked for no results: spend no query on them
            return Expansion()
        converted = query.convert("urlscan", [(pivot.id, key)])
        if not converted["query"]:
            raise PluginSkipped(f"cannot search {pivot.id} {key!r}: {converted['unsupported'][0][1]}")
        gather = Gather(ctx.limit, wanted)
        params = {"q": converted["query"], "size": self.page_size}
        with self.client(ctx) as api:
            try:
                for page in range(1, self.max_pages + 1):
                    data = api.get(SEARCH, params)
                    results, total = _search_page(data)
                    gather.total = total if total is not None else gather.total
                    for scan in results:
                        gather.fetched += 1
                        for hit in scan_hits(scan, pivot, key):
                            gather.add(hit)
                    if not results or (total is not None and gather.fetched >= total):
                        gather.exhausted = True
                        break
                    if gather.full:
                        break
                    cursor = _cursor(results[-1])
                    if cursor is None:
                        break
                    params = {**params, "search_after": cursor}
            except PluginError as exc:
                raise gather.stopped(exc) from None
        return gather.expansion()

    # ---- extract: subject -> its newest scan -> values -------------------------------------------

    def extract(self, pivot: Pivot, subject: Subject, ctx: Context) -> list[Finding]:
        if pivot.id not in FROM_SCAN + FROM_RESULT or subject.kind in pivot.self_value:
            return []
        self.require_key(ctx)   # before the memo: an analyst without a key gets no one else's answers
        scan = self.memo.get(("scan", self.base_url, subject), lambda: self._newest_scan(subject, ctx))
        if scan is None:
            return []
        seen = scan_time(scan)
        if pivot.id in FROM_SCAN:
            pairs = scan_values(scan).get(pivot.id, [])
        else:
            uuid = str(scan.get("_id") or (scan.get("task") or {}).get("uuid") or "")
            if not uuid:
                return []
            result = self.memo.get(("result", self.base_url, uuid), lambda: self._result(uuid, ctx))
            pairs = result_values(result).get(pivot.id, []) if result else []
        return [Finding(pivot.id, display, key, self.name, seen, seen) for display, key in pairs]

    def _newest_scan(self, subject: Subject, ctx: Context) -> dict | None:
        q = scan_query(subject)
        if q is None:
            return None
        with self.client(ctx) as api:
            results, _ = _search_page(api.get(SEARCH, {"q": q, "size": SCANS_FOR_EXTRACT}))
        for scan in results:  # newest first; keep the first whose page really is the subject
            if _is_scan_of(scan, subject):
                return scan
        return None

    def _result(self, uuid: str, ctx: Context) -> dict | None:
        with self.client(ctx) as api:
            data = api.get(RESULT.format(uuid=uuid))
        if data is not None and not isinstance(data, dict):
            raise PluginError("urlscan.io result answer is not a JSON object")
        return data


# ---- parsing (shared with the importer) ---------------------------------------------------------------

def _search_page(data) -> tuple[list[dict], int | None]:
    if data is None:
        return [], 0
    if not isinstance(data, dict) or not isinstance(data.get("results", []), list):
        raise PluginError("urlscan.io search answer has no results list")
    results = [r for r in data.get("results") or [] if isinstance(r, dict)]
    return results, whole_number(data.get("total"))


def _cursor(scan: dict) -> str | None:
    sort = scan.get("sort")
    if isinstance(sort, list) and sort:
        return ",".join(str(part) for part in sort)
    return None


def _norm(kind: str, raw) -> tuple[str, str] | None:
    if raw in (None, ""):
        return None
    try:
        return normalize(kind, raw)
    except InvalidValue:
        return None


def scan_time(scan: dict) -> str | None:
    raw = (scan.get("task") or {}).get("time")
    try:
        return iso_timestamp(raw) if raw else None
    except InvalidValue:
        return None


def scan_subjects(scan: dict) -> list[Subject]:
    """The page URL, its host and its IP, as far as the scan tells them (every key is optional)."""
    page = scan.get("page") or {}
    task = scan.get("task") or {}
    found = []
    url = _norm("url", page.get("url") or task.get("url"))
    if url:
        found.append(Subject("url", url[1]))
    host = page.get("domain") or (urlsplit(url[1]).hostname if url else None)
    domain = _norm("domain", host)
    if domain:
        found.append(Subject("domain", domain[1]))
    ip = _norm("ip", page.get("ip"))
    if ip:
        found.append(Subject("ip", ip[1]))
    return found


def scan_hits(scan: dict, pivot: Pivot, key: str) -> list[Hit]:
    """The subjects of one search result, found through `pivot` = `key`."""
    seen = scan_time(scan)
    display = key
    if pivot.id == "P0401.001":
        # the search matches the phrase anywhere in the title; the pivot is the same title
        title = (scan.get("page") or {}).get("title")
        if not isinstance(title, str) or " ".join(title.split()).casefold() != key:
            return []
        display = " ".join(title.split())
    hits = []
    for subject in scan_subjects(scan):
        if pivot.id == "P0102.002" and subject.kind == "domain" and not query.pattern_matches(key, subject.value):
            continue
        if pivot.id == "P0102.001" and subject.kind == "domain" and not subject.value.endswith("." + key):
            continue
        hits.append(Hit(subject, pivot.id, display, "urlscan", seen, seen, value_key=key))
    return hits


def scan_values(scan: dict) -> dict[str, list[tuple[str, str]]]:
    """Pivot -> [(display, key)] readable from one search entry (or the `page` of a result)."""
    page = scan.get("page") or {}
    values: dict[str, list[tuple[str, str]]] = {}

    def put(pivot_id: str, kind: str, raw) -> None:
        pair = _norm(kind, raw)
        if pair and pair not in values.setdefault(pivot_id, []):
            values[pivot_id].append(pair)

    put("P0401.001", "text", page.get("title"))
    put("P0401.007", "int", page.get("status"))
    for pivot_id in ("P0203", "P0203.002"):
        put(pivot_id, "asn", page.get("asn"))
    put("P0203.001", "text", page.get("asnname"))
    for pivot_id in ("P0201", "P0103.003"):
        put(pivot_id, "ip", page.get("ip"))
    return {k: v for k, v in values.items() if v}


def result_values(result: dict) -> dict[str, list[tuple[str, str]]]:
    """Hashes (SHA-256 of each response body) and file names of everything the scanned page loaded."""
    hashes: list[tuple[str, str]] = []
    names: list[tuple[str, str]] = []
    requests = ((result.get("data") or {}).get("requests") or []) if isinstance(result, dict) else []
    for item in requests:
        if not isinstance(item, dict):
            continue
        response = item.get("response") or {}
        pair = _norm("hash", response.get("hash"))
        if pair and pair not in hashes:
            hashes.append(pair)
        url = (response.get("response") or {}).get("url") or ((item.get("request") or {}).get("request") or {}).get("url")
        name = resource_name(url)
        if name and (name, name.casefold()) not in names:
            names.append((name, name.casefold()))
    for raw in ((result.get("lists") or {}).get("hashes") or []) if isinstance(result, dict) else []:
        pair = _norm("hash", raw)
        if pair and pair not in hashes:
            hashes.append(pair)
    values = {"P0401.004": hashes, "P0401.006": names}
    return {k: v for k, v in values.items() if v}


def resource_name(url) -> str | None:
    """The file name at the end of a URL's path (`ads.php`), or None for a bare directory."""
    if not isinstance(url, str) or not url:
        return None
    path = urlsplit(url).path
    name = path.rsplit("/", 1)[-1].strip()
    return name if name and len(name) <= 255 else None


def scan_query(subject: Subject) -> str | None:
    if subject.kind == "domain":
        return "page.domain:" + query.lucene_escape(subject.value)
    if subject.kind == "url":
        phrase = query.lucene_phrase(subject.value)
        return f"(page.url:{phrase} OR task.url:{phrase})"
    if subject.kind == "ip":
        return "page.ip:" + query.lucene_phrase(subject.value)
    return None


def _is_scan_of(scan: dict, subject: Subject) -> bool:
    if subject.kind == "url":
        task_url = _norm("url", (scan.get("task") or {}).get("url"))
        return subject in scan_subjects(scan) or (task_url is not None and task_url[1] == subject.value)
    return subject in scan_subjects(scan)


# ---- importer: saved search and result answers --------------------------------------------------------

def read_export(path, progress=None):
    """`import urlscan FILE...`: Search API answers ({"results": [...]}) and Result API answers."""
    for location, document in json_documents(path, progress):
        if isinstance(document, Exception):
            yield location, document
            continue
        if not isinstance(document, dict):
            yield location, RecordError("expected a urlscan.io search or result JSON object")
            continue
        if isinstance(document.get("results"), list):
            for index, scan in enumerate(document["results"]):
                yield from _scan_records(f"{location}:results[{index}]", scan)
        elif isinstance(document.get("page"), dict) or isinstance(document.get("data"), dict):
            yield from _scan_records(f"{location}:result", document)
        else:
            yield location, RecordError("neither a search answer (results) nor a result (page/data)")


def _scan_records(location: str, scan) -> list:
    if not isinstance(scan, dict):
        return [(location, RecordError("a scan entry is not a JSON object"))]
    seen = scan_time(scan)
    subjects = {s.kind: s.value for s in scan_subjects(scan)}
    if not subjects:
        return [(location, RecordError("the scan names no page URL, domain or IP"))]
    records = []

    def add(kind: str, pivot_id: str, value: str) -> None:
        if kind in subjects:
            records.append((location, Record(kind, subjects[kind], pivot_id, value, "urlscan", seen, seen)))

    if "url" in subjects:
        host = urlsplit(subjects["url"]).hostname
        if host:
            records.append((location, Record("url", subjects["url"], host=host.strip("[]"))))
    values = scan_values(scan)
    for pivot_id in ("P0401.001", "P0401.007"):
        for display, _ in values.get(pivot_id, []):
            add("url", pivot_id, display)
    for display, _ in values.get("P0103.003", []):
        add("domain", "P0103.003", display)
    for pivot_id in ("P0203", "P0203.001"):
        for display, _ in values.get(pivot_id, []):
            add("ip", pivot_id, display)
    for pivot_id, pairs in result_values(scan).items():
        for display, _ in pairs:
            add("url", pivot_id, display)
    return records
