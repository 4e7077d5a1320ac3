"""The shapes of a parsed hIGMA rule: metadata, groups of pivot items, and the condition tree.

Everything here is plain data; parsing and validation live in `higma.parser`, the condition
grammar in `higma.condition`, evaluation in `higma.runner`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from .values import ValueMatcher

ERROR, WARNING = "error", "warning"

# Metadata fields of the hIGMA specification, in the order they are written back out.
METADATA_FIELDS = ("title", "id", "author", "date", "threat_actor", "description", "dtf_version", "references",
                   "tags", "confidence", "falsepositives", "status")
LIST_FIELDS = ("references", "tags", "falsepositives")
REQUIRED_FIELDS = ("title", "id", "pivots", "condition")
HASH_ALGORITHMS = ("SHA256", "MD5", "SHA1", "MMH3", "SSDEEP", "TLSH")


@dataclass(frozen=True)
class Problem:
    """One finding about a rule: where it is (file, field) and why it matters."""
    file: str
    field: str
    reason: str
    severity: str = ERROR

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"

    def as_json(self) -> dict:
        return {"file": self.file, "field": self.field, "reason": self.reason, "severity": self.severity}


class RuleError(ValueError):
    """A rule that cannot be used; `problems` lists every error found (and the warnings with them)."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == ERROR] or self.problems
        super().__init__("; ".join(str(p) for p in errors))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]


@dataclass(frozen=True)
class Target:
    """One way an item can hold: a catalog leaf pivot with a value matcher, or the subject's own
    name (`name_of_subject`, for a name-only parent such as P0102 written with a domain value)."""
    pivot: str
    matcher: ValueMatcher
    name_of_subject: bool = False


@dataclass(frozen=True)
class PivotItem:
    """One `- id: P0401.006` entry of a group; it holds when any of its targets holds."""
    pivot: str
    raw_value: object
    implementation: str | None
    targets: tuple[Target, ...]
    field: str                      # where it sits in the file, for messages: pivots.ads_php[0]

    @property
    def text(self) -> str:
        """The value as written, for display and conversion."""
        return self.targets[0].matcher.text if self.targets else str(self.raw_value)


@dataclass(frozen=True)
class Group:
    """A named group: holds for a subject when every one of its items holds for that same subject."""
    name: str
    items: tuple[PivotItem, ...]

    @property
    def pivot_ids(self) -> list[str]:
        return list(dict.fromkeys(item.pivot for item in self.items))


# ---- condition tree -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class And:
    parts: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    parts: tuple["Node", ...]


@dataclass(frozen=True)
class Not:
    part: "Node"


@dataclass(frozen=True)
class Quantified:
    """`N of pattern`, `all of pattern`, `1 of them`: `count` None means all; `names` are resolved."""
    count: int | None
    pattern: str
    names: tuple[str, ...]

    @property
    def needed(self) -> int:
        return len(self.names) if self.count is None else self.count


Node = Union[Ref, And, Or, Not, Quantified]


def node_names(node: Node) -> list[str]:
    """Group names a condition mentions, in first-seen order."""
    found: dict[str, None] = {}
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Ref):
            found.setdefault(current.name)
        elif isinstance(current, Quantified):
            for name in current.names:
                found.setdefault(name)
        elif isinstance(current, Not):
            stack.append(current.part)
        else:
            stack.extend(reversed(current.parts))
    return list(found)


def evaluate(node: Node, truth) -> bool:
    """The condition's value when group `name` holds iff `truth(name)` (a dict's `get` works)."""
    if isinstance(node, Ref):
        return bool(truth(node.name))
    if isinstance(node, Not):
        return not evaluate(node.part, truth)
    if isinstance(node, And):
        return all(evaluate(part, truth) for part in node.parts)
    if isinstance(node, Or):
        return any(evaluate(part, truth) for part in node.parts)
    return sum(1 for name in node.names if truth(name)) >= node.needed


def render_condition(node: Node, parent: str = "") -> str:
    """Canonical text of a condition tree (lower-case operators, parentheses only where needed)."""
    if isinstance(node, Ref):
        return node.name
    if isinstance(node, Quantified):
        return f"{'all' if node.count is None else node.count} of {node.pattern}"
    if isinstance(node, Not):
        return f"not {render_condition(node.part, 'not')}"
    word = "and" if isinstance(node, And) else "or"
    text = f" {word} ".join(render_condition(part, word) for part in node.parts)
    needs = (parent == "not") or (parent == "and" and word == "or")
    return f"({text})" if needs else text


@dataclass
class Rule:
    """A validated rule; `warnings` are problems that do not stop it from being used."""
    title: str
    id: str
    metadata: dict
    groups: dict[str, Group]
    condition_text: str
    condition: Node
    source: str
    text: str
    warnings: list[Problem] = field(default_factory=list)

    @property
    def pivot_ids(self) -> list[str]:
        return list(dict.fromkeys(p for group in self.groups.values() for p in group.pivot_ids))

    def used_groups(self) -> list[str]:
        return node_names(self.condition)
