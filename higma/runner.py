"""Running a rule: which subjects does it find in the store and the enabled plugins?

A pivot item finds subjects by expanding its value(s) through the same engine the transforms
use (local store plus every enabled plugin that can expand the pivot). Subjects are lifted the
way the store links them: a URL counts for its host, and a value seen on an IP counts for the
domains resolving to it. A group holds for a subject when all its items hold for that same
subject; the condition then combines the groups as set operations (`not` subtracts from what
the other groups found). Every run is recorded, so the next run can say what is new.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass, field

from entities.types import type_for_subject
from plugins.base import EXPAND, Context, Subject
from plugins.local import NAME_RULES, name_values
from store.normalize import is_ip, iso_date, url_host
from transforms.model import TransformResponse

from .history import HuntHistory, RecordedResult, RunRecord
from .model import And, Group, Node, Not, Or, PivotItem, Quantified, Ref, Rule, Target
from .values import ValueMatcher, name_pattern_matches

HUNT_LIMIT = 1_000_000      # per expansion: high enough that the store never truncates a group's item
CALL_DEADLINE = 30.0         # seconds for one value's expansion across plugins
MAX_NAME_SCAN = 1_000_000    # domains scanned for a name pivot read with a pattern or comparison
KIND_ORDER = {"domain": 0, "ip": 1, "url": 2}


@dataclass
class Evidence:
    """Why a subject holds: (pivot, value) steps with their sources, and the seen dates behind them."""
    steps: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    first_seen: str | None = None
    last_seen: str | None = None

    def add(self, pivot: str, value: str, sources, first: str | None, last: str | None) -> None:
        self.steps.setdefault((pivot, value), set()).update(sources)
        if first and (self.first_seen is None or first < self.first_seen):
            self.first_seen = first
        if last and (self.last_seen is None or last > self.last_seen):
            self.last_seen = last

    def absorb(self, other: "Evidence") -> None:
        for (pivot, value), sources in other.steps.items():
            self.add(pivot, value, sources, other.first_seen, other.last_seen)


@dataclass
class HuntResult:
    subject: Subject
    groups: list[str]
    first_seen: str | None
    last_seen: str | None
    steps: list[tuple[str, str]]
    sources: list[str]
    new: bool = False
    first_reported: str | None = None

    @property
    def type(self) -> str:
        return type_for_subject(self.subject.kind, self.subject.value)

    def as_json(self) -> dict:
        return {"value": self.subject.value, "type": self.type, "kind": self.subject.kind, "groups": self.groups,
                "first_seen": self.first_seen, "last_seen": self.last_seen, "first_reported": self.first_reported,
                "sources": self.sources, "evidence": [{"pivot": p, "value": v} for p, v in self.steps]}


@dataclass
class HuntReport:
    rule: Rule
    results: list[HuntResult]
    run: RunRecord | None
    previous: RunRecord | None
    messages: list[str]
    since: str | None = None
    rule_changed: bool = False

    @property
    def new(self) -> list[HuntResult]:
        return [r for r in self.results if r.new]

    def as_json(self) -> dict:
        return {
            "rule": {"id": self.rule.id, "title": self.rule.title},
            "results": [r.as_json() for r in self.results],
            "new": [r.as_json() for r in self.new],
            "run": {"id": self.run.id if self.run else None, "started": self.run.started if self.run else None,
                    "previous": self.previous.started if self.previous else None,
                    "rule_changed": self.rule_changed, "since": self.since},
            "messages": self.messages,
        }


def rule_digest(rule: Rule) -> str:
    """Fingerprint of what a rule looks for (not its wording), to tell an edited rule's runs apart."""
    body = {"groups": {name: [[i.pivot, str(i.raw_value), i.implementation] for i in group.items]
                       for name, group in sorted(rule.groups.items())},
            "condition": rule.condition_text}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def evaluate_sets(node: Node, sets: dict[str, set], universe: set) -> set:
    """The condition over subject sets: and = intersection, or = union, not = what else was found."""
    if isinstance(node, Ref):
        return set(sets[node.name])
    if isinstance(node, Not):
        return universe - evaluate_sets(node.part, sets, universe)
    if isinstance(node, And):
        result = evaluate_sets(node.parts[0], sets, universe)
        for part in node.parts[1:]:
            result &= evaluate_sets(part, sets, universe)
        return result
    if isinstance(node, Or):
        return set().union(*(evaluate_sets(part, sets, universe) for part in node.parts))
    assert isinstance(node, Quantified)
    return {s for s in universe if sum(1 for name in node.names if s in sets[name]) >= node.needed}


class Runner:
    """Runs rules over one Service (catalog, store, enabled plugins, engine) and records each run."""

    def __init__(self, service, limit: int = HUNT_LIMIT, call_deadline: float = CALL_DEADLINE):
        self.service = service
        self.catalog = service.catalog
        self.store = service.store
        self.engine = service.engine
        self.history = HuntHistory(service.store)
        self.limit = limit
        self.call_deadline = call_deadline

    # ---- a whole hunt ------------------------------------------------------------------------------

    def hunt(self, rule: Rule, since: str | None = None, record: bool = True) -> HuntReport:
        started = _now()
        messages: list[str] = []
        since_day = iso_date(since) if since else None
        used = rule.used_groups()
        found = {name: self.group_subjects(rule.groups[name], messages) for name in used}
        sets = {name: set(evidence) for name, evidence in found.items()}
        universe = set().union(*sets.values()) if sets else set()
        matched = evaluate_sets(rule.condition, sets, universe)
        results = [self._result(subject, used, found) for subject in matched]
        results.sort(key=lambda r: (KIND_ORDER.get(r.subject.kind, 9), r.subject.value))
        digest = rule_digest(rule)
        previous = self.history.latest(rule.id)
        before = self.history.results_of(previous.id) if previous else {}
        for result in results:
            result.new = (result.subject.kind, result.subject.value) not in before
        run = None
        if record:
            run = self.history.record(rule.id, rule.title, digest, started, _now(), self._sources(rule),
                                      [RecordedResult(r.subject.kind, r.subject.value, tuple(r.groups),
                                                      r.first_seen, r.last_seen) for r in results])
            reported = self.history.first_reported(rule.id)
            for result in results:
                result.first_reported = reported.get((result.subject.kind, result.subject.value))
        changed = previous is not None and previous.rule_digest != digest
        if changed:
            messages.append(f"the rule's pivots or condition changed since the previous run ({previous.started}); "
                            "'new' compares with what the earlier version found")
        if since_day:
            results = [r for r in results if (_day(r.first_seen) or _day(r.first_reported) or _day(started)) >= since_day]
        return HuntReport(rule, results, run, previous, messages, since_day, changed)

    def _result(self, subject: Subject, used: list[str], found: dict[str, dict[Subject, Evidence]]) -> HuntResult:
        groups = [name for name in used if subject in found[name]]
        evidence = Evidence()
        firsts = []
        for name in groups:
            item = found[name][subject]
            evidence.absorb(item)
            firsts.append(item.first_seen)
        known = [f for f in firsts if f]
        sources = sorted(set().union(*evidence.steps.values())) if evidence.steps else []
        return HuntResult(subject, groups, min(known) if known else None, evidence.last_seen,
                          sorted(evidence.steps), sources)

    def _sources(self, rule: Rule) -> list[str]:
        leaves = {t.pivot for g in rule.groups.values() for i in g.items for t in i.targets if not t.name_of_subject}
        names = [p.name for p in self.engine.plugins
                 if any(EXPAND in p.capabilities().get(leaf, ()) for leaf in leaves)]
        if any(t.name_of_subject for g in rule.groups.values() for i in g.items for t in i.targets):
            names.append("local")
        return list(dict.fromkeys(names))

    # ---- groups and items --------------------------------------------------------------------------

    def group_subjects(self, group: Group, messages: list[str]) -> dict[Subject, Evidence]:
        """Subjects for which every item of the group holds; evidence per subject, with the group's
        first seen being the latest of its items' (the group holds once all its parts do)."""
        per_item = [self.item_subjects(item, messages) for item in group.items]
        per_item.sort(key=len)
        common = set(per_item[0])
        for other in per_item[1:]:
            common &= set(other)
        result: dict[Subject, Evidence] = {}
        for subject in common:
            evidence = Evidence()
            firsts = []
            for found in per_item:
                evidence.absorb(found[subject])
                firsts.append(found[subject].first_seen)
            known = [f for f in firsts if f]
            evidence.first_seen = max(known) if known else None
            result[subject] = evidence
        return result

    def item_subjects(self, item: PivotItem, messages: list[str]) -> dict[Subject, Evidence]:
        found: dict[Subject, Evidence] = {}
        for target in item.targets:
            if target.name_of_subject:
                for name in self._names_matching(target.matcher):
                    found.setdefault(Subject("domain", name), Evidence()).add(
                        target.pivot, name, {"local"}, None, None)
                continue
            leaf = self.catalog.pivot(target.pivot)
            keys = self._keys(leaf, target.matcher)
            if not target.matcher.is_exact and self._live_expanders(leaf.id):
                messages.append(f"{item.field}: live sources were asked only for the {len(keys)} value(s) of "
                                f"{leaf.id} the store knows that match {target.matcher.text!r}")
            for key in keys:
                for subject, evidence in self._expand(leaf, key, messages).items():
                    for lifted in self._lift(subject):
                        found.setdefault(lifted, Evidence()).absorb(evidence)
        return found

    def _live_expanders(self, pivot_id: str) -> list[str]:
        return [p.name for p in self.engine.plugins
                if getattr(p, "live", False) and EXPAND in p.capabilities().get(pivot_id, ())]

    def _keys(self, leaf, matcher: ValueMatcher) -> list[str]:
        """The value keys to expand: the value itself, or every known value that the pattern,
        range or comparison accepts (the store is asked what it holds)."""
        if matcher.form == "exact":
            return [matcher.key]
        if leaf.match in NAME_RULES:
            values = set()
            for name in self.store.domains_matching("*", MAX_NAME_SCAN):
                values.update(v for v in name_values(leaf, name) if matcher.matches(v, v))
            return sorted(values)
        keys = [key for display, key in self.store.distinct_values(leaf.observed_as) if matcher.matches(display, key)]
        if matcher.form == "similar" and matcher.key not in keys:
            keys.insert(0, matcher.key)
        return keys

    def _expand(self, leaf, key: str, messages: list[str]) -> dict[Subject, Evidence]:
        ctx = Context(settings={}, limit=self.limit, deadline=time.monotonic() + self.call_deadline)
        response = TransformResponse()
        merged = self.engine.expand_value(leaf, key, frozenset(leaf.outputs), ctx, response)
        texts = [text for _, text in response.messages]
        texts += [f"{source}: more available than were fetched" for source in response.truncated_sources
                  if not any(t.startswith(f"{source}:") or f"(source: {source})" in t for t in texts)]
        for text in texts:
            if text not in messages:
                messages.append(text)
        found: dict[Subject, Evidence] = {}
        for subject, item in merged.items():
            evidence = found.setdefault(subject, Evidence())
            for (pivot, value), sources in item.steps.items():
                evidence.add(pivot, value, sources, item.first_seen, item.last_seen)
        return found

    def _lift(self, subject: Subject) -> list[Subject]:
        """URL -> its host; IP -> itself and the domains resolving to it (as the store records them)."""
        if subject.kind == "url":
            host = url_host(subject.value).strip("[]")
            if not host:
                return []
            kind = "ip" if is_ip(host) else "domain"
            lifted = Subject(kind, host)
            return self._lift(lifted) if kind == "ip" else [lifted]
        if subject.kind == "ip":
            domains = [Subject("domain", row.subject) for row in self.store.domains_resolving_to(subject.value, self.limit)]
            return [subject] + domains
        return [subject]

    def _names_matching(self, matcher: ValueMatcher) -> list[str]:
        """Domains the store knows whose own name matches (P0102 written with a domain value)."""
        if matcher.form == "exact":
            return [n for n in self.store.domains_matching(matcher.key, MAX_NAME_SCAN) if n == matcher.key]
        if matcher.form == "glob":  # narrow by the longest literal run (trigram index), then test the glob
            runs = sorted((part.lower() for part in matcher.glob_parts()), key=len, reverse=True)
            hint = runs[0] if runs and len(runs[0]) >= 3 and not set(runs[0]) & set("*?/") else "*"
            candidates = self.store.domains_matching(hint, MAX_NAME_SCAN)
        else:
            candidates = self.store.domains_matching("*", MAX_NAME_SCAN)
        return [n for n in candidates if matcher.matches(n, n)]

    # ---- does one item hold for one subject? (drafting checks trail steps with this) -----------------

    def holds(self, subject: Subject, target: Target) -> bool:
        """Whether a target holds for a subject, asking the sources what values the subject has."""
        name = _host_of(subject)
        if target.name_of_subject:
            return bool(name) and target.matcher.matches(name, name)
        leaf = self.catalog.pivot(target.pivot)
        if leaf.match == "pattern":
            return bool(name) and name_pattern_matches(target.matcher.key, name)
        ctx = Context(settings={}, limit=self.limit, deadline=time.monotonic() + self.call_deadline)
        findings = self.engine.extract_values([leaf], subject, ctx, TransformResponse())
        return any(target.matcher.matches(f.value, f.key) for f in findings)


def _host_of(subject: Subject) -> str | None:
    if subject.kind == "domain":
        return subject.value
    if subject.kind == "url":
        host = url_host(subject.value)
        return host if host and not is_ip(host.strip("[]")) else None
    return None



def _day(text: str | None) -> str | None:
    return text[:10] if text else None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

