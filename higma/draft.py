"""Drafting a rule from a pivot trail (`dtf.trail` on an annotated Maltego result).

The trail lists the (pivot, value) steps that led from a seed to the result. The last step is
how the result was found, so it always holds for the result and always becomes a group. An
earlier step described an intermediate entity; it joins the condition only when a check says it
also holds for the result (the Maltego transform and `higma draft --from-entity` ask the store
and plugins). Steps left out are still told in the description, so the path is not lost. The
draft is parsed back with our own validator before it is handed out.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from typing import Callable

import yaml

from dtf_catalog import Catalog, UnknownPivot, default_catalog
from plugins.base import Subject

from .model import Rule, RuleError, Target
from .parser import parse_rule_text
from .values import BadValue, escape_literal, guess_implementation, parse_value

DRAFT_NAMESPACE = uuid.UUID("0c6f3f7e-7d4f-4c1e-9a57-5f0d2c1e8a10")
MAX_STEPS = 25


class DraftError(ValueError):
    """The trail cannot give a rule; the message says why."""


@dataclass(frozen=True)
class TrailStep:
    pivot: str
    value: str
    source: str


def read_steps(trail) -> list[TrailStep]:
    """Trail steps from the dtf.trail JSON text or an already parsed list."""
    if isinstance(trail, str):
        try:
            trail = json.loads(trail)
        except ValueError as exc:
            raise DraftError(f"the trail is not JSON ({exc})") from None
    if not isinstance(trail, list) or not trail:
        raise DraftError('the trail must be a non-empty JSON list of {"pivot", "value", "from"} steps')
    steps = []
    for index, item in enumerate(trail[-MAX_STEPS:]):
        if isinstance(item, dict):
            pivot, value, source = item.get("pivot"), item.get("value"), item.get("from", "")
        else:
            pivot, value, source = getattr(item, "pivot", None), getattr(item, "value", None), \
                getattr(item, "source_entity", "")
        if not isinstance(pivot, str) or value in (None, "") or isinstance(value, (dict, list, bool)):
            raise DraftError(f"trail step {index + 1} needs a pivot ID and a value")
        steps.append(TrailStep(pivot.strip(), str(value), str(source or "")))
    return steps


def draft_rule(trail, subject: Subject | None = None, holds: Callable[[Subject, Target], bool] | None = None,
               catalog: Catalog | None = None, author: str = "DTF transform pack (draft)",
               today: dt.date | None = None) -> tuple[str, Rule]:
    """(YAML text, validated Rule) of a rule that finds the trail's result again."""
    catalog = catalog or default_catalog()
    steps = _distinct(read_steps(trail))
    kept, left_out = [], []
    for position, step in enumerate(steps):
        try:
            pivot = catalog.pivot(step.pivot)
        except UnknownPivot:
            raise DraftError(f"trail step {step.pivot!r} is not a DTF pivot ID") from None
        if pivot.value is None:
            left_out.append((step, "a parent pivot without a value of its own"))
            continue
        try:
            matcher = parse_value(escape_literal(step.value) if pivot.value.kind != "pattern" else step.value,
                                  pivot.value.kind)
        except BadValue as exc:
            left_out.append((step, f"value not usable: {exc}"))
            continue
        last = position == len(steps) - 1
        if last or (subject is not None and holds is not None and holds(subject, Target(pivot.id, matcher))):
            kept.append((step, pivot, matcher))
        else:
            left_out.append((step, "found on an earlier entity, not checked against the result"
                                   if subject is None or holds is None else "does not hold for the result"))
    if not kept:
        raise DraftError("no step of the trail can be written as a pivot item")
    document = _document(steps, kept, left_out, subject, author, today or dt.date.today(), catalog)
    text = _dump(document)
    try:
        rule = parse_rule_text(text, "<draft>", catalog)
    except RuleError as exc:  # our own output must pass our own validator; say so loudly if not
        raise DraftError(f"the drafted rule does not validate: {exc}") from None
    return text, rule


def _distinct(steps: list[TrailStep]) -> list[TrailStep]:
    seen, kept = set(), []
    for step in reversed(steps):  # keep the latest occurrence, so the last step stays last
        key = (step.pivot, step.value)
        if key not in seen:
            seen.add(key)
            kept.append(step)
    return list(reversed(kept))


def _group_name(label: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "pivot"
    if not re.match(r"[a-z_]", base):
        base = "p_" + base
    if base not in taken:
        return base
    number = 1
    while f"{base}-{number:02d}" in taken:
        number += 1
    return f"{base}-{number:02d}"


def _document(steps, kept, left_out, subject, author, today, catalog) -> dict:
    groups, names = {}, set()
    for step, pivot, matcher in kept:
        name = _group_name(pivot.label, names)
        names.add(name)
        item = {"id": pivot.id, "value": _yaml_value(step.value, pivot.value.kind)}
        if pivot.value.kind == "hash":
            algorithm = guess_implementation(matcher)
            if algorithm:
                item["implementation"] = algorithm
        groups[name] = [item]
    seed = steps[0].source or steps[0].value
    target = subject.value if subject else None
    labels = ", ".join(dict.fromkeys(pivot.label for _, pivot, _ in kept))
    path = " -> ".join(f"{s.pivot} {s.value}" for s in steps)
    description = (f"Drafted from a DTF pivot trail starting at {seed}: {path}."
                   + (f" Found {target}." if target else ""))
    if left_out:
        description += " Not in the condition: " + "; ".join(f"{s.pivot} {s.value} ({why})" for s, why in left_out) + "."
    tactics = [catalog.tactic(pivot.tactic).name.lower() for _, pivot, _ in kept]
    identity = json.dumps([[s.pivot, s.value] for s, _, _ in kept] + [target or ""], ensure_ascii=False)
    return {
        "title": f"Pivot from {seed}" + (f" to {target}" if target else "") + f" via {labels}",
        "id": str(uuid.uuid5(DRAFT_NAMESPACE, identity)),
        "author": author,
        "date": today.isoformat(),
        "threat_actor": "UNK",
        "description": description,
        "dtf_version": "1.0",
        "references": [],
        "tags": ["draft"] + list(dict.fromkeys(tactics)),
        "confidence": "low",
        "falsepositives": ["Drafted automatically from one trail: check each pivot's false-positive notes in DTF "
                           "before sharing."],
        "status": "experimental",
        "pivots": groups,
        "condition": " and ".join(groups),
    }


def _yaml_value(value: str, kind: str):
    if kind in ("int",) and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "pattern":
        return value
    return escape_literal(value)


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order written, lists indented under their key like the spec's examples."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _dump(document: dict) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=100)


def steps_of(properties: dict) -> list[TrailStep] | None:
    """The trail carried by an entity's properties, or None when it carries none."""
    raw = properties.get("dtf.trail")
    if not raw:
        return None
    return read_steps(raw)

