"""A condition as an OR of ANDs of (possibly negated) group literals, for backends without OR/NOT.

Each AND-clause becomes one query (its negated groups are subtracted by the client when the
backend has no NOT), and the client unions the clauses' results. Fewer clauses mean fewer
queries, so for up to EXACT_LIMIT groups the form is minimised exactly (Quine-McCluskey prime
implicants, then the smallest cover); above that it is expanded algebraically with absorption.
"""
from __future__ import annotations

import itertools
import math

from .model import And, Node, Not, Or, Ref, evaluate, node_names

Literal = tuple[str, bool]          # (group name, True when the group must hold, False when it must not)
Clause = frozenset                  # of Literal
EXACT_LIMIT = 8
MAX_CLAUSES = 4096
MAX_COVER_SEARCH = 14


class NormalFormError(ValueError):
    """The condition would flatten into more clauses than any backend should be sent."""


def to_dnf(node: Node) -> list[Clause]:
    """The smallest OR-of-ANDs we can find with the same meaning as `node`."""
    names = node_names(node)
    clauses = _minimal(node, names) if len(names) <= EXACT_LIMIT else _algebraic(node, True)
    position = {name: index for index, name in enumerate(names)}
    return sorted(clauses, key=lambda c: (min(position[n] for n, _ in c) if c else -1, _clause_order(c)))


def evaluate_dnf(clauses: list[Clause], truth) -> bool:
    return any(all(bool(truth(name)) == positive for name, positive in clause) for clause in clauses)


def render_clause(clause: Clause) -> str:
    return " and ".join(name if positive else f"not {name}" for name, positive in sorted(clause, key=_literal_order))


def positives(clause: Clause) -> list[str]:
    return [name for name, positive in sorted(clause, key=_literal_order) if positive]


def negatives(clause: Clause) -> list[str]:
    return [name for name, positive in sorted(clause, key=_literal_order) if not positive]


def _literal_order(literal: Literal):
    return (not literal[1], literal[0])


def _clause_order(clause: Clause):
    return (len(clause), sorted(clause, key=_literal_order))


# ---- exact: truth table -> prime implicants -> smallest cover ----------------------------------------

def _minimal(node: Node, names: list[str]) -> list[Clause]:
    width = len(names)
    minterms = {bits for bits in range(1 << width)
                if evaluate(node, lambda name, b=bits: (b >> (width - 1 - names.index(name))) & 1)}
    if not minterms:
        return []
    primes = _prime_implicants(minterms, width)
    chosen = _smallest_cover(primes, minterms, width)
    return [_clause_of(value, mask, names) for value, mask in chosen]


def _prime_implicants(minterms: set[int], width: int) -> set[tuple[int, int]]:
    """Implicants as (value, mask): mask bits are "don't care"; merge pairs differing in one bit."""
    current = {(m, 0) for m in minterms}
    primes: set[tuple[int, int]] = set()
    while current:
        merged, used = set(), set()
        by_mask: dict[int, list[int]] = {}
        for value, mask in current:
            by_mask.setdefault(mask, []).append(value)
        for mask, values in by_mask.items():
            present = set(values)
            for value in values:
                for bit in range(width):
                    flag = 1 << bit
                    if mask & flag or value & flag:
                        continue
                    partner = value | flag
                    if partner in present:
                        merged.add((value, mask | flag))
                        used.add((value, mask))
                        used.add((partner, mask))
        primes |= current - used
        current = merged
    return primes


def _covers(implicant: tuple[int, int], minterm: int) -> bool:
    value, mask = implicant
    return (minterm & ~mask) == value


def _smallest_cover(primes: set[tuple[int, int]], minterms: set[int], width: int) -> list[tuple[int, int]]:
    ordered = sorted(primes, key=lambda p: (-bin(p[1]).count("1"), p))
    covering = {p: {m for m in minterms if _covers(p, m)} for p in ordered}
    chosen: list[tuple[int, int]] = []
    left = set(minterms)
    for minterm in sorted(minterms):  # essential implicants: the only one covering some minterm
        owners = [p for p in ordered if minterm in covering[p]]
        if len(owners) == 1 and owners[0] not in chosen:
            chosen.append(owners[0])
            left -= covering[owners[0]]
    candidates = [p for p in ordered if p not in chosen and covering[p] & left]
    if left and len(candidates) <= MAX_COVER_SEARCH:
        for size in range(1, len(candidates) + 1):
            options = [combo for combo in itertools.combinations(candidates, size)
                       if set().union(*(covering[p] for p in combo)) >= left]
            if options:
                best = min(options, key=lambda combo: sum(width - bin(p[1]).count("1") for p in combo))
                return chosen + list(best)
    while left:  # greedy fallback for very wide tables
        best = max(candidates, key=lambda p: (len(covering[p] & left), bin(p[1]).count("1")))
        chosen.append(best)
        left -= covering[best]
    return chosen


def _clause_of(value: int, mask: int, names: list[str]) -> Clause:
    width = len(names)
    literals = []
    for index, name in enumerate(names):
        flag = 1 << (width - 1 - index)
        if not mask & flag:
            literals.append((name, bool(value & flag)))
    return frozenset(literals)


# ---- algebraic: push negations down, distribute, absorb ----------------------------------------------

def _algebraic(node: Node, positive: bool) -> list[Clause]:
    if isinstance(node, Ref):
        return [frozenset({(node.name, positive)})]
    if isinstance(node, Not):
        return _algebraic(node.part, not positive)
    if isinstance(node, (And, Or)):
        parts = [_algebraic(part, positive) for part in node.parts]
        conjunctive = isinstance(node, And) == positive
        return _product(parts) if conjunctive else _absorb([c for part in parts for c in part])
    names, needed = node.names, node.needed
    size = needed if positive else len(names) - needed + 1
    if math.comb(len(names), size) > MAX_CLAUSES:
        raise NormalFormError(f"`{node.pattern}` expands into more than {MAX_CLAUSES} clauses")
    return _absorb([frozenset((name, positive) for name in combo) for combo in itertools.combinations(names, size)])


def _product(parts: list[list[Clause]]) -> list[Clause]:
    result = [frozenset()]
    for part in parts:
        combined = []
        for left in result:
            for right in part:
                clause = left | right
                if not any((name, not sign) in clause for name, sign in clause):
                    combined.append(clause)
        result = _absorb(combined)
        if len(result) > MAX_CLAUSES:
            raise NormalFormError(f"the condition expands into more than {MAX_CLAUSES} clauses")
    return result


def _absorb(clauses: list[Clause]) -> list[Clause]:
    """Drop duplicates and any clause that contains another (it adds nothing to the OR)."""
    unique = sorted(set(clauses), key=len)
    kept: list[Clause] = []
    for clause in unique:
        if not any(other <= clause for other in kept):
            kept.append(clause)
    return kept
