"""Reading and validating hIGMA rules: the spec's metadata, both pivot-item forms, the value
mini-language, and every problem reported with file, field and reason."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from higma.model import ERROR, WARNING, RuleError
from higma.parser import load_rule, parse_rule_text
from higma.values import BadValue, escape_literal, parse_value

HEAD = "title: Test rule\nid: 11111111-2222-3333-4444-555555555555\n"


def rule_text(pivots: str, condition: str = "g", extra: str = "") -> str:
    return HEAD + extra + "pivots:\n" + pivots + f"condition: {condition}\n"


def problems_of(text: str, source: str = "t.yaml"):
    with pytest.raises(RuleError) as caught:
        parse_rule_text(text, source)
    return caught.value.problems


# ---- the shared rules and the spec's fields ------------------------------------------------------------------

def test_every_shared_rule_parses_with_its_metadata(shared_dir):
    files = sorted((shared_dir / "reference" / "higma" / "rules").glob("*.yaml"))
    assert len(files) == 8
    for path in files:
        rule = load_rule(path)
        assert rule.title and rule.id and rule.groups and rule.condition is not None, path
        assert rule.metadata["author"] and rule.metadata["status"] == "experimental"
        assert isinstance(rule.metadata["references"], list)
    landupdate = load_rule(shared_dir / "reference" / "higma" / "rules" / "landupdate808-backend-c2-pivot.yaml")
    assert landupdate.metadata["date"] == "2025-08-15"
    assert landupdate.metadata["dtf_version"] == "1.0"
    assert landupdate.metadata["threat_actor"] == "LandUpdate808"
    assert [i.pivot for i in landupdate.groups["ads_php"].items] == ["P0401.006", "P0401.007", "P0203"]
    assert landupdate.groups["ads_panel_hash-02"].items[0].implementation == "SSDEEP"
    assert landupdate.groups["ads_panel_hash-02"].items[0].targets[0].matcher.form == "similar"


def test_spec_example_from_the_readme_parses(shared_dir):
    readme = (shared_dir / "reference" / "higma" / "README.md").read_text(encoding="utf-8")
    block = readme.split("### landupdate808-backend-c2-pivot.yaml\n```yaml\n", 1)[1].split("```", 1)[0]
    rule = parse_rule_text(block, "README example")
    assert rule.groups["ads_php"].items[2].targets[0].matcher.key == "399629"   # value: 399629 (an int in YAML)


def test_both_item_forms_and_their_variants_mean_the_same():
    forms = {
        "id": "  g:\n    - id: P0401.006\n      value: ads.php\n",
        "key with sibling value": "  g:\n    - P0401.006:\n      value: ads.php\n",
        "key with nested value": "  g:\n    - P0401.006:\n        value: ads.php\n",
        "key with the value": "  g:\n    - P0401.006: ads.php\n",
        "single item without dash": "  g:\n    id: P0401.006\n    value: ads.php\n",
    }
    keys = set()
    for name, pivots in forms.items():
        rule = parse_rule_text(rule_text(pivots), name)
        item = rule.groups["g"].items[0]
        keys.add((item.pivot, item.targets[0].matcher.key))
    assert keys == {("P0401.006", "ads.php")}


def test_metadata_fields_are_kept_and_checked():
    text = rule_text("  g:\n    - id: P0201\n      value: 198.51.100.7\n",
                     extra="author: someone\ndate: 2025-09-01\nthreat_actor: X\ndescription: why\ndtf_version: 1.0\n"
                           "references: https://a.example/\ntags: [one, two]\nconfidence: sure\n"
                           "falsepositives:\n  - shared hosting\nstatus: draft\nowner: me\n")
    rule = parse_rule_text(text, "m.yaml")
    assert rule.metadata["date"] == "2025-09-01"
    assert rule.metadata["references"] == ["https://a.example/"]
    assert rule.metadata["tags"] == ["one", "two"]
    warned = {w.field for w in rule.warnings}
    assert {"references", "confidence", "status", "owner"} <= warned
    assert all(w.severity == WARNING and w.file == "m.yaml" for w in rule.warnings)


# ---- problems: file, field, reason ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, field, reason", [
    ("title: [unclosed\n", "line 2, column 1", "not valid YAML"),
    ("a: b: c\n", "line 1, column 5", "not valid YAML"),
    ("", "-", "this file is empty"),
    ("- a\n- b\n", "-", "this file is a list"),
    ("just words", "-", "this file is a str"),
    ("title: x\nid: 1\ndate: 2025-13-45\n", "-", "not valid YAML"),
    ("!!python/object:os.system {}\n", "line 1, column 1", "not valid YAML"),
    (HEAD + "condition: g\n", "pivots", "missing"),
    ("id: 1\npivots:\n  g:\n    - P0201: 198.51.100.7\ncondition: g\n", "title", "missing"),
    (HEAD + "pivots:\n  g:\n    - P0201: 198.51.100.7\n", "condition", "missing"),
    (rule_text("  g:\n    - id: P9999.001\n      value: x\n"), "pivots.g[0].id", "unknown DTF pivot ID 'P9999.001'"),
    (rule_text("  g:\n    - id: P0401.001\n"), "pivots.g[0].value", "missing value"),
    (rule_text("  g: []\n"), "pivots.g", "empty group"),
    (rule_text("  g:\n"), "pivots.g", "empty group"),
    (rule_text("  g:\n    - P0201: 198.51.100.7\n", condition="g or h"), "condition", "unknown group 'h'"),
    (rule_text("  g:\n    - P0201: 198.51.100.7\n", condition="1 of q*"), "condition", "matches no group"),
    (rule_text("  g:\n    - P0201: 198.51.100.7\n", condition="g and"), "condition", "ends too early"),
    (rule_text("  g:\n    - P0201: 198.51.100.7\n", condition="not g"), "condition", "match no group"),
    (rule_text("  g:\n    - P0201: 198.51.100.7\n", condition="g and not g"), "condition", "can never hold"),
    (rule_text("  g:\n    - P0201: not-an-ip\n"), "pivots.g[0].value", "not an IPv4 or IPv6 address"),
    (rule_text("  g:\n    - P0203: ASX1\n"), "pivots.g[0].value", "not an AS number"),
    (rule_text("  g:\n    - P0401.007: two hundred\n"), "pivots.g[0].value", "not a whole number"),
    (rule_text("  g:\n    - P0401.004: abc\n"), "pivots.g[0].value", "not a recognised hash"),
    (rule_text("  g:\n    - id: P0401.004\n      value: 314217a41cc73d73a4022b439572f5c45f0cedd2ac9fc94a79b1ce0d37d5a43c\n"
               "      implementation: SHA1\n"), "pivots.g[0].value", "does not look like a SHA1 hash"),
    (rule_text("  g:\n    - id: P0401.004\n      value: 314217a41cc73d73a4022b439572f5c45f0cedd2ac9fc94a79b1ce0d37d5a43c\n"
               "      implementation: BLAKE3\n"), "pivots.g[0].implementation", "unknown hash algorithm 'BLAKE3'"),
    (rule_text("  g:\n    - P0401.001: [a, b]\n"), "pivots.g[0].value", "expected one value"),
    (rule_text("  g:\n    - P0401.001: yes\n"), "pivots.g[0].value", "yes/no"),
    (rule_text("  g:\n    - P0401.001: '*'\n"), "pivots.g[0].value", "only wildcards"),
    (rule_text("  g:\n    - P0101.002: '2025-03-01..2025-01-01'\n"), "pivots.g[0].value", "runs backwards"),
    (rule_text("  g:\n    - P0401.006: '/[unclosed/'\n"), "pivots.g[0].value", "does not compile"),
    (rule_text("  g:\n    - P0201: 198.51.100.0/33\n"), "pivots.g[0].value", "not an IP network"),
    (rule_text("  g:\n    - id: P0201\n      P0203: 1\n      value: 198.51.100.7\n"), "pivots.g[0]", "not both"),
    (rule_text("  g:\n    - P0201:\n      P0203:\n      value: 1\n"), "pivots.g[0]", "one pivot per item"),
    (rule_text("  g:\n    - value: 198.51.100.7\n"), "pivots.g[0].id", "missing the pivot ID"),
    (rule_text("  g:\n    - P0201\n"), "pivots.g[0]", "has no value"),
    (rule_text("  g:\n    - 42\n"), "pivots.g[0]", "expected a pivot item"),
    (rule_text("  and:\n    - P0201: 198.51.100.7\n", condition="g"), "pivots.and", "group name"),
    (rule_text("  g:\n    - P0201: 198.51.100.7\n  g:\n    - P0201: 198.51.100.8\n"), "line 6, column 3",
     "written twice"),
    (HEAD + "pivots: [a]\ncondition: g\n", "pivots", "expected a mapping"),
    (rule_text("  g:\n    - P0103: not a host!\n"), "pivots.g[0].value", "fits none of its children"),
    (HEAD + "references: {a: 1}\npivots:\n  g:\n    - P0201: 198.51.100.7\ncondition: g\n", "references",
     "expected a list"),
])
def test_problems_name_file_field_and_reason(text, field, reason):
    problems = problems_of(text, "bad.yaml")
    errors = [p for p in problems if p.severity == ERROR]
    assert errors, problems
    assert any(p.field == field and reason in p.reason for p in errors), [str(p) for p in errors]
    assert all(p.file == "bad.yaml" for p in problems)


def test_several_errors_are_reported_at_once():
    text = rule_text("  g:\n    - P9999: 1\n  h:\n    - P0201: nope\n  k: []\n", condition="g and h and k and m")
    fields = {p.field for p in problems_of(text)}
    assert {"pivots.g[0].id", "pivots.h[0].value", "pivots.k", "condition"} <= fields


def test_load_rule_reports_file_problems(tmp_path):
    with pytest.raises(RuleError, match="no such file"):
        load_rule(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00title")
    with pytest.raises(RuleError, match="not UTF-8"):
        load_rule(binary)
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * (300 * 1024))
    with pytest.raises(RuleError, match="larger than"):
        load_rule(big)
    with pytest.raises(RuleError) as caught:
        load_rule(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_warnings_do_not_stop_a_rule():
    text = rule_text("  g:\n    - P0401: ads.php\n  unused:\n    - P0201: 198.51.100.7\n"
                     "  h:\n    - id: P0401.004\n      value: 314217a41cc73d73a4022b439572f5c45f0cedd2ac9fc94a79b1ce0d37d5a43c\n"
                     "  n:\n    - id: P0401.001\n      value: Login\n      implementation: check manually\n",
                     condition="g and h and n")
    rule = parse_rule_text(text, "w.yaml")
    reasons = {w.field: w.reason for w in rule.warnings}
    assert "parent pivot" in reasons["pivots.g[0].id"]
    assert [t.pivot for t in rule.groups["g"].items[0].targets] == ["P0401.001", "P0401.002", "P0401.005", "P0401.006"]
    assert "not used by the condition" in reasons["pivots.unused"]
    assert "read as SHA256" in reasons["pivots.h[0].implementation"]
    assert rule.groups["h"].items[0].implementation == "SHA256"
    assert "takes no hash algorithm" in reasons["pivots.n[0].implementation"]


def test_domain_parent_pivot_reads_the_subject_name():
    rule = parse_rule_text(rule_text("  g:\n    - P0102: WWW.Example.COM\n"), "p.yaml")
    target = rule.groups["g"].items[0].targets[0]
    assert target.name_of_subject and target.matcher.key == "www.example.com"


# ---- the value mini-language ---------------------------------------------------------------------------------

def test_plain_values_are_normalised_like_the_store():
    assert parse_value(200, "int").key == parse_value("200", "int").key == "200"
    assert parse_value("AS399629", "asn").key == parse_value(399629, "asn").key == parse_value("399629", "asn").key
    assert parse_value("  Secure   Download File ", "text").key == "secure download file"
    assert parse_value(dt.date(2025, 9, 1), "date").key == "2025-09-01"
    assert parse_value("NS1.Example.TEST.", "dns").key == "ns1.example.test"
    assert parse_value(1.0, "int").key == "1"


@pytest.mark.parametrize("value, kind, yes, no", [
    ("teams-*", "dns", ["teams-download.test", "TEAMS-x.example"], ["msteams-a.test", "teams.test"]),
    ("*.ns.cloudflare.com", "dns", ["kim.ns.cloudflare.com"], ["ns.cloudflare.com", "kim.ns.cloudflare.com.evil.test"]),
    ("PDR*", "text", ["PDR Ltd", "pdr"], ["XPDR"]),
    ("*Microsoft  Teams*", "text", ["Download Microsoft Teams Desktop"], ["Microsoft Office"]),
    (r"price\*", "text", ["price*"], ["prices"]),
    (">2025-09-01", "date", ["2025-09-02", "2026-01-01T00:00:00Z"], ["2025-09-01", "2024-12-31"]),
    (">=2025-09-01", "date", ["2025-09-01"], ["2025-08-31"]),
    ("<=500", "int", ["500", "200", "-1"], ["501"]),
    ("<400", "int", ["399"], ["400"]),
    ("200..299", "int", ["200", "250", "299"], ["199", "300"]),
    ("2025-01-01..2025-03-31", "date", ["2025-01-01", "2025-03-31"], ["2025-04-01"]),
    (">AS64500", "asn", ["64501"], ["64500"]),
    ("/^adm[0-9]+\\.php$/", "text", ["adm12.php", "ADM1.PHP"], ["admin.php"]),
    ("198.51.100.0/24", "ip", ["198.51.100.77"], ["198.51.101.1", "2001:db8::1"]),
    (r"\/admin/", "text", ["/admin/"], ["admin"]),
    (r"\>5", "text", [">5"], ["6"]),
    ("what?", "text", ["what?"], ["whats"]),
])
def test_value_forms_match_what_they_say(value, kind, yes, no):
    matcher = parse_value(value, kind)
    for text in yes:
        key = text.casefold() if kind == "text" else text
        assert matcher.matches(text, key), (value, text)
    for text in no:
        key = text.casefold() if kind == "text" else text
        assert not matcher.matches(text, key), (value, text)


def test_comparisons_apply_only_to_numbers_and_dates():
    assert parse_value(">5", "text").form == "exact"
    assert parse_value("a..b", "text").form == "exact"
    assert parse_value(">5", "int").form == "compare"


def test_ssdeep_values_also_match_close_relatives():
    base = "3:qVZxQXbZ6iWtBqTRlvN3LBAdhH7vZVjexRoAqRAdTwIAqo76GRoAqWQoMhFIeAqM:qzxO96PKvp2dhHiXdq3v7rdqWQoMTpAN"
    kin = "3:qVZxQXbZ6iWtBqTRlvN3LBAdhH7vZVjexRoAqRAdTwIAqo76GRoAqWQoMhFIeAqX:qzxO96PKvp2dhHiXdq3v7rdqWQoMTpAX"
    far = "3:hRkZp1WQvB7yAqLdmQkEHx9nAqRAdTwIfqo21KRoAqTNoMhPlsAqM:hRkH1vBdyQkE9nAPtoAqoMhPlsA"
    matcher = parse_value(base, "hash", "SSDEEP")
    assert matcher.form == "similar"
    assert matcher.matches(base, base) and matcher.matches(kin, kin) and not matcher.matches(far, far)
    assert parse_value(base, "hash").form == "exact"


@pytest.mark.parametrize("text", ["/admin/", "*literal*", "back\\slash", ">5", "<tag>", "plain", "a*b\\*c"])
def test_escape_literal_reads_back_as_the_same_text(text):
    matcher = parse_value(escape_literal(text), "text")
    assert matcher.form == "exact"
    assert matcher.display == text


def test_bad_values_say_why():
    for raw, kind, reason in [(None, "text", "missing"), ("", "text", "empty"), ({"a": 1}, "text", "one value"),
                              ("x" * 5000, "text", "longer than"), (float("nan"), "int", "usable number"),
                              (">x", "int", "comparison operand"), ("/" + "a" * 600 + "/", "text", "longer than"),
                              ("/(a+)+$/", "text", "nested repetition"), ("/(x|yz*)*/", "text", "nested repetition")]:
        with pytest.raises(BadValue, match=reason):
            parse_value(raw, kind)


def test_rule_files_round_trip_through_a_directory(tmp_path: Path):
    path = tmp_path / "r.yaml"
    path.write_text(rule_text("  g:\n    - P0201: 198.51.100.7\n"), encoding="utf-8")
    rule = load_rule(path)
    assert rule.source == str(path) and rule.text.startswith("title:")
