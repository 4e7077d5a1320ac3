"""The embedded store as a data source: answers every pivot offline.

Besides stored observations it derives the name pivots (TLD, substring, subdomain label,
length) from the names themselves, and lifts results along the store's relations: values
seen on an IP hold for the domains resolving to it, values seen on a URL hold for its host.
"""
from __future__ import annotations

import datetime as dt

from dtf_catalog import Catalog, Pivot
from store import Store
from store.normalize import InvalidValue, normalize, registrable_parts, url_host

from .base import EXPAND, EXTRACT, Context, Expansion, Finding, Hit, PluginError, Subject

DERIVED_SOURCE = "derived"
NAME_RULES = ("tld", "pattern", "subdomain", "length")
MIN_TOKEN = 4
MAX_WINDOW_DAYS = 3650
MAX_DISTANCE = 1 << 16


class LocalPlugin:
    name = "local"
    live = False

    def __init__(self, store: Store, catalog: Catalog):
        self.store = store
        self.catalog = catalog

    def capabilities(self) -> dict[str, set[str]]:
        return {p.id: {EXTRACT, EXPAND} for p in self.catalog.pivots.values() if p.value}

    # ---- extract ------------------------------------------------------------------------------

    def extract(self, pivot: Pivot, subject: Subject, ctx: Context) -> list[Finding]:
        if subject.kind in pivot.self_value:
            return [Finding(pivot.id, subject.value, subject.value, DERIVED_SOURCE)]
        if pivot.match in NAME_RULES:
            name = url_host(subject.value) if subject.kind == "url" else subject.value
            return [Finding(pivot.id, value, value, DERIVED_SOURCE) for value in name_values(pivot, name)]
        rows = self.store.values_of(self._scope(subject), pivot.observed_as)
        return [Finding(pivot.id, r.value, r.value_key, r.source, r.first_seen, r.last_seen) for r in rows]

    def _scope(self, subject: Subject) -> list[tuple[str, str]]:
        """The subject plus what its values are lifted from: a domain's IPs and its URLs."""
        scope = [(subject.kind, subject.value)]
        if subject.kind == "domain":
            scope += [("ip", ip) for ip in self.store.resolutions(subject.value)]
            scope += [("url", u) for u in self.store.urls_of_host(subject.value)]
        return scope

    # ---- expand -------------------------------------------------------------------------------

    def expand(self, pivot: Pivot, key: str, wanted: frozenset[str], ctx: Context) -> Expansion:
        cap = max(ctx.limit, 1) * 4 + 16
        if pivot.match in NAME_RULES:
            names = self._names(pivot, key, cap)
            hits = [Hit(Subject("domain", n), pivot.id, key, DERIVED_SOURCE) for n in names]
            return Expansion(hits, truncated=len(names) >= cap)
        if pivot.match == "ip_proximity":
            rows = self._near(pivot, key, ctx, cap)
        elif pivot.match == "date_window":
            days = _int_setting(ctx, pivot, "window_days", 0, 0, MAX_WINDOW_DAYS)
            day = dt.date.fromisoformat(key)
            low, high = (day - dt.timedelta(days=days)).isoformat(), (day + dt.timedelta(days=days)).isoformat()
            rows = self.store.subjects_in_range(pivot.observed_as, low, high, cap)
        else:
            rows = self.store.subjects_with(pivot.observed_as, key, cap)
        hits = [Hit(Subject(r.subject_kind, r.subject), pivot.id, r.value, r.source, r.first_seen, r.last_seen)
                for r in rows]
        lifted = self._lift(hits, wanted, cap)
        return Expansion(lifted, truncated=len(rows) >= cap)

    def _names(self, pivot: Pivot, key: str, cap: int) -> list[str]:
        if pivot.match == "tld":
            return self.store.domains_with_suffix(key, cap)
        if pivot.match == "length":
            return self.store.domains_with_length(int(key), cap)
        if pivot.match == "subdomain":
            return self.store.domains_with_label(key, cap)
        return self.store.domains_matching(key, cap)

    def _near(self, pivot: Pivot, key: str, ctx: Context, cap: int):
        distance = _int_setting(ctx, pivot, "distance", 8, 0, MAX_DISTANCE)
        prefix_setting = str(ctx.setting("same_prefix", pivot.params.get("same_prefix", 24))).strip().lower()
        same_prefix = (None if prefix_setting in ("", "0", "any", "none", "off", "false")
                       else _int_setting(ctx, pivot, "same_prefix", 24, 1, 32))
        neighbours = self.store.ips_near(key, distance, same_prefix, cap)
        return [_Neighbour(ip, key) for ip in neighbours]

    def _lift(self, hits: list[Hit], wanted: frozenset[str], cap: int) -> list[Hit]:
        """Keep hits of wanted kinds; lift IPs to resolving domains and URLs to hosts where asked."""
        out: list[Hit] = []
        for hit in hits:
            kind = hit.subject.kind
            if kind in wanted:
                out.append(hit)
            if "domain" in wanted and kind == "ip":
                for row in self.store.domains_resolving_to(hit.subject.value, cap):
                    out.append(Hit(Subject("domain", row.subject), hit.pivot, hit.value, hit.source,
                                   hit.first_seen, hit.last_seen))
            elif "domain" in wanted and kind == "url" and "url" not in wanted:
                for host in self.store.hosts_of_url(hit.subject.value):
                    out.append(Hit(Subject("domain", host), hit.pivot, hit.value, hit.source,
                                   hit.first_seen, hit.last_seen))
            if len(out) >= cap:
                break
        return out


def _int_setting(ctx: Context, pivot: Pivot, name: str, default: int, low: int, high: int) -> int:
    """A whole-number transform setting within bounds; a bad one is named back to the analyst."""
    raw = ctx.setting(name, pivot.params.get(name, default))
    try:
        number = int(str(raw).strip())
    except ValueError:
        raise PluginError(f"setting {name}={raw!r} is not a whole number") from None
    if not low <= number <= high:
        raise PluginError(f"setting {name}={number} is outside {low}..{high}")
    return number


class _Neighbour:
    """A row-like record for an address found near the asked one."""
    __slots__ = ("subject_kind", "subject", "value", "source", "first_seen", "last_seen")

    def __init__(self, ip: str, near: str):
        self.subject_kind, self.subject, self.value = "ip", ip, near
        self.source, self.first_seen, self.last_seen = DERIVED_SOURCE, None, None


def name_values(pivot: Pivot, name: str) -> list[str]:
    """The characteristic a domain name itself carries for a name pivot."""
    suffix, label, subdomains = registrable_parts(name)
    if pivot.match == "tld":
        return [suffix]
    if pivot.match == "length":
        return [str(len(label))]
    if pivot.match == "subdomain":
        return [s for s in dict.fromkeys(subdomains) if s and s != "www"]
    return substring_patterns(label)


def substring_patterns(label: str) -> list[str]:
    """Patterns an analyst would try first: the leading token as a prefix, then each long token."""
    tokens = [t for t in _split_tokens(label) if len(t) >= MIN_TOKEN]
    patterns = []
    if "-" in label and tokens and label.startswith(tokens[0]):
        patterns.append(f"{tokens[0]}-*")
    patterns += [f"*{t}*" for t in tokens]
    try:
        return list(dict.fromkeys(normalize("pattern", p)[1] for p in patterns))
    except InvalidValue:
        return []


def _split_tokens(label: str) -> list[str]:
    token, tokens = "", []
    for char in label:
        if char.isalpha():
            token += char
        else:
            tokens.append(token)
            token = ""
    tokens.append(token)
    return [t for t in tokens if t]
