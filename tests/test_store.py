"""The embedded store and its match rules, checked through the transforms a client calls.

A small purpose-built dataset is imported into a temporary store and served on 127.0.0.1;
each match rule of the catalog (and each setting that tunes one) is asked over HTTP, and the
store's own guarantees (WAL, schema version, idempotent migration, all-or-nothing batches)
are checked on the file.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import urllib.request

import pytest

from store import Store
from store.db import Observation
from store.importer import Importer, Record
from store.schema import MIGRATIONS, SCHEMA_VERSION
from support import ServerThread, run_transform

ALL = 1000


def _obs(kind, subject, pivot, value, **extra):
    return Record(kind=kind, subject=subject, pivot=pivot, value=value, source=extra.get("source", "test"),
                  first_seen=extra.get("first_seen"), last_seen=extra.get("last_seen"))


RECORDS = [
    # exact, case-folded page titles (P0401.001)
    _obs("domain", "title-a.example", "P0401.001", "Login Portal"),
    _obs("domain", "title-b.test", "P0401.001", "  LOGIN   portal "),
    _obs("domain", "title-c.example", "P0401.001", "Login Portal 2"),
    # markup and control characters in a value must survive the trip through XML
    _obs("domain", "markup-a.example", "P0401.001", '<b>Sale</b> & "more" \x01 ]]>'),
    _obs("domain", "markup-b.test", "P0401.001", '<B>sale</B> & "MORE" \x01 ]]>'),
    # TLD through the public suffix list (P0102.001 reads the names themselves)
    _obs("domain", "alpha.co.uk", "P0401.001", "tld probe"),
    _obs("domain", "beta.co.uk", "P0401.001", "tld probe"),
    _obs("domain", "gamma.uk", "P0401.001", "tld probe"),
    # substring, glob and regex on names (P0102.002)
    _obs("domain", "teams-alpha.test", "P0401.001", "pattern probe"),
    _obs("domain", "teams-beta.example", "P0401.001", "pattern probe"),
    _obs("domain", "myteams.example", "P0401.001", "pattern probe"),
    _obs("domain", "steam-s.test", "P0401.001", "pattern probe"),
    _obs("domain", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-b.example", "P0401.001", "pattern probe"),
    # shared subdomain label (P0102.003)
    _obs("domain", "google.meet-x.test", "P0401.001", "label probe"),
    _obs("domain", "google.meet-y.example", "P0401.001", "label probe"),
    _obs("domain", "meet-google.test", "P0401.001", "label probe"),
    # registered-name length (P0102.004)
    _obs("domain", "abcde.test", "P0401.001", "length probe"),
    _obs("domain", "vwxyz.example", "P0401.001", "length probe"),
    _obs("domain", "abcdef.test", "P0401.001", "length probe"),
    # registration dates for the window (P0101.002)
    _obs("domain", "day-0.example", "P0101.002", "2025-03-20"),
    _obs("domain", "day-2.example", "P0101.002", "2025-03-22T23:00:00Z"),
    _obs("domain", "day-5.example", "P0101.002", "March 25, 2025"),
    _obs("domain", "day-21.example", "P0101.002", 1744243200),  # 2025-04-10 as Unix time
    # addresses for proximity (P0202): all indexed through an AS observation
    *[_obs("ip", ip, "P0203.002", asn) for ip, asn in [
        ("192.0.2.250", "AS64501"), ("192.0.2.253", "64501"), ("192.0.2.245", "as64501"),
        ("192.0.3.1", "AS64502"), ("192.0.2.200", "AS64502"),
        ("2001:db8::10", "AS64503"), ("2001:db8::14", "AS64503"), ("2001:db8::30", "AS64503"),
        ("2001:db8:0:1::10", "AS64503"), ("2001:db8::1", "AS64503")]],
    # lifting: domains resolving to those addresses (P0103.003)
    _obs("domain", "lift-one.example", "P0103.003", "192.0.2.250"),
    _obs("domain", "lift-two.test", "P0103.003", "192.0.2.253"),
    _obs("domain", "lift-far.test", "P0103.003", "192.0.2.200"),
    # numeric equality of status codes (P0401.007) and resources lifted from URLs to hosts
    _obs("url", "https://panel-a.example/ads.php", "P0401.007", "200"),
    _obs("url", "https://panel-b.test/ads.php", "P0401.007", 200),
    _obs("url", "https://panel-c.example/ads.php", "P0401.007", "404"),
    _obs("url", "https://panel-a.example/ads.php", "P0401.006", "ads.php"),
    _obs("url", "https://panel-b.test/ads.php", "P0401.006", "ads.php"),
    Record(kind="url", subject="https://panel-a.example/ads.php", host="panel-a.example"),
    Record(kind="url", subject="https://panel-b.test/ads.php", host="panel-b.test"),
]


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    from transforms.service import Service
    from web.app import create_app

    service = Service(tmp_path_factory.mktemp("mini") / "mini.sqlite3")
    stats = Importer(service.store, service.value_kinds()).run((f"record {i}", r) for i, r in enumerate(RECORDS))
    assert stats.rejected == 0, stats.errors
    with ServerThread(create_app(service)) as server:
        with urllib.request.urlopen(f"{server.url}/transforms.json", timeout=10) as response:
            server.transforms = json.loads(response.read())
        server.service = service
        yield server


def ask(server, kind: str, pivot: str, entity_type: str, value: str, **settings):
    spec = next(t for t in server.transforms
                if t["kind"] == kind and t["pivot"] == pivot and t["input"] == entity_type)
    result = run_transform(server.url, spec["name"], entity_type, value,
                           settings={k: str(v) for k, v in settings.items()}, soft=ALL, hard=ALL)
    assert not result.exceptions, result.exceptions
    return result


def pivot(server, pivot_id: str, entity_type: str, value: str, **settings) -> set[str]:
    return ask(server, "pivot", pivot_id, entity_type, value, **settings).values()


def expand(server, pivot_id: str, entity_type: str, value: str, **settings) -> set[str]:
    return ask(server, "expand", pivot_id, entity_type, value, **settings).values()


# ---- match rules -----------------------------------------------------------------------------------------

def test_titles_match_exactly_after_case_folding(mini):
    assert pivot(mini, "P0401.001", "maltego.Domain", "title-a.example") == {"title-b.test"}
    assert expand(mini, "P0401.001", "maltego.WebTitle", "LOGIN PORTAL") == {"title-a.example", "title-b.test"}


def test_markup_in_values_is_escaped_not_interpreted(mini):
    result = ask(mini, "pivot", "P0401.001", "maltego.Domain", "markup-a.example")
    assert result.values() == {"markup-b.test"}
    shown = result.entities[0].link["dtf.value"]
    assert shown.casefold().startswith('<b>sale</b> & "more" ') and shown.endswith(" ]]>")
    assert "\x01" not in shown, "characters XML cannot carry are dropped or replaced"
    assert "&lt;B&gt;sale&lt;/B&gt; &amp;" in result.entities[0].display  # text in the detail view, not markup


def test_tld_uses_the_public_suffix_list(mini):
    extracted = ask(mini, "extract", "P0102.001", "maltego.Domain", "alpha.co.uk").values()
    assert extracted == {"co.uk"}
    assert pivot(mini, "P0102.001", "maltego.Domain", "alpha.co.uk") == {"beta.co.uk"}
    assert "gamma.uk" in expand(mini, "P0102.001", "dtf.TLD", ".uk")
    assert "alpha.co.uk" not in expand(mini, "P0102.001", "dtf.TLD", "uk")


@pytest.mark.parametrize("pattern, expected", [
    ("teams-*", {"teams-alpha.test", "teams-beta.example"}),
    ("*teams*", {"teams-alpha.test", "teams-beta.example", "myteams.example"}),
    ("eams", {"teams-alpha.test", "teams-beta.example", "myteams.example"}),
    ("eam", {"teams-alpha.test", "teams-beta.example", "myteams.example", "steam-s.test"}),
    ("*.test", {"teams-alpha.test", "steam-s.test"}),
    ("/^teams-[a-z]+\\.test$/", {"teams-alpha.test"}),
    ("/^(myteams|steam-s)\\./", {"myteams.example", "steam-s.test"}),
    ("TEAMS-B?TA*", {"teams-beta.example"}),
    ("/^\\D+\\.test$/", {"teams-alpha.test", "steam-s.test"}),   # a regex keeps its escapes' case
    ("/^[A-Z]+\\.EXAMPLE\\Z/", {"myteams.example"}),             # and matches ignoring case
])
def test_name_patterns_substring_glob_and_regex(mini, pattern, expected):
    found = expand(mini, "P0102.002", "dtf.DomainPattern", pattern)
    probe = {"teams-alpha.test", "teams-beta.example", "myteams.example", "steam-s.test"}
    assert found & probe == expected


@pytest.mark.parametrize("pattern", ["/^(\\w+\\.?)+$/", "/(a|aa)+$/", "/(x*)*y/"])
def test_regexes_that_backtrack_exponentially_are_refused(mini, pattern):
    import time

    spec = next(t for t in mini.transforms if t["kind"] == "expand" and t["pivot"] == "P0102.002")
    started = time.monotonic()
    result = run_transform(mini.url, spec["name"], spec["input"], pattern)
    assert time.monotonic() - started < 2
    assert result.exceptions and "exponential" in result.exceptions[0]


def test_patterns_go_through_the_trigram_index(mini):
    plan = mini.service.store.connection.execute(
        "EXPLAIN QUERY PLAN SELECT d.name FROM domain_names f JOIN domains d ON d.id = f.rowid "
        "WHERE domain_names MATCH ?", ('"teams-"',)).fetchall()
    assert any("VIRTUAL TABLE INDEX" in row[-1] for row in plan), plan
    assert mini.service.store.domains_matching("eam", 10)  # a three-letter literal still uses trigrams


def test_shared_subdomain_label(mini):
    assert ask(mini, "extract", "P0102.003", "maltego.Domain", "google.meet-x.test").values() == {"google"}
    assert pivot(mini, "P0102.003", "maltego.Domain", "google.meet-x.test") == {"google.meet-y.example"}


def test_registered_name_length(mini):
    found = pivot(mini, "P0102.004", "maltego.Domain", "abcde.test")
    assert "vwxyz.example" in found and "abcdef.test" not in found and "abcde.test" not in found
    assert all(len(name.split(".")[0]) == 5 for name in found)


@pytest.mark.parametrize("days, expected", [
    (None, set()),
    (2, {"day-2.example"}),
    (5, {"day-2.example", "day-5.example"}),
    (21, {"day-2.example", "day-5.example", "day-21.example"}),
])
def test_registration_date_window(mini, days, expected):
    settings = {} if days is None else {"window_days": days}
    assert pivot(mini, "P0101.002", "maltego.Domain", "day-0.example", **settings) == expected


def test_registration_dates_are_stored_as_iso(mini):
    values = ask(mini, "extract", "P0101.002", "maltego.Domain", "day-21.example").values()
    assert values == {"2025-04-10"}


@pytest.mark.parametrize("settings, expected", [
    ({}, {"192.0.2.253", "192.0.2.245"}),
    ({"distance": 3}, {"192.0.2.253"}),
    ({"same_prefix": "any"}, {"192.0.2.253", "192.0.2.245", "192.0.3.1"}),
    ({"distance": 50}, {"192.0.2.253", "192.0.2.245", "192.0.2.200"}),
])
def test_ip_proximity(mini, settings, expected):
    found = pivot(mini, "P0202", "maltego.IPv4Address", "192.0.2.250", **settings)
    assert {v for v in found if ":" not in v and "." in v and v[0].isdigit()} == expected


def test_ip_proximity_returns_addresses_only(mini):
    found = pivot(mini, "P0202", "maltego.IPv4Address", "192.0.2.250")
    assert found == {"192.0.2.253", "192.0.2.245"}, "an IP pivot returns more IPs, not their domains"


def test_ipv6_neighbours_stay_in_the_same_64(mini):
    assert pivot(mini, "P0202", "maltego.IPv6Address", "2001:db8::10") == {"2001:db8::14"}
    assert pivot(mini, "P0202", "maltego.IPv6Address", "2001:DB8:0:0::10", distance=40) == {
        "2001:db8::14", "2001:db8::30", "2001:db8::1"}
    # an interface ID near 0 or near the top of the /64 must not overflow the index range
    assert pivot(mini, "P0202", "maltego.IPv6Address", "2001:db8::") == {"2001:db8::1"}
    assert pivot(mini, "P0202", "maltego.IPv6Address", "2001:db8::ffff:ffff:ffff:ffff", same_prefix="any") == set()


@pytest.mark.parametrize("setting", [{"distance": "abc"}, {"distance": -1}, {"distance": 10 ** 30},
                                     {"same_prefix": "99"}, {"same_prefix": "x"}])
def test_bad_proximity_settings_are_named_not_crashed(mini, setting):
    result = ask(mini, "pivot", "P0202", "maltego.IPv4Address", "192.0.2.250", **setting)
    name = next(iter(setting))
    assert any(kind == "PartialError" and name in text for kind, text in result.messages), result.messages
    assert "internal error" not in result.message_text()


@pytest.mark.parametrize("days", ["soon", "-3", "99999999"])
def test_bad_window_settings_are_named_not_crashed(mini, days):
    result = ask(mini, "pivot", "P0101.002", "maltego.Domain", "day-0.example", window_days=days)
    assert any("window_days" in text for _, text in result.messages), result.messages


def test_numeric_equality_of_status_codes_and_asns(mini):
    assert pivot(mini, "P0401.007", "maltego.URL", "https://panel-a.example/ads.php") == {
        "https://panel-b.test/ads.php"}
    assert expand(mini, "P0401.007", "dtf.HTTPStatus", "0200") == {
        "https://panel-a.example/ads.php", "https://panel-b.test/ads.php"}
    by_number = pivot(mini, "P0203.002", "maltego.IPv4Address", "192.0.2.250")
    assert {"192.0.2.253", "192.0.2.245"} <= by_number and "192.0.3.1" not in by_number
    for spelling in ("AS64501", "64501", "as64501"):
        assert {"192.0.2.250", "192.0.2.253", "192.0.2.245"} <= expand(mini, "P0203.002", "maltego.AS", spelling)


# ---- lifting -------------------------------------------------------------------------------------------------

def test_pivots_on_an_ip_apply_to_domains_resolving_to_it(mini):
    assert ask(mini, "extract", "P0203.002", "maltego.Domain", "lift-one.example").values() == {"64501"}
    assert pivot(mini, "P0203.002", "maltego.Domain", "lift-one.example") == {"lift-two.test"}
    assert "lift-one.example" in expand(mini, "P0203.002", "maltego.AS", "AS64501")


def test_reverse_lookup_from_a_domain_goes_through_its_resolutions(mini):
    assert pivot(mini, "P0201", "maltego.IPv4Address", "192.0.2.253") == {"lift-two.test"}
    assert pivot(mini, "P0201", "maltego.Domain", "lift-one.example") == set()


def test_pivots_on_a_url_apply_to_its_host(mini):
    assert ask(mini, "extract", "P0401.006", "maltego.Domain", "panel-a.example").values() == {"ads.php"}
    assert pivot(mini, "P0401.006", "maltego.Domain", "panel-a.example") == {"panel-b.test"}
    assert pivot(mini, "P0401.006", "maltego.URL", "https://panel-a.example/ads.php") == {
        "https://panel-b.test/ads.php"}


# ---- the file ---------------------------------------------------------------------------------------------------

def test_wal_mode_and_schema_version(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    assert store.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw = sqlite3.connect(tmp_path / "s.sqlite3")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "WAL is persistent in the file"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    assert store.stats()["schema_version"] == SCHEMA_VERSION


def _tables(path) -> list[str]:
    return sorted(r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master"))


def test_second_store_on_the_same_file_migrates_nothing(tmp_path):
    path = tmp_path / "s.sqlite3"
    first = Store(path)
    first.write_batch([Observation("domain", "a.example", "P0101.001", "R", "r", "test", None, None)])
    tables = _tables(path)
    second = Store(path)
    assert _tables(path) == tables
    assert second.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert second.stats()["observations"] == 1
    assert second.integrity_ok()


def test_stores_opening_a_fresh_file_at_once_agree(tmp_path):
    path = tmp_path / "race.sqlite3"
    errors, barrier = [], threading.Barrier(4)

    def open_store():
        try:
            barrier.wait()
            Store(path).close()
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_failing_batch_leaves_nothing_behind(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    good = Observation("domain", "a.example", "P0101.001", "R", "r", "test", None, None)
    broken = Observation("domain", "b.example", "P0101.001", None, None, "test", None, None)
    with pytest.raises(sqlite3.IntegrityError):
        store.write_batch([good, broken], [("https://a.example/", "a.example")])
    assert store.stats()["observations"] == 0
    assert store.stats()["relations"] == 0 and store.stats()["domains"] == 0
    assert store.write_batch([good]) == (1, 0)


def test_upsert_widens_seen_dates_and_counts_updates(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    base = dict(subject_kind="domain", subject="a.example", pivot="P0101.001", value="R", value_key="r",
                source="test")
    assert store.write_batch([Observation(**base, first_seen="2025-03-01T00:00:00Z",
                                          last_seen="2025-03-05T00:00:00Z")]) == (1, 0)
    assert store.write_batch([Observation(**base, first_seen="2025-03-02T00:00:00Z",
                                          last_seen="2025-03-04T00:00:00Z")]) == (0, 0)
    assert store.write_batch([Observation(**base, first_seen="2025-02-01T00:00:00Z",
                                          last_seen="2025-04-01T00:00:00Z")]) == (0, 1)
    row = store.values_of([("domain", "a.example")], ["P0101.001"])[0]
    assert (row.first_seen, row.last_seen) == ("2025-02-01T00:00:00Z", "2025-04-01T00:00:00Z")
