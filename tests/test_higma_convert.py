"""Converting rules to backend queries. The urlscan output agrees with the urlscan hIGMA plugin's
documented mappings where they are right and is correct where the plugin is wrong (its condition
splitting drops branches and NOTs). Meaning is checked by parsing the produced queries with small
independent evaluators (Lucene-style for urlscan, SQL-style for SecurityTrails, Shodan's filter list)
and comparing them with the rule's condition on every truth assignment, also on random conditions."""
from __future__ import annotations

import itertools
import re

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lark import Lark, Tree

from higma.condition import ConditionError
from higma.convert import TARGETS, ConversionError, convert
from higma.model import RuleError, evaluate
from higma.parser import load_rule, parse_rule_text

HEAD = "title: conversion test\nid: conv-1\n"


def rule(pivots: str, condition: str):
    return parse_rule_text(HEAD + "pivots:\n" + pivots + f"condition: {condition}\n", "conv.yaml")


def rules_dir(shared_dir):
    return shared_dir / "reference" / "higma" / "rules"


# ---- independent evaluators of the produced queries -------------------------------------------------------------

LUCENE = Lark(r"""
?start: or_
?or_: and_ (_OR and_)*
?and_: not_ (_AND not_)*
?not_: _NOT not_ -> neg
     | atom
?atom: TERM -> term
     | "(" or_ ")"
_OR: "OR"
_AND: "AND"
_NOT: "NOT"
TERM: /[a-z][a-z._]*:("(\\.|[^"\\])*"|[^\s()"]+)/
%ignore " "
""", parser="lalr")

SQLISH = Lark(r"""
?start: or_
?or_: and_ (_OR and_)*
?and_: atom (_AND atom)*
?atom: TERM -> term
     | "(" or_ ")"
_OR: "OR"
_AND: "AND"
TERM: /[a-z_0-9]+ = '[^']*'/
%ignore " "
""", parser="lalr")


def tree_eval(tree, truth_of_term) -> bool:
    if isinstance(tree, Tree):
        if tree.data == "term":
            return truth_of_term(str(tree.children[0]))
        if tree.data == "neg":
            return not tree_eval(tree.children[0], truth_of_term)
        values = [tree_eval(child, truth_of_term) for child in tree.children]
        return all(values) if tree.data == "and_" else any(values)
    return truth_of_term(str(tree))


def lucene_safe(tree) -> bool:
    """Every NOT is an operand of an AND that also has a positive operand (Lucene's only safe use)."""
    if not isinstance(tree, Tree):
        return True
    for child in tree.children:
        if isinstance(child, Tree) and child.data == "neg":
            if tree.data != "and_" or all(isinstance(c, Tree) and c.data == "neg" for c in tree.children):
                return False
    return all(lucene_safe(child) for child in tree.children)


def shodan_terms(query: str) -> list[str]:
    return re.findall(r'-?[a-z.]+:(?:"[^"]*"|\S+)', query)


def meaning_of(conversion, term_groups: dict[str, str], truth: dict[str, bool]) -> bool:
    """Whether a subject with the given group truths is found, following the conversion's own
    instructions: union of queries, minus the `subtract` queries of each."""
    def term_truth(term: str) -> bool:
        return truth[term_groups[term]]

    found = False
    for query in conversion.queries:
        if conversion.backend == "shodan":
            hit = all(not term_truth(t[1:]) if t.startswith("-") else term_truth(t) for t in shodan_terms(query.query))
        elif conversion.backend == "securitytrails":
            hit = tree_eval(SQLISH.parse(query.query), term_truth)
        else:
            hit = tree_eval(LUCENE.parse(query.query), term_truth)
        for sub in query.subtract:
            if conversion.backend == "securitytrails":
                removed = tree_eval(SQLISH.parse(sub["query"]), term_truth)
            elif conversion.backend == "shodan":
                removed = all(term_truth(t) for t in shodan_terms(sub["query"]))
            else:
                removed = tree_eval(LUCENE.parse(sub["query"]), term_truth)
            hit = hit and not removed
        found = found or hit
    return found


# groups with one pivot each, whose terms each backend renders as one filter
VALUES = {"a": "Alpha Portal", "b": "Bravo Panel", "c": "Charlie Login", "d": "Delta Update"}
TITLE_PIVOTS = "".join(f"  {g}:\n    - P0401.001: {v}\n" for g, v in VALUES.items())
TITLE_TERMS = {"urlscan": {f'page.title:"{v}"': g for g, v in VALUES.items()},
               "shodan": {f'http.title:"{v}"': g for g, v in VALUES.items()}}
MX = {g: f"mx.{g}{g}.test" for g in VALUES}
MX_PIVOTS = "".join(f"  {g}:\n    - P0103.002: {v}\n" for g, v in MX.items())
MX_TERMS = {f"mx = '{v}'": g for g, v in MX.items()}


def check_meaning(condition: str, backend: str):
    pivots, terms = (MX_PIVOTS, MX_TERMS) if backend == "securitytrails" else (TITLE_PIVOTS, TITLE_TERMS[backend])
    parsed = rule(pivots, condition)
    conversion = convert(parsed, backend)
    assert conversion.unsupported == [] and conversion.not_covered == []
    for bits in itertools.product([False, True], repeat=4):
        truth = dict(zip(VALUES, bits))
        assert meaning_of(conversion, terms, truth) == evaluate(parsed.condition, truth.get), (condition, truth)
    if backend == "urlscan":
        assert len(conversion.queries) == 1
        assert lucene_safe(LUCENE.parse(conversion.queries[0].query)), conversion.queries[0].query
    return conversion


# ---- the shared rules --------------------------------------------------------------------------------------------

def test_every_shared_rule_converts_for_every_target(shared_dir):
    for path in sorted(rules_dir(shared_dir).glob("*.yaml")):
        parsed = load_rule(path)
        for target in TARGETS:
            result = convert(parsed, target)
            document = result.as_json()
            assert document["rule"]["id"] == parsed.id
            for query in result.queries:
                assert query.query and set(query.covers) <= set(parsed.pivot_ids), (path.name, target, query)
            # nothing disappears silently: each group is covered by a query, unsupported or not covered
            accounted = {g.removeprefix("not ") for q in result.queries for g in q.groups}
            accounted |= {m.group for m in result.unsupported}
            accounted |= {part.split()[-1] for clause in result.not_covered for part in clause.split(" and ")}
            assert set(parsed.used_groups()) <= accounted, (path.name, target)


PLUGIN_MAPPINGS = {  # urlscan-plugin-README.md "Supported Pivots", value as each shared rule writes it
    "P0102": "page.domain:{value}",
    "P0203": "page.asn:AS{value}",
    "P0401.001": 'page.title:"{value}"',
    "P0401.004": "hash:{value}",
    "P0401.007": "page.status:{value}",
    "P0401.006": 'task.url:"{value}"',
}
WE_DIFFER = {  # see docs/higma.md "Where we differ from the urlscan plugin"
    "P0201": ("{value}", "page.ip:{value}"),
}


def test_urlscan_agrees_with_the_plugin_mappings_for_every_shared_item(shared_dir):
    config = yaml.safe_load((shared_dir / "reference" / "higma" / "urlscan-plugin-configuration.yaml").read_text())
    documented = {entry["id"] for entry in config["supported-pivots"]}
    assert documented == set(PLUGIN_MAPPINGS) | set(WE_DIFFER)
    for path in sorted(rules_dir(shared_dir).glob("*.yaml")):
        parsed = load_rule(path)
        query = " ".join(q.query for q in convert(parsed, "urlscan").queries)
        for group in parsed.groups.values():
            for item in group.items:
                if item.implementation not in (None, "SHA256"):
                    continue
                value = item.targets[0].matcher.display
                if item.pivot in PLUGIN_MAPPINGS:
                    assert PLUGIN_MAPPINGS[item.pivot].format(value=value) in query, (path.name, item.pivot, query)
                else:
                    plugin, ours = WE_DIFFER[item.pivot]
                    assert ours.format(value=value) in query


def test_landupdate_matches_the_plugin_example_output_and_keeps_it_in_one_query(shared_dir):
    example = yaml.safe_load((shared_dir / "reference" / "higma" / "urlscan-plugin-example-output.yaml").read_text())
    result = convert(load_rule(rules_dir(shared_dir) / "landupdate808-backend-c2-pivot.yaml"), "urlscan")
    assert len(result.queries) == 1
    query = result.queries[0]
    for documented in example["queries"]:
        for term in documented["query"].split(" AND "):
            assert term in query.query, term
        assert set(documented["pivot_ids"]) <= set(query.covers)
    assert query.query.index("page.status:200") < query.query.index(" OR hash:")   # the two branches are ORed
    failed = example["failed_queries"][0]
    assert [m.group for m in result.unsupported] == ["ads_panel_hash-02"]
    assert "SSDEEP" in result.unsupported[0].reason and result.unsupported[0].pivot == failed["pivot_ids"][0]
    assert result.not_covered == ["ads_panel_hash-02"] and result.notes


def test_readme_examples_of_the_plugin(shared_dir):
    rules = rules_dir(shared_dir)
    teams = convert(load_rule(rules / "fake-msteams-to-deliver-oyster.yaml"), "urlscan").queries[0].query
    assert teams == ('page.title:"Download Microsoft Teams Desktop and Mobile Apps | Microsoft Teams" '
                     'AND NOT page.domain:www.microsoft.com')
    chrome = convert(load_rule(rules / "chromusimus-fake-update.yaml"), "urlscan").queries[0].query
    assert chrome == ("hash:2bb1a2c9b9ae4d36f62ea53811554636cf3c5b74d9845e1dbacca0ce62dc7880 AND "
                      "hash:46c86deeb625c7616a77777ca7ee7bea12493b9611923c66405796f3dcce3185")
    clickfix = convert(load_rule(rules / "clickfix-verification-script-inject.yaml"), "urlscan").queries[0].query
    assert clickfix == 'page.ip:185.117.91.141 OR page.title:"Verification Gateway"'


# ---- where the plugin is wrong -------------------------------------------------------------------------------------

@pytest.mark.parametrize("condition", [
    "a and b or c",              # the plugin keeps only `a`
    "(a or b) and not c",        # the plugin loses the NOT
    "a or b and not c",
    "not a and b",
    "a and not (b or c)",
    "a and (not b or c)",        # a NOT Lucene cannot hold inside an OR: rendered as OR-of-ANDs instead
    "(a and not b) or (c and not a)",
    "1 of them and not d",
    "2 of them",
    "all of them",
    "a and b and c and not d or d and a",
])
@pytest.mark.parametrize("backend", ["urlscan", "shodan", "securitytrails"])
def test_conversion_keeps_every_branch_and_every_not(condition, backend):
    check_meaning(condition, backend)


def test_backends_without_or_or_not_say_what_the_client_must_do():
    shodan = convert(rule(TITLE_PIVOTS, "a or b"), "shodan")
    assert [q.query for q in shodan.queries] == ['http.title:"Alpha Portal"', 'http.title:"Bravo Panel"']
    assert any("union" in text for text in shodan.client_side)
    negated = convert(rule(TITLE_PIVOTS, "a and not b"), "shodan")
    assert negated.queries[0].query == 'http.title:"Alpha Portal" -http.title:"Bravo Panel"'
    assert negated.client_side == []
    st_result = convert(rule(MX_PIVOTS, "a and not b"), "securitytrails")
    assert st_result.queries[0].query == "mx = 'mx.aa.test'"
    assert st_result.queries[0].subtract[0]["query"] == "mx = 'mx.bb.test'"
    assert any("subtract" in text for text in st_result.client_side)
    one = convert(rule(MX_PIVOTS, "a or b or c"), "securitytrails")
    assert [q.query for q in one.queries] == ["mx = 'mx.aa.test' OR mx = 'mx.bb.test' OR mx = 'mx.cc.test'"]


def test_unsupported_pieces_are_listed_with_reasons():
    parsed = rule("  a:\n    - P0401.001: '/adm[0-9]+/'\n  b:\n    - P0101.002: 2025-01-01..2025-02-01\n"
                  "  c:\n    - P0401.001: Alpha\n  d:\n    - P0401: ads.php\n", "a or b or c or d")
    urlscan = convert(parsed, "urlscan")
    reasons = {m.group: m.reason for m in urlscan.unsupported}
    assert "regular expressions" in reasons["a"] and "range" in reasons["b"]
    # a parent pivot stands for any of its children; urlscan has fields for only some of them
    assert "P0401.002" in reasons["d"] and "parent pivot" in reasons["d"]
    assert [q.query for q in urlscan.queries] == ['page.title:"Alpha"']
    assert sorted(urlscan.not_covered) == ["a", "b", "d"]
    glob_and_asn = convert(rule("  d:\n    - P0203: AS64500\n  e:\n    - P0102: '*.example'\n", "d or e"), "urlscan")
    assert glob_and_asn.queries[0].query == "page.asn:AS64500 OR page.domain:*.example"


def test_partly_expressible_group_asks_the_client_to_check_the_rest():
    parsed = rule("  g:\n    - P0401.001: Alpha\n    - P0102.003: login\n", "g")
    result = convert(parsed, "urlscan")
    assert result.queries[0].query == 'page.title:"Alpha"'
    assert result.queries[0].check and "P0102.003" in result.queries[0].check[0]
    assert any("verify this part locally" in text for text in result.client_side)


def test_local_target_keeps_everything():
    parsed = rule("  a:\n    - P0401.001: '*Portal*'\n  b:\n    - P0203: AS64500\n    - P0401.007: '>=400'\n"
                  "  c:\n    - id: P0401.004\n      value: '3:hRkZp1WQvB7yAqLdmQkEHx9nAqRAdTwIfqo21KRoAqTNoMhPlsAqM:hRkH1vBdyQkE9nAPtoAqoMhPlsA'\n"
                  "      implementation: SSDEEP\n", "(a or b) and not c")
    local = convert(parsed, "local")
    text = local.queries[0].query
    assert text == ('(P0401.001 like "*Portal*" OR (P0203 = AS64500 AND P0401.007 >= 400)) AND NOT P0401.004 [SSDEEP] '
                    '~ "3:hRkZp1WQvB7yAqLdmQkEHx9nAqRAdTwIfqo21KRoAqTNoMhPlsAqM:hRkH1vBdyQkE9nAPtoAqoMhPlsA" '
                    '(SSDEEP similarity >= 60)')
    assert local.unsupported == [] and local.client_side == [] and set(local.queries[0].covers) == \
        {"P0401.001", "P0203", "P0401.007", "P0401.004"}


def test_unknown_target_is_an_error():
    with pytest.raises(ConversionError, match="choose one of"):
        convert(rule(TITLE_PIVOTS, "a"), "censys")


# ---- property: random conditions keep their meaning on every backend ----------------------------------------------

def _conditions():
    atoms = st.one_of(st.sampled_from(list(VALUES)),
                      st.builds(lambda n, p: f"{n} of {p}", st.sampled_from(["1", "2", "all"]),
                                st.sampled_from(["them", "a", "b"])))
    return st.recursive(atoms, lambda inner: st.one_of(
        st.builds(lambda a: f"not {a}", inner),
        st.builds(lambda a, b: f"{a} and {b}", inner, inner),
        st.builds(lambda a, b: f"{a} or {b}", inner, inner),
        st.builds(lambda a: f"({a})", inner)), max_leaves=6)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition=_conditions(), backend=st.sampled_from(["urlscan", "shodan", "securitytrails"]))
def test_random_conditions_keep_their_meaning(condition, backend):
    try:
        rule(TITLE_PIVOTS, condition)
    except (RuleError, ConditionError):
        assume(False)  # conditions that select nothing positive, or can never hold, are refused earlier
    check_meaning(condition, backend)
