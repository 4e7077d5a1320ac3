"""Hunt runs remembered in the store (tables of schema migration 2), so a recurring hunt can say
what is new since its previous run and when each result was first reported.

It uses the Store's own connection (same file, same WAL, same thread rules); its SQL is kept
here, next to the only code that needs these tables.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from store import Store


@dataclass(frozen=True)
class RunRecord:
    id: int
    rule_id: str
    rule_title: str
    rule_digest: str
    started: str
    finished: str
    sources: tuple[str, ...]
    result_count: int


@dataclass(frozen=True)
class RecordedResult:
    subject_kind: str
    subject: str
    groups: tuple[str, ...]
    first_seen: str | None = None
    last_seen: str | None = None


_RUN_COLUMNS = "id, rule_id, rule_title, rule_digest, started, finished, sources, result_count"


class HuntHistory:
    def __init__(self, store: Store):
        self.store = store

    def _run(self, row) -> RunRecord:
        return RunRecord(row[0], row[1], row[2], row[3], row[4], row[5], tuple(filter(None, row[6].split(","))), row[7])

    def latest(self, rule_id: str) -> RunRecord | None:
        row = self.store.connection.execute(
            f"SELECT {_RUN_COLUMNS} FROM hunt_runs WHERE rule_id = ? ORDER BY id DESC LIMIT 1", (rule_id,)).fetchone()
        return self._run(row) if row else None

    def runs(self, rule_id: str) -> list[RunRecord]:
        return [self._run(row) for row in self.store.connection.execute(
            f"SELECT {_RUN_COLUMNS} FROM hunt_runs WHERE rule_id = ? ORDER BY id", (rule_id,))]

    def results_of(self, run_id: int) -> dict[tuple[str, str], RecordedResult]:
        return {(r[0], r[1]): RecordedResult(r[0], r[1], tuple(json.loads(r[2])), r[3], r[4])
                for r in self.store.connection.execute(
                    "SELECT subject_kind, subject, groups, first_seen, last_seen FROM hunt_results WHERE run_id = ?",
                    (run_id,))}

    def first_reported(self, rule_id: str) -> dict[tuple[str, str], str]:
        """(kind, subject) -> start time of the earliest run of the rule that found it."""
        return {(r[0], r[1]): r[2] for r in self.store.connection.execute(
            "SELECT x.subject_kind, x.subject, min(r.started) FROM hunt_results x JOIN hunt_runs r ON r.id = x.run_id "
            "WHERE r.rule_id = ? GROUP BY x.subject_kind, x.subject", (rule_id,))}

    def record(self, rule_id: str, rule_title: str, rule_digest: str, started: str, finished: str,
               sources: list[str], results: list[RecordedResult]) -> RunRecord:
        """One run and all it found, in one transaction: a failed write leaves no half run behind."""
        conn = self.store.connection
        conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = conn.execute(
                "INSERT INTO hunt_runs (rule_id, rule_title, rule_digest, started, finished, sources, result_count) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rule_id, rule_title, rule_digest, started, finished, ",".join(sources), len(results)))
            run_id = cursor.lastrowid
            conn.executemany(
                "INSERT INTO hunt_results (run_id, subject_kind, subject, groups, first_seen, last_seen) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, r.subject_kind, r.subject, json.dumps(list(r.groups)), r.first_seen, r.last_seen)
                 for r in results])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return RunRecord(run_id, rule_id, rule_title, rule_digest, started, finished, tuple(sources), len(results))
