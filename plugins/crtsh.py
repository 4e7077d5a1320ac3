"""crt.sh: certificates logged in Certificate Transparency for a name, keyless.

Extracts the issuer organisation (P0301), the other names on the same certificates (P0302)
and the not-before dates (P0303); expands a SAN name to the names it shares certificates with.
"""
from __future__ import annotations

import time
from urllib.parse import urlencode

from dtf_catalog import Catalog, Pivot

from .base import EXPAND, EXTRACT, Context, Expansion, Finding, Hit, PluginError, PluginSkipped, Subject
from .http_fetch import ApiError, Fetcher, FetchPolicy, OnceCache, get_json
from .netguard import guard_from_settings, truthy
from .parsers import normalised_values
from .parsers.names import reserved_tld
from .parsers.crtsh import ISSUER_ORG, NOT_BEFORE, SAN, Certificate, CrtshFormatError, parse_certificates

DEFAULT_BASE_URL = "https://crt.sh/"
DEADLINE_MARGIN = 0.3
PIVOTS = (ISSUER_ORG, SAN, NOT_BEFORE)


class CrtshPlugin:
    """Certificate pivots from crt.sh. Settings: `base_url` (tests), `include_expired` (default
    off: only certificates still valid), `timeout`, `max_bytes`, `allow_loopback` (tests only)."""

    name = "crtsh"
    live = True

    def __init__(self, catalog: Catalog, settings: dict | None = None):
        self.catalog = catalog
        self.settings = dict(settings or {})
        self.base_url = str(self.settings.get("base_url") or DEFAULT_BASE_URL).strip()
        self.include_expired = truthy(self.settings.get("include_expired"))
        self.fetcher = Fetcher(FetchPolicy.from_settings(self.settings, timeout=7.0, max_bytes=8_000_000),
                               guard_from_settings(self.settings))
        self.cache_scope = {"base_url": self.base_url, "include_expired": str(self.include_expired)}
        self._answers = OnceCache(ttl=120.0)

    def capabilities(self) -> dict[str, set[str]]:
        found = {ISSUER_ORG: {EXTRACT}, SAN: {EXTRACT, EXPAND}, NOT_BEFORE: {EXTRACT}}
        return {pivot: abilities for pivot, abilities in found.items() if pivot in self.catalog.pivots}

    def extract(self, pivot: Pivot, subject: Subject, ctx: Context) -> list[Finding]:
        if subject.kind != "domain" or pivot.id not in PIVOTS:
            return []
        findings = []
        for cert in self.certificates(subject.value, ctx):
            raws = [raw for pivot_id, raw in cert.pairs_for(subject.value) if pivot_id == pivot.id]
            for display, key in normalised_values(pivot.value.kind, raws):
                findings.append(Finding(pivot.id, display, key, self.name, first_seen=cert.logged))
        return _earliest_per_key(findings)

    def expand(self, pivot: Pivot, key: str, wanted: frozenset[str], ctx: Context) -> Expansion:
        """A SAN name -> the other names on certificates that carry it."""
        if pivot.id != SAN or "domain" not in wanted:
            return Expansion()
        cap = max(ctx.limit, 1) * 4 + 16
        hits: dict[str, Hit] = {}
        for cert in self.certificates(key, ctx):
            if key not in cert.names:
                continue
            for name in cert.names:
                if name != key and name not in hits:
                    hits[name] = Hit(Subject("domain", name), SAN, key, self.name, first_seen=cert.logged)
            if len(hits) >= cap:
                return Expansion(list(hits.values())[:cap], truncated=True)
        return Expansion(list(hits.values()))

    def certificates(self, name: str, ctx: Context) -> list[Certificate]:
        reserved = reserved_tld(name)
        if reserved:
            raise PluginSkipped(f"{name} is under .{reserved}, a special-use TLD no public CA certifies")
        deadline = ctx.deadline - DEADLINE_MARGIN
        try:
            return self._answers.get(name, lambda: self._query(name, deadline), deadline - time.monotonic())
        except TimeoutError:
            raise PluginError(f"no crt.sh answer for {name} within the deadline") from None

    def _query(self, name: str, deadline: float) -> list[Certificate]:
        parameters = {"q": name, "output": "json", "deduplicate": "Y"}
        if not self.include_expired:
            parameters["exclude"] = "expired"
        url = self.base_url.rstrip("/") + "/?" + urlencode(parameters)
        try:
            doc = get_json(self.fetcher, url, deadline, "crt.sh")
        except ApiError as exc:
            raise PluginError(str(exc)) from None
        if doc is None:
            return []
        try:
            return parse_certificates(doc)
        except CrtshFormatError as exc:
            raise PluginError(f"crt.sh answer for {name} is unusable: {exc}") from None


def _earliest_per_key(findings: list[Finding]) -> list[Finding]:
    """One finding per value, carrying the earliest CT log time among the certificates giving it."""
    chosen: dict[str, Finding] = {}
    for finding in findings:
        kept = chosen.get(finding.key)
        if kept is None or (finding.first_seen and (kept.first_seen is None or finding.first_seen < kept.first_seen)):
            chosen[finding.key] = finding
    return list(chosen.values())
