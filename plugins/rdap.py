"""RDAP: registration data of a domain, keyless, the way registries now publish it.

The IANA bootstrap (a shipped snapshot, refreshable) names the registry's RDAP server; the
registry's answer gives the registrar, dates and name servers, and for thin registries a
`related` link to the registrar's own answer, where the registrant appears (when not redacted).

    python -m plugins.rdap refresh [--url URL] [--output FILE]   # update the shipped snapshot
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

from dtf_catalog import Catalog, Pivot

from .base import EXTRACT, Context, Expansion, Finding, PluginError, PluginSkipped, Subject
from .http_fetch import ApiError, FetchError, Fetcher, FetchPolicy, OnceCache, get_json
from .netguard import Guard, guard_from_settings, truthy
from .parsers import normalised_values
from .parsers.names import registered_domain, reserved_tld
from .parsers.rdap import PIVOTS, RdapFacts, RdapFormatError, merge, parse_domain

log = logging.getLogger("dtf.plugins.rdap")

IANA_BOOTSTRAP_URL = "https://data.iana.org/rdap/dns.json"
SNAPSHOT = Path(__file__).resolve().parent / "data" / "iana-bootstrap-dns.json"
RDAP_ACCEPT = {"Accept": "application/rdap+json, application/json;q=0.9"}
DEADLINE_MARGIN = 0.3
BOOTSTRAP_TTL = 24 * 3600.0


class Bootstrap:
    """TLD -> RDAP base URLs, from an RFC 9224 bootstrap document."""

    def __init__(self, doc):
        services = doc.get("services") if isinstance(doc, dict) else None
        if not isinstance(services, list) or not services:
            raise ValueError("an RDAP bootstrap document has a non-empty `services` list")
        self.publication = doc.get("publication")
        self.urls: dict[str, list[str]] = {}
        for entry in services:
            if not (isinstance(entry, list) and len(entry) >= 2 and isinstance(entry[0], list)
                    and isinstance(entry[1], list)):
                raise ValueError("each bootstrap service is [[labels...], [base URLs...]]")
            urls = [u for u in entry[1] if isinstance(u, str) and u.lower().startswith(("https://", "http://"))]
            urls.sort(key=lambda u: not u.lower().startswith("https://"))  # prefer https
            for label in entry[0]:
                if isinstance(label, str) and urls:
                    self.urls[label.strip().lower().strip(".")] = urls

    def __len__(self) -> int:
        return len(self.urls)

    def base_urls(self, domain: str) -> list[str]:
        """Base URLs of the longest registered suffix of `domain` (entries may hold several labels)."""
        labels = domain.lower().strip(".").split(".")
        for start in range(len(labels)):
            found = self.urls.get(".".join(labels[start:]))
            if found:
                return found
        return []

    @classmethod
    def from_file(cls, path: Path = SNAPSHOT) -> "Bootstrap":
        with open(path, "rb") as handle:
            return cls(json.load(handle))


class RdapPlugin:
    """Registration pivots from RDAP. Settings: `base_url` (skip the bootstrap: one RDAP server
    for every TLD), `bootstrap_url` (fetch the bootstrap there instead of reading the snapshot),
    `follow_related` (default on), `timeout`, `allow_loopback` (tests only), `dns_servers`."""

    name = "rdap"
    live = True

    def __init__(self, catalog: Catalog, settings: dict | None = None):
        self.catalog = catalog
        self.settings = dict(settings or {})
        self.base_url = str(self.settings.get("base_url") or "").strip()
        self.bootstrap_url = str(self.settings.get("bootstrap_url") or "").strip()
        follow = self.settings.get("follow_related")
        self.follow_related = True if follow in (None, "") else truthy(follow)
        self.fetcher = Fetcher(FetchPolicy.from_settings(self.settings, timeout=6.0, max_bytes=1_000_000),
                               guard_from_settings(self.settings))
        self.cache_scope = {"base_url": self.base_url, "bootstrap_url": self.bootstrap_url,
                            "follow_related": str(self.follow_related)}
        self._answers = OnceCache(ttl=120.0)
        self._bootstrap: tuple[float, Bootstrap] | None = None
        self._bootstrap_lock = threading.Lock()

    def capabilities(self) -> dict[str, set[str]]:
        return {pivot: {EXTRACT} for pivot in PIVOTS if pivot in self.catalog.pivots}

    def extract(self, pivot: Pivot, subject: Subject, ctx: Context) -> list[Finding]:
        if subject.kind != "domain" or pivot.id not in PIVOTS:
            return []
        reserved = reserved_tld(subject.value)
        if reserved:
            raise PluginSkipped(f"{subject.value} is under .{reserved}, a special-use TLD without a registry")
        domain = registered_domain(subject.value)
        if domain is None:
            raise PluginError(f"{subject.value} has no registrable domain to look up")
        deadline = ctx.deadline - DEADLINE_MARGIN
        try:
            facts = self._answers.get(domain, lambda: self.lookup(domain, deadline), deadline - time.monotonic())
        except TimeoutError:
            raise PluginError(f"no RDAP answer for {domain} within the deadline") from None
        raws = [raw for pivot_id, raw in facts.pairs() if pivot_id == pivot.id]
        return [Finding(pivot.id, display, key, self.name) for display, key in normalised_values(pivot.value.kind, raws)]

    def expand(self, pivot: Pivot, key: str, wanted: frozenset[str], ctx: Context) -> Expansion:
        raise PluginError(f"RDAP cannot search by {pivot.label}; it only describes a given domain")

    # ---- look-up ---------------------------------------------------------------------------------

    def lookup(self, domain: str, deadline: float) -> RdapFacts:
        """The registry's answer, completed by the registrar's; empty facts when the registry has none."""
        bases = [self.base_url] if self.base_url else self.bootstrap(deadline).base_urls(domain)
        if not bases:
            raise PluginSkipped(f"no RDAP service is published for .{domain.rsplit('.', 1)[-1]} (IANA bootstrap)")
        url = _join(bases[0], f"domain/{quote(domain)}")
        try:
            doc = get_json(self.fetcher, url, deadline, "RDAP registry", RDAP_ACCEPT)
        except ApiError as exc:
            raise PluginError(str(exc)) from None
        if doc is None:
            return RdapFacts(domain=domain)
        try:
            registry = parse_domain(doc)
        except RdapFormatError as exc:
            raise PluginError(f"RDAP registry answer for {domain} is unusable: {exc}") from None
        registrar = self._registrar_answer(domain, registry, deadline) if self.follow_related else None
        return merge(registry, registrar)

    def _registrar_answer(self, domain: str, registry: RdapFacts, deadline: float) -> RdapFacts | None:
        """The registrar's view; its failure leaves the registry's answer standing (logged)."""
        for link in registry.related[:1]:
            if deadline - time.monotonic() < 0.5:
                log.info("no time left to ask the registrar's RDAP for %s", domain)
                return None
            try:
                doc = get_json(self.fetcher, link, deadline, "registrar RDAP", RDAP_ACCEPT)
                return parse_domain(doc) if doc is not None else None
            except (ApiError, RdapFormatError) as exc:
                log.warning("registrar RDAP for %s failed, keeping the registry's answer: %s", domain, exc)
        return None

    def bootstrap(self, deadline: float) -> Bootstrap:
        with self._bootstrap_lock:
            if self._bootstrap and self._bootstrap[0] > time.monotonic():
                return self._bootstrap[1]
            if self.bootstrap_url:
                try:
                    doc = get_json(self.fetcher, self.bootstrap_url, deadline, "RDAP bootstrap")
                    loaded = Bootstrap(doc)
                except (ApiError, ValueError) as exc:
                    raise PluginError(f"RDAP bootstrap {self.bootstrap_url} is unusable: {exc}") from None
            else:
                try:
                    loaded = Bootstrap.from_file(SNAPSHOT)
                except (OSError, ValueError) as exc:
                    raise PluginError(f"the shipped RDAP bootstrap snapshot is unreadable: {exc}") from None
            self._bootstrap = (time.monotonic() + BOOTSTRAP_TTL, loaded)
            return loaded


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path


# ---- refreshing the shipped snapshot ------------------------------------------------------------------

def refresh_bootstrap(url: str = IANA_BOOTSTRAP_URL, path: Path = SNAPSHOT, timeout: float = 30.0,
                      guard: Guard | None = None) -> Bootstrap:
    """Fetch the IANA DNS bootstrap and replace the snapshot atomically, only if it is valid."""
    fetcher = Fetcher(FetchPolicy(timeout=timeout, max_bytes=4_000_000, retries=2), guard or Guard())
    try:
        doc = get_json(fetcher, url, time.monotonic() + timeout, "IANA bootstrap")
    except ApiError as exc:
        raise RuntimeError(str(exc)) from None
    finally:
        fetcher.close()
    if doc is None:
        raise RuntimeError(f"{url} has no bootstrap (HTTP 404)")
    bootstrap = Bootstrap(doc)  # validates before anything is written
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".bootstrap-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(doc, out, indent=1, ensure_ascii=False)
            out.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return bootstrap


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plugins.rdap", description="RDAP plugin tools")
    commands = parser.add_subparsers(dest="command", required=True)
    refresh = commands.add_parser("refresh", help="update the shipped IANA DNS bootstrap snapshot")
    refresh.add_argument("--url", default=IANA_BOOTSTRAP_URL)
    refresh.add_argument("--output", type=Path, default=SNAPSHOT)
    refresh.add_argument("--timeout", type=float, default=30.0)
    refresh.add_argument("--allow-loopback", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        bootstrap = refresh_bootstrap(args.url, args.output, args.timeout, Guard(allow_loopback=args.allow_loopback))
    except (RuntimeError, ValueError, FetchError) as exc:
        print(f"refresh failed, snapshot unchanged: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}: {len(bootstrap)} TLDs, published {bootstrap.publication or 'unknown'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
