"""`python server.py import jsonl FILE` as a user runs it: a real subprocess on a temporary store."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def env_for(db: Path) -> dict:
    env = dict(os.environ, DTF_DB=str(db), DTF_PLUGINS="local", DTF_CONFIG=str(ROOT / "tests" / "no-config.yaml"))
    env.pop("DTF_DISABLE_PLUGINS", None)
    return env


def run_import(db: Path, *files: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "server.py"), "import", "jsonl", *map(str, files), *extra],
                          env=env_for(db), capture_output=True, text=True, timeout=60, cwd=ROOT)


def summary(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def write_lines(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
                    encoding="utf-8")
    return path


def rows(db: Path, sql: str, *args) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def obs(subject: str, pivot: str = "P0101.001", value="Regway Domains LLC", **extra) -> dict:
    return {"kind": "domain", "subject": subject, "pivot": pivot, "value": value, **extra}


GOOD_AND_BAD = [
    obs("alpha.example", first_seen="2025-03-24", last_seen="2025-04-01T10:00:00Z", source="feed"),
    '{"kind": "domain", "subject": "broken.example", "pivot": "P0101.001", "value": "x"',   # line 2: not JSON
    obs("beta.example", pivot="P0999.001"),                                                  # line 3: unknown pivot
    obs("gamma.example", first_seen=1742774400),                                             # epoch seconds
    {"kind": "url", "subject": "https://alpha.example/ads.php", "host": "alpha.example"},
    {"kind": "url", "subject": "https://alpha.example/x", "host": "beta.example"},            # line 6: wrong host
    "",                                                                                       # blank: skipped
    obs("not a domain"),                                                                      # line 8: bad subject
    obs("delta.example", pivot=["P0101.001"]),                                                # line 9: not a string
    obs("epsilon.example", pivot="P0101.002", value=10 ** 20),                                # line 10: absurd epoch
    {"kind": "ip", "subject": "192.0.2.10", "pivot": "P0203.002", "value": "AS64501"},
    obs("zeta.example", extra_field=1),                                                       # line 12: unknown field
    obs("eta.example", first_seen="2025-05-01", last_seen="2025-04-01"),                      # line 13: dates reversed
    {"kind": "url", "subject": "https://alpha.example/ads.php", "pivot": "P0401.007", "value": 200},
]


def test_summary_counts_and_bad_lines_reported_with_location(tmp_path):
    db = tmp_path / "s.sqlite3"
    source = write_lines(tmp_path / "mixed.jsonl", GOOD_AND_BAD)
    result = run_import(db, source, extra=("--json",))
    assert result.returncode == 0, result.stderr
    assert summary(result) == {"read": 13, "added": 4, "updated": 0, "rejected": 8, "relations": 1}
    rejected = [line for line in result.stderr.splitlines() if ": rejected: " in line]
    assert [line.split(": rejected: ")[0] for line in rejected] == [
        f"{source}:{n}" for n in (2, 3, 6, 8, 9, 10, 12, 13)]
    reasons = dict(line.split(": rejected: ") for line in rejected)
    assert "not JSON" in reasons[f"{source}:2"]
    assert "P0999.001" in reasons[f"{source}:3"]
    assert "host" in reasons[f"{source}:6"]
    assert "not a domain" in reasons[f"{source}:8"]
    assert "pivot" in reasons[f"{source}:9"]
    assert "extra_field" in reasons[f"{source}:12"]
    assert "Traceback" not in result.stderr
    subjects = {r[0] for r in rows(db, "SELECT subject FROM observations")}
    assert subjects == {"alpha.example", "gamma.example", "192.0.2.10", "https://alpha.example/ads.php"}
    assert rows(db, "SELECT first_seen, last_seen, source FROM observations WHERE subject = 'alpha.example'") == [
        ("2025-03-24T00:00:00Z", "2025-04-01T10:00:00Z", "feed")]
    assert rows(db, "SELECT first_seen FROM observations WHERE subject = 'gamma.example'") == [
        ("2025-03-24T00:00:00Z",)]
    assert rows(db, "SELECT source FROM observations WHERE subject = 'gamma.example'") == [("jsonl",)]


def test_text_summary_and_relations(tmp_path):
    db = tmp_path / "s.sqlite3"
    source = write_lines(tmp_path / "rel.jsonl", [
        {"kind": "url", "subject": "HTTPS://Panel.Example:443/ads.php", "host": "panel.example"},
        {"kind": "url", "subject": "http://192.0.2.7/gate.php", "host": "192.0.2.7"},
        {"kind": "url", "subject": "https://panel.example/ads.php", "pivot": "P0401.006", "value": "ads.php"},
    ])
    result = run_import(db, source)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "read 3, added 1, updated 0, rejected 0, relations 2"
    assert sorted(rows(db, "SELECT url, host FROM relations")) == [
        ("http://192.0.2.7/gate.php", "192.0.2.7"), ("https://panel.example/ads.php", "panel.example")]
    assert rows(db, "SELECT name FROM domains") == [("panel.example",)]
    assert rows(db, "SELECT ip FROM ips") == [("192.0.2.7",)]


def test_reimport_adds_nothing_and_widens_seen_dates(tmp_path):
    db = tmp_path / "s.sqlite3"
    first = write_lines(tmp_path / "first.jsonl", [
        obs("alpha.example", first_seen="2025-03-10", last_seen="2025-03-20"),
        obs("Beta.Example.", pivot="P0101.010", value="NS1.Regway-DNS.example."),
    ])
    assert summary(run_import(db, first, extra=("--json",)))["added"] == 2
    again = run_import(db, first, extra=("--json",))
    assert summary(again) == {"read": 2, "added": 0, "updated": 0, "rejected": 0, "relations": 0}
    assert rows(db, "SELECT count(*) FROM observations") == [(2,)]

    wider = write_lines(tmp_path / "wider.jsonl", [
        obs("ALPHA.example", first_seen="2025-03-01", last_seen="2025-03-15"),     # earlier first seen only
        obs("alpha.example", first_seen="2025-03-12", last_seen="2025-04-02T08:00:00+0000"),  # later last seen
        obs("beta.example", pivot="P0101.010", value="ns1.regway-dns.example"),
    ])
    result = summary(run_import(db, wider, extra=("--json",)))
    assert result == {"read": 3, "added": 0, "updated": 2, "rejected": 0, "relations": 0}
    assert rows(db, "SELECT first_seen, last_seen FROM observations WHERE subject = 'alpha.example'") == [
        ("2025-03-01T00:00:00Z", "2025-04-02T08:00:00Z")]
    assert rows(db, "SELECT count(*) FROM observations") == [(2,)]


def test_missing_file_and_all_bad_file_fail(tmp_path):
    db = tmp_path / "s.sqlite3"
    missing = run_import(db, tmp_path / "nope.jsonl")
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr
    bad = write_lines(tmp_path / "bad.jsonl", ["not json", "[]"])
    result = run_import(db, bad)
    assert result.returncode == 1
    assert f"{bad}:1: rejected" in result.stderr and f"{bad}:2: rejected" in result.stderr


def test_several_files_in_one_run(tmp_path):
    db = tmp_path / "s.sqlite3"
    a = write_lines(tmp_path / "a.jsonl", [obs("one.example"), "oops"])
    b = write_lines(tmp_path / "b.jsonl", ["oops", obs("two.example")])
    result = run_import(db, a, b, extra=("--json",))
    assert summary(result) == {"read": 4, "added": 2, "updated": 0, "rejected": 2, "relations": 0}
    assert f"{a}:2: rejected" in result.stderr and f"{b}:1: rejected" in result.stderr


# ---- killed mid-way ------------------------------------------------------------------------------------------

BIG = 60000
BATCH = 500


def _count(db: Path) -> int:
    try:
        return rows(db, "SELECT count(*) FROM observations")[0][0]
    except sqlite3.Error:  # not created or not migrated yet
        return 0


def test_killed_import_leaves_whole_batches_and_a_rerun_completes(tmp_path):
    db = tmp_path / "s.sqlite3"
    big = tmp_path / "big.jsonl"
    with open(big, "w", encoding="utf-8") as handle:
        for i in range(BIG):
            handle.write(json.dumps(obs(f"host-{i:06d}.example", value=f"Registrar {i % 97}")) + "\n")
    process = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "import", "jsonl", str(big),
                                "--batch", str(BATCH)], env=env_for(db), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while _count(db) < 3 * BATCH and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL, "the import finished before it could be killed"

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = conn.execute("SELECT count(*) FROM observations").fetchone()[0]
    domains = conn.execute("SELECT count(*) FROM domains").fetchone()[0]
    fts = conn.execute("SELECT count(*) FROM domain_names WHERE domain_names MATCH ?", ('"host-"',)).fetchone()[0]
    conn.close()
    assert 3 * BATCH <= kept < BIG
    assert kept % BATCH == 0, f"{kept} observations: a partial batch was committed"
    assert domains == kept and fts == kept, "derived indexes are written in the same transaction"

    rerun = run_import(db, big, extra=("--json", "--batch", "5000"))
    assert rerun.returncode == 0, rerun.stderr
    assert summary(rerun) == {"read": BIG, "added": BIG - kept, "updated": 0, "rejected": 0, "relations": 0}
    assert _count(db) == BIG
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


ODD_LINES = [
    {"kind": "domain", "subject": ["a.example"], "pivot": "P0101.001", "value": "x"},
    {"kind": {"k": 1}, "subject": "a.example", "pivot": "P0101.001", "value": "x"},
    {"kind": "domain", "subject": "a.example", "pivot": "P0101.001", "value": "x", "source": 7},
    {"kind": "url", "subject": "https://a.example/", "host": ["a.example"]},
    {"kind": "domain", "subject": "a.example", "pivot": "P0101.001", "value": {"nested": True}},
    {"kind": "domain", "subject": "a.example", "pivot": "P0101.001", "value": "x", "last_seen": [2025]},
    {"kind": "url", "subject": "http://a.example:99999/", "pivot": "P0401.007", "value": 200},
    {"kind": "url", "subject": "https://[2001:db8::1/x", "host": "2001:db8::1"},
    {"kind": "domain", "subject": "a.example", "pivot": "P0102.003", "value": "ü" * 70},
]


def test_odd_json_types_are_bad_lines_not_crashes(tmp_path):
    db = tmp_path / "s.sqlite3"
    lines = []
    for n, line in enumerate(ODD_LINES):
        lines += [line, obs(f"after-{n}.example")]
    source = write_lines(tmp_path / "odd.jsonl", lines)
    result = run_import(db, source, extra=("--json",))
    assert "Traceback" not in result.stderr, result.stderr
    assert summary(result) == {"read": len(lines), "added": len(ODD_LINES), "updated": 0,
                               "rejected": len(ODD_LINES), "relations": 0}
    for n in range(len(ODD_LINES)):
        assert f"{source}:{2 * n + 1}: rejected" in result.stderr, n


def test_progress_bar_on_a_terminal_only(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    source = write_lines(tmp_path / "some.jsonl", [obs(f"bar-{i}.example") for i in range(200)])
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "import", "jsonl", str(source)],
                               env=env_for(tmp_path / "tty.sqlite3"), cwd=ROOT, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert process.wait(timeout=30) == 0
    assert process.stdout.read().startswith(b"read 200, added 200")
    process.stdout.close()
    assert b"import: 100%" in shown, shown[-200:]
    piped = run_import(tmp_path / "piped.sqlite3", source)
    assert "%|" not in piped.stderr and piped.stderr.strip() == ""
