"""The pivot engine: runs pivot, extract and expand transforms over the enabled plugins.

It takes protocol-neutral requests (transforms.model) and knows no maltego-trx type, so the
XML adapter, local transforms and the CLI all call the same code.
"""
from __future__ import annotations

import concurrent.futures as futures
import datetime as dt
import threading
import time
from dataclasses import dataclass, field

from dtf_catalog import Catalog, Pivot
from entities.types import INPUT_KIND_OF_TYPE
from plugins.base import (EXPAND, EXTRACT, Context, Expansion, Finding, Hit, Plugin, PluginError, PluginSkipped,
                          PluginStopped, Subject)
from store import Observation
from store.normalize import InvalidValue, normalize

from .annotate import Annotator, read_trail
from .model import INFORM, PARTIAL, BadRequest, TransformRequest, TransformResponse
from .registry import EXPAND as EXPAND_KIND
from .registry import EXTRACT as EXTRACT_KIND
from .registry import PIVOT as PIVOT_KIND
from .outputs import pivot_output_kinds
from .registry import TransformSpec

DEFAULT_DEADLINE = 8.0
CACHE_TTL = 300.0
CACHE_SIZE = 4096


class TTLCache:
    """Recent live answers, so repeating a lookup within minutes does not ask the source again."""

    def __init__(self, ttl: float = CACHE_TTL, size: int = CACHE_SIZE):
        self.ttl, self.size = ttl, size
        self._items: dict = {}
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item and item[0] > time.monotonic():
                return item[1]
            self._items.pop(key, None)
            return None

    def put(self, key, value) -> None:
        with self._lock:
            if len(self._items) >= self.size:
                now = time.monotonic()
                for stale in [k for k, (expiry, _) in self._items.items() if expiry <= now] or list(self._items)[:self.size // 4]:
                    self._items.pop(stale, None)
            self._items[key] = (time.monotonic() + self.ttl, value)


@dataclass
class Merged:
    """One result subject, with every (pivot, value) that led to it and every source that said so."""
    subject: Subject
    steps: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    first_seen: str | None = None
    last_seen: str | None = None

    def add(self, pivot: str, value: str, source: str, first: str | None, last: str | None) -> None:
        self.steps.setdefault((pivot, value), set()).add(source)
        if first and (self.first_seen is None or first < self.first_seen):
            self.first_seen = first
        if last and (self.last_seen is None or last > self.last_seen):
            self.last_seen = last


class Engine:
    def __init__(self, catalog: Catalog, plugins: list[Plugin], deadline: float = DEFAULT_DEADLINE,
                 workers: int = 8, recorder=None, cache: TTLCache | None = None):
        self.catalog = catalog
        self.plugins = plugins
        self.deadline = deadline
        self.recorder = recorder      # store.write_batch, for write-through of live answers
        self.cache = cache or TTLCache()
        self.annotator = Annotator(catalog)
        self._pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dtf-plugin")

    # ---- entry point ----------------------------------------------------------------------------

    def run(self, spec: TransformSpec, request: TransformRequest) -> TransformResponse:
        pivot = self.catalog.pivot(spec.pivot)
        ctx = Context(settings=dict(request.settings), limit=request.limit,
                      deadline=time.monotonic() + self.deadline)
        response = TransformResponse()
        trail = read_trail(request.entity.properties)
        if spec.kind == EXPAND_KIND:
            key = self._value_key(pivot, request.entity.value)
            merged = self.expand_value(pivot, key, frozenset(pivot.outputs), ctx, response)
            self.annotator.results(merged.values(), trail, request.limit, response, seed=None)
            return response
        subject = self._subject(spec, request)
        leaves = distinct_leaves(self.catalog.leaves(pivot.id), subject.kind)
        if spec.kind == EXTRACT_KIND:
            findings = self.extract_values(leaves, subject, ctx, response)
            self.annotator.values(findings, trail, subject, request.limit, response)
            return response
        assert spec.kind == PIVOT_KIND, spec.kind
        findings = self.extract_values(leaves, subject, ctx, response)
        merged: dict[Subject, Merged] = {}
        for finding in (f for f in findings if not f.shown_as):
            leaf = self.catalog.pivot(finding.pivot)
            found = self.expand_value(leaf, finding.key, pivot_output_kinds(leaf, subject.kind), ctx, response)
            for key, item in found.items():
                target = merged.setdefault(key, Merged(key))
                for step, sources in item.steps.items():
                    for source in sources:
                        target.add(*step, source, item.first_seen, item.last_seen)
        merged.pop(subject, None)
        if not findings and not response.messages:
            response.inform(f"{subject.value} has no known {pivot.id} {pivot.name} value in the enabled sources.")
        self.annotator.results(merged.values(), trail, request.limit, response, seed=subject)
        return response

    # ---- input -------------------------------------------------------------------------------------

    def _subject(self, spec: TransformSpec, request: TransformRequest) -> Subject:
        kind = INPUT_KIND_OF_TYPE.get(spec.input)
        if kind is None:
            raise BadRequest(f"transform {spec.name} has no subject kind for {spec.input}")
        try:
            return Subject(kind, normalize(kind, request.entity.value)[1])
        except InvalidValue as exc:
            raise BadRequest(f"{spec.input} value is not usable: {exc}") from None

    def _value_key(self, pivot: Pivot, raw: str) -> str:
        try:
            return normalize(pivot.value.kind, raw)[1]
        except InvalidValue as exc:
            raise BadRequest(f"not a {pivot.id} {pivot.label} value: {exc}") from None

    # ---- plugins -----------------------------------------------------------------------------------

    def _capable(self, pivot_id: str, ability: str) -> list[Plugin]:
        return [p for p in self.plugins if ability in p.capabilities().get(pivot_id, ())]

    def _ask(self, calls, ctx: Context, response: TransformResponse):
        """Run (plugin, callable) pairs in parallel under the deadline; failures become PartialErrors
        (a skipped plugin: one Inform; a stopped one still contributes what it found before stopping)."""
        if len(calls) == 1 and not getattr(calls[0][0], "live", False):  # offline store: no thread hop needed
            plugin, call = calls[0]
            try:
                return [(plugin, call())]
            except PluginError as exc:
                return _settle_failure(plugin, exc, response)
        running = {self._pool.submit(call): plugin for plugin, call in calls}
        done, late = futures.wait(running, timeout=ctx.remaining())
        answers = []
        for future in (f for f in running if f in done):  # in asking order, so results are stable
            plugin = running[future]
            try:
                answers.append((plugin, future.result()))
            except PluginError as exc:
                answers.extend(_settle_failure(plugin, exc, response))
            except Exception as exc:  # a plugin bug must not sink the other sources' answers
                response.partial(f"{plugin.name}: failed ({type(exc).__name__})")
        for future in (f for f in running if f in late):
            future.cancel()
            response.partial(f"{running[future].name}: no answer within the {self.deadline:.0f} s deadline")
        return answers

    # ---- building blocks (also used by the hIGMA runner) --------------------------------------------

    def extract_values(self, leaves: list[Pivot], subject: Subject, ctx: Context,
                     response: TransformResponse) -> list[Finding]:
        calls = []
        for leaf in leaves:
            for plugin in self._capable(leaf.id, EXTRACT):
                calls.append((plugin, self._remembered(
                    plugin, ("extract", leaf.id, subject),
                    lambda p=plugin, l=leaf: p.extract(l, subject, ctx),
                    lambda found, l=leaf, p=plugin: [_observation_of_finding(subject, f, p.name) for f in found])))
        seen: dict[tuple[str, str], Finding] = {}
        merged_sources: dict[tuple[str, str], set[str]] = {}
        for _, findings in self._ask(calls, ctx, response):
            for finding in findings:
                key = (finding.pivot, finding.key)
                seen.setdefault(key, finding)
                merged_sources.setdefault(key, set()).add(finding.source)
        return [_with_sources(seen[k], merged_sources[k]) for k in seen]

    def expand_value(self, pivot: Pivot, key: str, wanted: frozenset[str], ctx: Context,
                response: TransformResponse) -> dict[Subject, Merged]:
        calls = [(p, self._remembered(p, ("expand", pivot.id, key, wanted, ctx.limit),
                                      lambda p=p: p.expand(pivot, key, wanted, ctx),
                                      lambda found, p=p: [_observation_of_hit(h, p.name) for h in found.hits]))
                 for p in self._capable(pivot.id, EXPAND)]
        merged: dict[Subject, Merged] = {}
        for plugin, expansion in self._ask(calls, ctx, response):
            expansion: Expansion
            for hit in expansion.hits:
                if hit.subject.kind not in wanted:
                    continue
                item = merged.setdefault(hit.subject, Merged(hit.subject))
                for source in hit.source.split(","):
                    item.add(hit.pivot, hit.value, source, hit.first_seen, hit.last_seen)
            if expansion.truncated:
                self.annotator.note_truncated(response, plugin.name, expansion.total, len(expansion.hits),
                                              announce=getattr(plugin, "live", False))
        return merged


    def _remembered(self, plugin, key, call, to_observations):
        """Wrap a live plugin call with the TTL cache and write-through to the store."""
        if not getattr(plugin, "live", False):
            return call

        def wrapped():
            cache_key = (plugin.name, *key, tuple(sorted(_public_settings(plugin))))
            cached = self.cache.get(cache_key)
            if cached is not None:
                return cached
            try:
                answer = call()
            except PluginStopped as exc:  # remember what was found before the source stopped
                if exc.partial is not None and self.recorder is not None:
                    observations = [o for o in to_observations(exc.partial) if o is not None]
                    if observations:
                        self.recorder(observations)
                raise
            self.cache.put(cache_key, answer)
            if self.recorder is not None:
                observations = [o for o in to_observations(answer) if o is not None]
                if observations:
                    self.recorder(observations)
            return answer
        return wrapped


def _settle_failure(plugin, exc: PluginError, response: TransformResponse) -> list:
    """Report a plugin failure once per request; a stopped plugin's partial answer is kept."""
    text = f"{plugin.name}: {exc}"
    kind = INFORM if isinstance(exc, PluginSkipped) else PARTIAL
    if (kind, text) not in response.messages:
        response.messages.append((kind, text))
    partial = getattr(exc, "partial", None)
    return [(plugin, partial)] if isinstance(exc, PluginStopped) and partial is not None else []


def _public_settings(plugin) -> dict:
    return getattr(plugin, "cache_scope", {}) or {}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _observation_of_finding(subject: Subject, finding: Finding, source: str):
    if finding.shown_as:
        return None     # a companion value is not an observation of the pivot
    seen = _now()
    return Observation(subject.kind, subject.value, finding.pivot, finding.value, finding.key, source,
                       finding.first_seen or seen, finding.last_seen or seen)


def _observation_of_hit(hit: Hit, source: str):
    seen = _now()
    return Observation(hit.subject.kind, hit.subject.value, hit.pivot, hit.value, hit.value_key or hit.value,
                       source, hit.first_seen or seen, hit.last_seen or seen)


def distinct_leaves(leaves: list[Pivot], kind: str) -> list[Pivot]:
    """Leaves that apply to the input kind, dropping one that reads the very same observations as
    an earlier one (P0203 and P0203.002 are one AS number seen under two IDs)."""
    chosen, seen = [], set()
    for leaf in leaves:
        signature = (frozenset(leaf.observed_as), leaf.match, leaf.value.kind)
        if kind in leaf.inputs and signature not in seen:
            seen.add(signature)
            chosen.append(leaf)
    return chosen


def _with_sources(finding: Finding, sources: set[str]) -> Finding:
    return Finding(finding.pivot, finding.value, finding.key, ",".join(sorted(sources)),
                   finding.first_seen, finding.last_seen, finding.shown_as)
