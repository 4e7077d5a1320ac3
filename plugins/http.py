"""HTTP: fetch a page (a URL, or a domain's https:// then http:// root) and read its features.

P0401.001 title, .002 markers found in inline scripts, .003 resources loaded from other hosts,
.004 hashes (SHA-256 of the body and of fetched resources, the favicon's MurmurHash3 as Shodan
computes it, ssdeep of the body), .005 lure phrases and meta keywords, .006 resource names,
.007 the status code.
All fetching goes through `http_fetch` (SSRF guard, size and redirect caps, deadline).
"""
from __future__ import annotations

import base64
import concurrent.futures as futures
import hashlib
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin

import mmh3
import ppdeep

from dtf_catalog import Catalog, Pivot
from store.normalize import url_host

from .base import EXTRACT, Context, Expansion, Finding, PluginError, PluginSkipped, Subject
from .http_fetch import FetchError, Fetched, Fetcher, FetchPolicy, FetchRefused, OnceCache
from .netguard import guard_from_settings, truthy
from .parsers.names import is_reserved_name
from .parsers import normalised_values
from .parsers.page import (Page, decode, find_keywords, find_markers, is_external, parse_keywords, parse_markers,
                           parse_page, resource_name)

TITLE, CODE, RESOURCES, HASHES, KEYWORDS, NAMES, STATUS = (
    "P0401.001", "P0401.002", "P0401.003", "P0401.004", "P0401.005", "P0401.006", "P0401.007")
PIVOTS = (TITLE, CODE, RESOURCES, HASHES, KEYWORDS, NAMES, STATUS)
HTML_TYPES = ("text/html", "application/xhtml+xml")
PAGE_ACCEPT = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}
DEADLINE_MARGIN = 0.3
MIN_SSDEEP_BYTES = 512      # below this a fuzzy hash says nothing useful
MAX_VALUES = 100


@dataclass
class PageAnalysis:
    fetched: Fetched
    page: Page | None
    markers: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)

    def values(self, pivot_id: str) -> list[str]:
        """Raw values of one pivot that need no further fetch (hashes of the body only)."""
        page, fetched = self.page, self.fetched
        if pivot_id == STATUS:
            return [str(fetched.status)]
        if pivot_id == TITLE:
            return [page.title] if page and page.title else []
        if pivot_id == CODE:
            return self.markers
        if pivot_id == KEYWORDS:
            return self.keywords
        if pivot_id == RESOURCES:
            return [r.url for r in page.resources if is_external(r.url, fetched.url)][:MAX_VALUES] if page else []
        if pivot_id == NAMES:
            urls = [fetched.url] + ([r.url for r in page.resources] if page else [])
            return [n for n in dict.fromkeys(resource_name(u) for u in urls) if n][:MAX_VALUES]
        if pivot_id == HASHES:
            return body_hashes(fetched.body)
        return []


def body_hashes(body: bytes) -> list[str]:
    if not body:
        return []
    hashes = [hashlib.sha256(body).hexdigest()]
    if len(body) >= MIN_SSDEEP_BYTES:
        hashes.append(ppdeep.hash(body))
    return hashes


def favicon_hash(data: bytes) -> str:
    """Shodan's http.favicon.hash: signed 32-bit MurmurHash3 of the base64 text, newlines every 76 chars."""
    return str(mmh3.hash(base64.encodebytes(data)))


class HttpPlugin:
    """Page pivots from a live fetch. Settings: `code_markers` (names / regexes searched in inline
    scripts), `keywords` (phrases searched in the page text), `max_resources` (resources fetched
    for hashes, default 8), `timeout`, `max_bytes`, `max_redirects`, `verify_tls` (default off:
    hostile sites rarely have valid certificates), `ca_bundle`, `user_agent`, `https_port` /
    `http_port` (a domain's root on other ports), `allow_loopback` (tests only), `dns_servers`."""

    name = "http"
    live = True

    def __init__(self, catalog: Catalog, settings: dict | None = None):
        self.catalog = catalog
        self.settings = dict(settings or {})
        self.markers = parse_markers(self.settings.get("code_markers"))
        self.keywords = parse_keywords(self.settings.get("keywords"))
        self.max_resources = int(self.settings.get("max_resources") or 8)
        self.ports = {"https": int(self.settings.get("https_port") or 443),
                      "http": int(self.settings.get("http_port") or 80)}
        self.fetcher = Fetcher(FetchPolicy.from_settings(self.settings, timeout=5.0, max_bytes=2_000_000,
                                                         verify_tls=False, retries=0),
                               guard_from_settings(self.settings))
        self.cache_scope = {k: str(v) for k, v in self.settings.items() if k != "allow_loopback"}
        # test-only settings: the loopback test sites live under .test names
        self.allow_reserved = truthy(self.settings.get("allow_reserved")) or truthy(self.settings.get("allow_loopback"))
        self._pages = OnceCache(ttl=120.0)
        self._hashes = OnceCache(ttl=120.0)

    def capabilities(self) -> dict[str, set[str]]:
        return {pivot: {EXTRACT} for pivot in PIVOTS if pivot in self.catalog.pivots}

    def extract(self, pivot: Pivot, subject: Subject, ctx: Context) -> list[Finding]:
        if subject.kind not in ("domain", "url") or pivot.id not in PIVOTS:
            return []
        host = url_host(subject.value) if subject.kind == "url" else subject.value
        if is_reserved_name(host) and not self.allow_reserved:
            raise PluginSkipped(f"{host} is a reserved name that exists on no public server; nothing fetched")
        deadline = ctx.deadline - DEADLINE_MARGIN
        try:
            analysis = self._pages.get(subject, lambda: self.analyse(subject, deadline), deadline - time.monotonic())
            raws = list(analysis.values(pivot.id))
            if pivot.id == HASHES:
                raws += self._hashes.get(analysis.fetched.url, lambda: self.resource_hashes(analysis, deadline),
                                         deadline - time.monotonic())
        except TimeoutError:
            raise PluginError(f"no page from {subject.value} within the deadline") from None
        return [Finding(pivot.id, display, key, self.name)
                for display, key in normalised_values(pivot.value.kind, raws)]

    def expand(self, pivot: Pivot, key: str, wanted: frozenset[str], ctx: Context) -> Expansion:
        raise PluginError(f"fetching pages cannot search by {pivot.label}; use a search source or the store")

    # ---- fetching ----------------------------------------------------------------------------------

    def analyse(self, subject: Subject, deadline: float) -> PageAnalysis:
        fetched = self.fetch_page(subject, deadline)
        page = None
        if fetched.content_type in HTML_TYPES or (not fetched.content_type and fetched.body.lstrip()[:1] == b"<"):
            page = parse_page(decode(fetched.body, fetched.headers.get("content-type", "")), fetched.url)
        if page is None:
            return PageAnalysis(fetched, None)
        return PageAnalysis(fetched, page, find_markers(page, self.markers), find_keywords(page, self.keywords))

    def fetch_page(self, subject: Subject, deadline: float) -> Fetched:
        if subject.kind == "url":
            candidates = [subject.value]
        else:
            candidates = [self._root("https", subject.value), self._root("http", subject.value)]
        failures = []
        for url in candidates:
            try:
                return self.fetcher.get(url, deadline, headers=PAGE_ACCEPT)
            except FetchRefused as exc:
                raise PluginError(str(exc)) from None
            except FetchError as exc:
                failures.append(f"{url}: {exc}")
        raise PluginError("; ".join(failures))

    def _root(self, scheme: str, host: str) -> str:
        port = self.ports[scheme]
        default = 443 if scheme == "https" else 80
        return f"{scheme}://{host}/" if port == default else f"{scheme}://{host}:{port}/"

    def resource_hashes(self, analysis: PageAnalysis, deadline: float) -> list[str]:
        """SHA-256 of up to `max_resources` resources, and the favicon's hashes (mmh3 and SHA-256).

        A resource that cannot be fetched, is refused or is not a 200 is skipped: the page's own
        values still stand.
        """
        page = analysis.page
        icon = (page.favicon if page and page.favicon else None) or urljoin(analysis.fetched.url, "/favicon.ico")
        targets = [r.url for r in (page.resources if page else []) if r.url != icon]
        targets = list(dict.fromkeys(targets))[: self.max_resources]
        jobs = [(icon, True)] + [(url, False) for url in targets]
        hashes: list[str] = []
        with futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="dtf-http-resource") as pool:
            running = {pool.submit(self._fetch_resource, url, deadline): is_icon for url, is_icon in jobs}
            done, late = futures.wait(running, timeout=max(0.0, deadline - time.monotonic()))
            for future in late:
                future.cancel()
            for future in done:
                body = future.result()
                if not body:
                    continue
                if running[future]:
                    hashes.append(favicon_hash(body))
                hashes.append(hashlib.sha256(body).hexdigest())
        return hashes

    def _fetch_resource(self, url: str, deadline: float) -> bytes | None:
        try:
            fetched = self.fetcher.get(url, deadline)
        except FetchError:
            return None
        return fetched.body if fetched.status == 200 else None
