"""Reading and validating hIGMA rules: YAML loaded safely, every problem reported with file, field and reason.

Both pivot-item forms found in the wild are accepted, plus two unambiguous variants:
    - id: P0401.006             - P0401.006:              - P0401.006:              - P0401.006: ads.php
      value: ads.php              value: ads.php              value: ads.php
(the second is how real rules are written: YAML reads it as {"P0401.006": None, "value": ...}).
Nothing here raises anything but RuleError, whatever the input.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from dtf_catalog import Catalog, UnknownPivot, default_catalog
from dtf_catalog.loader import PIVOT_ID
from plugins.local import NAME_RULES

from .condition import ConditionError, parse_condition, valid_group_name
from .model import (ERROR, HASH_ALGORITHMS, LIST_FIELDS, METADATA_FIELDS, REQUIRED_FIELDS, WARNING, Group, PivotItem,
                    Problem, Rule, RuleError, Target, evaluate, node_names)
from .normal_form import NormalFormError, to_dnf
from .values import BadValue, check_implementation, guess_implementation, parse_value

MAX_RULE_BYTES = 256 * 1024
ITEM_KEYS = ("id", "value", "implementation")
KNOWN_STATUS = ("active", "experimental", "test", "stable", "deprecated", "unsupported")
KNOWN_CONFIDENCE = ("low", "medium", "high")


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (YAML would keep the last silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                    key_node.start_mark) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is written twice",
                                                    key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_rule(path, catalog: Catalog | None = None) -> Rule:
    """Read and validate a rule file; raises RuleError naming the file, the field and the reason."""
    name = str(path)
    try:
        file = Path(path)
        if not file.is_file():
            raise RuleError([Problem(name, "-", "no such file")])
        if file.stat().st_size > MAX_RULE_BYTES:
            raise RuleError([Problem(name, "-", f"larger than {MAX_RULE_BYTES // 1024} KiB; not a rule")])
        data = file.read_bytes()
    except OSError as exc:
        raise RuleError([Problem(name, "-", f"cannot be read ({exc.strerror or exc})")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleError([Problem(name, "-", f"not UTF-8 text (byte {exc.start})")]) from None
    return parse_rule_text(text, name, catalog)


def parse_rule_text(text, source: str = "<rule>", catalog: Catalog | None = None) -> Rule:
    """Validate rule text; returns the Rule (with warnings) or raises RuleError with every error found."""
    if not isinstance(text, str):
        raise RuleError([Problem(source, "-", "expected rule text")])
    if len(text.encode("utf-8", "surrogatepass")) > MAX_RULE_BYTES:
        raise RuleError([Problem(source, "-", f"larger than {MAX_RULE_BYTES // 1024} KiB; not a rule")])
    data = _load_yaml(text, source)
    checker = _Checker(source, catalog or default_catalog())
    rule = checker.rule(data, text)
    if checker.errors:
        raise RuleError(checker.problems)
    return rule


def _load_yaml(text: str, source: str):
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "-"
        reason = exc.problem or exc.context or "malformed"
        raise RuleError([Problem(source, where, f"not valid YAML: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise RuleError([Problem(source, "-", f"not valid YAML: {exc}")]) from None
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        # e.g. `date: 2025-13-45` reaches datetime() and fails there
        raise RuleError([Problem(source, "-", f"not valid YAML: {type(exc).__name__}: {exc}")]) from None


class _Checker:
    """Walks the loaded YAML once, collecting problems instead of stopping at the first."""

    def __init__(self, source: str, catalog: Catalog):
        self.source = source
        self.catalog = catalog
        self.problems: list[Problem] = []
        self.declared: list[str] = []     # group names written in the file, even ones with errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    def error(self, field: str, reason: str) -> None:
        self.problems.append(Problem(self.source, field, reason, ERROR))

    def warn(self, field: str, reason: str) -> None:
        self.problems.append(Problem(self.source, field, reason, WARNING))

    # ---- the document -----------------------------------------------------------------------------

    def rule(self, data, text: str) -> Rule | None:
        if not isinstance(data, dict):
            what = "empty" if data is None else f"a {type(data).__name__}"
            self.error("-", f"a rule is a YAML mapping with title, id, pivots and condition; this file is {what}")
            return None
        for key in data:
            if not isinstance(key, str):
                self.error(repr(key), "top-level keys must be text")
            elif key not in METADATA_FIELDS and key not in ("pivots", "condition"):
                self.warn(key, "not a hIGMA field; kept in the file but not used")
        for key in REQUIRED_FIELDS:
            if data.get(key) in (None, "", [], {}):
                self.error(key, "missing (every rule needs title, id, pivots and condition)")
        metadata = self.metadata(data)
        groups = self.groups(data.get("pivots")) if data.get("pivots") not in (None, "", [], {}) else {}
        condition = None
        condition_text = data.get("condition")
        if condition_text not in (None, "") and self.declared:
            condition = self.condition(condition_text, self.declared)
        if self.errors:
            return None
        return Rule(title=metadata["title"], id=metadata["id"], metadata=metadata, groups=groups,
                    condition_text=" ".join(condition_text.split()), condition=condition, source=self.source,
                    text=text, warnings=[p for p in self.problems if p.severity == WARNING])

    def metadata(self, data: dict) -> dict:
        found: dict = {}
        for key in METADATA_FIELDS:
            value = data.get(key)
            if value is None:
                continue
            if key in LIST_FIELDS:
                found[key] = self.text_list(key, value)
            elif key == "date":
                found[key] = self.date(value)
            elif isinstance(value, (dict, list)) or isinstance(value, bool):
                self.error(key, "expected a single text value")
            else:
                found[key] = " ".join(str(value).split()) if key != "description" else str(value).strip()
        if found.get("status") and found["status"].lower() not in KNOWN_STATUS:
            self.warn("status", f"{found['status']!r} is not one of {', '.join(KNOWN_STATUS)}")
        if found.get("confidence") and found["confidence"].lower() not in KNOWN_CONFIDENCE:
            self.warn("confidence", f"{found['confidence']!r} is not one of {', '.join(KNOWN_CONFIDENCE)}")
        found.setdefault("title", "")
        found.setdefault("id", "")
        return found

    def text_list(self, key: str, value) -> list[str]:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            self.warn(key, "expected a list; read as a list of one")
            return [str(value)]
        if not isinstance(value, list):
            self.error(key, "expected a list of text values")
            return []
        items = []
        for index, item in enumerate(value):
            if isinstance(item, (dict, list)) or item is None or isinstance(item, bool):
                self.error(f"{key}[{index}]", "expected a text value")
            else:
                items.append(str(item))
        return items

    def date(self, value) -> str:
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        text = str(value).strip()
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            self.warn("date", f"{text!r} is not a YYYY-MM-DD date")
            return text

    # ---- pivots -----------------------------------------------------------------------------------

    def groups(self, pivots) -> dict[str, Group]:
        if not isinstance(pivots, dict):
            self.error("pivots", "expected a mapping of group names to lists of pivot items")
            return {}
        groups: dict[str, Group] = {}
        for name, items in pivots.items():
            field = f"pivots.{name}"
            if not valid_group_name(name):
                self.error(field, "a group name starts with a letter or '_' and holds letters, digits, '_' or '-' "
                                  "(and is not an operator word)")
                continue
            self.declared.append(name)
            if items in (None, [], {}):
                self.error(field, "empty group: list at least one pivot item")
                continue
            if isinstance(items, dict):  # a single item written without the list dash
                items = [items]
            if not isinstance(items, list):
                self.error(field, "expected a list of pivot items (`- id: P0401.001` and `value: ...`)")
                continue
            parsed = [self.item(item, f"{field}[{index}]") for index, item in enumerate(items)]
            if all(parsed):
                groups[name] = Group(name, tuple(parsed))
        return groups

    def item(self, item, field: str) -> PivotItem | None:
        pivot_id, raw, implementation = self.item_parts(item, field)
        if pivot_id is None:
            return None
        try:
            pivot = self.catalog.pivot(pivot_id)
        except UnknownPivot:
            self.error(f"{field}.id", f"unknown DTF pivot ID {pivot_id!r} (see `python server.py list` or the DTF matrix)")
            return None
        if raw is None:
            self.error(f"{field}.value", f"missing value for {pivot_id}")
            return None
        algorithm = self.implementation(implementation, field)
        targets = self.targets(pivot, raw, algorithm, field)
        if not targets:
            return None
        hash_targets = [t for t in targets if t.matcher.kind == "hash"]
        if hash_targets:
            given = algorithm
            algorithm = self.hash_algorithm(implementation, algorithm, hash_targets, field)
            if algorithm != given:  # read again with the algorithm the value's shape points to
                targets = self.targets(pivot, raw, algorithm, field)
        elif implementation not in (None, ""):
            self.warn(f"{field}.implementation", f"{pivot_id} takes no hash algorithm; the note is kept but not used")
            algorithm = None
        if len(targets) > 1 or (targets and targets[0].pivot != pivot.id):
            self.warn(f"{field}.id", f"{pivot.id} is a parent pivot: the value is looked for under "
                                     f"{', '.join(t.pivot for t in targets)}; name the child pivot to be precise")
        return PivotItem(pivot_id, raw, algorithm, targets, field)

    def item_parts(self, item, field: str):
        """(pivot ID, raw value, implementation) from either item form; None ID after an error."""
        if isinstance(item, str) and PIVOT_ID.match(item.strip()):
            self.error(field, f"{item} has no value: write `- id: {item}` and `value: ...` under it")
            return None, None, None
        if not isinstance(item, dict):
            self.error(field, "expected a pivot item such as `- id: P0401.001` with `value: ...`")
            return None, None, None
        ids = [key for key in item if isinstance(key, str) and PIVOT_ID.match(key)]
        other = [key for key in item if key not in ITEM_KEYS and key not in ids]
        if "id" in item:
            if ids:
                self.error(field, "write the pivot either as `id: P...` or as the key `P...:`, not both")
                return None, None, None
            pivot_id, raw, implementation = item.get("id"), item.get("value"), item.get("implementation")
            if not isinstance(pivot_id, str) or not pivot_id.strip():
                self.error(f"{field}.id", "expected a DTF pivot ID such as P0401.001")
                return None, None, None
        elif len(ids) == 1:
            pivot_id = ids[0]
            nested = item[pivot_id]
            raw, implementation = item.get("value"), item.get("implementation")
            if isinstance(nested, dict):
                if raw is not None or implementation is not None:
                    self.error(field, f"value given both under {pivot_id} and next to it")
                    return None, None, None
                other += [key for key in nested if key not in ("value", "implementation")]
                raw, implementation = nested.get("value"), nested.get("implementation")
            elif nested is not None:
                if raw is not None:
                    self.error(field, f"value given both as `{pivot_id}: ...` and as `value:`")
                    return None, None, None
                raw = nested
        elif len(ids) > 1:
            self.error(field, f"one pivot per item, found {', '.join(ids)}")
            return None, None, None
        else:
            bad = [str(key) for key in item if key not in ITEM_KEYS]
            hint = f"; {bad[0]!r} is not a DTF pivot ID" if bad else ""
            self.error(f"{field}.id", f"missing the pivot ID (`id: P0401.001` or `- P0401.001:`){hint}")
            return None, None, None
        for key in other:
            if not (isinstance(key, str) and PIVOT_ID.match(key)):
                self.warn(f"{field}.{key}", "not a pivot item field (id, value, implementation); ignored")
        return pivot_id.strip(), raw, implementation

    def implementation(self, implementation, field: str) -> str | None:
        if implementation in (None, ""):
            return None
        if not isinstance(implementation, str):
            self.error(f"{field}.implementation", f"expected one of {', '.join(HASH_ALGORITHMS)}")
            return None
        name = implementation.strip().upper().replace("-", "")
        return name if name in HASH_ALGORITHMS else None

    def hash_algorithm(self, implementation, algorithm, targets, field: str) -> str | None:
        where = f"{field}.implementation"
        if implementation not in (None, "") and algorithm is None:
            if isinstance(implementation, str):
                self.error(where, f"unknown hash algorithm {implementation!r}; use one of {', '.join(HASH_ALGORITHMS)}")
            return None
        for target in targets:
            if algorithm is None:
                guess = guess_implementation(target.matcher)
                if guess:
                    self.warn(where, f"not given; the value looks like {guess}, so it is read as {guess}")
                    return guess
                self.warn(where, "not given and not clear from the value; backends that need it skip this item")
                return None
            try:
                check_implementation(algorithm, target.matcher)
            except BadValue as exc:
                self.error(f"{field}.value", str(exc))
                return None
        return algorithm

    def targets(self, pivot, raw, algorithm, field: str) -> tuple[Target, ...]:
        where = f"{field}.value"
        try:
            if pivot.value is not None:
                return (Target(pivot.id, parse_value(raw, pivot.value.kind, _for_kind(algorithm, pivot.value.kind))),)
            leaves = self.catalog.leaves(pivot.id)
            if leaves and all(leaf.match in NAME_RULES for leaf in leaves):
                return (Target(pivot.id, parse_value(raw, "dns"), name_of_subject=True),)
        except BadValue as exc:
            self.error(where, f"{pivot.id} {pivot.name}: {exc}")
            return ()
        found, reasons = [], []
        for leaf in self.catalog.leaves(pivot.id):
            try:
                found.append(Target(leaf.id, parse_value(raw, leaf.value.kind, _for_kind(algorithm, leaf.value.kind))))
            except BadValue as exc:
                reasons.append(f"{leaf.id}: {exc}")
        if not found:
            self.error(where, f"{pivot.id} is a parent pivot and the value fits none of its children ({'; '.join(reasons)})")
            return ()
        return tuple(found)

    # ---- condition --------------------------------------------------------------------------------

    def condition(self, text, names: list[str]):
        try:
            node = parse_condition(text, names)
        except ConditionError as exc:
            self.error("condition", str(exc))
            return None
        used = set(node_names(node))
        for name in names:
            if name not in used:
                self.warn(f"pivots.{name}", "group not used by the condition")
        if evaluate(node, lambda name: False):
            self.error("condition", "the condition holds for subjects that match no group (e.g. `not x` alone): "
                                    "give it something positive to subtract from")
            return None
        try:
            satisfiable = bool(to_dnf(node))
        except NormalFormError:
            satisfiable = True  # too wide to flatten; the runner still evaluates it exactly
        if not satisfiable:
            self.error("condition", "the condition can never hold (it contradicts itself)")
            return None
        return node


def _for_kind(algorithm: str | None, kind: str) -> str | None:
    return algorithm if kind == "hash" else None
