"""Live DNS (dnspython): the records a name has right now, and reverse lookups of addresses.

What it answers
  extract  P0103.001 CNAME (the chain, up to a few hops), .002 MX, .003 A/AAAA, .004 SOA RNAME,
           .005 PTR (of an IP, or of every address a domain resolves to), .006 NS, .007 NS domain;
           P0101.010/.011 from the NS of the registrable domain (DNS shows the delegation the
           registrar publishes, so it stands in for registration data when RDAP is not at hand);
           P0201 on a domain (its addresses, which the reverse lookup then expands).
  expand   P0201 and P0103.003 (IP -> the names its PTR records give, kept only when the name
           resolves back to that IP), P0103.005 (PTR name -> the addresses behind the name whose
           PTR is that name). DNS cannot list every name pointing at an address; the store can.

Name server domain (P0101.011, P0103.007): the NS host without its first label
(`ricardo.ns.cloudflare.com` -> `ns.cloudflare.com`). That is how DTF writes it (EX0002) and how the
demo data records it; the registrable domain (`cloudflare.com`) would merge every product of a
provider. When dropping the label would leave a public suffix, the registrable domain is used.

Resolver settings (plugin settings, e.g. `DTF_DNS_SERVERS=127.0.0.1`, `DTF_DNS_PORT=5353`):
  servers   comma list of resolver addresses; empty = the system's /etc/resolv.conf
  port      resolver port (53)
  timeout   seconds per try (2); lifetime: seconds for one lookup with its retries (5).
            Every lookup is further cut to what is left of the transform's deadline.
  memo_seconds  how long an answer is shared between the lookups of one burst (30; 0 = only while
            in flight): a parent pivot asks NS for .006, .007, .010 and .011 at once.
  max_addresses how many of a domain's addresses get PTR lookups (8).
  allow_reserved  send reserved names and documentation addresses to the resolver (false).

Reserved names (`.test`, `.example`, `.invalid`, `.localhost`, `example.com/net/org`) and
documentation addresses (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32,
3fff::/20) never exist in public DNS: asking real resolvers about them leaks what the analyst is
looking at and only earns NXDOMAIN. They get no findings without a query. The demo dataset uses
such names, and the tests serve `.test` zones from a local server with `allow_reserved: true`.

NXDOMAIN and "no such record" are answers (no findings); SERVFAIL, REFUSED, timeouts and
unreachable resolvers are failures (PluginError naming the resolver's answer).
"""
from __future__ import annotations

import concurrent.futures as futures
import ipaddress
import threading
import time
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import dns.reversename

from dtf_catalog import Catalog, Pivot
from store.normalize import InvalidValue, normalize, registrable_parts

from .base import EXPAND, EXTRACT, Context, Expansion, Finding, Hit, PluginError, PluginStopped, Subject
from .parsers.names import is_documentation_address, is_reserved_name


MAX_CNAME_HOPS = 4
DEADLINE_MARGIN = 0.05      # seconds kept back so a lookup ends before the engine gives up on us
MEMO_SIZE = 4096


# ---- settings ------------------------------------------------------------------------------------

def setting_float(owner: str, settings: dict, key: str, default: float, low: float = 0.0) -> float:
    raw = settings.get(key)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{owner} plugin: setting {key}={raw!r} is not a number") from None
    if value < low:
        raise ValueError(f"{owner} plugin: setting {key}={raw!r} must be at least {low}")
    return value


def setting_int(owner: str, settings: dict, key: str, default: int, low: int = 0, high: int = 65535) -> int:
    raw = settings.get(key)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"{owner} plugin: setting {key}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ValueError(f"{owner} plugin: setting {key}={raw!r} must be between {low} and {high}")
    return value


def setting_bool(owner: str, settings: dict, key: str, default: bool = False) -> bool:
    raw = settings.get(key)
    if raw in (None, ""):
        return default
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{owner} plugin: setting {key}={raw!r} is not true or false")


@dataclass(frozen=True)
class ResolverSettings:
    servers: tuple[str, ...] = ()
    port: int = 53
    timeout: float = 2.0
    lifetime: float = 5.0
    memo_seconds: float = 30.0
    allow_reserved: bool = False

    @classmethod
    def read(cls, owner: str, settings: dict, prefix: str = "") -> "ResolverSettings":
        """Settings named `<prefix>servers`, `<prefix>port`, ...; values may be strings (environment)."""
        raw_servers = settings.get(f"{prefix}servers") or ()
        if isinstance(raw_servers, str):
            raw_servers = raw_servers.split(",")
        servers = []
        for server in raw_servers:
            text = str(server).strip()
            if not text:
                continue
            try:
                servers.append(str(ipaddress.ip_address(text)))
            except ValueError:
                raise ValueError(f"{owner} plugin: resolver {text!r} in {prefix}servers is not an IP address") from None
        return cls(
            servers=tuple(servers),
            port=setting_int(owner, settings, f"{prefix}port", 53, 1),
            timeout=setting_float(owner, settings, f"{prefix}timeout", 2.0, 0.05),
            lifetime=setting_float(owner, settings, f"{prefix}lifetime", 5.0, 0.05),
            memo_seconds=setting_float(owner, settings, "memo_seconds", 30.0),
            allow_reserved=setting_bool(owner, settings, "allow_reserved"),
        )


# ---- answers -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Records:
    """The records of one lookup, plus the zone's SOA when the server put it in the authority section
    (only for the name itself: behind a CNAME it would be the alias target's zone)."""
    rdata: tuple = ()
    authority_soa: object | None = None
    exists: bool = True


class _Memo:
    """Answers shared for a short while; concurrent askers of the same key wait for one lookup."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._items: dict = {}      # key -> [future, expiry (None while in flight)]
        self._lock = threading.Lock()

    def get(self, key, compute, wait: float):
        now = time.monotonic()
        with self._lock:
            item = self._items.get(key)
            if item is not None and item[1] is not None and item[1] <= now:
                item = None
            owner = item is None
            if owner:
                if len(self._items) >= MEMO_SIZE:
                    self._prune(now)
                item = [futures.Future(), None]
                self._items[key] = item
        future = item[0]
        if owner:
            try:
                future.set_result(compute())
                with self._lock:
                    item[1] = time.monotonic() + self.seconds
            except BaseException as exc:
                future.set_exception(exc)
                with self._lock:
                    if self._items.get(key) is item:
                        del self._items[key]
        try:
            return future.result(timeout=wait)
        except futures.TimeoutError:
            raise PluginError("no answer within the transform's deadline") from None

    def _prune(self, now: float) -> None:
        stale = [k for k, (_, expiry) in self._items.items() if expiry is not None and expiry <= now]
        for key in stale or list(self._items)[: MEMO_SIZE // 4]:
            self._items.pop(key, None)


class DnsLookup:
    """One configured resolver with deadline-bounded lookups, shared answers and clear failures.

    Used by the dns and cymru plugins (and tls, to find the address it connects to).
    """

    def __init__(self, owner: str, settings: ResolverSettings, workers: int = 8):
        self.owner = owner
        self.settings = settings
        self._memo = _Memo(settings.memo_seconds)
        self._resolver: dns.resolver.Resolver | None = None
        self._resolver_lock = threading.Lock()
        self._pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"dtf-{owner}")

    @property
    def allow_reserved(self) -> bool:
        return self.settings.allow_reserved

    def resolver(self) -> dns.resolver.Resolver:
        with self._resolver_lock:
            if self._resolver is None:
                if self.settings.servers:
                    resolver = dns.resolver.Resolver(configure=False)
                    resolver.nameservers = list(self.settings.servers)
                else:
                    try:
                        resolver = dns.resolver.Resolver(configure=True)
                    except dns.resolver.NoResolverConfiguration:
                        raise PluginError("no resolver configured (set the plugin's servers setting)") from None
                resolver.port = self.settings.port
                resolver.timeout = self.settings.timeout
                resolver.lifetime = self.settings.lifetime
                self._resolver = resolver
            return self._resolver

    def describe(self) -> str:
        servers = ",".join(self.settings.servers) or "system resolver"
        return f"{servers}:{self.settings.port}" if self.settings.servers else servers

    # ---- lookups -----------------------------------------------------------------------------------

    def records(self, name: str, rdtype: str, ctx: Context) -> Records:
        """The rdata of `name`/`rdtype`; an empty Records for NXDOMAIN or no such record."""
        name = name.rstrip(".").lower()
        return self._memo.get((name, rdtype), lambda: self._resolve(name, rdtype, ctx), self._budget(ctx, name))

    def many(self, questions: list[tuple[str, str]], ctx: Context,
             problems: list[str] | None = None) -> dict[tuple[str, str], Records]:
        """Several lookups in parallel. When some fail and others answer, the answers are returned and
        the failures added to `problems` (so the plugin can report a partial answer); when all fail,
        the first failure is raised."""
        unique = list(dict.fromkeys((n.rstrip(".").lower(), t) for n, t in questions))
        if len(unique) == 1:
            return {unique[0]: self.records(*unique[0], ctx)}
        running = {self._pool.submit(self.records, name, rdtype, ctx): (name, rdtype) for name, rdtype in unique}
        answers, failures = {}, []
        for future in futures.as_completed(running):
            try:
                answers[running[future]] = future.result()
            except PluginError as exc:
                failures.append(str(exc))
        if failures and not answers:
            raise PluginError(failures[0])
        if problems is not None:
            problems.extend(failures)
        return answers

    def addresses(self, name: str, ctx: Context, problems: list[str] | None = None) -> list[str]:
        """A and AAAA addresses of a name, A first."""
        answers = self.many([(name, "A"), (name, "AAAA")], ctx, problems)
        found = []
        for rdtype in ("A", "AAAA"):
            found += [r.address for r in answers.get((name.rstrip(".").lower(), rdtype), Records()).rdata]
        return list(dict.fromkeys(found))

    def reverse_name(self, ip: str) -> str:
        return dns.reversename.from_address(ip).to_text(omit_final_dot=True)

    # ---- the resolver call ---------------------------------------------------------------------------

    def _budget(self, ctx: Context, name: str) -> float:
        left = ctx.remaining() - DEADLINE_MARGIN
        if left <= 0:
            raise PluginError(f"deadline reached before looking up {name}")
        return left

    def _resolve(self, name: str, rdtype: str, ctx: Context) -> Records:
        lifetime = min(self.settings.lifetime, self._budget(ctx, name))
        question = f"{name} {rdtype}"
        try:
            answer = self.resolver().resolve(dns.name.from_text(name), rdtype, raise_on_no_answer=False,
                                             lifetime=lifetime, search=False)
        except dns.resolver.NXDOMAIN:
            return Records(exists=False)
        except dns.resolver.NoAnswer:
            return Records()
        except dns.resolver.LifetimeTimeout:
            raise PluginError(f"no answer from {self.describe()} for {question} within {lifetime:.1f} s") from None
        except dns.resolver.NoNameservers as exc:
            raise PluginError(f"{self.describe()} failed {question}: {_failure_reasons(exc)}") from None
        except dns.resolver.YXDOMAIN:
            raise PluginError(f"{question}: the name is too long after DNAME substitution") from None
        except dns.exception.DNSException as exc:
            raise PluginError(f"lookup of {question} failed: {exc}") from None
        rdata = tuple(answer.rrset) if answer.rrset is not None else ()
        soa = None
        aliased = answer.canonical_name != dns.name.from_text(name)
        if not rdata and not aliased and answer.response is not None:
            for rrset in answer.response.authority:
                if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
                    soa = rrset[0]
        return Records(rdata, soa)


def _failure_reasons(exc: dns.resolver.NoNameservers) -> str:
    """The servers' answers (SERVFAIL, REFUSED, connection refused...) without duplicates."""
    reasons = []
    for error in exc.kwargs.get("errors") or ():
        reason = error[3] if len(error) > 3 else error
        text = str(reason) or type(reason).__name__
        if isinstance(reason, BaseException) and not isinstance(reason, dns.exception.DNSException):
            text = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
        if text not in reasons:
            reasons.append(text)
    return ", ".join(reasons) or "no usable answer"


def partial_or_whole(findings: list, problems: list[str]):
    """The findings, or, when some lookups failed while others answered, a PluginStopped carrying
    them: the engine keeps what was found and still tells the analyst what failed."""
    if not problems:
        return findings
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    raise PluginStopped(f"{problems[0]}{more}; showing what the other lookups found", partial=findings)


# ---- names ---------------------------------------------------------------------------------------

def name_text(name: dns.name.Name) -> str:
    """A DNS name as plain text; a dot inside a label (an SOA mailbox like john\\.doe) becomes a separator."""
    return ".".join(label.decode("ascii", "replace") for label in name.labels if label)


def ns_domain(ns_host: str) -> str:
    """The name-server domain as DTF writes it: the NS host without its first label."""
    parent = ns_host.split(".", 1)[1] if "." in ns_host else ns_host
    suffix, label, _ = registrable_parts(ns_host)
    registrable = f"{label}.{suffix}" if label != suffix else ns_host
    return parent if len(parent) >= len(registrable) else registrable


def registrable_domain(name: str) -> str:
    suffix, label, _ = registrable_parts(name)
    return f"{label}.{suffix}" if label and label != suffix else name


# ---- the plugin ------------------------------------------------------------------------------------

class DnsPlugin:
    name = "dns"
    live = True

    EXTRACTS = ("P0101.010", "P0101.011", "P0103.001", "P0103.002", "P0103.003", "P0103.004",
                "P0103.005", "P0103.006", "P0103.007", "P0201")
    EXPANDS = ("P0201", "P0103.003", "P0103.005")

    def __init__(self, catalog: Catalog, settings: dict | None = None):
        self.catalog = catalog
        settings = dict(settings or {})
        self.lookup = DnsLookup(self.name, ResolverSettings.read(self.name, settings))
        self.max_addresses = setting_int(self.name, settings, "max_addresses", 8, 1, 256)

    def capabilities(self) -> dict[str, set[str]]:
        abilities: dict[str, set[str]] = {}
        for pivot_id in self.EXTRACTS:
            abilities.setdefault(pivot_id, set()).add(EXTRACT)
        for pivot_id in self.EXPANDS:
            abilities.setdefault(pivot_id, set()).add(EXPAND)
        return abilities

    # ---- extract -------------------------------------------------------------------------------------

    def extract(self, pivot: Pivot, subject: Subject, ctx: Context) -> list[Finding]:
        if subject.kind in pivot.self_value or subject.kind not in ("domain", "ip"):
            return []   # an address is its own P0201 value: the local plugin answers that
        if not self._may_ask(subject):
            return []
        problems: list[str] = []
        if subject.kind == "ip":
            raw = self._ptr_names(subject.value, ctx) if pivot.id == "P0103.005" else []
        else:
            raw = self._domain_values(pivot.id, subject.value, ctx, problems)
        return partial_or_whole(self._findings(pivot, raw), problems)

    def _domain_values(self, pivot_id: str, name: str, ctx: Context, problems: list[str]) -> list[str]:
        if pivot_id in ("P0103.003", "P0201"):
            return self.lookup.addresses(name, ctx, problems)
        if pivot_id == "P0103.001":
            return self._cname_chain(name, ctx)
        if pivot_id == "P0103.002":
            return [name_text(r.exchange) for r in self.lookup.records(name, "MX", ctx).rdata]
        if pivot_id == "P0103.004":
            return self._soa_rname(name, ctx)
        if pivot_id == "P0103.005":
            addresses = [ip for ip in self.lookup.addresses(name, ctx, problems) if self._may_reverse(ip)]
            return self._ptr_of_many(addresses[: self.max_addresses], ctx, problems)
        if pivot_id in ("P0103.006", "P0103.007"):
            servers = self._name_servers(name, ctx, own_first=True)
        else:   # P0101.010 / .011: the delegation of the registered domain
            servers = self._name_servers(name, ctx, own_first=False)
        if pivot_id in ("P0103.007", "P0101.011"):
            return list(dict.fromkeys(ns_domain(s) for s in servers if "." in s))
        return servers

    def _cname_chain(self, name: str, ctx: Context) -> list[str]:
        chain, current = [], name
        for _ in range(MAX_CNAME_HOPS):
            targets = [name_text(r.target) for r in self.lookup.records(current, "CNAME", ctx).rdata]
            if not targets or targets[0] in chain or targets[0] == name:
                break
            chain.append(targets[0])
            current = targets[0]
            if is_reserved_name(current) and not self.lookup.allow_reserved:
                break
        return chain

    def _soa_rname(self, name: str, ctx: Context) -> list[str]:
        """RNAME of the zone holding the name: its own SOA, the one a NODATA answer carries, or,
        behind a CNAME, the registrable domain's."""
        records = self.lookup.records(name, "SOA", ctx)
        if not records.exists:
            return []
        soa = records.rdata[0] if records.rdata else records.authority_soa
        zone = registrable_domain(name)
        if soa is None and zone != name:
            soa = next(iter(self.lookup.records(zone, "SOA", ctx).rdata), None)
        return [name_text(soa.rname)] if soa is not None else []

    def _name_servers(self, name: str, ctx: Context, own_first: bool) -> list[str]:
        """NS of the name itself (live DNS pivots) or of its registrable domain (registration pivots);
        a name without NS of its own falls back to its registrable domain's."""
        zone = registrable_domain(name)
        candidates = [name, zone] if own_first and zone != name else [zone]
        for candidate in candidates:
            found = [name_text(r.target) for r in self.lookup.records(candidate, "NS", ctx).rdata]
            if found:
                return found
        return []

    def _ptr_names(self, ip: str, ctx: Context) -> list[str]:
        if not self._may_reverse(ip):
            return []
        return [name_text(r.target) for r in self.lookup.records(self.lookup.reverse_name(ip), "PTR", ctx).rdata]

    def _ptr_of_many(self, ips: list[str], ctx: Context, problems: list[str]) -> list[str]:
        if not ips:
            return []
        answers = self.lookup.many([(self.lookup.reverse_name(ip), "PTR") for ip in ips], ctx, problems)
        names = []
        for records in answers.values():
            names += [name_text(r.target) for r in records.rdata]
        return list(dict.fromkeys(names))

    def _findings(self, pivot: Pivot, raw_values: list[str]) -> list[Finding]:
        findings, seen = [], set()
        for raw in raw_values:
            try:
                display, key = normalize(pivot.value.kind, raw)
            except InvalidValue:
                continue   # e.g. a null MX (".") or a PTR that is not a host name
            if key not in seen:
                seen.add(key)
                findings.append(Finding(pivot.id, display, key, self.name))
        return findings

    # ---- expand ---------------------------------------------------------------------------------------

    def expand(self, pivot: Pivot, key: str, wanted: frozenset[str], ctx: Context) -> Expansion:
        if pivot.id in ("P0201", "P0103.003"):
            if "domain" not in wanted or not self._may_reverse(key):
                return Expansion()
            names = self._confirmed_names(key, ctx)[: max(ctx.limit, 1)]
            return Expansion([Hit(Subject("domain", n), pivot.id, key, self.name) for n in names])
        if pivot.id == "P0103.005":
            if "ip" not in wanted or not self._may_ask(Subject("domain", key)):
                return Expansion()
            ips = [ip for ip in self.lookup.addresses(key, ctx) if self._may_reverse(ip)][: self.max_addresses]
            hits = []
            for ip in ips:
                if key in self._normalized_names(self._ptr_names(ip, ctx)):
                    hits.append(Hit(Subject("ip", ip), pivot.id, key, self.name))
            return Expansion(hits)
        return Expansion()

    def _confirmed_names(self, ip: str, ctx: Context) -> list[str]:
        """PTR names of an address that resolve back to it (forward-confirmed reverse DNS)."""
        confirmed = []
        for name in self._normalized_names(self._ptr_names(ip, ctx)):
            if not self._may_ask(Subject("domain", name)):
                continue
            if ip in {normalize("ip", a)[1] for a in self.lookup.addresses(name, ctx)}:
                confirmed.append(name)
        return confirmed

    @staticmethod
    def _normalized_names(raw_names: list[str]) -> list[str]:
        names = []
        for raw in raw_names:
            try:
                names.append(normalize("dns", raw)[1])
            except InvalidValue:
                continue
        return list(dict.fromkeys(names))

    # ---- what may be asked ------------------------------------------------------------------------------

    def _may_ask(self, subject: Subject) -> bool:
        if self.lookup.allow_reserved:
            return True
        if subject.kind == "ip":
            return not is_documentation_address(subject.value)
        return not is_reserved_name(subject.value)

    def _may_reverse(self, ip: str) -> bool:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return False
        return self.lookup.allow_reserved or not is_documentation_address(ip)
