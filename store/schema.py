"""The store's schema as numbered migrations; PRAGMA user_version records how far a file has come.

Append a migration to change the schema; never edit one that has shipped.
"""
from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: observations, URL->host relations, and the derived indexes for name and address pivots
    """
    CREATE TABLE observations (
        id           INTEGER PRIMARY KEY,
        subject_kind TEXT NOT NULL,
        subject      TEXT NOT NULL,
        pivot        TEXT NOT NULL,
        value        TEXT NOT NULL,
        value_key    TEXT NOT NULL,
        source       TEXT NOT NULL,
        first_seen   TEXT,
        last_seen    TEXT
    );
    CREATE UNIQUE INDEX observations_by_subject
        ON observations (subject, subject_kind, pivot, value_key, source);
    CREATE INDEX observations_by_value ON observations (pivot, value_key);

    CREATE TABLE relations (
        url  TEXT NOT NULL,
        host TEXT NOT NULL,
        PRIMARY KEY (url, host)
    ) WITHOUT ROWID;
    CREATE INDEX relations_by_host ON relations (host, url);

    CREATE TABLE domains (
        id        INTEGER PRIMARY KEY,
        name      TEXT NOT NULL UNIQUE,
        suffix    TEXT NOT NULL,
        label     TEXT NOT NULL,
        label_len INTEGER NOT NULL
    );
    CREATE INDEX domains_by_suffix ON domains (suffix);
    CREATE INDEX domains_by_length ON domains (label_len);
    CREATE TABLE domain_labels (
        label TEXT NOT NULL,
        name  TEXT NOT NULL,
        PRIMARY KEY (label, name)
    ) WITHOUT ROWID;
    CREATE VIRTUAL TABLE domain_names USING fts5 (name, content='domains', content_rowid='id', tokenize='trigram');
    CREATE TRIGGER domains_into_fts AFTER INSERT ON domains BEGIN
        INSERT INTO domain_names (rowid, name) VALUES (new.id, new.name);
    END;

    CREATE TABLE ips (
        ip      TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        hi      INTEGER NOT NULL,
        lo      INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX ips_by_number ON ips (version, hi, lo);
    """,
    # 2: hIGMA hunt runs and what each run found, so a recurring hunt can say what is new
    """
    CREATE TABLE hunt_runs (
        id           INTEGER PRIMARY KEY,
        rule_id      TEXT NOT NULL,
        rule_title   TEXT NOT NULL,
        rule_digest  TEXT NOT NULL,
        started      TEXT NOT NULL,
        finished     TEXT NOT NULL,
        sources      TEXT NOT NULL,
        result_count INTEGER NOT NULL
    );
    CREATE INDEX hunt_runs_by_rule ON hunt_runs (rule_id, id);
    CREATE TABLE hunt_results (
        run_id       INTEGER NOT NULL REFERENCES hunt_runs (id) ON DELETE CASCADE,
        subject_kind TEXT NOT NULL,
        subject      TEXT NOT NULL,
        groups       TEXT NOT NULL,
        first_seen   TEXT,
        last_seen    TEXT,
        PRIMARY KEY (run_id, subject_kind, subject)
    ) WITHOUT ROWID;
    CREATE INDEX hunt_results_by_subject ON hunt_results (subject, subject_kind, run_id);
    """,
]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file to the latest schema, one transaction per step; returns the version reached."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # re-check under the write lock: another process may have migrated meanwhile
            if conn.execute("PRAGMA user_version").fetchone()[0] >= number:
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return conn.execute("PRAGMA user_version").fetchone()[0]


def _statements(script: str) -> list[str]:
    """Split a script on statement ends, keeping trigger bodies whole (executescript would auto-commit)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


SCHEMA_VERSION = len(MIGRATIONS)
