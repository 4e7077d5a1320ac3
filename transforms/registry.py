"""The list of transforms, generated from the catalog: one pivot transform per pivot and input type,
plus extract and expand where the pivot has a value. Nothing else in the project lists pivots.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from dtf_catalog import Catalog, Pivot
from entities.types import SUBJECT_TYPES, short_name, types_for_value
from plugins.base import Setting

from .model import TransformRequest, TransformResponse
from .outputs import pivot_output_kinds

PIVOT, EXTRACT, EXPAND = "pivot", "extract", "expand"
NAME_OK = re.compile(r"^[a-z0-9]+$")


@dataclass
class TransformSpec:
    name: str
    kind: str
    input: str
    outputs: list[str]
    set: str
    display: str
    description: str
    pivot: str | None = None
    settings: list[Setting] = field(default_factory=list)
    run: Callable[[TransformRequest], TransformResponse] | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        return f"/run/{self.name}/"

    def as_json(self) -> dict:
        return {"name": self.name, "path": self.path, "kind": self.kind, "pivot": self.pivot,
                "input": self.input, "outputs": list(self.outputs), "set": self.set,
                "display": self.display, "description": self.description,
                "settings": [s.id for s in self.settings]}


class Registry:
    """Transforms by name; later issues add catalog and hIGMA transforms through `add`."""

    def __init__(self):
        self._specs: dict[str, TransformSpec] = {}

    def add(self, spec: TransformSpec) -> TransformSpec:
        if not NAME_OK.match(spec.name):
            raise ValueError(f"transform name {spec.name!r} must be lower-case alphanumeric")
        if spec.name in self._specs:
            raise ValueError(f"transform {spec.name} registered twice")
        self._specs[spec.name] = spec
        return spec

    def get(self, name: str) -> TransformSpec | None:
        return self._specs.get(name.lower())

    def __iter__(self):
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)


def tactic_set_name(catalog: Catalog, tactic_id: str) -> str:
    return f"DTF {tactic_id} {catalog.tactic(tactic_id).name}"


def pivot_settings(catalog: Catalog, pivot: Pivot) -> list[Setting]:
    """Settings of the match rules a pivot (or its children) uses."""
    rules = {leaf.match for leaf in catalog.leaves(pivot.id)}
    settings = []
    if "date_window" in rules:
        settings.append(Setting("window_days", "Date window (± days)", "int", "0"))
    if "ip_proximity" in rules:
        settings.append(Setting("distance", "Neighbour distance (± addresses)", "int", "8"))
        settings.append(Setting("same_prefix", "Stay inside the same /N (IPv4; 'any' to cross)", "string", "24"))
    return settings


def subject_types(kinds) -> list[str]:
    return [t for kind in kinds for t in SUBJECT_TYPES[kind]]


def _name(pivot: Pivot, kind: str, entity_type: str | None) -> str:
    suffix = short_name(entity_type).lower() if entity_type else ""
    return f"dtf{pivot.compact_id.lower()}{kind}{suffix}"


def build_pivot_specs(catalog: Catalog) -> list[TransformSpec]:
    """Pivot, extract and expand specs for every catalog pivot; run callables are attached later."""
    specs: list[TransformSpec] = []
    for pivot in catalog.pivots.values():
        set_name = tactic_set_name(catalog, pivot.tactic)
        leaves = catalog.leaves(pivot.id)
        settings = pivot_settings(catalog, pivot)
        for kind in pivot.inputs:
            for input_type in SUBJECT_TYPES[kind]:
                outputs = subject_types(sorted(set().union(*(pivot_output_kinds(leaf, kind) for leaf in leaves
                                                            if kind in leaf.inputs))))
                specs.append(TransformSpec(
                    name=_name(pivot, PIVOT, input_type), kind=PIVOT, pivot=pivot.id, input=input_type,
                    outputs=outputs, set=set_name, settings=settings,
                    display=f"[DTF] {pivot.id} {pivot.label}: pivot",
                    description=f"DTF {pivot.id} {pivot.name}. {pivot.description}"))
                if kind in pivot.self_value:
                    continue
                value_types = list(dict.fromkeys(
                    t for leaf in leaves if kind in leaf.inputs and kind not in leaf.self_value
                    for t in types_for_value(leaf.value.entity, leaf.value.kind)))
                if value_types:
                    specs.append(TransformSpec(
                        name=_name(pivot, EXTRACT, input_type), kind=EXTRACT, pivot=pivot.id, input=input_type,
                        outputs=value_types, set=set_name,
                        display=f"[DTF] {pivot.id} {pivot.label}: show value",
                        description=f"Extract the DTF {pivot.id} {pivot.name} value(s) of this entity."))
        if pivot.value and not pivot.self_value:
            for value_type in types_for_value(pivot.value.entity, pivot.value.kind):
                specs.append(TransformSpec(
                    name=_name(pivot, EXPAND, value_type if pivot.value.kind == "ip" else None), kind=EXPAND,
                    pivot=pivot.id, input=value_type, outputs=subject_types(pivot.outputs), set=set_name,
                    settings=settings, display=f"[DTF] {pivot.id} {pivot.label}: find infrastructure",
                    description=f"Find infrastructure with this DTF {pivot.id} {pivot.name} value."))
    return specs
