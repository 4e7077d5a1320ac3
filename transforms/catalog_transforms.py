"""Catalog transforms: DTF itself on the graph.

Tactic -> its pivots, pivot -> tactic / parent and children / examples, example -> its pivots and the
values it used, any Domain/IP/URL -> the pivots that apply to it, and a Phrase holding DTF IDs -> those
entries. Everything is read from the catalog, so a new catalog entry shows up here without code changes.
Registered through `TRANSFORM_PROVIDERS` in transforms/service.py.
"""
from __future__ import annotations

import html
import re
from functools import partial
from typing import Callable

from dtf_catalog import Catalog, Example, Pivot, Tactic, UnknownPivot
from dtf_catalog.loader import EXAMPLE_ID, PIVOT_ID, TACTIC_ID
from entities.types import INPUT_KIND_OF_TYPE, SUBJECT_TYPES, entity_for_value, value_property
from store.normalize import InvalidValue, normalize

from .annotate import Annotator, read_trail
from .model import BadRequest, OutputEntity, Property, TransformRequest, TransformResponse
from .registry import TransformSpec

CATALOG_KIND = "catalog"
CATALOG_SET = "DTF Catalog"
CATALOG_SOURCE = "dtf-catalog"

TACTIC_TYPE = "dtf.PivotTactic"
PIVOT_TYPE = "dtf.Pivot"
EXAMPLE_TYPE = "dtf.Example"
PHRASE_TYPE = "maltego.Phrase"

# Infrastructure types that "what can I pivot on?" accepts.
APPLICABLE_INPUTS = ("maltego.Domain", "maltego.IPv4Address", "maltego.IPv6Address", "maltego.URL")
ANY_ID = re.compile(r"(?<![A-Z0-9.])(PTA\d{4}|P\d{4}(?:\.\d{3})?|EX\d{4})(?![A-Z0-9]|\.\d)")
_ID_SHAPES = {TACTIC_TYPE: (TACTIC_ID, "tactic", "PTA0001"), PIVOT_TYPE: (PIVOT_ID, "pivot", "P0101.010"),
              EXAMPLE_TYPE: (EXAMPLE_ID, "example", "EX0001")}
MAX_LINK_LABEL = 70
KIND_WORDS = {"domain": "domain name", "ip": "IP address", "url": "URL"}


def catalog_transforms(service):
    """Provider for TRANSFORM_PROVIDERS: every catalog transform with its runner attached."""
    return CatalogTransforms(service).specs()


class CatalogTransforms:
    """Runs the catalog transforms over the service's catalog; the registry is read at run time."""

    def __init__(self, service):
        self.service = service
        self.catalog: Catalog = service.catalog
        self.entities = CatalogEntities(self.catalog)
        self.annotator = Annotator(self.catalog)

    # ---- the list of transforms -------------------------------------------------------------------

    def specs(self) -> list[TransformSpec]:
        specs = [
            self._spec("dtfcatalogtactictopivots", TACTIC_TYPE, [PIVOT_TYPE], "Catalog: pivots of this tactic",
                       "The pivots of this DTF tactic, parents and children.", self.tactic_to_pivots),
            self._spec("dtfcatalogpivottotactic", PIVOT_TYPE, [TACTIC_TYPE], "Catalog: tactic of this pivot",
                       "The DTF tactic this pivot belongs to.", self.pivot_to_tactic),
            self._spec("dtfcatalogpivottorelated", PIVOT_TYPE, [PIVOT_TYPE], "Catalog: parent and child pivots",
                       "The parent pivot and the child pivots of this DTF pivot.", self.pivot_to_related),
            self._spec("dtfcatalogpivottoexamples", PIVOT_TYPE, [EXAMPLE_TYPE], "Catalog: examples using this pivot",
                       "The DTF examples (published investigations) that used this pivot.", self.pivot_to_examples),
            self._spec("dtfcatalogexampletopivots", EXAMPLE_TYPE, [PIVOT_TYPE], "Catalog: pivots of this example",
                       "The pivots this DTF example used, grouped as in the example.", self.example_to_pivots),
            self._spec("dtfcatalogexampletovalues", EXAMPLE_TYPE, self._example_value_types(),
                       "Catalog: values this example used",
                       "The indicator values this DTF example pivoted on, as entities marked with their pivot.",
                       self.example_to_values),
            self._spec("dtfcatalogphrasetoentity", PHRASE_TYPE, [PIVOT_TYPE, TACTIC_TYPE, EXAMPLE_TYPE],
                       "Catalog: DTF IDs in this phrase",
                       "The DTF pivots, tactics and examples whose IDs this phrase holds (e.g. P0101.010, "
                       "PTA0001, EX0017).", self.phrase_to_entities),
        ]
        for input_type in APPLICABLE_INPUTS:
            short = input_type.rsplit(".", 1)[-1]
            specs.append(self._spec(
                f"dtfcatalogpivotsfor{short.lower()}", input_type, [PIVOT_TYPE], "Catalog: what can I pivot on?",
                f"The DTF pivots that take a {short} as input, with the transforms that run them.",
                partial(self.applicable_pivots, INPUT_KIND_OF_TYPE[input_type])))
        return specs

    @staticmethod
    def _spec(name: str, input_type: str, outputs: list[str], display: str, description: str,
              run: Callable[[TransformRequest], TransformResponse]) -> TransformSpec:
        spec = TransformSpec(name=name, kind=CATALOG_KIND, input=input_type, outputs=list(outputs), set=CATALOG_SET,
                             display=f"[DTF] {display}", description=description)
        spec.run = run
        return spec

    def _example_value_types(self) -> list[str]:
        """Every type example values can arrive as (both IP versions for IP values)."""
        types: dict[str, None] = {}
        for example in self.catalog.examples.values():
            for group in example.groups:
                for item in group.pivots:
                    types.update(dict.fromkeys(_value_types(self.catalog.pivot(item.pivot))))
        return list(types)

    # ---- runners ------------------------------------------------------------------------------------

    def tactic_to_pivots(self, request: TransformRequest) -> TransformResponse:
        tactic = self.catalog.tactic(_input_id(request, TACTIC_TYPE))
        found = [self.entities.pivot(p, label=p.name) for p in _tree_order(self.catalog.pivots_of_tactic(tactic.id))]
        return _respond(found, request.limit, f"{tactic.id} has no pivots in the catalog")

    def pivot_to_tactic(self, request: TransformRequest) -> TransformResponse:
        pivot = self.catalog.pivot(_input_id(request, PIVOT_TYPE))
        tactic = self.catalog.tactic(pivot.tactic)
        return _respond([self.entities.tactic(tactic, label=f"tactic of {pivot.id}")], request.limit, "")

    def pivot_to_related(self, request: TransformRequest) -> TransformResponse:
        pivot = self.catalog.pivot(_input_id(request, PIVOT_TYPE))
        found = []
        if pivot.parent:
            parent = self.catalog.pivot(pivot.parent)
            found.append(self.entities.pivot(parent, label=f"parent: {parent.name}"))
        found += [self.entities.pivot(child, label=f"child: {child.name}") for child in self.catalog.children(pivot.id)]
        return _respond(found, request.limit, f"{pivot.id} {pivot.name} has neither a parent nor children in DTF")

    def pivot_to_examples(self, request: TransformRequest) -> TransformResponse:
        pivot = self.catalog.pivot(_input_id(request, PIVOT_TYPE))
        found = [self.entities.example(e, label=e.title, pivot=pivot) for e in self.catalog.examples_using(pivot.id)]
        return _respond(found, request.limit, f"no DTF example uses {pivot.id} {pivot.name} yet")

    def example_to_pivots(self, request: TransformRequest) -> TransformResponse:
        example = self.catalog.example(_input_id(request, EXAMPLE_TYPE))
        groups: dict[str, list[str]] = {}
        for group in example.groups:
            for item in group.pivots:
                names = groups.setdefault(item.pivot, [])
                if group.name not in names:
                    names.append(group.name)
        found = []
        for pivot_id, names in groups.items():
            pivot = self.catalog.pivot(pivot_id)
            found.append(self.entities.pivot(pivot, label=f"{', '.join(names)}: {pivot.name}"))
        return _respond(found, request.limit, f"{example.id} lists no pivots")

    def example_to_values(self, request: TransformRequest) -> TransformResponse:
        example = self.catalog.example(_input_id(request, EXAMPLE_TYPE))
        trail = read_trail(request.entity.properties)
        found: dict[tuple[str, str], tuple[OutputEntity, list[str]]] = {}
        skipped = 0
        for group in example.groups:
            for item in group.pivots:
                if item.value is None:
                    skipped += 1
                    continue
                pivot = self.catalog.pivot(item.pivot)
                value, entity_type, normalised = example_value(pivot, item.value)
                if (pivot.id, value) not in found:
                    entity = self.annotator.recorded_value(pivot.id, value, entity_type, trail, example.id,
                                                           [CATALOG_SOURCE])
                    entity.link["dtf.example"] = example.id
                    if not normalised:
                        entity.display.append(("Note", "<p>Kept as the example gives it: not a plain value of "
                                                       "this pivot's kind (a pattern or a value of another kind)."
                                                       "</p>"))
                    found[(pivot.id, value)] = (entity, [])
                found[(pivot.id, value)][1].append(group.name)
        entities = []
        for entity, group_names in found.values():
            entity.display.append(("DTF example", _example_note(example, group_names)))
            entities.append(entity)
        response = _respond(entities, request.limit, f"{example.id} names no values for its pivots")
        if skipped:
            response.inform(f"{example.id}: {skipped} pivot(s) were used without a published value and are not shown")
        return response

    def applicable_pivots(self, kind: str, request: TransformRequest) -> TransformResponse:
        try:
            normalize(kind, request.entity.value)
        except InvalidValue as exc:
            raise BadRequest(f"not a usable {KIND_WORDS.get(kind, kind)}: {exc}") from None
        input_types = set(SUBJECT_TYPES[kind])
        found = []
        for pivot in _families_first([p for p in self.catalog.pivots.values() if kind in p.inputs]):
            runs = [spec for spec in self.service.registry if spec.pivot == pivot.id and spec.input in input_types]
            entity = self.entities.pivot(pivot, label=pivot.name)
            entity.display.append(("Transforms for this input", _transform_list(runs)))
            found.append(entity)
        return _respond(found, request.limit, f"no DTF pivot takes a {kind} as input")

    def phrase_to_entities(self, request: TransformRequest) -> TransformResponse:
        text = request.entity.value.upper()
        ids = list(dict.fromkeys(ANY_ID.findall(text)))
        if not ids:
            raise BadRequest(f"{request.entity.value.strip()!r} holds no DTF ID (a pivot like P0101.010, "
                             f"a tactic like PTA0001 or an example like EX0001)")
        found, unknown = [], []
        for ident in ids:
            try:
                found.append(self._entity_for_id(ident))
            except UnknownPivot as exc:
                unknown.append(exc)
        if not found:
            raise unknown[0]
        response = _respond(found, request.limit, "")
        for exc in unknown:
            response.partial(str(exc))
        return response

    def _entity_for_id(self, ident: str) -> OutputEntity:
        if TACTIC_ID.match(ident):
            tactic = self.catalog.tactic(ident)
            return self.entities.tactic(tactic, label=tactic.name)
        if EXAMPLE_ID.match(ident):
            example = self.catalog.example(ident)
            return self.entities.example(example, label=example.title)
        pivot = self.catalog.pivot(ident)
        return self.entities.pivot(pivot, label=pivot.name)


class CatalogEntities:
    """dtf.PivotTactic, dtf.Pivot and dtf.Example entities: ID as value, facts as properties, HTML display."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def tactic(self, tactic: Tactic, label: str) -> OutputEntity:
        entity = _entity(TACTIC_TYPE, tactic.id, [("dtf.tactic.name", "Name", tactic.name),
                                                  ("dtf.description", "Description", tactic.description)])
        entity.link = _link(label, tactic.colour, {"dtf.tactic": tactic.id})
        pivots = self.catalog.pivots_of_tactic(tactic.id)
        entity.display.append(("DTF tactic", (
            f"<p><b>{_h(tactic.id)} {_h(tactic.name)}</b></p><p>{_h(tactic.description)}</p>"
            f"<p>{len(pivots)} pivots: {_h(', '.join(p.id for p in pivots))}</p>"
            f"{self._dtf_link(f'pivot-tactics/{tactic.id}/main.md')}")))
        return entity

    def pivot(self, pivot: Pivot, label: str) -> OutputEntity:
        tactic = self.catalog.tactic(pivot.tactic)
        entity = _entity(PIVOT_TYPE, pivot.id, [("dtf.pivot.name", "Name", pivot.name),
                                                ("dtf.tactic", "Tactic", pivot.tactic),
                                                ("dtf.parent", "Parent", pivot.parent or ""),
                                                ("dtf.description", "Description", pivot.description)])
        entity.link = _link(label, tactic.colour, {"dtf.pivot": pivot.id, "dtf.pivot.name": pivot.name,
                                                   "dtf.tactic": pivot.tactic})
        children = self.catalog.children(pivot.id)
        facts = [f"tactic {_h(tactic.id)} {_h(tactic.name)}"]
        if pivot.parent:
            facts.append(f"parent {_h(pivot.parent)}")
        if children:
            facts.append(f"children {_h(', '.join(c.id for c in children))}")
        facts.append(f"from {_h(', '.join(pivot.inputs))} to {_h(', '.join(pivot.outputs))}")
        if pivot.value:
            facts.append(f"value shown as {_h(pivot.value.entity)}")
        page = self._dtf_link(f"pivots/{pivot.id}.md") if pivot.has_page else "<p>DTF lists this ID without a page yet.</p>"
        entity.display.append(("DTF pivot", (
            f"<p><b>{_h(pivot.id)} {_h(pivot.name)}</b></p><p>{_h(pivot.description)}</p>"
            f"<p>{'; '.join(facts)}</p>{page}")))
        return entity

    def example(self, example: Example, label: str, pivot: Pivot | None = None) -> OutputEntity:
        entity = _entity(EXAMPLE_TYPE, example.id, [("dtf.example.title", "Title", example.title),
                                                    ("dtf.example.year", "Year", str(example.year or "")),
                                                    ("dtf.example.source", "Source", example.source),
                                                    ("dtf.description", "Summary", example.summary)])
        extra = {"dtf.example": example.id}
        colour = "#7F8C8D"
        if pivot is not None:
            extra.update({"dtf.pivot": pivot.id, "dtf.pivot.name": pivot.name, "dtf.tactic": pivot.tactic})
            colour = self.catalog.tactic(pivot.tactic).colour
        entity.link = _link(label, colour, extra)
        uses = "".join(f"<li>{_h(g.name)}: {_h(', '.join(_item_text(i) for i in g.pivots))}</li>"
                       for g in example.groups)
        entity.display.append(("DTF example", (
            f"<p><b>{_h(example.id)} {_h(example.title)}</b> ({_h(str(example.year or 'undated'))})</p>"
            f"<p>{_h(example.summary)}</p><ul>{uses}</ul>"
            f'<p>Source: <a href="{_h(example.source)}">{_h(example.source)}</a></p>')))
        return entity

    def _dtf_link(self, path: str) -> str:
        if not self.catalog.repository:
            return ""
        url = f"{self.catalog.repository}/blob/{self.catalog.revision}/{path}"
        return f'<p>In DTF: <a href="{_h(url)}">{_h(path)}</a></p>'


# ---- helpers ------------------------------------------------------------------------------------------

def example_value(pivot: Pivot, raw) -> tuple[str, str, bool]:
    """(value, entity type, normalised?) of a value an example used: normalised where its kind allows, else
    as given (examples hold glob patterns such as `mx*.improvmx.com` that are not plain values)."""
    text = str(raw).strip()
    if pivot.value is None:
        return text, PHRASE_TYPE, False
    try:
        text = normalize(pivot.value.kind, raw)[0]
    except InvalidValue:
        return text, entity_for_value(pivot.value.entity, pivot.value.kind, text), False
    return text, entity_for_value(pivot.value.entity, pivot.value.kind, text), True


def _value_types(pivot: Pivot) -> tuple[str, ...]:
    if pivot.value is None:
        return (PHRASE_TYPE,)
    if pivot.value.kind == "ip":
        return SUBJECT_TYPES["ip"]
    return (pivot.value.entity,)


def _input_id(request: TransformRequest, entity_type: str) -> str:
    """The catalog ID an input entity holds, upper-cased; a value of the wrong shape is a clear error."""
    pattern, what, sample = _ID_SHAPES[entity_type]
    ident = request.entity.value.strip().upper()
    if not pattern.match(ident):
        raise BadRequest(f"{request.entity.value.strip()!r} is not a DTF {what} ID (like {sample})")
    return ident


def _entity(entity_type: str, value: str, properties: list[tuple[str, str, str]]) -> OutputEntity:
    entity = OutputEntity(entity_type, value)
    entity.properties.append(Property(value_property(entity_type), "ID", value))
    entity.properties.extend(Property(name, display, text) for name, display, text in properties)
    return entity


def _link(label: str, colour: str, extra: dict[str, str]) -> dict[str, str]:
    if len(label) > MAX_LINK_LABEL:
        label = label[:MAX_LINK_LABEL - 1].rstrip() + "…"
    return {"maltego.link.label": label, "maltego.link.color": colour, "maltego.link.show-label": "1", **extra}


def _respond(entities: list[OutputEntity], limit: int, empty_note: str) -> TransformResponse:
    """Entities up to the request's limit, saying how many were left out, as the pivot results do."""
    response = TransformResponse(entities=entities[:limit])
    if len(entities) > limit:
        response.inform(f"showing {limit} of {len(entities)} results; raise the result limit to see more")
    if not entities and empty_note:
        response.inform(empty_note)
    return response


def _tree_order(pivots: list[Pivot]) -> list[Pivot]:
    """Each parent followed by its descendants, as DTF's matrix lists them."""
    ids = {p.id for p in pivots}

    def below(parent_id: str) -> list[Pivot]:
        found = []
        for pivot in pivots:
            if pivot.parent == parent_id:
                found += [pivot, *below(pivot.id)]
        return found

    ordered = []
    for pivot in pivots:
        if pivot.parent is None or pivot.parent not in ids:
            ordered += [pivot, *below(pivot.id)]
    return ordered


def _families_first(pivots: list[Pivot]) -> list[Pivot]:
    """Top-level pivots before children, so a small result limit still shows every family."""
    return [p for p in pivots if p.parent is None] + [p for p in pivots if p.parent is not None]


def _transform_list(specs: list[TransformSpec]) -> str:
    if not specs:
        return "<p>No transform takes this input type for this pivot.</p>"
    return "<ul>" + "".join(f"<li>{_h(s.display)} <code>{_h(s.name)}</code></li>" for s in specs) + "</ul>"


def _example_note(example: Example, groups: list[str]) -> str:
    return (f"<p>Used in {_h(example.id)} {_h(example.title)} ({_h(str(example.year or 'undated'))}), "
            f"{_h(', '.join(groups))}</p>")


def _item_text(item) -> str:
    return item.pivot if item.value is None else f"{item.pivot} = {item.value}"


def _h(text: str) -> str:
    return html.escape(str(text), quote=True)
