"""hIGMA on the command line, as a user runs it (`python server.py ...` in a subprocess, own store):
write a rule, validate it, hunt twice (the second run reports nothing new), convert it to urlscan,
and draft a rule from a Maltego result taken from the demo server over HTTP."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import run_transform

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "higma" / "hunt.jsonl"

USER_RULE = """\
title: ClickFix verification pages, not our own
id: 7d0c5c9e-2f4b-4b8e-9c61-0a1b2c3d4e5f
author: analyst
date: 2025-10-01
threat_actor: UNK
description: Pages titled "Verification Gateway" or hosted on the ClickFix IP, leaving out a known-good name.
dtf_version: 1.0
references:
  - https://example.invalid/clickfix-notes
tags: [clickfix]
confidence: medium
falsepositives:
  - Shared hosting on the same IP.
status: experimental
pivots:
  verification_ip:
    - P0201:
      value: "185.117.91.141"
  verification_title:
    - id: P0401.001
      value: Verification Gateway
  known_good:
    - P0102: "captcha-gate.example"
condition: 1 of verification_* and not known_good
"""


@pytest.fixture()
def cli(tmp_path):
    env = {**os.environ, "DTF_DB": str(tmp_path / "cli.sqlite3"), "DTF_PLUGINS": "local",
           "DTF_CONFIG": str(ROOT / "tests" / "no-config.yaml"), "DTF_LOG_LEVEL": "WARNING"}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "server.py"), *args], cwd=tmp_path, env=env,
                              input=stdin, capture_output=True, text=True, timeout=120)
    return run


def test_write_validate_hunt_twice_and_convert(cli, tmp_path):
    path = tmp_path / "clickfix.yaml"
    path.write_text(USER_RULE, encoding="utf-8")

    validated = cli("higma", "validate", str(path))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "valid (ClickFix verification pages, not our own)" in validated.stdout

    imported = cli("import", "jsonl", str(DATA))
    assert imported.returncode == 0 and "rejected 0" in imported.stdout

    first = cli("hunt", str(path), "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["rule"] == {"id": "7d0c5c9e-2f4b-4b8e-9c61-0a1b2c3d4e5f",
                              "title": "ClickFix verification pages, not our own"}
    assert [(r["value"], r["type"], r["groups"]) for r in report["results"]] == \
        [("verify-human.test", "maltego.Domain", ["verification_ip"])]
    assert [r["value"] for r in report["new"]] == ["verify-human.test"]

    second = cli("hunt", str(path), "--json")
    again = json.loads(second.stdout)
    assert [r["value"] for r in again["results"]] == ["verify-human.test"]
    assert again["new"] == [] and again["run"]["previous"] == report["run"]["started"]

    human = cli("hunt", str(path))
    assert "1 result(s), 0 new (previous run" in human.stdout

    converted = cli("higma", "convert", str(path), "--to", "urlscan", "--json")
    assert converted.returncode == 0, converted.stderr
    document = json.loads(converted.stdout)
    assert [q["query"] for q in document["queries"]] == \
        ['(page.ip:185.117.91.141 OR page.title:"Verification Gateway") AND NOT page.domain:captcha-gate.example']
    assert document["queries"][0]["covers"] == ["P0201", "P0401.001", "P0102"]
    assert document["unsupported"] == [] and document["client_side"] == []

    as_yaml = cli("higma", "convert", str(path), "--to", "shodan")
    assert "client_side:" in as_yaml.stdout and "union" in as_yaml.stdout


def test_hunt_several_rules_since_and_the_shared_folder(cli, shared_dir):
    assert cli("import", "jsonl", str(DATA)).returncode == 0
    rules = shared_dir / "reference" / "higma" / "rules"
    both = cli("hunt", str(rules / "lumma-c2-panels.yaml"), str(rules / "landupdate808-backend-c2-pivot.yaml"),
               "--json", "--since", "2025-09-01")
    documents = json.loads(both.stdout)
    assert [d["rule"]["title"] for d in documents] == ["Lumma Stealer C2 Pivot via IP Reverse Lookup",
                                                       "LandUpdate808 Backend C2 Pivot"]
    assert documents[0]["results"] == []
    assert {r["value"] for r in documents[1]["results"]} == {"panelhash.test", "fuzzykin.example"}
    folder = cli("higma", "validate", str(rules))
    assert folder.returncode == 0 and folder.stdout.count(": valid (") == 8
    assert "urlscan cannot express ads_panel_hash-02" in folder.stdout


def test_bad_rules_fail_with_reasons(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(USER_RULE.replace("P0201:", "P0299:").replace("and not known_good", "and not known_bad"))
    validated = cli("higma", "validate", str(bad))
    assert validated.returncode == 1
    assert f"{bad}: INVALID" in validated.stdout
    assert "pivots.verification_ip[0].id: unknown DTF pivot ID 'P0299'" in validated.stdout
    assert "condition: unknown group 'known_bad'" in validated.stdout
    hunted = cli("hunt", str(bad))
    assert hunted.returncode == 2 and "no rule was run" in hunted.stderr and "Traceback" not in hunted.stderr
    not_yaml = tmp_path / "notes.yaml"
    not_yaml.write_text("title: [oops\n")
    result = cli("higma", "validate", str(not_yaml), "--json")
    assert result.returncode == 1 and json.loads(result.stdout)[0]["errors"][0]["reason"].startswith("not valid YAML")
    assert cli("hunt", str(bad), "--since", "someday").returncode == 2
    assert cli("higma", "convert", str(not_yaml), "--to", "urlscan").returncode == 2


def test_draft_from_a_maltego_result(cli, demo_server, tmp_path):
    # an analyst pivots in Maltego on a URL's resource name...
    pivoted = run_transform(demo_server.url, "dtfp0401006pivoturl", "maltego.URL", "https://adsfeedhub.test/ads.php",
                            soft=50, hard=50)
    result = next(e for e in pivoted.entities if e.type == "maltego.URL" and "dtf.trail" in e.fields)
    trail = result.fields["dtf.trail"]
    assert json.loads(trail)[-1]["pivot"] == "P0401.006"
    # ...and drafts a rule from one of the results, in Maltego
    drafted = run_transform(demo_server.url, "dtfhigmadraftfromurl", "maltego.URL", result.value,
                            properties={"dtf.trail": trail})
    assert not drafted.exceptions, drafted.exceptions
    (rule_entity,) = drafted.entities
    path = tmp_path / "drafted.yaml"
    path.write_text(rule_entity.fields["dtf.yaml"], encoding="utf-8")
    validated = cli("higma", "validate", str(path))
    assert validated.returncode == 0, validated.stdout
    assert "P0401.006" in path.read_text() and "ads.php" in path.read_text()
    # the same from the command line: from the trail alone, and as the entity with its properties
    from_trail = cli("higma", "draft", "--trail", trail)
    assert from_trail.returncode == 0 and from_trail.stdout.startswith("title: Pivot from")
    out = tmp_path / "from-entity.yaml"
    escaped = trail.replace("\\", "\\\\").replace("#", "\\#").replace("=", "\\=")
    from_entity = cli("higma", "draft", "--from-entity", "maltego.URL", result.value, f"dtf.trail={escaped}",
                      "-o", str(out))
    assert from_entity.returncode == 0, from_entity.stderr
    assert cli("higma", "validate", str(out)).returncode == 0
    refused = cli("higma", "draft", "--trail", "not json")
    assert refused.returncode == 2 and "not JSON" in refused.stderr
