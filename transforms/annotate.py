"""Every result says how it was found: link label and properties, entity trail, display information.

See DESIGN.md section 4: the pivot belongs to the link; the entity keeps only loose
properties that survive Maltego's merging (`dtf.pivot`, `dtf.trail`).
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Iterable

from dtf_catalog import Catalog
from entities.types import entity_for_value, type_for_subject, value_property
from plugins.base import Finding, Subject

from .model import OutputEntity, Property, TransformResponse

TRAIL_PROPERTY = "dtf.trail"
PIVOT_PROPERTY = "dtf.pivot"
MAX_TRAIL = 25


@dataclass(frozen=True)
class Step:
    pivot: str
    value: str
    source_entity: str

    def as_json(self) -> dict:
        return {"pivot": self.pivot, "value": self.value, "from": self.source_entity}


def read_trail(properties: dict[str, str]) -> list[Step]:
    """The input's trail; anything unreadable counts as no trail rather than failing the request."""
    raw = properties.get(TRAIL_PROPERTY)
    if not raw:
        return []
    try:
        items = json.loads(raw)
        return [Step(str(i["pivot"]), str(i["value"]), str(i.get("from", ""))) for i in items][-MAX_TRAIL:]
    except (ValueError, TypeError, KeyError):
        return []


def write_trail(trail: list[Step]) -> str:
    return json.dumps([s.as_json() for s in trail[-MAX_TRAIL:]], ensure_ascii=False, separators=(",", ":"))


class Annotator:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    # ---- pieces ------------------------------------------------------------------------------

    def _label(self, pivot_id: str, value: str | None = None) -> str:
        pivot = self.catalog.pivot(pivot_id)
        return f"{pivot.id} {pivot.label}" + (f" = {value}" if value is not None else "")

    def _link(self, pivot_id: str, value: str, sources: Iterable[str], first: str | None, last: str | None,
              label: str) -> dict[str, str]:
        pivot = self.catalog.pivot(pivot_id)
        link = {
            "maltego.link.label": label,
            "maltego.link.color": self.catalog.tactic(pivot.tactic).colour,
            "maltego.link.show-label": "1",
            "dtf.pivot": pivot.id,
            "dtf.pivot.name": pivot.name,
            "dtf.tactic": pivot.tactic,
            "dtf.value": value,
            "dtf.sources": ",".join(sorted(set(sources))),
        }
        if first:
            link["dtf.first_seen"] = first
        if last:
            link["dtf.last_seen"] = last
        return link

    def _display(self, steps: list[tuple[str, str, set[str]]], first: str | None, last: str | None) -> str:
        rows = []
        for pivot_id, value, sources in steps:
            pivot = self.catalog.pivot(pivot_id)
            rows.append(f"<p><b>{html.escape(pivot.id, quote=False)} {html.escape(pivot.name, quote=False)}</b> = {html.escape(value, quote=False)}"
                        f"<br/>{html.escape(pivot.description, quote=False)}<br/>sources: {html.escape(', '.join(sorted(sources)), quote=False)}</p>")
        if first or last:
            rows.append(f"<p>seen {html.escape(first or '?', quote=False)} .. {html.escape(last or '?', quote=False)}</p>")
        return "".join(rows)

    def _entity(self, entity_type: str, value: str, trail: list[Step], pivot_id: str) -> OutputEntity:
        entity = OutputEntity(entity_type, value)
        entity.properties.append(Property(value_property(entity_type), value_property(entity_type), value))
        entity.properties.append(Property(PIVOT_PROPERTY, "DTF pivot", pivot_id))
        entity.properties.append(Property(TRAIL_PROPERTY, "DTF trail", write_trail(trail)))
        if entity_type == "maltego.Location" and len(value) == 2:
            entity.properties.append(Property("countrycode", "Country Code", value))
        return entity

    # ---- results of pivot and expand -----------------------------------------------------------

    def results(self, merged: Iterable, trail: list[Step], limit: int, response: TransformResponse,
                seed: Subject | None) -> None:
        items = sorted(merged, key=lambda m: (-len(m.steps), _desc(m.last_seen), m.subject.value))
        for item in items[:limit]:
            steps = sorted(item.steps.items(), key=lambda kv: kv[0])
            (pivot_id, value), sources = steps[0]
            all_sources = set().union(*item.steps.values())
            label = self._label(pivot_id, value) + (f" (+{len(steps) - 1} more)" if len(steps) > 1 else "")
            source_entity = seed.value if seed else value
            entity = self._entity(type_for_subject(item.subject.kind, item.subject.value), item.subject.value,
                                  trail + [Step(pivot_id, value, source_entity)], pivot_id)
            entity.link = self._link(pivot_id, value, all_sources, item.first_seen, item.last_seen, label)
            if len(steps) > 1:
                entity.link["dtf.matches"] = "; ".join(f"{p}={v}" for (p, v), _ in steps)
            entity.display.append(("DTF", self._display([(p, v, s) for (p, v), s in steps],
                                                        item.first_seen, item.last_seen)))
            response.entities.append(entity)
        self._limit_message(response, len(items), limit)

    # ---- a value known from a record (e.g. a DTF example), not from a plugin ------------------------

    def recorded_value(self, pivot_id: str, value: str, entity_type: str, trail: list[Step], source_entity: str,
                       sources: Iterable[str]) -> OutputEntity:
        """Linked and labelled like an extracted value, with the value in the label since no lookup backs it."""
        sources = set(sources)
        entity = self._entity(entity_type, value, trail + [Step(pivot_id, value, source_entity)], pivot_id)
        entity.link = self._link(pivot_id, value, sources, None, None, self._label(pivot_id, value))
        entity.display.append(("DTF", self._display([(pivot_id, value, sources)], None, None)))
        return entity

    # ---- values of extract ------------------------------------------------------------------------

    def values(self, findings: list[Finding], trail: list[Step], subject: Subject, limit: int,
               response: TransformResponse) -> None:
        for finding in findings[:limit]:
            pivot = self.catalog.pivot(finding.pivot)
            entity_type = (type_for_subject(finding.shown_as, finding.value) if finding.shown_as
                           else entity_for_value(pivot.value.entity, pivot.value.kind, finding.value))
            entity = self._entity(entity_type, finding.value, trail + [Step(pivot.id, finding.value, subject.value)],
                                  pivot.id)
            sources = finding.source.split(",")
            entity.link = self._link(pivot.id, finding.value, sources, finding.first_seen, finding.last_seen,
                                     self._label(pivot.id))
            entity.display.append(("DTF", self._display([(pivot.id, finding.value, set(sources))],
                                                        finding.first_seen, finding.last_seen)))
            response.entities.append(entity)
        if not findings:
            response.inform(f"No value found for {subject.value} in the enabled sources.")
        self._limit_message(response, len(findings), limit)

    # ---- messages ---------------------------------------------------------------------------------

    @staticmethod
    def _limit_message(response: TransformResponse, found: int, limit: int) -> None:
        if found > limit:
            more = " or more" if response.more_available else ""
            response.inform(f"showing {limit} of {found}{more} results; raise the result limit to see more")

    @staticmethod
    def note_truncated(response: TransformResponse, source: str, total: int | None, shown: int | None = None,
                       announce: bool = True) -> None:
        """Record that a source held more than it gave; say "showing N of M (source: x)" when both are
        known. The local store's cut-off is only folded into the overall "showing N of M or more"."""
        if source not in response.truncated_sources:
            response.truncated_sources.append(source)
        if total and shown is not None:
            text = f"showing {shown} of {total} (source: {source})"
        elif announce:
            detail = f" ({total} in all)" if total else ""
            text = f"{source}: more available{detail} than were fetched"
        else:
            return
        if ("Inform", text) not in response.messages:
            response.inform(text)


_DESC_ASCII = {code: chr(0x10FFFF - code) for code in range(128)}


def _desc(text: str | None) -> str:
    """Sort key putting the latest ISO timestamps first."""
    text = text or ""
    if text.isascii():  # ISO timestamps: one C-level pass instead of a generator
        return text.translate(_DESC_ASCII)
    return "".join(chr(0x10FFFF - ord(c)) for c in text)
