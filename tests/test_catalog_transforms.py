"""Catalog transforms through Maltego's v2 XML over a real HTTP socket.

Expected answers are computed from the catalog itself, so a catalog edit changes the expectation,
not the test. The transforms read no store, so the session demo server is enough.
"""
from __future__ import annotations

import json
import re

import pytest

from dtf_catalog import default_catalog
from entities.types import value_property
from support import maltego_request, post, parse_response, run_transform

CATALOG = default_catalog()
ALL = dict(soft=500, hard=500)

# Every catalog transform; the first test fails when one is added without being listed (and tested) here.
TESTED = {
    "dtfcatalogtactictopivots", "dtfcatalogpivottotactic", "dtfcatalogpivottorelated", "dtfcatalogpivottoexamples",
    "dtfcatalogexampletopivots", "dtfcatalogexampletovalues", "dtfcatalogphrasetoentity",
    "dtfcatalogpivotsfordomain", "dtfcatalogpivotsforipv4address", "dtfcatalogpivotsforipv6address",
    "dtfcatalogpivotsforurl",
}


def transforms_json(base_url: str) -> list[dict]:
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/transforms.json", timeout=10) as answer:
        return json.load(answer)


def ids(response, entity_type: str) -> list[str]:
    return [e.value for e in response.entities if e.type == entity_type]


def test_catalog_transforms_are_listed_as_kind_catalog(demo_server):
    listed = [t for t in transforms_json(demo_server.url) if t["kind"] == "catalog"]
    assert {t["name"] for t in listed} == TESTED
    for spec in listed:
        assert re.fullmatch(r"[a-z0-9]+", spec["name"]), spec["name"]
        assert spec["set"] == "DTF Catalog"
        assert spec["path"] == f"/run/{spec['name']}/"
        assert spec["outputs"], spec["name"]


def test_tactic_to_pivots_lists_each_tactic_in_matrix_order(demo_server):
    seen = []
    for tactic in CATALOG.tactics.values():
        answer = run_transform(demo_server.url, "dtfcatalogtactictopivots", "dtf.PivotTactic", tactic.id.lower(), **ALL)
        got = ids(answer, "dtf.Pivot")
        assert sorted(got) == sorted(p.id for p in CATALOG.pivots_of_tactic(tactic.id))
        for position, pivot_id in enumerate(got):  # each child comes after its parent
            parent = CATALOG.pivot(pivot_id).parent
            assert parent is None or got.index(parent) < position
        for entity in answer.entities:
            pivot = CATALOG.pivot(entity.value)
            assert entity.fields[value_property("dtf.Pivot")] == pivot.id
            assert entity.fields["dtf.pivot.name"] == pivot.name
            assert entity.fields["dtf.tactic"] == tactic.id
            assert entity.fields["dtf.parent"] == (pivot.parent or "")
            assert entity.fields["dtf.description"] == pivot.description
            assert entity.link["maltego.link.color"] == tactic.colour
            assert entity.link["dtf.pivot"] == pivot.id
            assert pivot.id in entity.display
        seen += got
    assert sorted(seen) == sorted(CATALOG.pivots) and len(seen) == 37


def test_tactic_to_pivots_respects_the_result_limit(demo_server):
    answer = run_transform(demo_server.url, "dtfcatalogtactictopivots", "dtf.PivotTactic", "PTA0001", soft=3, hard=3)
    assert len(answer.entities) == 3
    total = len(CATALOG.pivots_of_tactic("PTA0001"))
    assert f"showing 3 of {total}" in answer.message_text()


def test_pivot_to_tactic(demo_server):
    answer = run_transform(demo_server.url, "dtfcatalogpivottotactic", "dtf.Pivot", "P0401.007")
    assert [(e.type, e.value) for e in answer.entities] == [("dtf.PivotTactic", "PTA0004")]
    assert answer.entities[0].fields["dtf.tactic.name"] == CATALOG.tactic("PTA0004").name


def test_pivot_to_parent_and_children(demo_server):
    child = run_transform(demo_server.url, "dtfcatalogpivottorelated", "dtf.Pivot", "P0101.010")
    assert ids(child, "dtf.Pivot") == ["P0101"]
    assert child.entities[0].link["maltego.link.label"].startswith("parent:")

    parent = run_transform(demo_server.url, "dtfcatalogpivottorelated", "dtf.Pivot", "P0101", **ALL)
    assert ids(parent, "dtf.Pivot") == [p.id for p in CATALOG.children("P0101")]
    assert all(e.link["maltego.link.label"].startswith("child:") for e in parent.entities)

    alone = run_transform(demo_server.url, "dtfcatalogpivottorelated", "dtf.Pivot", "P0202")
    assert alone.entities == []
    assert "neither a parent nor children" in alone.message_text()


def test_pivot_to_examples(demo_server):
    answer = run_transform(demo_server.url, "dtfcatalogpivottoexamples", "dtf.Pivot", "P0101.010", **ALL)
    expected = [e.id for e in CATALOG.examples_using("P0101.010")]
    assert "EX0001" in expected
    assert ids(answer, "dtf.Example") == expected
    example = next(e for e in answer.entities if e.value == "EX0001")
    assert example.fields["dtf.example.source"] == CATALOG.example("EX0001").source
    assert example.fields["dtf.example.year"] == str(CATALOG.example("EX0001").year)
    assert example.link["dtf.pivot"] == "P0101.010"

    unused = run_transform(demo_server.url, "dtfcatalogpivottoexamples", "dtf.Pivot", "P0303")
    assert unused.entities == [] and "no DTF example uses P0303" in unused.message_text()


def test_example_to_pivots(demo_server):
    for example in CATALOG.examples.values():
        answer = run_transform(demo_server.url, "dtfcatalogexampletopivots", "dtf.Example", example.id, **ALL)
        assert ids(answer, "dtf.Pivot") == list(example.pivot_ids), example.id
    first = run_transform(demo_server.url, "dtfcatalogexampletopivots", "dtf.Example", "EX0001", **ALL)
    as_link = next(e for e in first.entities if e.value == "P0203").link["maltego.link.label"]
    assert "SmartApeSG (ZPHP)" in as_link and "TA582" in as_link  # P0203 was used in several groups


def test_example_to_values_are_annotated_like_pivot_results(demo_server):
    answer = run_transform(demo_server.url, "dtfcatalogexampletovalues", "dtf.Example", "EX0001", **ALL)
    ns = next(e for e in answer.entities if e.value == "dns1.regway.com")
    assert ns.type == "maltego.NSRecord"
    assert ns.fields["fqdn"] == "dns1.regway.com"
    assert ns.fields["dtf.pivot"] == "P0101.010"
    assert ns.link["maltego.link.label"] == "P0101.010 Name Server = dns1.regway.com"
    assert ns.link["dtf.pivot"] == "P0101.010"
    assert ns.link["dtf.tactic"] == "PTA0001"
    assert ns.link["dtf.value"] == "dns1.regway.com"
    assert ns.link["maltego.link.color"] == CATALOG.tactic("PTA0001").colour
    trail = json.loads(ns.fields["dtf.trail"])
    assert trail == [{"pivot": "P0101.010", "value": "dns1.regway.com", "from": "EX0001"}]
    # normalised where the kind allows ("AS202015" -> 202015, ".top" -> top); a value used twice appears once
    assert sorted((e.fields["dtf.pivot"], e.type, e.value) for e in answer.entities) == sorted([
        ("P0101.010", "maltego.NSRecord", "dns1.regway.com"),
        ("P0203", "maltego.AS", "202015"),
        ("P0101.001", "dtf.Registrar", "Global Domain Group LLC"),
        ("P0101.011", "dtf.NameServerDomain", "ns.cloudflare.com"),
        ("P0203", "maltego.AS", "399629"),
        ("P0101.010", "maltego.NSRecord", "ns1.he.net"),
        ("P0102.001", "dtf.TLD", "top"),
    ])


def test_example_values_keep_patterns_and_skip_missing_values(demo_server):
    dated = run_transform(demo_server.url, "dtfcatalogexampletovalues", "dtf.Example", "EX0010", **ALL)
    assert [(e.type, e.value) for e in dated.entities] == [("dtf.RegistrationDate", "2025-03-24")]

    pattern = run_transform(demo_server.url, "dtfcatalogexampletovalues", "dtf.Example", "EX0007", **ALL)
    mx = next(e for e in pattern.entities if e.fields["dtf.pivot"] == "P0103.002")
    assert (mx.type, mx.value) == ("maltego.MXRecord", "mx*.improvmx.com")  # a glob, kept as given
    assert "Kept as the example gives it" in mx.display

    nulls = [e for e in CATALOG.examples.values() if any(i.value is None for g in e.groups for i in g.pivots)]
    assert nulls, "the catalog has examples with pivots used without a value"
    for example in nulls:
        answer = run_transform(demo_server.url, "dtfcatalogexampletovalues", "dtf.Example", example.id, **ALL)
        given = {(i.pivot, str(i.value)) for g in example.groups for i in g.pivots if i.value is not None}
        assert len(answer.entities) == len(given)
        assert "without a published value" in answer.message_text()
        assert all(e.value and e.value != "None" for e in answer.entities)


def test_example_values_carry_the_input_trail_forward(demo_server):
    earlier = json.dumps([{"pivot": "P0203", "value": "202015", "from": "seed.example"}])
    answer = run_transform(demo_server.url, "dtfcatalogexampletovalues", "dtf.Example", "EX0009",
                           properties={"dtf.trail": earlier}, **ALL)
    assert answer.entities
    for entity in answer.entities:
        trail = json.loads(entity.fields["dtf.trail"])
        assert trail[0] == {"pivot": "P0203", "value": "202015", "from": "seed.example"}
        assert trail[-1]["from"] == "EX0009" and trail[-1]["pivot"] == entity.fields["dtf.pivot"]


@pytest.mark.parametrize("name, entity_type, value, kind", [
    ("dtfcatalogpivotsfordomain", "maltego.Domain", "Shop-Login.Example.COM", "domain"),
    ("dtfcatalogpivotsforipv4address", "maltego.IPv4Address", "45.83.140.142", "ip"),
    ("dtfcatalogpivotsforipv6address", "maltego.IPv6Address", "2001:db8::1", "ip"),
    ("dtfcatalogpivotsforurl", "maltego.URL", "https://shop-login.example.com/a.php", "url"),
])
def test_what_can_i_pivot_on(demo_server, name, entity_type, value, kind):
    answer = run_transform(demo_server.url, name, entity_type, value, **ALL)
    expected = {p.id for p in CATALOG.pivots.values() if kind in p.inputs}
    assert set(ids(answer, "dtf.Pivot")) == expected
    assert len(answer.entities) == len(expected)
    for entity in answer.entities:
        pivot = CATALOG.pivot(entity.value)
        assert entity.link["dtf.pivot"] == pivot.id
        if pivot.value and kind not in pivot.self_value:  # the display names the transforms that run it
            assert f"dtf{pivot.compact_id.lower()}pivot" in entity.display


def test_what_can_i_pivot_on_shows_every_family_first_under_a_small_limit(demo_server):
    answer = run_transform(demo_server.url, "dtfcatalogpivotsfordomain", "maltego.Domain", "example.com",
                           soft=12, hard=12)
    top_level = [p.id for p in CATALOG.pivots.values() if "domain" in p.inputs and p.parent is None]
    assert len(answer.entities) == 12
    assert ids(answer, "dtf.Pivot")[:len(top_level)] == top_level
    assert "showing 12 of" in answer.message_text()


def test_what_can_i_pivot_on_refuses_a_value_that_is_not_its_type(demo_server):
    answer = run_transform(demo_server.url, "dtfcatalogpivotsforipv4address", "maltego.IPv4Address", "not-an-ip")
    assert answer.entities == []
    assert answer.exceptions and "not-an-ip" in answer.exceptions[0] and "IP address" in answer.exceptions[0]


@pytest.mark.parametrize("phrase, entity_type, ident", [
    ("P0101.010", "dtf.Pivot", "P0101.010"),
    ("pta0001", "dtf.PivotTactic", "PTA0001"),
    (" EX0017 ", "dtf.Example", "EX0017"),
    ("see p0203 for the AS pivot", "dtf.Pivot", "P0203"),
])
def test_phrase_with_an_id_becomes_that_entity(demo_server, phrase, entity_type, ident):
    answer = run_transform(demo_server.url, "dtfcatalogphrasetoentity", "maltego.Phrase", phrase)
    assert [(e.type, e.value) for e in answer.entities] == [(entity_type, ident)]
    assert answer.entities[0].fields[value_property(entity_type)] == ident
    assert not answer.exceptions


def test_phrase_with_several_ids_and_an_unknown_one(demo_server):
    answer = run_transform(demo_server.url, "dtfcatalogphrasetoentity", "maltego.Phrase", "PTA0002, P0999 and EX0001")
    assert [e.value for e in answer.entities] == ["PTA0002", "EX0001"]
    assert ("PartialError", "unknown DTF pivot ID 'P0999'") in answer.messages


@pytest.mark.parametrize("phrase, named", [("P0999", "P0999"), ("PTA0009", "PTA0009"), ("EX9999", "EX9999"),
                                           ("no id in here", "no DTF ID")])
def test_phrase_without_a_known_id_is_a_maltego_error(demo_server, phrase, named):
    answer = run_transform(demo_server.url, "dtfcatalogphrasetoentity", "maltego.Phrase", phrase)
    assert answer.entities == []
    assert len(answer.exceptions) == 1 and named in answer.exceptions[0]


@pytest.mark.parametrize("name, entity_type, value, named", [
    ("dtfcatalogtactictopivots", "dtf.PivotTactic", "PTA0042", "PTA0042"),
    ("dtfcatalogpivottorelated", "dtf.Pivot", "P0101.999", "P0101.999"),
    ("dtfcatalogexampletovalues", "dtf.Example", "EX0099", "EX0099"),
    ("dtfcatalogpivottoexamples", "dtf.Pivot", "Registrar", "not a DTF pivot ID"),
    ("dtfcatalogexampletopivots", "dtf.Example", "P0101", "not a DTF example ID"),
])
def test_unknown_or_misshapen_ids_are_maltego_errors(demo_server, name, entity_type, value, named):
    status, content_type, text = post(f"{demo_server.url}/run/{name}/", maltego_request(entity_type, value))
    assert status == 200 and "xml" in content_type
    answer = parse_response(text)
    assert answer.entities == []
    assert len(answer.exceptions) == 1 and named in answer.exceptions[0]


def test_catalog_transform_refuses_an_input_of_another_type(demo_server):
    answer = run_transform(demo_server.url, "dtfcatalogtactictopivots", "maltego.Domain", "example.com")
    assert answer.exceptions and "dtf.PivotTactic" in answer.exceptions[0]


def test_catalog_entities_carry_only_properties_the_pack_declares(demo_server):
    """What these transforms emit must exist in the .mtz entity definitions, or Maltego shows stray fields."""
    from entities.definitions import catalog_entities, defined_types

    declared = {entity.id: {f.name for f in entity.fields} for entity in catalog_entities()}
    pack_types = defined_types(CATALOG)
    for spec in (t for t in transforms_json(demo_server.url) if t["kind"] == "catalog"):
        assert all(t in pack_types or not t.startswith("dtf.") for t in spec["outputs"] + [spec["input"]]), spec
    samples = [("dtfcatalogtactictopivots", "dtf.PivotTactic", "PTA0001"),
               ("dtfcatalogpivottotactic", "dtf.Pivot", "P0101"),
               ("dtfcatalogpivottoexamples", "dtf.Pivot", "P0401.004")]
    for name, entity_type, value in samples:
        for entity in run_transform(demo_server.url, name, entity_type, value, **ALL).entities:
            own = {k for k in entity.fields if not k.startswith("link#")}
            assert own <= declared[entity.type], (entity.type, own - declared[entity.type])

