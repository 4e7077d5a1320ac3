"""hIGMA in Maltego: rules as `dtf.HigmaRule` entities and the transforms around them.

  rule -> its pivots      dtf.Pivot entities plus the values (as value entities, or Phrases for patterns)
  rule -> results         the hunt, recorded like a CLI run, results linked with the groups that hold
  result -> drafted rule  from any annotated Domain / IP / URL carrying dtf.trail
  Phrase -> rule          YAML text, or the path of a .yaml file under an allowed directory

A rule entity's value is its title; `dtf.higma.id` holds the rule ID and `dtf.yaml` the rule text.
Registered with one line in TRANSFORM_PROVIDERS (transforms/service.py).
"""
from __future__ import annotations

import html
import os
from functools import partial
from pathlib import Path

from entities.types import SUBJECT_TYPES, entity_for_value, type_for_subject, value_property
from plugins.base import Subject
from store.normalize import InvalidValue, normalize
from transforms.annotate import Annotator, Step, write_trail
from transforms.catalog_transforms import CatalogEntities
from transforms.model import BadRequest, OutputEntity, Property, TransformRequest, TransformResponse
from transforms.registry import TransformSpec

from .draft import DraftError, draft_rule, steps_of
from .model import Rule, RuleError
from .parser import MAX_RULE_BYTES, load_rule, parse_rule_text
from .runner import HuntReport, Runner

HIGMA_KIND = "higma"
HIGMA_SET = "DTF hIGMA"
RULE_TYPE = "dtf.HigmaRule"
PHRASE_TYPE = "maltego.Phrase"
PIVOT_TYPE = "dtf.Pivot"
RULE_ID_PROPERTY = "dtf.higma.id"
RULE_YAML_PROPERTY = "dtf.yaml"
RULE_COLOUR = "#C0392B"
DRAFT_INPUTS = ("maltego.Domain", "maltego.IPv4Address", "maltego.IPv6Address", "maltego.URL")
RULE_DIRS_ENV = "DTF_HIGMA_DIRS"
DEFAULT_RULE_DIR = Path(__file__).resolve().parent.parent / "rules"
MAX_LABEL = 70


def higma_transforms(service):
    """Provider for TRANSFORM_PROVIDERS: the hIGMA transforms with their runners attached."""
    return HigmaTransforms(service).specs()


def rule_dirs() -> list[Path]:
    """Directories a Phrase may name rule files in (DTF_HIGMA_DIRS, path-separated; default ./rules)."""
    configured = os.environ.get(RULE_DIRS_ENV, "")
    dirs = [Path(p) for p in configured.split(os.pathsep) if p.strip()] or [DEFAULT_RULE_DIR]
    return [d.resolve() for d in dirs]


class HigmaTransforms:
    def __init__(self, service):
        self.service = service
        self.catalog = service.catalog
        self.runner = Runner(service)
        self.annotator = Annotator(service.catalog)
        self.pivots = CatalogEntities(service.catalog)

    def specs(self) -> list[TransformSpec]:
        value_types = list(dict.fromkeys(
            t for p in self.catalog.pivots.values() if p.value
            for t in (SUBJECT_TYPES["ip"] if p.value.kind == "ip" else (p.value.entity,))))
        specs = [
            self._spec("dtfhigmaruletopivots", RULE_TYPE, [PIVOT_TYPE, *value_types, "maltego.Domain", PHRASE_TYPE],
                       "hIGMA: pivots of this rule",
                       "The DTF pivots this hIGMA rule uses and the values it looks for, labelled with their group.",
                       self.rule_to_pivots),
            self._spec("dtfhigmaruletoresults", RULE_TYPE, ["maltego.Domain", *SUBJECT_TYPES["ip"]],
                       "hIGMA: run this rule",
                       "Hunt with this rule over the store and the enabled sources; the run is recorded, and the "
                       "results new since the previous run are marked.", self.rule_to_results),
            self._spec("dtfhigmaphrasetorule", PHRASE_TYPE, [RULE_TYPE], "hIGMA: rule from YAML or file",
                       "Read a hIGMA rule from the phrase: the YAML itself, or the name of a .yaml file in an "
                       "allowed rules directory.", self.phrase_to_rule),
        ]
        for input_type in DRAFT_INPUTS:
            short = input_type.rsplit(".", 1)[-1].lower()
            specs.append(self._spec(
                f"dtfhigmadraftfrom{short}", input_type, [RULE_TYPE], "hIGMA: draft a rule from this result",
                "Write a hIGMA rule from the DTF trail of this result (the pivots that led to it), keeping the "
                "steps that also hold for this result.", partial(self.draft_from, input_type)))
        return specs

    @staticmethod
    def _spec(name, input_type, outputs, display, description, run) -> TransformSpec:
        spec = TransformSpec(name=name, kind=HIGMA_KIND, input=input_type, outputs=list(dict.fromkeys(outputs)),
                             set=HIGMA_SET, display=f"[DTF] {display}", description=description)
        spec.run = run
        return spec

    # ---- rule entity in -------------------------------------------------------------------------------

    def _rule_of(self, request: TransformRequest) -> Rule:
        text = request.entity.properties.get(RULE_YAML_PROPERTY) or request.entity.properties.get("dtf.higma.yaml")
        if not text:
            raise BadRequest("this hIGMA rule entity carries no rule text (property dtf.yaml); create it with "
                             "'hIGMA: rule from YAML or file'")
        try:
            return parse_rule_text(text, f"rule {request.entity.value!r}", self.catalog)
        except RuleError as exc:
            raise BadRequest(_problems(exc)) from None

    # ---- rule -> pivots -------------------------------------------------------------------------------

    def rule_to_pivots(self, request: TransformRequest) -> TransformResponse:
        rule = self._rule_of(request)
        entities, seen_pivots = [], set()
        for name, group in rule.groups.items():
            for item in group.items:
                for target in item.targets:
                    pivot = self.catalog.pivot(item.pivot if target.name_of_subject else target.pivot)
                    if pivot.id not in seen_pivots:
                        seen_pivots.add(pivot.id)
                        entities.append(self.pivots.pivot(pivot, label=f"{name}: {pivot.id} {pivot.label}"))
                    entities.append(self._value_entity(rule, name, pivot, target))
        return _respond(entities, request.limit)

    def _value_entity(self, rule: Rule, group: str, pivot, target) -> OutputEntity:
        matcher = target.matcher
        if matcher.form in ("exact", "similar") and pivot.value is not None:
            entity_type = entity_for_value(pivot.value.entity, pivot.value.kind, matcher.display)
            value = matcher.display
        elif matcher.form == "exact" and target.name_of_subject:
            entity_type, value = "maltego.Domain", matcher.display
        else:
            entity_type, value = PHRASE_TYPE, matcher.text
        entity = self.annotator.recorded_value(pivot.id, value, entity_type, [], rule.title, ["higma"])
        entity.link["maltego.link.label"] = _short(f"{group}: {pivot.id} {pivot.label} {matcher.describe()}")
        entity.link[RULE_ID_PROPERTY] = rule.id
        entity.link["dtf.higma.group"] = group
        if matcher.form not in ("exact", "similar"):
            entity.display.append(("hIGMA", f"<p>A {html.escape(matcher.form)} value: {html.escape(matcher.text)}; "
                                            f"it selects every value it matches, so it is shown as a phrase.</p>"))
        return entity

    # ---- rule -> results ------------------------------------------------------------------------------

    def rule_to_results(self, request: TransformRequest) -> TransformResponse:
        rule = self._rule_of(request)
        report = self.runner.hunt(rule)
        response = TransformResponse()
        for result in report.results[:request.limit]:
            response.entities.append(self._result_entity(rule, report, result))
        previous = f" since the previous run ({report.previous.started})" if report.previous else " (first run)"
        response.inform(f"{rule.title}: {len(report.results)} result(s), {len(report.new)} new{previous}")
        if len(report.results) > request.limit:
            response.inform(f"showing {request.limit} of {len(report.results)} results; raise the result limit "
                            "to see more")
        for message in report.messages:
            response.inform(message)
        return response

    def _result_entity(self, rule: Rule, report: HuntReport, result) -> OutputEntity:
        entity_type = type_for_subject(result.subject.kind, result.subject.value)
        entity = OutputEntity(entity_type, result.subject.value)
        steps = [Step(p, v, rule.title) for p, v in result.steps]
        entity.properties.append(Property(value_property(entity_type), value_property(entity_type),
                                          result.subject.value))
        if steps:
            entity.properties.append(Property("dtf.pivot", "DTF pivot", steps[-1].pivot))
            entity.properties.append(Property("dtf.trail", "DTF trail", write_trail(steps)))
        marker = "new, " if result.new else ""
        entity.link = {
            "maltego.link.label": _short(f"hIGMA {marker}{', '.join(result.groups)}"),
            "maltego.link.color": RULE_COLOUR,
            "maltego.link.show-label": "1",
            RULE_ID_PROPERTY: rule.id,
            "dtf.higma.groups": ", ".join(result.groups),
            "dtf.sources": ",".join(result.sources),
        }
        if result.first_seen:
            entity.link["dtf.first_seen"] = result.first_seen
        if result.last_seen:
            entity.link["dtf.last_seen"] = result.last_seen
        rows = "".join(f"<li>{html.escape(p)} {html.escape(self.catalog.pivot(p).label)} = {html.escape(v)}</li>"
                       for p, v in result.steps)
        entity.display.append(("hIGMA", (
            f"<p><b>{html.escape(rule.title)}</b>{' (new)' if result.new else ''}</p>"
            f"<p>groups: {html.escape(', '.join(result.groups))}</p><ul>{rows}</ul>"
            f"<p>seen {html.escape(result.first_seen or '?')} .. {html.escape(result.last_seen or '?')}</p>")))
        return entity

    # ---- phrase -> rule -------------------------------------------------------------------------------

    def phrase_to_rule(self, request: TransformRequest) -> TransformResponse:
        text = request.entity.value.strip()
        try:
            if "\n" not in text and text.lower().endswith((".yaml", ".yml")):
                rule = load_rule(self._allowed_file(text), self.catalog)
            else:
                rule = parse_rule_text(request.entity.value, "phrase", self.catalog)
        except RuleError as exc:
            raise BadRequest(_problems(exc)) from None
        response = TransformResponse(entities=[rule_entity(rule, label="hIGMA rule")])
        for warning in rule.warnings:
            response.inform(f"warning: {warning.field}: {warning.reason}")
        return response

    @staticmethod
    def _allowed_file(name: str) -> Path:
        """The named file, only when it resolves inside an allowed rules directory."""
        dirs = rule_dirs()
        given = Path(name)
        candidates = [given] if given.is_absolute() else [d / given for d in dirs]
        for candidate in candidates:
            resolved = candidate.resolve()
            if any(resolved.is_relative_to(d) for d in dirs) and resolved.is_file():
                if resolved.stat().st_size > MAX_RULE_BYTES:
                    raise BadRequest(f"{name}: larger than {MAX_RULE_BYTES // 1024} KiB; not a rule")
                return resolved
        raise BadRequest(f"{name}: no such rule file in the allowed rules directories "
                         f"(set {RULE_DIRS_ENV} on the server to change them)")

    # ---- result -> drafted rule -------------------------------------------------------------------------

    def draft_from(self, input_type: str, request: TransformRequest) -> TransformResponse:
        kind = "ip" if "IP" in input_type else "url" if input_type.endswith("URL") else "domain"
        try:
            subject = Subject(kind, normalize(kind, request.entity.value)[1])
        except InvalidValue as exc:
            raise BadRequest(f"not a usable {kind}: {exc}") from None
        try:
            steps = steps_of(request.entity.properties)
            if not steps:
                raise BadRequest("this entity carries no DTF trail (dtf.trail): run a DTF pivot transform first, "
                                 "then draft from one of its results")
            text, rule = draft_rule(steps, subject, self.runner.holds, self.catalog)
        except DraftError as exc:
            raise BadRequest(str(exc)) from None
        entity = rule_entity(rule, label=f"hIGMA draft from {len(steps)} trail step(s)")
        return TransformResponse(entities=[entity])


def rule_entity(rule: Rule, label: str) -> OutputEntity:
    """A dtf.HigmaRule entity: title as value, rule ID and full YAML as properties, a summary to read."""
    entity = OutputEntity(RULE_TYPE, rule.title)
    entity.properties += [
        Property(value_property(RULE_TYPE), "Title", rule.title),
        Property(RULE_ID_PROPERTY, "Rule ID", rule.id, "strict"),
        Property("dtf.title", "Title", rule.title),
        Property("dtf.status", "Status", str(rule.metadata.get("status", ""))),
        Property("dtf.description", "Description", str(rule.metadata.get("description", ""))),
        Property(RULE_YAML_PROPERTY, "Rule (YAML)", rule.text),
    ]
    entity.link = {"maltego.link.label": _short(label), "maltego.link.color": RULE_COLOUR,
                   "maltego.link.show-label": "1", RULE_ID_PROPERTY: rule.id}
    groups = "".join(
        f"<li><b>{html.escape(name)}</b>: " + "; ".join(
            f"{html.escape(i.pivot)} = {html.escape(i.text)}" + (f" ({html.escape(i.implementation)})"
                                                                 if i.implementation else "")
            for i in group.items) + "</li>" for name, group in rule.groups.items())
    warnings = "".join(f"<li>{html.escape(w.field)}: {html.escape(w.reason)}</li>" for w in rule.warnings)
    entity.display.append(("hIGMA rule", (
        f"<p><b>{html.escape(rule.title)}</b><br/>{html.escape(rule.id)}</p>"
        f"<p>{html.escape(str(rule.metadata.get('description', '')))}</p>"
        f"<ul>{groups}</ul><p>condition: <code>{html.escape(rule.condition_text)}</code></p>"
        + (f"<p>warnings:</p><ul>{warnings}</ul>" if warnings else ""))))
    return entity


def _problems(exc: RuleError) -> str:
    return "hIGMA rule not valid: " + "; ".join(f"{p.field}: {p.reason}" for p in exc.errors or exc.problems)


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[:MAX_LABEL - 1].rstrip() + "…"


def _respond(entities: list[OutputEntity], limit: int) -> TransformResponse:
    response = TransformResponse(entities=entities[:limit])
    if len(entities) > limit:
        response.inform(f"showing {limit} of {len(entities)} results; raise the result limit to see more")
    return response
