"""hIGMA in Maltego, through real v2 XML over a real socket: Phrase -> rule (YAML or an allowed file),
rule -> pivots, rule -> results (recorded: the second run reports nothing new), result -> drafted rule,
and the errors an analyst sees for bad input."""
from __future__ import annotations

import json

import pytest

from higma.parser import parse_rule_text
from support import ServerThread, run_transform
from test_higma_run import load_dataset
from transforms.service import Service
from web.app import create_app

RULE_TYPE = "dtf.HigmaRule"


@pytest.fixture()
def server(tmp_path):
    service = Service(tmp_path / "maltego.sqlite3")
    load_dataset(service)
    with ServerThread(create_app(service)) as running:
        yield running


@pytest.fixture()
def landupdate_text(shared_dir) -> str:
    return (shared_dir / "reference" / "higma" / "rules" / "landupdate808-backend-c2-pivot.yaml").read_text()


def rule_entity(server, text: str):
    response = run_transform(server.url, "dtfhigmaphrasetorule", "maltego.Phrase", text)
    assert not response.exceptions, response.exceptions
    (entity,) = response.entities
    return entity


def test_transforms_are_registered_in_their_set(server):
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/transforms.json") as answer:
        listing = json.loads(answer.read())
    higma = {t["name"]: t for t in listing if t["kind"] == "higma"}
    assert set(higma) == {"dtfhigmaruletopivots", "dtfhigmaruletoresults", "dtfhigmaphrasetorule",
                          "dtfhigmadraftfromdomain", "dtfhigmadraftfromipv4address", "dtfhigmadraftfromipv6address",
                          "dtfhigmadraftfromurl"}
    assert {t["set"] for t in higma.values()} == {"DTF hIGMA"}


def test_phrase_with_yaml_becomes_a_rule_entity(server, landupdate_text):
    entity = rule_entity(server, landupdate_text)
    assert entity.type == RULE_TYPE and entity.value == "LandUpdate808 Backend C2 Pivot"
    assert entity.fields["dtf.higma.id"] == "4e5f6a7b-3c2d-4e8f-9a0b-1c2d3e4f5a6b"
    assert parse_rule_text(entity.fields["dtf.yaml"]).id == "4e5f6a7b-3c2d-4e8f-9a0b-1c2d3e4f5a6b"
    assert "ads_panel_hash-02" in entity.display


def test_phrase_with_a_file_name_reads_only_allowed_directories(server, shared_dir, tmp_path, monkeypatch):
    rules = shared_dir / "reference" / "higma" / "rules"
    monkeypatch.setenv("DTF_HIGMA_DIRS", str(rules))
    entity = rule_entity(server, "lumma-c2-panels.yaml")
    assert entity.value == "Lumma Stealer C2 Pivot via IP Reverse Lookup"
    assert rule_entity(server, str(rules / "odyssey-stealer-panel.yaml")).value.startswith("Odyssey")
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text((rules / "lumma-c2-panels.yaml").read_text())
    for name in (str(outside), "../rules/../../higma/README.yaml", "../../../../etc/passwd.yaml", "missing.yaml"):
        response = run_transform(server.url, "dtfhigmaphrasetorule", "maltego.Phrase", name)
        assert response.entities == [] and "no such rule file" in response.exceptions[0], name


@pytest.mark.parametrize("text, reason", [
    ("title: [broken", "not valid YAML"),
    ("title: x\nid: y\npivots:\n  g:\n    - P9999: 1\ncondition: g\n", "unknown DTF pivot ID"),
    ("title: x\nid: y\npivots:\n  g:\n    - P0201: 198.51.100.7\ncondition: g or h\n", "unknown group 'h'"),
])
def test_bad_rules_get_a_maltego_message_with_the_reason(server, text, reason):
    response = run_transform(server.url, "dtfhigmaphrasetorule", "maltego.Phrase", text)
    assert response.entities == [] and reason in response.exceptions[0]


def test_rule_to_pivots(server, landupdate_text):
    rule = rule_entity(server, landupdate_text)
    response = run_transform(server.url, "dtfhigmaruletopivots", RULE_TYPE, rule.value, properties=rule.fields,
                             soft=50, hard=50)
    pivots = {e.value for e in response.entities if e.type == "dtf.Pivot"}
    assert pivots == {"P0401.006", "P0401.007", "P0203", "P0401.004"}
    values = {(e.type, e.value) for e in response.entities if e.type != "dtf.Pivot"}
    assert values == {("dtf.ResourceName", "ads.php"), ("dtf.HTTPStatus", "200"), ("maltego.AS", "399629"),
                      ("maltego.Hash", "314217a41cc73d73a4022b439572f5c45f0cedd2ac9fc94a79b1ce0d37d5a43c"),
                      ("maltego.Hash", "3:qVZxQXbZ6iWtBqTRlvN3LBAdhH7vZVjexRoAqRAdTwIAqo76GRoAqWQoMhFIeAqM:"
                                       "qzxO96PKvp2dhHiXdq3v7rdqWQoMTpAN")}
    status = next(e for e in response.entities if e.type == "dtf.HTTPStatus")
    assert status.link["maltego.link.label"].startswith("ads_php: P0401.007")
    assert status.fields["dtf.pivot"] == "P0401.007"


def test_rule_to_results_twice_then_draft_from_a_result(server, landupdate_text):
    rule = rule_entity(server, landupdate_text)
    first = run_transform(server.url, "dtfhigmaruletoresults", RULE_TYPE, rule.value, properties=rule.fields,
                          soft=50, hard=50)
    assert first.values() == {"injectlink.test", "panelhash.test", "fuzzypanel.test", "fuzzykin.example"}
    assert "4 result(s), 4 new (first run)" in first.message_text()
    inject = next(e for e in first.entities if e.value == "injectlink.test")
    assert inject.link["dtf.higma.groups"] == "ads_php" and inject.link["maltego.link.label"].startswith("hIGMA new")
    second = run_transform(server.url, "dtfhigmaruletoresults", RULE_TYPE, rule.value, properties=rule.fields,
                           soft=50, hard=50)
    assert second.values() == first.values()
    assert "4 result(s), 0 new since the previous run" in second.message_text()
    assert not any(e.link["maltego.link.label"].startswith("hIGMA new") for e in second.entities)

    trail = json.loads(inject.fields["dtf.trail"])
    assert {(s["pivot"], s["value"]) for s in trail} == {("P0401.006", "ads.php"), ("P0401.007", "200"),
                                                         ("P0203", "399629")}
    drafted = run_transform(server.url, "dtfhigmadraftfromdomain", "maltego.Domain", "injectlink.test",
                            properties={"dtf.trail": inject.fields["dtf.trail"]})
    assert not drafted.exceptions, drafted.exceptions
    (entity,) = drafted.entities
    draft = parse_rule_text(entity.fields["dtf.yaml"], "draft")
    assert entity.type == RULE_TYPE and entity.value == draft.title
    assert sorted(i.pivot for g in draft.groups.values() for i in g.items) == ["P0203", "P0401.006", "P0401.007"]
    # the draft finds the result again
    again = run_transform(server.url, "dtfhigmaruletoresults", RULE_TYPE, entity.value, properties=entity.fields)
    assert "injectlink.test" in again.values() and "adsdecoy.example" not in again.values()


def test_draft_and_run_refuse_entities_without_what_they_need(server):
    no_trail = run_transform(server.url, "dtfhigmadraftfromdomain", "maltego.Domain", "injectlink.test")
    assert "no DTF trail" in no_trail.exceptions[0]
    bad_trail = run_transform(server.url, "dtfhigmadraftfromurl", "maltego.URL", "https://injectlink.test/ads.php",
                              properties={"dtf.trail": '[{"pivot": "P9999", "value": "x"}]'})
    assert "not a DTF pivot ID" in bad_trail.exceptions[0]
    no_yaml = run_transform(server.url, "dtfhigmaruletoresults", RULE_TYPE, "Some rule")
    assert "carries no rule text" in no_yaml.exceptions[0]
    broken = run_transform(server.url, "dtfhigmaruletopivots", RULE_TYPE, "Some rule",
                           properties={"dtf.yaml": "title: x\n"})
    assert "hIGMA rule not valid" in broken.exceptions[0] and "pivots" in broken.exceptions[0]
    wrong_value = run_transform(server.url, "dtfhigmadraftfromipv4address", "maltego.IPv4Address", "not-an-ip",
                                properties={"dtf.trail": '[{"pivot": "P0201", "value": "198.51.100.7"}]'})
    assert "not a usable ip" in wrong_value.exceptions[0]
