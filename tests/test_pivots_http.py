"""Every DTF pivot through Maltego's XML over a real socket, driven by the demo seeds.

Transform names come from the server's own /transforms.json, never from a list kept here:
the catalog decides which transforms exist, the tests find them the way a client would.
"""
from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from xml.etree import ElementTree

import orjson
import pytest
import yaml

from dtf_catalog import default_catalog
from store.normalize import InvalidValue, normalize
from support import maltego_request, parse_response, post, run_transform

ROOT = Path(__file__).resolve().parent.parent
SEEDS = yaml.safe_load((ROOT / "demo" / "seeds.yaml").read_text(encoding="utf-8"))["seeds"]
CATALOG = default_catalog()
ALL = 10000  # soft and hard limit high enough to see every result of the demo store
CORE_KINDS = ("pivot", "extract", "expand")


@pytest.fixture(scope="module")
def transforms(demo_server) -> list[dict]:
    import urllib.request

    with urllib.request.urlopen(f"{demo_server.url}/transforms.json", timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def demo_records() -> list[dict]:
    with open(ROOT / "demo" / "demo.jsonl", "rb") as handle:
        return [orjson.loads(line) for line in handle if line.strip()]


def find(transforms, kind: str, pivot: str, input_type: str) -> dict:
    found = [t for t in transforms if t["kind"] == kind and t["pivot"] == pivot and t["input"] == input_type]
    assert len(found) == 1, (kind, pivot, input_type, [t["name"] for t in found])
    return found[0]


def kind_of_type(entity_type: str) -> str:
    return {"maltego.Domain": "domain", "maltego.IPv4Address": "ip", "maltego.IPv6Address": "ip",
            "maltego.URL": "url"}[entity_type]


def value_kind(pivot_id: str) -> str:
    return CATALOG.pivot(pivot_id).value.kind


def same_value(pivot_id: str, a, b) -> bool:
    try:
        return normalize(value_kind(pivot_id), a)[1] == normalize(value_kind(pivot_id), b)[1]
    except InvalidValue:
        return False


def steps_of(entity) -> list[tuple[str, str]]:
    """(pivot, value) of every match behind a result: dtf.matches when several, else the link."""
    link = entity.link
    if "dtf.matches" in link:
        return [tuple(part.split("=", 1)) for part in link["dtf.matches"].split("; ")]
    return [(link["dtf.pivot"], link["dtf.value"])]


def type_fits_value(entity_type: str, value: str) -> bool:
    if entity_type in ("maltego.IPv4Address", "maltego.IPv6Address"):
        return ipaddress.ip_address(value).version == (6 if entity_type.endswith("IPv6Address") else 4)
    if entity_type == "maltego.URL":
        return value.startswith(("http://", "https://"))
    if entity_type == "maltego.Domain":
        return normalize("domain", value)[1] == value
    return False


# ---- the seeds themselves ---------------------------------------------------------------------------

def test_every_catalog_pivot_has_a_seed():
    assert set(SEEDS) == set(CATALOG.pivots)


@pytest.mark.parametrize("pivot_id", sorted(SEEDS))
def test_pivot_transform_returns_the_seed_expectations(demo_server, transforms, pivot_id):
    seed = SEEDS[pivot_id]
    spec = find(transforms, "pivot", pivot_id, seed["type"])
    result = run_transform(demo_server.url, spec["name"], seed["type"], seed["value"], soft=ALL, hard=ALL)
    assert not result.exceptions, result.exceptions
    assert not [m for m in result.messages if m[0] != "Inform"], result.messages
    values = result.values()
    assert set(seed["expect"]) <= values, sorted(set(seed["expect"]) - values)
    seed_key = normalize(kind_of_type(seed["type"]), seed["value"])[1]
    assert seed_key not in values, "the input came back as its own pivot result"
    assert len(values) == len(result.entities), "results are de-duplicated"

    pivot = CATALOG.pivot(pivot_id)
    leaves = {leaf.id for leaf in CATALOG.leaves(pivot_id)}
    for entity in result.entities:
        assert entity.type in spec["outputs"], (entity.type, spec["outputs"])
        assert type_fits_value(entity.type, entity.value), (entity.type, entity.value)
        link = entity.link
        step_pivot = CATALOG.pivot(link["dtf.pivot"])
        assert step_pivot.id in leaves
        label = re.fullmatch(rf"{re.escape(step_pivot.id)} {re.escape(step_pivot.label)} = (.+?)( \(\+\d+ more\))?",
                             link["maltego.link.label"])
        assert label, link["maltego.link.label"]
        assert label.group(1) == link["dtf.value"]
        assert link["dtf.pivot.name"] == step_pivot.name
        assert link["dtf.tactic"] == pivot.tactic == step_pivot.tactic
        assert link["maltego.link.color"] == CATALOG.tactic(pivot.tactic).colour
        assert link["dtf.sources"] and set(link["dtf.sources"].split(",")) <= {"demo", "derived"}
        assert entity.fields["dtf.pivot"] == link["dtf.pivot"]
        trail = json.loads(entity.fields["dtf.trail"])
        assert trail == [{"pivot": link["dtf.pivot"], "value": link["dtf.value"], "from": seed_key}]
        assert step_pivot.description[:40] in entity.display.replace("&#x27;", "'")
    if seed["value_of_pivot"] is not None:
        for entity in result.entities:
            if entity.value in seed["expect"]:
                assert any(p == pivot_id and same_value(p, v, seed["value_of_pivot"]) for p, v in steps_of(entity)), \
                    (entity.value, steps_of(entity), seed["value_of_pivot"])


def test_second_hop_carries_the_first_step_forward(demo_server, transforms):
    first_seed = SEEDS["P0101.010"]
    first = run_transform(demo_server.url, find(transforms, "pivot", "P0101.010", "maltego.Domain")["name"],
                          "maltego.Domain", first_seed["value"], soft=ALL, hard=ALL)
    hop = next(e for e in first.entities if e.value == first_seed["expect"][0])
    first_trail = json.loads(hop.fields["dtf.trail"])
    second = run_transform(demo_server.url, find(transforms, "pivot", "P0101.001", "maltego.Domain")["name"],
                           "maltego.Domain", hop.value, properties={"dtf.trail": hop.fields["dtf.trail"]},
                           soft=ALL, hard=ALL)
    assert second.entities
    for entity in second.entities:
        trail = json.loads(entity.fields["dtf.trail"])
        assert len(trail) == 2
        assert trail[0] == first_trail[0] == {"pivot": "P0101.010", "value": "dns1.regway-dns.example",
                                              "from": first_seed["value"]}
        assert trail[1]["pivot"] == "P0101.001" and trail[1]["from"] == hop.value


def test_unreadable_trail_counts_as_none(demo_server, transforms):
    seed = SEEDS["P0101.001"]
    result = run_transform(demo_server.url, find(transforms, "pivot", "P0101.001", "maltego.Domain")["name"],
                           "maltego.Domain", seed["value"], properties={"dtf.trail": "{not json"})
    assert result.entities and not result.exceptions
    assert all(len(json.loads(e.fields["dtf.trail"])) == 1 for e in result.entities)


@pytest.mark.parametrize("parent", sorted({p.parent for p in CATALOG.pivots.values() if p.parent}))
def test_parent_pivot_runs_its_children(demo_server, transforms, parent):
    seed = SEEDS[parent]
    combined = run_transform(demo_server.url, find(transforms, "pivot", parent, seed["type"])["name"],
                             seed["type"], seed["value"], soft=ALL, hard=ALL)
    union, used = set(), set()
    for leaf in CATALOG.leaves(parent):
        if kind_of_type(seed["type"]) not in leaf.inputs:
            continue
        answer = run_transform(demo_server.url, find(transforms, "pivot", leaf.id, seed["type"])["name"],
                               seed["type"], seed["value"], soft=ALL, hard=ALL)
        union |= answer.values()
        used |= {e.link["dtf.pivot"] for e in answer.entities}
    assert combined.values() == union
    assert {e.link["dtf.pivot"] for e in combined.entities} <= {leaf.id for leaf in CATALOG.leaves(parent)}
    assert len(used) > 1, "the seed exercises more than one child"


# ---- limits -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pivot_id", ["P0101.010", "P0101"])
def test_soft_limit_caps_results_with_a_showing_message(demo_server, transforms, pivot_id):
    seed = SEEDS[pivot_id]
    name = find(transforms, "pivot", pivot_id, seed["type"])["name"]
    everything = run_transform(demo_server.url, name, seed["type"], seed["value"], soft=ALL, hard=ALL)
    total = len(everything.entities)
    assert total > 5
    assert "showing" not in everything.message_text()
    capped = run_transform(demo_server.url, name, seed["type"], seed["value"], soft=5, hard=ALL)
    assert len(capped.entities) == 5
    assert {e.value for e in capped.entities} <= everything.values()
    shown = re.search(r"showing 5 of (\d+)( or more)?", capped.message_text())
    assert shown, capped.messages
    if shown.group(2):  # the store was asked for a bounded number: M is a lower bound
        assert 5 < int(shown.group(1)) <= total
    else:
        assert int(shown.group(1)) == total


def test_hard_limit_wins_over_a_larger_soft_limit(demo_server, transforms):
    seed = SEEDS["P0101.001"]
    result = run_transform(demo_server.url, find(transforms, "pivot", "P0101.001", seed["type"])["name"],
                           seed["type"], seed["value"], soft=50, hard=3)
    assert len(result.entities) == 3
    assert re.search(r"showing 3 of \d+", result.message_text())


def test_extract_is_capped_too(demo_server, transforms):
    seed = SEEDS["P0101"]
    name = find(transforms, "extract", "P0101", seed["type"])["name"]
    everything = run_transform(demo_server.url, name, seed["type"], seed["value"], soft=ALL, hard=ALL)
    assert len(everything.entities) > 2
    capped = run_transform(demo_server.url, name, seed["type"], seed["value"], soft=2, hard=ALL)
    assert len(capped.entities) == 2
    assert f"showing 2 of {len(everything.entities)}" in capped.message_text()


def test_missing_limits_use_maltego_default(demo_server, transforms):
    seed = SEEDS["P0101"]
    result = run_transform(demo_server.url, find(transforms, "pivot", "P0101", seed["type"])["name"],
                           seed["type"], seed["value"], soft=None)
    assert len(result.entities) == 12
    assert "showing 12 of" in result.message_text()


# ---- the real Maltego request ---------------------------------------------------------------------------

def test_real_request_file_posted_as_is(demo_server, transforms, shared_dir):
    body = (shared_dir / "fixtures" / "maltego" / "v2-request.trx-test_request.xml").read_bytes()
    assert b'Type="Domain"' in body
    name = find(transforms, "pivot", "P0101.010", "maltego.Domain")["name"]
    status, content_type, text = post(f"{demo_server.url}/run/{name}/", body)
    assert status == 200 and "xml" in content_type
    assert ElementTree.fromstring(text).find("MaltegoTransformResponseMessage") is not None
    result = parse_response(text)
    assert not result.exceptions
    assert "paterva.com" in result.message_text()


def test_real_request_shape_with_a_demo_domain_finds_results(demo_server, transforms, shared_dir):
    body = (shared_dir / "fixtures" / "maltego" / "v2-request.trx-test_request.xml").read_bytes()
    seed = SEEDS["P0101.010"]
    body = body.replace(b"paterva.com", seed["value"].encode())
    status, _, text = post(f"{demo_server.url}/run/{find(transforms, 'pivot', 'P0101.010', 'maltego.Domain')['name']}/",
                           body)
    result = parse_response(text)
    assert status == 200 and not result.exceptions
    assert len(result.entities) == 12, "the fixture's limits (12/12) apply"
    assert set(seed["expect"]) & result.values()
    assert all(e.type == "maltego.Domain" and e.link["dtf.pivot"] == "P0101.010" for e in result.entities)
    assert re.search(r"showing 12 of 1[3-9]", result.message_text())


def test_custom_subtype_resolves_through_its_genealogy(demo_server, transforms):
    seed = SEEDS["P0101.010"]
    result = run_transform(demo_server.url, find(transforms, "pivot", "P0101.010", "maltego.Domain")["name"],
                           "acme.PhishingDomain", seed["value"], genealogy=["acme.PhishingDomain", "maltego.Domain"],
                           soft=ALL, hard=ALL)
    assert not result.exceptions and set(seed["expect"]) <= result.values()


def test_legacy_short_type_without_genealogy(demo_server, transforms):
    seed = SEEDS["P0202"]
    result = run_transform(demo_server.url, find(transforms, "pivot", "P0202", "maltego.IPv4Address")["name"],
                           "maltego.IPv4Address", seed["value"], genealogy=[], short_type="IPv4Address",
                           soft=ALL, hard=ALL)
    assert set(seed["expect"]) <= result.values()


# ---- every registered transform answers -------------------------------------------------------------------

def _sample_subject(records, pivot_id: str, entity_type: str) -> str:
    """A demo subject of the transform's input type, preferring one observed for the pivot's leaves."""
    kind = kind_of_type(entity_type)
    wanted_v6 = entity_type == "maltego.IPv6Address"
    observed = {o for leaf in CATALOG.leaves(pivot_id) for o in leaf.observed_as}
    fits = [r for r in records if r.get("kind") == kind and "pivot" in r
            and (kind != "ip" or (":" in r["subject"]) == wanted_v6)]
    preferred = [r for r in fits if r["pivot"] in observed]
    return normalize(kind, (preferred or fits)[0]["subject"])[1]


def _sample_value(records, pivot_id: str, entity_type: str) -> str:
    """A stored value of the pivot that an entity of this type can carry."""
    observed = set(CATALOG.pivot(pivot_id).observed_as)
    for record in records:
        if record.get("pivot") in observed:
            value = str(record["value"])
            if entity_type.startswith("maltego.IPv") and (":" in value) != entity_type.endswith("IPv6Address"):
                continue
            return value
    raise AssertionError(f"no demo value for {pivot_id} as {entity_type}")


def test_list_covers_pivot_extract_and_expand_for_every_pivot(transforms):
    for pivot in CATALOG.pivots.values():
        kinds = {t["kind"] for t in transforms if t["pivot"] == pivot.id}
        assert "pivot" in kinds, pivot.id
        if pivot.value and not pivot.self_value:
            assert {"extract", "expand"} <= kinds, pivot.id
    assert {t["pivot"] for t in transforms if t["kind"] in CORE_KINDS} == set(CATALOG.pivots)


def test_every_registered_transform_answers(demo_server, transforms, demo_records):
    failures = []
    extracted: dict[tuple[str, str], list] = {}
    core = [t for t in transforms if t["kind"] in CORE_KINDS]
    for spec in sorted(core, key=lambda t: CORE_KINDS.index(t["kind"])):  # expand uses what extract found
        pivot_id, input_type = spec["pivot"], spec["input"]
        seed = SEEDS[pivot_id]
        from_seed = False
        if spec["kind"] == "expand":
            candidates = [e for e in extracted.get((pivot_id, seed["type"]), []) if e.type == input_type]
            value = candidates[0].value if candidates else _sample_value(demo_records, pivot_id, input_type)
            from_seed = bool(candidates)
        elif seed["type"] == input_type:
            value, from_seed = seed["value"], True
        else:
            value = _sample_subject(demo_records, pivot_id, input_type)
        status, content_type, text = post(f"{demo_server.url}{spec['path']}",
                                          _request(input_type, value))
        if status != 200 or "xml" not in content_type:
            failures.append((spec["name"], value, status, text[:200]))
            continue
        result = parse_response(text)
        problems = result.exceptions + [t for kind, t in result.messages if kind != "Inform"]
        if problems:
            failures.append((spec["name"], value, problems))
            continue
        if spec["kind"] == "extract" and from_seed:
            extracted[(pivot_id, input_type)] = result.entities
            if not result.entities:
                failures.append((spec["name"], value, "extract from the seed found no value"))
            for entity in result.entities:
                if entity.type not in spec["outputs"] or entity.link.get("dtf.pivot") not in \
                        {leaf.id for leaf in CATALOG.leaves(pivot_id)}:
                    failures.append((spec["name"], value, "bad extracted entity", entity.type, entity.link))
        if spec["kind"] == "expand":
            if not result.entities:
                failures.append((spec["name"], value, "expand found nothing"))
            elif from_seed and seed["value"] not in result.values() and kind_of_type(seed["type"]) in \
                    {kind_of_type(t) for t in spec["outputs"] if t in ("maltego.Domain", "maltego.URL",
                                                                      "maltego.IPv4Address")}:
                failures.append((spec["name"], value, "expand of the seed's own value misses the seed"))
            if any(e.type not in spec["outputs"] for e in result.entities):
                failures.append((spec["name"], value, "unexpected type", {e.type for e in result.entities}))
    assert not failures, failures
    assert len(core) >= 37 * 2


def _request(entity_type: str, value: str) -> bytes:
    return maltego_request(entity_type, value, soft=ALL, hard=ALL)
