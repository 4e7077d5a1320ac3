"""Typed, validated view of catalog.yaml: the single source of truth for DTF's tactics, pivots and examples.

Everything that lists pivots (transforms, the pack, the web page, hIGMA) asks this module.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")

TACTIC_ID = re.compile(r"^PTA\d{4}$")
PIVOT_ID = re.compile(r"^P\d{4}(\.\d{3})?$")
EXAMPLE_ID = re.compile(r"^EX\d{4}$")

SUBJECT_KINDS = ("domain", "ip", "url", "hash", "cert", "email")
VALUE_KINDS = ("dns", "ip", "asn", "int", "date", "email", "text", "hash", "url", "country", "tld", "pattern", "label")
MATCH_RULES = ("exact", "tld", "pattern", "subdomain", "length", "date_window", "ip_proximity")


class CatalogError(ValueError):
    """The catalog file is inconsistent; the message names the entry and the problem."""


class UnknownPivot(KeyError):
    """A pivot, tactic or example ID that DTF does not have."""

    def __init__(self, ident: str, what: str = "pivot"):
        super().__init__(ident)
        self.ident = ident
        self.what = what

    def __str__(self) -> str:
        return f"unknown DTF {self.what} ID {self.ident!r}"


@dataclass(frozen=True)
class Tactic:
    id: str
    name: str
    colour: str
    description: str


@dataclass(frozen=True)
class ValueSpec:
    kind: str
    entity: str


@dataclass(frozen=True)
class Pivot:
    id: str
    name: str
    label: str
    tactic: str
    parent: str | None
    has_page: bool
    description: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    match: str
    value: ValueSpec | None = None
    params: dict = field(default_factory=dict, hash=False, compare=False)
    observed_as: tuple[str, ...] = ()
    self_value: tuple[str, ...] = ()
    resolution: bool = False

    @property
    def compact_id(self) -> str:
        """The ID without its dot, for transform names that must be alphanumeric."""
        return self.id.replace(".", "")


@dataclass(frozen=True)
class ExamplePivot:
    pivot: str
    value: object


@dataclass(frozen=True)
class ExampleGroup:
    name: str
    pivots: tuple[ExamplePivot, ...]


@dataclass(frozen=True)
class Example:
    id: str
    title: str
    year: int | None
    source: str
    summary: str
    groups: tuple[ExampleGroup, ...]

    @property
    def pivot_ids(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for group in self.groups:
            for item in group.pivots:
                seen.setdefault(item.pivot)
        return tuple(seen)


class Catalog:
    """Tactics, pivots and examples with lookups that fail loudly on unknown IDs."""

    def __init__(self, revision: str, repository: str, tactics, pivots, examples):
        self.revision = revision
        self.repository = repository
        self.tactics: dict[str, Tactic] = {t.id: t for t in tactics}
        self.pivots: dict[str, Pivot] = {p.id: p for p in pivots}
        self.examples: dict[str, Example] = {e.id: e for e in examples}

    def pivot(self, ident: str) -> Pivot:
        try:
            return self.pivots[ident]
        except KeyError:
            raise UnknownPivot(ident) from None

    def tactic(self, ident: str) -> Tactic:
        try:
            return self.tactics[ident]
        except KeyError:
            raise UnknownPivot(ident, "tactic") from None

    def example(self, ident: str) -> Example:
        try:
            return self.examples[ident]
        except KeyError:
            raise UnknownPivot(ident, "example") from None

    def children(self, ident: str) -> list[Pivot]:
        self.pivot(ident)
        return [p for p in self.pivots.values() if p.parent == ident]

    def leaves(self, ident: str) -> list[Pivot]:
        """The pivot itself when it has a value, plus every descendant that has one."""
        pivot = self.pivot(ident)
        found = [pivot] if pivot.value else []
        for child in self.children(ident):
            found.extend(self.leaves(child.id))
        return found

    def pivots_of_tactic(self, tactic_id: str) -> list[Pivot]:
        self.tactic(tactic_id)
        return [p for p in self.pivots.values() if p.tactic == tactic_id]

    def examples_using(self, pivot_id: str) -> list[Example]:
        self.pivot(pivot_id)
        return [e for e in self.examples.values() if pivot_id in e.pivot_ids]

    def resolution_pivot(self) -> Pivot:
        return next(p for p in self.pivots.values() if p.resolution)


def _require(entry: dict, key: str, where: str):
    if key not in entry or entry[key] in (None, ""):
        raise CatalogError(f"{where}: missing field {key!r}")
    return entry[key]


def _tactic(entry: dict) -> Tactic:
    ident = _require(entry, "id", "tactic")
    if not TACTIC_ID.match(ident):
        raise CatalogError(f"tactic {ident!r}: ID must look like PTA0001")
    colour = _require(entry, "colour", ident)
    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", colour):
        raise CatalogError(f"tactic {ident}: colour {colour!r} is not #RRGGBB")
    return Tactic(ident, _require(entry, "name", ident), colour, _require(entry, "description", ident).strip())


def _pivot(entry: dict) -> Pivot:
    ident = _require(entry, "id", "pivot")
    if not PIVOT_ID.match(str(ident)):
        raise CatalogError(f"pivot {ident!r}: ID must look like P0101 or P0101.001")
    kinds = lambda key: tuple(entry.get(key) or ())  # noqa: E731
    for key in ("inputs", "outputs"):
        bad = [k for k in kinds(key) if k not in SUBJECT_KINDS]
        if bad or not kinds(key):
            raise CatalogError(f"pivot {ident}: {key} must be a non-empty list of {SUBJECT_KINDS}, got {bad or 'nothing'}")
    match = entry.get("match", "exact")
    if match not in MATCH_RULES:
        raise CatalogError(f"pivot {ident}: match {match!r} is not one of {MATCH_RULES}")
    value = None
    if entry.get("value"):
        kind = _require(entry["value"], "kind", f"pivot {ident} value")
        if kind not in VALUE_KINDS:
            raise CatalogError(f"pivot {ident}: value kind {kind!r} is not one of {VALUE_KINDS}")
        value = ValueSpec(kind, _require(entry["value"], "entity", f"pivot {ident} value"))
    return Pivot(
        id=ident,
        name=_require(entry, "name", ident).strip(),
        label=_require(entry, "label", ident).strip(),
        tactic=_require(entry, "tactic", ident),
        parent=entry.get("parent"),
        has_page=bool(entry.get("has_page", True)),
        description=" ".join(_require(entry, "description", ident).split()),
        inputs=kinds("inputs"),
        outputs=kinds("outputs"),
        match=match,
        value=value,
        params=dict(entry.get("params") or {}),
        observed_as=tuple(entry.get("observed_as") or (ident,)),
        self_value=kinds("self_value"),
        resolution=bool(entry.get("resolution", False)),
    )


def _example(entry: dict) -> Example:
    ident = _require(entry, "id", "example")
    if not EXAMPLE_ID.match(ident):
        raise CatalogError(f"example {ident!r}: ID must look like EX0001")
    groups = []
    for group in _require(entry, "groups", ident):
        items = tuple(ExamplePivot(str(_require(p, "pivot", f"{ident} group")), p.get("value"))
                      for p in group.get("pivots") or ())
        if not items:
            raise CatalogError(f"example {ident}: group {group.get('name')!r} lists no pivots")
        groups.append(ExampleGroup(str(group.get("name") or ident), items))
    return Example(ident, _require(entry, "title", ident).strip(), entry.get("year"), _require(entry, "source", ident),
                   " ".join(str(entry.get("summary") or "").split()), tuple(groups))


def _unique(items, what: str):
    seen = set()
    for item in items:
        if item.id in seen:
            raise CatalogError(f"duplicate {what} ID {item.id}")
        seen.add(item.id)


def validate(catalog: Catalog) -> Catalog:
    """Cross-checks that single entries cannot: parents, tactics, example pivots, observed_as."""
    for pivot in catalog.pivots.values():
        if pivot.tactic not in catalog.tactics:
            raise CatalogError(f"pivot {pivot.id}: tactic {pivot.tactic} does not exist")
        if pivot.parent is not None:
            if pivot.parent not in catalog.pivots:
                raise CatalogError(f"pivot {pivot.id}: parent {pivot.parent} does not exist")
            if not pivot.id.startswith(pivot.parent + "."):
                raise CatalogError(f"pivot {pivot.id}: parent {pivot.parent} is not its ID prefix")
        for other in pivot.observed_as:
            if other not in catalog.pivots:
                raise CatalogError(f"pivot {pivot.id}: observed_as names unknown pivot {other}")
        if pivot.value is None and not catalog.children(pivot.id):
            raise CatalogError(f"pivot {pivot.id}: has neither a value nor children")
    if sum(p.resolution for p in catalog.pivots.values()) != 1:
        raise CatalogError("exactly one pivot must be marked resolution: true")
    for example in catalog.examples.values():
        for ident in example.pivot_ids:
            if ident not in catalog.pivots:
                raise CatalogError(f"example {example.id}: unknown pivot ID {ident}")
    return catalog


def load(path: Path | str = CATALOG_PATH) -> Catalog:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping with dtf, tactics, pivots, examples")
    tactics = [_tactic(t) for t in data.get("tactics") or ()]
    pivots = [_pivot(p) for p in data.get("pivots") or ()]
    examples = [_example(e) for e in data.get("examples") or ()]
    for items, what in ((tactics, "tactic"), (pivots, "pivot"), (examples, "example")):
        _unique(items, what)
    meta = data.get("dtf") or {}
    return validate(Catalog(str(_require(meta, "revision", "dtf")), str(meta.get("repository", "")),
                            tactics, pivots, examples))


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return load()
