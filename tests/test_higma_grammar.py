"""The hIGMA condition grammar and its OR-of-ANDs form: every operator, precedence, parentheses,
`N of`, `them`, bad input, and property tests (hypothesis) that the parsers never crash and that the
normal form means what the condition means.

The property tests use an oracle that does not share code with the parser: the condition text is
translated token by token into a Python expression (Python's `not` > `and` > `or` binding is SIGMA's),
with `N of p` as a sum, and evaluated by Python itself.
"""
from __future__ import annotations

import fnmatch
import itertools
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from higma.condition import ConditionError, parse_condition
from higma.model import And, Not, Or, Quantified, Ref, RuleError, evaluate, render_condition
from higma.normal_form import NormalFormError, evaluate_dnf, render_clause, to_dnf
from higma.parser import parse_rule_text

NAMES = ["x-1", "x-2", "y_1", "y_2", "z"]
WIDE = [f"g{i}" for i in range(10)]   # more than EXACT_LIMIT groups: the algebraic path


# ---- oracle ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\(|\)|[A-Za-z0-9_*\-]+")


def oracle(text: str, names: list[str], truth: dict[str, bool]) -> bool:
    """Evaluate the condition text with Python's own boolean operators."""
    tokens = _TOKEN.findall(text)
    out, i = [], 0
    while i < len(tokens):
        token = tokens[i]
        low = token.lower()
        if i + 2 < len(tokens) and tokens[i + 1].lower() == "of" and (low == "all" or token.isdigit()):
            pattern = tokens[i + 2]
            chosen = [n for n in names if not n.startswith("_")] if pattern.lower() == "them" else \
                [n for n in names if fnmatch.fnmatchcase(n, pattern)]
            needed = len(chosen) if low == "all" else int(token)
            out.append(f"(sum([{', '.join(repr(truth[n]) for n in chosen)}]) >= {needed})")
            i += 3
            continue
        if low in ("and", "or", "not"):
            out.append(f" {low} ")
        elif token in "()":
            out.append(token)
        else:
            out.append(repr(truth[token]))
        i += 1
    return bool(eval("".join(out), {"__builtins__": {"sum": sum}}))  # noqa: S307 - our own generated text


def truth_of(names, bits) -> dict[str, bool]:
    return dict(zip(names, bits))


# ---- operators, precedence, parentheses ---------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("x-1", Ref("x-1")),
    ("x-1 and z", And((Ref("x-1"), Ref("z")))),
    ("x-1 or z", Or((Ref("x-1"), Ref("z")))),
    ("not z", Not(Ref("z"))),
    ("x-1 and y_1 or z", Or((And((Ref("x-1"), Ref("y_1"))), Ref("z")))),              # and binds tighter than or
    ("z or x-1 and y_1", Or((Ref("z"), And((Ref("x-1"), Ref("y_1")))))),
    ("not x-1 and z", And((Not(Ref("x-1")), Ref("z")))),                               # not binds tighter than and
    ("not x-1 or z", Or((Not(Ref("x-1")), Ref("z")))),
    ("(x-1 or y_1) and not z", And((Or((Ref("x-1"), Ref("y_1"))), Not(Ref("z"))))),  # parentheses win
    ("not (x-1 or z)", Not(Or((Ref("x-1"), Ref("z"))))),
    ("((z))", Ref("z")),
    ("not not z", Not(Not(Ref("z")))),
    ("1 of x*", Quantified(1, "x*", ("x-1", "x-2"))),
    ("all of y_*", Quantified(None, "y_*", ("y_1", "y_2"))),
    ("2 of them", Quantified(2, "them", tuple(NAMES))),
    ("1 of them", Quantified(1, "them", tuple(NAMES))),
    ("all of them", Quantified(None, "them", tuple(NAMES))),
    ("not 1 of x*", Not(Quantified(1, "x*", ("x-1", "x-2")))),                          # of binds tighter than not
    ("z and 1 of x* or y_1", Or((And((Ref("z"), Quantified(1, "x*", ("x-1", "x-2")))), Ref("y_1")))),
    ("1 of z", Quantified(1, "z", ("z",))),
    ("X-1 AND NOT Z".replace("X-1", "x-1").replace("Z", "z"), And((Ref("x-1"), Not(Ref("z"))))),
    ("x-1 And z Or y_1", Or((And((Ref("x-1"), Ref("z"))), Ref("y_1")))),
    ("ALL OF THEM", Quantified(None, "them", tuple(NAMES))),
    ("2 Of x*", Quantified(2, "x*", ("x-1", "x-2"))),
    ("\tx-1\nand\n  z ", And((Ref("x-1"), Ref("z")))),
])
def test_operators_and_precedence(text, expected):
    assert parse_condition(text, NAMES) == expected


def test_names_may_contain_dash_underscore_and_keyword_prefixes():
    names = ["android", "order_form", "nota-bene", "of-x", "them_all", "_private", "a1"]
    assert parse_condition("android and order_form or nota-bene", names) == \
        Or((And((Ref("android"), Ref("order_form"))), Ref("nota-bene")))
    assert parse_condition("not of-x and them_all", names) == And((Not(Ref("of-x")), Ref("them_all")))
    # `them` leaves out groups starting with an underscore, as in SIGMA
    assert parse_condition("all of them", names).names == ("android", "order_form", "nota-bene", "of-x", "them_all", "a1")
    assert parse_condition("1 of _*", names).names == ("_private",)


def test_render_condition_round_trips():
    for text in ("x-1 and y_1 or z", "(x-1 or y_1) and not z", "not (x-1 and z)", "2 of them or z",
                 "not 1 of x* and z", "x-1 and (y_1 or not z)"):
        node = parse_condition(text, NAMES)
        assert parse_condition(render_condition(node), NAMES) == node


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("   ", "empty"),
    ("x-1 and", "ends too early"),
    ("and z", "unexpected 'and'"),
    ("x-1 z", "unexpected 'z'"),
    ("(x-1 or z", "expected ')'"),
    ("x-1 or z)", "unexpected ')'"),
    ("()", "unexpected ')'"),
    ("x-1 & z", "unexpected character '&'"),
    ("x-1 || z", "unexpected character '|'"),
    ("w", "unknown group 'w'"),
    ("x-1 and nope", "unknown group 'nope'"),
    ("1 of q*", "'q*' matches no group"),
    ("all of nope", "'nope' is not a group"),
    ("x*", "needs a quantifier"),
    ("3 of x*", "can never hold"),
    ("6 of them", "can never hold"),
    ("0 of x*", "always true"),
    ("1 of", "ends too early"),
    ("of x*", "unexpected 'of'"),
    ("not", "ends too early"),
    ("1 x*", "unexpected 'x*'"),
    ("them", "unexpected 'them'"),
    ("x-1 and not", "ends too early"),
    ("x" * 5000, "longer than"),
    ("not " * 70 + "z", "nests"),
    ("(" * 70 + "z" + ")" * 70, None),
])
def test_bad_conditions_are_refused_with_a_reason(text, reason):
    if reason is None:  # deep parentheses collapse: they are not nesting of operators
        assert parse_condition(text, NAMES) == Ref("z")
        return
    with pytest.raises(ConditionError) as caught:
        parse_condition(text, NAMES)
    assert reason in str(caught.value)


def test_error_points_at_the_column():
    with pytest.raises(ConditionError) as caught:
        parse_condition("x-1 and and z", NAMES)
    assert caught.value.column == 9


def test_non_text_condition_is_an_error():
    for value in (None, 3, ["x-1"], {"a": 1}):
        with pytest.raises(ConditionError):
            parse_condition(value, NAMES)


# ---- normal form --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, clauses", [
    ("x-1 and y_1 or z", {"z", "x-1 and y_1"}),
    ("(x-1 or y_1) and not z", {"x-1 and not z", "y_1 and not z"}),
    ("(x-1 and y_1) or (x-1 and not y_1)", {"x-1"}),                    # minimised, not just expanded
    ("x-1 or 1 of y_*", {"x-1", "y_1", "y_2"}),
    ("2 of them", {f"{a} and {b}" for a, b in itertools.combinations(sorted(NAMES), 2)}),
    ("x-1 and not (y_1 and z)", {"x-1 and not y_1", "x-1 and not z"}),
    ("x-1 and not x-1", set()),
])
def test_normal_form_examples(text, clauses):
    dnf = to_dnf(parse_condition(text, NAMES))
    rendered = {" and ".join(sorted(render_clause(c).split(" and "), key=lambda t: (t.startswith("not"), t)))
                for c in dnf}
    normalised = {" and ".join(sorted(c.split(" and "), key=lambda t: (t.startswith("not"), t))) for c in clauses}
    assert rendered == normalised


def test_wide_quantifiers_are_refused_instead_of_exploding():
    names = [f"g{i}" for i in range(20)]
    with pytest.raises(NormalFormError):
        to_dnf(parse_condition("10 of them", names))


# ---- property tests -----------------------------------------------------------------------------------------

def _conditions(names: list[str], patterns: list[str]):
    counts = st.sampled_from(["1", "2", "all", "ALL"])
    words = {w: st.sampled_from([w, w.upper(), w.capitalize()]) for w in ("and", "or", "not")}
    atoms = st.one_of(
        st.sampled_from(names),
        st.builds(lambda n, p: f"{n} of {p}", counts, st.sampled_from(patterns)),
    )

    def extend(inner):
        return st.one_of(
            st.builds(lambda w, a: f"{w} {a}", words["not"], inner),
            st.builds(lambda a, w, b: f"{a} {w} {b}", inner, words["and"], inner),
            st.builds(lambda a, w, b: f"{a} {w} {b}", inner, words["or"], inner),
            st.builds(lambda a: f"({a})", inner),
        )
    return st.recursive(atoms, extend, max_leaves=7)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_conditions(NAMES, ["x*", "y_*", "them", "z"]), bits=st.lists(st.booleans(), min_size=5, max_size=5))
def test_parser_precedence_and_normal_form_agree_with_python(text, bits):
    try:
        node = parse_condition(text, NAMES)
    except ConditionError as exc:  # only "2 of z" style impossibilities are refused here
        assert "can never hold" in str(exc)
        return
    truth = truth_of(NAMES, bits)
    expected = oracle(text, NAMES, truth)
    assert evaluate(node, truth.get) == expected
    assert evaluate_dnf(to_dnf(node), truth.get) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_conditions(WIDE, ["g*", "them", "g1", "g2"]), bits=st.lists(st.booleans(), min_size=10, max_size=10))
def test_algebraic_normal_form_for_wide_rules_keeps_the_meaning(text, bits):
    try:
        node = parse_condition(text, WIDE)
        dnf = to_dnf(node)
    except (ConditionError, NormalFormError):
        return
    truth = truth_of(WIDE, bits)
    assert evaluate_dnf(dnf, truth.get) == oracle(text, WIDE, truth)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_condition_parser_never_crashes_on_arbitrary_text(text):
    try:
        parse_condition(text, NAMES)
    except ConditionError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("()andortheofl 12*-_xyz\tAND")), max_size=80))
def test_condition_parser_never_crashes_on_operator_soup(text):
    try:
        parse_condition(text, NAMES)
    except ConditionError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_rule_parser_never_crashes_on_arbitrary_text(text):
    try:
        parse_rule_text(text, "fuzz.yaml")
    except RuleError as exc:
        assert exc.problems and all(p.file == "fuzz.yaml" for p in exc.problems)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                     st.sampled_from(["P0401.001", "P0203", "P0102", "P0401", "SHA256", "SSDEEP", ">2025-01-01",
                                      "*.test", "/re(/", "a..b", "x and y", "1 of them"]))
_yamlish = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=12) | st.sampled_from(
                                                              ["title", "id", "pivots", "condition", "value", "id",
                                                               "implementation", "P0401.001", "P0203", "g"]),
                                                              inner, max_size=5)), max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pivots=_yamlish, condition=_scalars, title=_scalars)
def test_rule_parser_never_crashes_on_arbitrary_structures(pivots, condition, title):
    import yaml

    document = {"title": title, "id": "fuzz", "pivots": pivots, "condition": condition}
    text = yaml.safe_dump(document, allow_unicode=True)
    try:
        rule = parse_rule_text(text, "fuzz.yaml")
    except RuleError as exc:
        assert all(p.file == "fuzz.yaml" and p.field and p.reason for p in exc.problems)
        return
    assume(rule is not None)
    assert rule.groups and rule.condition is not None
