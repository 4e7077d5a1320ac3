"""Running hIGMA rules: known answers for every shared rule over tests/data/higma/hunt.jsonl, set
operations, the value mini-language against the store, lifting (URL -> host, domain -> IP), recorded
runs and "new since the previous run", `since`, and a live plugin (urlscan replayed on loopback)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from api_replay import ReplayServer, Reply
from dtf_catalog import default_catalog
from higma.history import HuntHistory
from higma.parser import load_rule, parse_rule_text
from higma.runner import Runner
from store.importer import Importer, read_jsonl
from transforms.service import Service

DATA = Path(__file__).resolve().parent / "data" / "higma"
EXPECTED = yaml.safe_load((DATA / "expected.yaml").read_text(encoding="utf-8"))
HEAD = "title: {title}\nid: {ident}\nauthor: tests\n"


def load_dataset(service: Service, path: Path = DATA / "hunt.jsonl") -> None:
    stats = Importer(service.store, service.value_kinds(), default_source="higma-test").run(read_jsonl(path))
    assert stats.rejected == 0, stats.errors


@pytest.fixture()
def service(tmp_path):
    service = Service(tmp_path / "hunt.sqlite3")
    load_dataset(service)
    return service


@pytest.fixture()
def runner(service):
    return Runner(service)


def rule(pivots: str, condition: str, title: str = "test rule", ident: str = "test-rule-1"):
    return parse_rule_text(HEAD.format(title=title, ident=ident) + "pivots:\n" + pivots + f"condition: {condition}\n",
                           f"{ident}.yaml")


def found(report) -> dict[str, list[str]]:
    return {r.subject.value: r.groups for r in report.results}


# ---- the shared rules, with known answers -------------------------------------------------------------------

def test_dataset_covers_every_shared_rule(shared_dir):
    names = {p.name for p in (shared_dir / "reference" / "higma" / "rules").glob("*.yaml")}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_rule_finds_exactly_the_known_subjects(shared_dir, runner, name):
    report = runner.hunt(load_rule(shared_dir / "reference" / "higma" / "rules" / name))
    assert found(report) == EXPECTED[name]
    assert report.messages == []
    assert all(r.type == "maltego.Domain" for r in report.results)


def test_decoys_stay_out(shared_dir, runner):
    rules = shared_dir / "reference" / "higma" / "rules"
    landupdate = found(runner.hunt(load_rule(rules / "landupdate808-backend-c2-pivot.yaml")))
    assert "ads404.example" not in landupdate        # ads.php and the AS, but a 404
    assert "adsdecoy.example" not in landupdate      # ads.php and 200, but another AS
    assert "fuzzyfar.example" not in landupdate      # an ssdeep hash too far from the rule's
    assert "203.0.113.66" not in landupdate          # the IP has the AS but no page
    assert "logo-only.example" not in found(runner.hunt(load_rule(rules / "chromusimus-fake-update.yaml")))
    assert "near-miss.example" not in found(runner.hunt(load_rule(rules / "clickfix-verification-script-inject.yaml")))
    assert "securefiles.example" not in found(runner.hunt(
        load_rule(rules / "lummastealer-sectoprat-delivery-page-title-pivot.yaml")))


def test_group_evidence_and_first_seen(shared_dir, runner):
    report = runner.hunt(load_rule(shared_dir / "reference" / "higma" / "rules" / "landupdate808-backend-c2-pivot.yaml"))
    inject = next(r for r in report.results if r.subject.value == "injectlink.test")
    assert set(inject.steps) == {("P0401.006", "ads.php"), ("P0401.007", "200"), ("P0203", "399629")}
    # the group holds once all its parts do: ads.php and 200 from 2025-08-01, the AS since 2025-06-01
    assert inject.first_seen.startswith("2025-08-01")
    assert inject.sources == ["higma-test"]


# ---- set operations -------------------------------------------------------------------------------------------

TEAMS = "  title:\n    - P0401.001: Download Microsoft Teams Desktop and Mobile Apps | Microsoft Teams\n"


def test_not_subtracts_what_the_other_group_found(runner):
    pivots = TEAMS + "  legit:\n    - P0102: msteams-setup.example\n"
    assert found(runner.hunt(rule(pivots, "title and not legit"))) == {"teams-download.test": ["title"]}
    pivots = TEAMS + "  legit:\n    - P0102: '*.example'\n"
    assert found(runner.hunt(rule(pivots, "title and not legit"))) == {"teams-download.test": ["title"]}


def test_a_and_b_or_c_keeps_every_branch(runner):
    pivots = ("  a:\n    - P0401.006: ads.php\n  b:\n    - P0401.007: 404\n"
              "  c:\n    - P0201: 144.172.100.103\n")
    assert found(runner.hunt(rule(pivots, "a and b or c"))) == {
        "ads404.example": ["a", "b"], "lumma-c2.test": ["c"], "lumma-gate.example": ["c"]}
    assert found(runner.hunt(rule(pivots, "a and (b or c)"))) == {"ads404.example": ["a", "b"]}


def test_or_of_groups_and_not_with_parentheses(runner):
    pivots = ("  a:\n    - P0401.006: ads.php\n  b:\n    - P0401.004: 314217a41cc73d73a4022b439572f5c45f0cedd2ac9fc94a79b1ce0d37d5a43c\n"
              "  c:\n    - P0401.007: 404\n")
    assert set(found(runner.hunt(rule(pivots, "(a or b) and not c")))) == \
        {"injectlink.test", "adsdecoy.example", "panelhash.test"}


def test_n_of_and_all_of(runner):
    pivots = ("  t_title:\n    - P0401.001: Verification Gateway\n  t_status:\n    - P0401.007: 200\n"
              "  t_ip:\n    - P0201: 185.117.91.141\n")
    two = found(runner.hunt(rule(pivots, "2 of t_*")))
    assert two == {"captcha-gate.example": ["t_title", "t_status"]}
    assert found(runner.hunt(rule(pivots, "all of them"))) == {}
    one = found(runner.hunt(rule(pivots, "1 of them")))
    assert {"captcha-gate.example", "verify-human.test", "injectlink.test"} <= set(one)


def test_a_group_needs_all_its_pivots_on_the_same_subject(runner):
    pivots = "  g:\n    - P0401.001: Verification Gateway\n    - P0201: 185.117.91.141\n"
    assert found(runner.hunt(rule(pivots, "g"))) == {}   # one subject has the title, another the IP


# ---- lifting --------------------------------------------------------------------------------------------------

def test_urls_count_for_their_host_and_ip_values_for_resolving_domains(runner):
    report = runner.hunt(rule("  asn:\n    - P0203: AS399629\n", "asn"))
    by_value = {r.subject.value: r.subject.kind for r in report.results}
    assert by_value == {"203.0.113.66": "ip", "injectlink.test": "domain", "ads404.example": "domain"}
    assert next(r for r in report.results if r.subject.kind == "ip").type == "maltego.IPv4Address"
    assert set(found(runner.hunt(rule("  css:\n    - P0401.004: ab77cc4e64e6830f333071b3bd0cff2fe583f15b3549ecc00428c14ec4094778\n",
                                     "css")))) == {"odyssey-panel.test"}


# ---- the value mini-language against the store -----------------------------------------------------------------

@pytest.mark.parametrize("pivots, expected", [
    ("  g:\n    - P0101.002: '>=2025-09-01'\n", {"update-chrome.example", "teams-download.test", "msteams-setup.example"}),
    ("  g:\n    - P0101.002: '<2025-09-01'\n", {"chromupdate.test"}),
    ("  g:\n    - P0101.002: 2025-09-01..2025-09-20\n", {"update-chrome.example", "teams-download.test"}),
    ("  g:\n    - P0401.007: '>=400'\n", {"ads404.example"}),
    ("  g:\n    - P0401.007: 400..499\n", {"ads404.example"}),
    ("  g:\n    - P0201: 185.117.91.0/24\n", {"verify-human.test", "near-miss.example"}),
    ("  g:\n    - P0401.001: '*download*'\n",
     {"teams-download.test", "msteams-setup.example", "secure-dl.test", "dlfile.example", "securefiles.example"}),
    ("  g:\n    - P0401.006: '/^ads\\.php$/'\n", {"injectlink.test", "ads404.example", "adsdecoy.example"}),
    ("  g:\n    - P0102: 'teams-*'\n", {"teams-download.test"}),
    ("  g:\n    - P0102: '/^lumma-/'\n", {"lumma-c2.test", "lumma-gate.example"}),
    ("  g:\n    - P0102.002: 'fuzzy*'\n", {"fuzzypanel.test", "fuzzykin.example", "fuzzyfar.example"}),
    ("  g:\n    - P0102.001: example\n  h:\n    - P0401.007: 200\n",
     {"captcha-gate.example", "msteams-setup.example", "adsdecoy.example"}),
    ("  g:\n    - P0203: '>AS64500'\n", {"203.0.113.66", "injectlink.test", "ads404.example"}),
])
def test_patterns_ranges_and_comparisons(runner, pivots, expected):
    condition = "g and h" if "  h:" in pivots else "g"
    assert set(found(runner.hunt(rule(pivots, condition)))) == expected


def test_parent_pivot_looks_under_its_children(runner):
    assert set(found(runner.hunt(rule("  g:\n    - P0401: ads.php\n", "g")))) == \
        {"injectlink.test", "ads404.example", "adsdecoy.example"}


# ---- recorded runs ----------------------------------------------------------------------------------------------

def test_second_run_reports_nothing_new_and_later_finds_are_new(tmp_path, service, runner):
    pivots = "  g:\n    - P0201: 144.172.100.103\n"
    first = runner.hunt(rule(pivots, "g", ident="recurring"))
    assert {r.subject.value for r in first.new} == {"lumma-c2.test", "lumma-gate.example"}
    assert first.previous is None and first.run.id
    second = runner.hunt(rule(pivots, "g", ident="recurring"))
    assert second.new == [] and len(second.results) == 2
    assert second.previous.id == first.run.id
    addition = tmp_path / "more.jsonl"
    addition.write_text(json.dumps({"kind": "domain", "subject": "lumma-third.test", "pivot": "P0103.003",
                                    "value": "144.172.100.103", "first_seen": "2025-10-01"}) + "\n")
    load_dataset(service, addition)
    third = runner.hunt(rule(pivots, "g", ident="recurring"))
    assert [r.subject.value for r in third.new] == ["lumma-third.test"]
    assert third.as_json()["new"][0]["value"] == "lumma-third.test"
    history = HuntHistory(service.store)
    assert [run.result_count for run in history.runs("recurring")] == [2, 2, 3]
    assert set(history.results_of(third.run.id)) == {("domain", "lumma-c2.test"), ("domain", "lumma-gate.example"),
                                                    ("domain", "lumma-third.test")}
    assert history.first_reported("recurring")[("domain", "lumma-c2.test")] == first.run.started


def test_edited_rule_is_noted_and_dry_runs_are_not_recorded(service, runner):
    runner.hunt(rule("  g:\n    - P0201: 144.172.100.103\n", "g", ident="edited"))
    changed = runner.hunt(rule("  g:\n    - P0201: 185.117.91.141\n", "g", ident="edited"))
    assert changed.rule_changed and any("changed since the previous run" in m for m in changed.messages)
    assert {r.subject.value for r in changed.new} == {"verify-human.test"}
    dry = runner.hunt(rule("  g:\n    - P0201: 185.117.91.141\n", "g", ident="edited"), record=False)
    assert dry.run is None
    assert len(HuntHistory(service.store).runs("edited")) == 2


def test_since_filters_by_first_seen(shared_dir, runner):
    path = shared_dir / "reference" / "higma" / "rules" / "landupdate808-backend-c2-pivot.yaml"
    report = runner.hunt(load_rule(path), since="2025-09-01")
    assert set(found(report)) == {"panelhash.test", "fuzzykin.example"}
    assert report.as_json()["run"]["since"] == "2025-09-01"
    assert set(found(runner.hunt(load_rule(path), since="2025-07-15"))) == \
        {"panelhash.test", "fuzzykin.example", "injectlink.test"}


def test_results_without_dates_fall_back_to_when_they_were_first_reported(runner):
    report = runner.hunt(rule("  g:\n    - P0102: teams-download.test\n", "g"), since="2000-01-01")
    assert found(report) == {"teams-download.test": ["g"]}
    assert report.results[0].first_seen is None and report.results[0].first_reported


# ---- a live plugin takes part --------------------------------------------------------------------------------

SCAN = {"_id": "0b1f3c1e-0000-4000-8000-000000000001", "sort": [1757000000000, "0b1f3c1e"],
        "task": {"time": "2025-09-04T10:00:00.000Z", "url": "https://captcha-live.example/",
                 "uuid": "0b1f3c1e-0000-4000-8000-000000000001", "domain": "captcha-live.example"},
        "page": {"url": "https://captcha-live.example/", "domain": "captcha-live.example",
                 "title": "Verification Gateway", "ip": "198.51.100.99", "status": "200"}}


def test_enabled_live_plugins_expand_alongside_the_store(tmp_path):
    from plugins.local import LocalPlugin
    from plugins.urlscan import UrlscanPlugin
    from store import Store

    catalog = default_catalog()
    with ReplayServer() as replay:
        replay.add("GET", "/api/v1/search/", Reply(200, {"results": [SCAN], "total": 1, "has_more": False}))
        path = tmp_path / "live.sqlite3"
        urlscan = UrlscanPlugin(catalog, {"base_url": replay.url, "rate_per_second": 100, "api_key": "k-test"})
        service = Service(path, plugins=[LocalPlugin(Store(path), catalog), urlscan])
        load_dataset(service)
        report = Runner(service).hunt(rule("  g:\n    - P0401.001: Verification Gateway\n", "g"))
        assert replay.requests and replay.requests[0].params["q"] == 'page.title:"verification gateway"'
    live = next(r for r in report.results if r.subject.value == "captcha-live.example")
    assert live.sources == ["urlscan"]
    assert {"captcha-gate.example", "captcha-live.example"} <= set(found(report))
    assert "urlscan" in report.run.sources
    # what urlscan said was written through to the store, so the next run finds it offline
    offline = Runner(Service(path)).hunt(rule("  g:\n    - P0401.001: Verification Gateway\n", "g"))
    assert "captcha-live.example" in found(offline) and offline.new == []


def test_a_failing_plugin_is_named_and_the_store_still_answers(tmp_path):
    from plugins.local import LocalPlugin
    from plugins.urlscan import UrlscanPlugin
    from store import Store

    catalog = default_catalog()
    with ReplayServer() as replay:
        replay.add("GET", "/api/v1/search/", Reply(500, "broken"))
        path = tmp_path / "fail.sqlite3"
        urlscan = UrlscanPlugin(catalog, {"base_url": replay.url, "rate_per_second": 100, "api_key": "k-test",
                                          "retries": 0})
        service = Service(path, plugins=[LocalPlugin(Store(path), catalog), urlscan])
        load_dataset(service)
        report = Runner(service).hunt(rule("  g:\n    - P0401.001: Verification Gateway\n", "g"))
    assert set(found(report)) == {"captcha-gate.example"}
    assert any(m.startswith("urlscan:") for m in report.messages), report.messages


def test_a_truncated_source_is_reported_not_silent(tmp_path, service):
    extra = tmp_path / "many.jsonl"
    with open(extra, "w") as out:
        for i in range(30):
            url = f"https://bulk{i}.example/"
            out.write(json.dumps({"kind": "url", "subject": url, "host": f"bulk{i}.example"}) + "\n")
            out.write(json.dumps({"kind": "url", "subject": url, "pivot": "P0401.007", "value": 200,
                                  "first_seen": "2025-05-01"}) + "\n")
    load_dataset(service, extra)
    complete = Runner(service).hunt(rule("  g:\n    - P0401.007: 200\n", "g"), record=False)
    assert len(complete.results) == 37 and complete.messages == []
    capped = Runner(service, limit=1).hunt(rule("  g:\n    - P0401.007: 200\n", "g"), record=False)
    assert len(capped.results) < 37
    assert any("local" in m and "more" in m for m in capped.messages), capped.messages
