"""The condition grammar: a real LALR parser (lark) instead of splitting text on " and ".

    condition  := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | of_expr
    of_expr    := (INT | "all") "of" (NAME | NAME* | "them") | atom
    atom       := NAME | "(" or_expr ")"

Binding, loosest first, as in SIGMA: or < and < not < of < parentheses. Operators are
case-insensitive; names may contain letters, digits, `_` and `-`, and `*` after `of`.
`them` means every group whose name does not start with `_`. Names are resolved against the
rule's groups here, so an unknown name or a wildcard matching nothing is an error.
"""
from __future__ import annotations

import fnmatch
import re
from functools import lru_cache

from lark import Lark, Token
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.visitors import Transformer_NonRecursive

from .model import And, Node, Not, Or, Quantified, Ref

MAX_CONDITION_LENGTH = 4000
MAX_DEPTH = 64
GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
KEYWORDS = ("and", "or", "not", "of", "all", "them")

_END = r"(?![A-Za-z0-9_*-])"
GRAMMAR = rf"""
start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> negation
         | of_expr
?of_expr: quantity _OF target -> quantified
        | atom
?atom: NAME -> ref
     | _LPAR or_expr _RPAR
quantity: ALL | COUNT
target: THEM | NAME

_AND.3: /and{_END}/i
_OR.3: /or{_END}/i
_NOT.3: /not{_END}/i
_OF.3: /of{_END}/i
ALL.3: /all{_END}/i
THEM.3: /them{_END}/i
COUNT.2: /[0-9]+{_END}/
NAME.1: /[A-Za-z0-9_*-]+/
_LPAR: "("
_RPAR: ")"
%ignore /[ \t\r\n]+/
"""

_FRIENDLY = {
    "_AND": "'and'", "_OR": "'or'", "_NOT": "'not'", "_OF": "'of'", "ALL": "'all'", "THEM": "'them'",
    "COUNT": "a number", "NAME": "a group name", "_LPAR": "'('", "_RPAR": "')'", "$END": "the end",
}


class ConditionError(ValueError):
    """The condition cannot be used; `column` (1-based) points at the problem when known."""

    def __init__(self, reason: str, column: int | None = None):
        self.reason = reason
        self.column = column
        super().__init__(f"{reason} (at column {column})" if column else reason)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False)


class _ToNodes(Transformer_NonRecursive):
    """Tree -> model nodes, without recursion (deep nesting must not blow Python's stack)."""

    def start(self, children):
        return children[0]

    def or_expr(self, children):
        return ("or", tuple(children))

    def and_expr(self, children):
        return ("and", tuple(children))

    def negation(self, children):
        return ("not", children[0])

    def quantified(self, children):
        quantity, target = children
        return ("of", quantity, target)

    def quantity(self, children):
        token: Token = children[0]
        return None if token.type == "ALL" else (int(token.value), token.column)

    def target(self, children):
        token: Token = children[0]
        return ("them", token.column) if token.type == "THEM" else (token.value, token.column)

    def ref(self, children):
        token: Token = children[0]
        return ("ref", token.value, token.column)


def parse_condition(text, group_names) -> Node:
    """The condition as a tree over the rule's group names; raises ConditionError only."""
    if not isinstance(text, str):
        raise ConditionError("the condition must be text, e.g. `group_a and not group_b`")
    if not text.strip():
        raise ConditionError("the condition is empty")
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionError(f"the condition is longer than {MAX_CONDITION_LENGTH} characters")
    names = list(group_names)
    try:
        tree = _parser().parse(text)
        raw = _ToNodes().transform(tree)
    except UnexpectedInput as exc:
        raise ConditionError(_explain(exc, text), getattr(exc, "column", None)) from None
    except (LarkError, RecursionError) as exc:
        raise ConditionError(f"the condition cannot be read ({type(exc).__name__})") from None
    return _resolve(raw, names)


def _explain(exc: UnexpectedInput, text: str) -> str:
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if 0 <= exc.pos_in_stream < len(text) else "?"
        return f"unexpected character {char!r}; names use letters, digits, '_' and '-'"
    if isinstance(exc, UnexpectedEOF):
        return "the condition ends too early: " + _expected(exc.expected)
    if isinstance(exc, UnexpectedToken):
        if exc.token.type == "$END":
            return "the condition ends too early: " + _expected(exc.expected)
        return f"unexpected {str(exc.token)!r}: {_expected(exc.expected)}"
    return "the condition cannot be read"


def _expected(expected) -> str:
    wanted = sorted({_FRIENDLY.get(name, name.lower()) for name in expected or ()})
    return "expected " + (", ".join(wanted) if wanted else "something else")


def _resolve(raw, names: list[str]) -> Node:
    """Check names and wildcards against the groups; iterative, so depth is bounded first."""
    depth = _depth(raw)
    if depth > MAX_DEPTH:
        raise ConditionError(f"the condition nests {depth} levels deep (limit {MAX_DEPTH})")
    return _build(raw, names)


def _depth(raw) -> int:
    deepest, stack = 0, [(raw, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if node[0] in ("and", "or"):
            stack.extend((part, level + 1) for part in node[1])
        elif node[0] == "not":
            stack.append((node[1], level + 1))
    return deepest


def _build(raw, names: list[str]) -> Node:
    kind = raw[0]
    if kind == "ref":
        _, name, column = raw
        if "*" in name:
            raise ConditionError(f"wildcard {name!r} needs a quantifier: write `1 of {name}` or `all of {name}`",
                                 column)
        if name.lower() in KEYWORDS:
            raise ConditionError(f"{name!r} is an operator and cannot stand here", column)
        if name not in names:
            raise ConditionError(f"unknown group {name!r}; the rule's groups are: {', '.join(names) or 'none'}",
                                 column)
        return Ref(name)
    if kind == "not":
        return Not(_build(raw[1], names))
    if kind in ("and", "or"):
        parts = tuple(_build(part, names) for part in raw[1])
        return And(parts) if kind == "and" else Or(parts)
    _, quantity, (target, column) = raw
    if target == "them":
        pattern, chosen = "them", [n for n in names if not n.startswith("_")]
        if not chosen:
            raise ConditionError("`them` matches no group (groups starting with '_' are left out)", column)
    else:
        pattern = target
        if target.lower() in KEYWORDS:
            raise ConditionError(f"{target!r} is an operator, not a group name", column)
        chosen = [n for n in names if fnmatch.fnmatchcase(n, target)] if "*" in target else \
            [n for n in names if n == target]
        if not chosen:
            what = "matches no group" if "*" in target else "is not a group"
            raise ConditionError(f"{target!r} {what}; the rule's groups are: {', '.join(names) or 'none'}", column)
    count = None
    if quantity is not None:
        count, count_column = quantity
        if count < 1:
            raise ConditionError("`0 of ...` is always true; use 1 or more", count_column)
        if count > len(chosen):
            raise ConditionError(f"`{count} of {pattern}` can never hold: it matches only {len(chosen)} group(s)",
                                 count_column)
    return Quantified(count, pattern, tuple(chosen))


def valid_group_name(name) -> bool:
    return isinstance(name, str) and bool(GROUP_NAME.match(name)) and name.lower() not in KEYWORDS
