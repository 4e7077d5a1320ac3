"""Rules rendered as backend queries: urlscan, Shodan, SecurityTrails (through `plugins.query`, the
keyed plugins' own field mappings) and `local` (our store, which runs everything itself).

How the condition survives depends on the backend's boolean syntax (BACKEND_SYNTAX):
  - OR and NOT available (urlscan): one query for the whole condition. The condition tree is kept
    when Lucene reads it safely (each NOT next to something positive); otherwise the minimal
    OR-of-ANDs is rendered, which always is.
  - no NOT (SecurityTrails) or no OR (Shodan): the condition becomes the smallest OR-of-ANDs
    (higma.normal_form); each AND-clause is one query, a negated group the backend cannot say
    becomes a query whose results the client subtracts, and the client unions the clause results.
Whatever a backend cannot express (a pivot without a field, an SSDEEP hash for urlscan, a regex
where the backend has none) is listed with the reason, never silently dropped; a branch that no
query covers is named too.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from .model import And, Group, Node, Not, Or, PivotItem, Quantified, Ref, Rule, Target, render_condition
from .normal_form import NormalFormError, negatives, positives, render_clause, to_dnf

LOCAL = "local"


@dataclass(frozen=True)
class Syntax:
    """What a backend's query language can combine, and how it writes it."""
    and_: str
    or_: str | None             # None: no OR between different filters
    not_: str | None            # "{}" placeholder; None: no NOT
    not_single_term_only: bool = False   # Shodan's "-filter:value" negates one filter, not a group
    parentheses: bool = True


BACKEND_SYNTAX: dict[str, Syntax] = {
    "urlscan": Syntax(" AND ", " OR ", "NOT {}"),
    "shodan": Syntax(" ", None, "-{}", not_single_term_only=True, parentheses=False),
    "securitytrails": Syntax(" AND ", " OR ", None),
}
TARGETS = tuple(BACKEND_SYNTAX) + (LOCAL,)


class ConversionError(ValueError):
    """The rule cannot be converted for this backend at all (e.g. its converter is missing)."""


@dataclass
class Missing:
    """A pivot item (or part of one) the backend cannot express."""
    group: str
    pivot: str
    value: str
    implementation: str | None
    reason: str

    def as_json(self) -> dict:
        return {"group": self.group, "pivot": self.pivot, "value": self.value,
                "implementation": self.implementation, "reason": self.reason}

    def __str__(self) -> str:
        impl = f" {self.implementation}" if self.implementation else ""
        return f"{self.group}: {self.pivot}{impl} {self.value!r}: {self.reason}"


@dataclass
class GroupQuery:
    """One group rendered: its query (AND of its items), the pivots covered and what was left out."""
    group: str
    query: str
    covers: list[str]
    missing: list[Missing]
    terms: int

    @property
    def complete(self) -> bool:
        return bool(self.query) and not self.missing


@dataclass
class Query:
    query: str
    covers: list[str]
    groups: list[str]
    clause: str
    subtract: list[dict] = field(default_factory=list)   # {"query", "groups", "covers"} run and removed by the client
    check: list[str] = field(default_factory=list)       # parts of the clause the client must verify itself

    def as_json(self) -> dict:
        return {"query": self.query, "covers": self.covers, "groups": self.groups, "clause": self.clause,
                "subtract": self.subtract, "check": self.check}


@dataclass
class Conversion:
    backend: str
    rule: Rule
    queries: list[Query]
    unsupported: list[Missing]
    not_covered: list[str]
    client_side: list[str]
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "backend": self.backend,
            "rule": {"id": self.rule.id, "title": self.rule.title, "condition": self.rule.condition_text},
            "queries": [q.as_json() for q in self.queries],
            "unsupported": [m.as_json() for m in self.unsupported],
            "not_covered": self.not_covered,
            "client_side": self.client_side,
            "notes": self.notes,
        }


def convert(rule: Rule, backend: str) -> Conversion:
    if backend == LOCAL:
        return _local(rule)
    if backend not in BACKEND_SYNTAX:
        raise ConversionError(f"unknown conversion target {backend!r}; choose one of {', '.join(TARGETS)}")
    renderer = _renderer(backend)
    syntax = BACKEND_SYNTAX[backend]
    groups = {name: group_query(rule.groups[name], backend, renderer, syntax) for name in rule.used_groups()}
    unsupported = [m for g in groups.values() for m in g.missing]
    if syntax.or_ and syntax.not_ and all(g.complete for g in groups.values()):
        tree = rule.condition if _lucene_safe(rule.condition) else None
        text = _render_tree(tree, groups, syntax) if tree is not None else None
        if text is None:
            clauses = _dnf(rule)
            text = syntax.or_.join(_wrap(_clause_text(c, groups, syntax),
                                         len(clauses) > 1 and (len(c) > 1 or groups[next(iter(c))[0]].terms > 1))
                                   for c in clauses)
        covers = _merge(g.covers for g in groups.values())
        return Conversion(backend, rule, [Query(text, covers, list(groups), rule.condition_text)], unsupported, [], [])
    return _by_clauses(rule, backend, groups, syntax, unsupported)


def backend_warnings(rule: Rule) -> list[str]:
    """For `higma validate`: what each backend would leave out of this rule."""
    found = []
    for backend in BACKEND_SYNTAX:
        try:
            result = convert(rule, backend)
        except (ConversionError, NormalFormError) as exc:
            found.append(f"{backend}: {exc}")
            continue
        for missing in result.unsupported:
            found.append(f"{backend} cannot express {missing}")
    return found


# ---- groups ------------------------------------------------------------------------------------------

def _renderer(backend: str):
    try:
        from plugins import query as plugin_query
    except ImportError:
        raise ConversionError(f"no query mapping for {backend}: plugins/query.py is not installed") from None
    if backend not in getattr(plugin_query, "BACKENDS", ()):
        raise ConversionError(f"plugins/query.py has no {backend} mapping")
    return lambda pairs: plugin_query.convert(backend, pairs)


def group_query(group: Group, backend: str, renderer, syntax: Syntax) -> GroupQuery:
    """AND of the group's items in the backend's language, via the plugin converter."""
    simple, alternatives, missing = [], [], []
    for item in group.items:
        if len(item.targets) == 1:
            pair, problem = _pair(item, item.targets[0])
            if problem:
                missing.append(Missing(group.name, item.pivot, item.text, item.implementation, problem))
            else:
                simple.append((item, pair))
        else:
            alternatives.append(item)
    terms, covers = [], []
    if simple:
        converted = renderer([pair for _, pair in simple])
        if converted["query"]:
            terms.append(converted["query"])
        covers += converted["covers"]
        for pivot_id, reason in converted["unsupported"]:
            item = next((i for i, p in simple if p[0] == pivot_id), simple[0][0])
            missing.append(Missing(group.name, pivot_id, item.text, item.implementation, reason))
    for item in alternatives:  # a parent pivot: any of its children may hold, so it needs OR
        parts, reasons = [], []
        for target in item.targets:
            pair, problem = _pair(item, target)
            converted = renderer([pair]) if not problem else {"query": "", "covers": [], "unsupported": [(target.pivot, problem)]}
            if converted["query"] and not converted["unsupported"]:
                parts.append(converted["query"])
                covers += converted["covers"]
            else:
                reasons += [f"{p}: {r}" for p, r in converted["unsupported"]]
        if reasons or not parts or (len(parts) > 1 and not syntax.or_):
            why = "; ".join(reasons) or f"{backend} has no OR to try each child of {item.pivot}"
            missing.append(Missing(group.name, item.pivot, item.text, item.implementation,
                                   f"{item.pivot} is a parent pivot and not every child it stands for can be searched ({why})"))
            continue
        terms.append(parts[0] if len(parts) == 1 else "(" + syntax.or_.join(parts) + ")")
    query = syntax.and_.join(terms)
    return GroupQuery(group.name, query, _merge([covers]), missing, len(simple) + len(alternatives))


def _pair(item: PivotItem, target: Target):
    """(pivot, value[, implementation]) in the form plugins.query reads, or a reason it cannot be."""
    matcher = target.matcher
    pivot = item.pivot if target.name_of_subject else target.pivot
    if matcher.form == "exact":
        text = matcher.display
        if any(c in text for c in "*?"):
            return None, "the value holds * or ?, which the backend's converter reads as wildcards"
        return (pivot, text, item.implementation), None
    if matcher.form == "similar":
        return (pivot, matcher.display, item.implementation), None
    if matcher.form == "glob":
        if any("*" in part or "?" in part for part in matcher.glob_parts()):
            return None, "a literal * or ? in a wildcard value cannot be passed on"
        return (pivot, "*".join(matcher.glob_parts()), item.implementation), None
    if matcher.form == "compare":
        return (pivot, f"{matcher.op}{matcher.low}", item.implementation), None
    if matcher.form == "network":
        return (pivot, str(matcher.low), item.implementation), None
    if matcher.form == "regex":
        if target.name_of_subject or matcher.kind == "pattern":
            return (pivot, matcher.text.strip(), item.implementation), None
        return None, "regular expressions are searched locally only"
    return None, f"a range ({matcher.text}) has no form in the backend's converter; use two comparisons in two items"


# ---- one query for the whole tree ----------------------------------------------------------------------

def _lucene_safe(node: Node) -> bool:
    """Every NOT sits in an AND next to something positive (Lucene drops purely negative sub-queries)."""
    stack = [(node, None)]
    while stack:
        current, parent = stack.pop()
        if isinstance(current, Not):
            if not isinstance(parent, And) or all(isinstance(p, Not) for p in parent.parts):
                return False
            stack.append((current.part, current))
        elif isinstance(current, (And, Or)):
            stack.extend((part, current) for part in current.parts)
    return True


def _render_tree(node: Node, groups: dict[str, GroupQuery], syntax: Syntax) -> str:
    if isinstance(node, Ref):
        return groups[node.name].query
    if isinstance(node, Not):
        return syntax.not_.format(_wrap(_render_tree(node.part, groups, syntax), not isinstance(node.part, Ref)
                                        or groups[node.part.name].terms > 1))
    if isinstance(node, Quantified):
        return _render_tree(_expand_quantified(node), groups, syntax)
    joiner = syntax.and_ if isinstance(node, And) else syntax.or_
    parts = [_render_tree(part, groups, syntax) for part in node.parts]
    wrapped = [_wrap(text, _compound(part, groups)) for part, text in zip(node.parts, parts)]
    return joiner.join(wrapped)


def _expand_quantified(node: Quantified) -> Node:
    refs = [Ref(name) for name in node.names]
    if node.needed == len(refs):
        return And(tuple(refs)) if len(refs) > 1 else refs[0]
    if node.needed == 1:
        return Or(tuple(refs)) if len(refs) > 1 else refs[0]
    return Or(tuple(And(tuple(Ref(n) for n in combo)) for combo in itertools.combinations(node.names, node.needed)))


def _compound(node: Node, groups: dict[str, GroupQuery]) -> bool:
    """Would this operand's text mix with its neighbours' operator? (then it needs parentheses)"""
    if isinstance(node, Quantified):
        return _compound(_expand_quantified(node), groups)
    if isinstance(node, Ref):
        return groups[node.name].terms > 1
    return not isinstance(node, Not)


def _wrap(text: str, needed: bool) -> str:
    return f"({text})" if needed else text


def _clause_text(clause, groups: dict[str, GroupQuery], syntax: Syntax) -> str:
    pos = [_wrap(groups[n].query, groups[n].terms > 1) for n in positives(clause)]
    neg = [syntax.not_.format(_wrap(groups[n].query, groups[n].terms > 1)) for n in negatives(clause)]
    return syntax.and_.join(pos + neg)


def _dnf(rule: Rule):
    try:
        return to_dnf(rule.condition)
    except NormalFormError as exc:
        raise ConversionError(f"{exc}; convert to a backend with OR and NOT, or split the rule") from None


# ---- OR-of-ANDs: one query per clause ------------------------------------------------------------------

def _by_clauses(rule: Rule, backend: str, groups: dict[str, GroupQuery], syntax: Syntax,
                unsupported: list[Missing]) -> Conversion:
    clauses = _dnf(rule)
    queries: list[Query] = []
    not_covered: list[str] = []
    for clause in clauses:
        pos, neg = positives(clause), negatives(clause)
        terms, check, covers = [], [], []
        for name in pos:  # a group query is a plain conjunction, so the groups AND together as they are
            group = groups[name]
            if group.query:
                terms.append(group.query)
                covers += group.covers
            check += [f"{m} (the query is broader: verify this part locally)" for m in group.missing]
        if not terms:
            not_covered.append(render_clause(clause))
            continue
        text = syntax.and_.join(terms)
        subtract = []
        for name in neg:
            group = groups[name]
            negatable = syntax.not_ and group.complete and (group.terms == 1 or not syntax.not_single_term_only)
            if negatable:
                text += syntax.and_ + syntax.not_.format(_wrap(group.query, group.terms > 1))
                covers += group.covers
            elif group.query and group.complete:
                subtract.append({"query": group.query, "groups": [name], "covers": group.covers})
            else:
                check.append(f"not {name}: the backend cannot express all of {name}; remove subjects matching it "
                             f"locally (python server.py hunt)")
        queries.append(Query(text, _merge([covers]), pos + [f"not {n}" for n in neg], render_clause(clause),
                             subtract, check))
    client_side = []
    clean = all(not q.subtract and not q.check for q in queries)
    if syntax.or_ and clean and len(queries) > 1:
        text = syntax.or_.join(_wrap(q.query, syntax.and_.strip() in q.query) for q in queries)
        queries = [Query(text, _merge(q.covers for q in queries), _merge(q.groups for q in queries),
                         rule.condition_text)]
    elif len(queries) > 1:
        client_side.append(f"union: a subject matches the rule when any of the {len(queries)} queries finds it")
    for index, query in enumerate(queries, start=1):
        for sub in query.subtract:
            client_side.append(f"query {index}: subtract the subjects found by `{sub['query']}` "
                               f"(group {', '.join(sub['groups'])}; {backend} cannot exclude it in the query)")
        for item in query.check:
            client_side.append(f"query {index}: {item}")
    notes = []
    if not_covered:
        notes.append(f"no query covers the branch(es) {'; '.join(not_covered)}: subjects only those would find "
                     f"are not searched on {backend} (run the rule locally for them)")
    return Conversion(backend, rule, queries, unsupported, not_covered, client_side, notes)


def _merge(lists) -> list[str]:
    merged: dict[str, None] = {}
    for items in lists:
        for item in items:
            merged.setdefault(item)
    return list(merged)


# ---- local: our own store -------------------------------------------------------------------------------

def _local(rule: Rule) -> Conversion:
    """The rule as the local store runs it (everything is supported; the runner does the set operations)."""
    def item_text(item: PivotItem) -> str:
        parts = []
        for target in item.targets:
            if target.name_of_subject:
                parts.append(f"{item.pivot}(name) {target.matcher.describe()}")
            else:
                impl = f" [{item.implementation}]" if item.implementation else ""
                parts.append(f"{target.pivot}{impl} {target.matcher.describe()}")
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def group_text(name: str) -> str:
        items = [item_text(i) for i in rule.groups[name].items]
        return items[0] if len(items) == 1 else "(" + " AND ".join(items) + ")"

    def render(node: Node, parent: str = "") -> str:
        if isinstance(node, Ref):
            return group_text(node.name)
        if isinstance(node, Not):
            return "NOT " + render(node.part, "not")
        if isinstance(node, Quantified):
            needed = "ALL" if node.count is None else str(node.count)
            return f"{needed} OF (" + ", ".join(group_text(n) for n in node.names) + ")"
        word = " AND " if isinstance(node, And) else " OR "
        text = word.join(render(p, word.strip().lower()) for p in node.parts)
        return f"({text})" if parent in ("not", "and") and isinstance(node, Or) or parent == "not" else text

    covers = rule.pivot_ids
    query = Query(render(rule.condition), covers, rule.used_groups(), render_condition(rule.condition))
    notes = ["run by `python server.py hunt`: the store and enabled plugins find each group's subjects and the "
             "runner combines them (and = both, or = either, not = subtract)"]
    return Conversion(LOCAL, rule, [query], [], [], [], notes)
