"""The embedded observation store: one SQLite file in WAL mode, all SQL of the project lives here.

It answers the two questions every pivot asks: "which values does this subject have?" and
"which subjects have this value (or one near it / matching it)?". It knows pivot IDs only as
opaque strings; the one it treats specially (the resolution pivot linking domains to IPs) is
given to it by the caller.
"""
from __future__ import annotations

import ipaddress
import os
import re
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Iterable, Sequence

from .normalize import is_ip, registrable_parts
from .schema import SCHEMA_VERSION, migrate

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "var" / "dtf.sqlite3"
RESOLUTION_PIVOT = "P0103.003"


def default_path() -> Path:
    return Path(os.environ.get("DTF_DB") or DEFAULT_PATH)


@dataclass(frozen=True)
class Observation:
    """One normalised fact: `subject` (of `subject_kind`) has `value` for `pivot`, per `source`."""
    subject_kind: str
    subject: str
    pivot: str
    value: str
    value_key: str
    source: str
    first_seen: str | None = None
    last_seen: str | None = None


@dataclass(frozen=True)
class Row:
    """A stored observation as read back (subject side and value side together)."""
    subject_kind: str
    subject: str
    pivot: str
    value: str
    value_key: str
    source: str
    first_seen: str | None
    last_seen: str | None


_ROW_COLUMNS = "subject_kind, subject, pivot, value, value_key, source, first_seen, last_seen"
_observation_row = attrgetter(*_ROW_COLUMNS.split(", "))  # Observation -> row tuple, without a Python loop

_UPSERT = f"""
INSERT INTO observations ({_ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (subject, subject_kind, pivot, value_key, source) DO UPDATE SET
    first_seen = CASE WHEN first_seen IS NULL OR excluded.first_seen < first_seen
                      THEN excluded.first_seen ELSE first_seen END,
    last_seen  = CASE WHEN last_seen IS NULL OR excluded.last_seen > last_seen
                      THEN excluded.last_seen ELSE last_seen END
WHERE (excluded.first_seen IS NOT NULL AND (first_seen IS NULL OR excluded.first_seen < first_seen))
   OR (excluded.last_seen IS NOT NULL AND (last_seen IS NULL OR excluded.last_seen > last_seen))
"""


def ip_numbers(ip: str) -> tuple[int, int, int]:
    """(version, hi, lo) with both halves shifted into SQLite's signed 64-bit range, order kept."""
    address = ipaddress.ip_address(ip)
    number = int(address)
    if address.version == 4:
        return 4, 0, number
    return 6, (number >> 64) - (1 << 63), (number & ((1 << 64) - 1)) - (1 << 63)


class Store:
    """Thread-safe handle on one store file; each thread gets its own connection."""

    def __init__(self, path: str | Path | None = None, resolution_pivot: str = RESOLUTION_PIVOT):
        self.path = Path(path) if path else default_path()
        self.resolution_pivot = resolution_pivot
        self._local = threading.local()
        self._idle: list[sqlite3.Connection] = []   # connections of finished threads, ready for reuse
        self.path.parent.mkdir(parents=True, exist_ok=True)
        migrate(self.connection)

    @property
    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._reuse() or self._connect()
            self._local.conn = conn
            # The threaded HTTP server starts a thread per request: when this thread ends, its
            # connection (and warm page cache) goes to the next thread instead of being rebuilt.
            self._local.release = weakref.finalize(threading.current_thread(), self._idle.append, conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA cache_size = -65536")
        return conn

    def _reuse(self) -> sqlite3.Connection | None:
        """A connection left by a finished thread; one left inside a transaction is closed instead."""
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                return None
            if not conn.in_transaction:
                return conn
            conn.close()

    def close(self) -> None:
        """Close this thread's connection and any idle ones left by finished threads."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.release.detach()
            conn.close()
            self._local.conn = None
        while self._idle:
            try:
                self._idle.pop().close()
            except IndexError:
                break

    # ---- writing -------------------------------------------------------------------------

    def write_batch(self, observations: Sequence[Observation], relations: Sequence[tuple[str, str]] = ()) -> tuple[int, int]:
        """Upsert a batch in one transaction; returns (added, updated). All or nothing."""
        conn = self.connection
        conn.execute("BEGIN IMMEDIATE")
        try:
            before_id = conn.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()[0]
            before_changes = conn.total_changes
            conn.executemany(_UPSERT, map(_observation_row, observations))
            changed = conn.total_changes - before_changes
            added = conn.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()[0] - before_id
            if relations:
                conn.executemany("INSERT OR IGNORE INTO relations (url, host) VALUES (?, ?)", relations)
            self._index_names(conn, observations, relations)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return added, changed - added

    def _index_names(self, conn, observations, relations) -> None:
        domains, ips = set(), set()
        for o in observations:
            if o.subject_kind == "domain":
                domains.add(o.subject)
            elif o.subject_kind == "ip":
                ips.add(o.subject)
            if o.pivot == self.resolution_pivot:
                ips.add(o.value_key)
        domains.update(host for _, host in relations if not is_ip(host))
        ips.update(host.strip("[]") for _, host in relations if is_ip(host))
        if domains:
            rows, labels = [], []
            for name in domains:
                suffix, label, subdomains = registrable_parts(name)
                rows.append((name, suffix, label, len(label)))
                labels.extend((sub, name) for sub in subdomains if sub)
            conn.executemany("INSERT OR IGNORE INTO domains (name, suffix, label, label_len) VALUES (?, ?, ?, ?)", rows)
            conn.executemany("INSERT OR IGNORE INTO domain_labels (label, name) VALUES (?, ?)", labels)
        if ips:
            conn.executemany("INSERT OR IGNORE INTO ips (ip, version, hi, lo) VALUES (?, ?, ?, ?)",
                             [(ip, *ip_numbers(ip)) for ip in ips])

    # ---- reading: subject -> values --------------------------------------------------------

    def values_of(self, subjects: Iterable[tuple[str, str]], pivots: Sequence[str]) -> list[Row]:
        """Observations of `pivots` on any of the given (kind, subject) pairs."""
        pairs = list(dict.fromkeys(subjects))
        if not pairs or not pivots:
            return []
        marks = ",".join("?" * len(pivots))
        rows: list[Row] = []
        for kind, subject in pairs:
            rows.extend(Row(*r) for r in self.connection.execute(
                f"SELECT {_ROW_COLUMNS} FROM observations WHERE subject = ? AND subject_kind = ? AND pivot IN ({marks})",
                (subject, kind, *pivots)))
        return rows

    def resolutions(self, domain: str) -> list[str]:
        """IPs the domain resolves to, as recorded by the resolution pivot."""
        return [r[0] for r in self.connection.execute(
            "SELECT DISTINCT value_key FROM observations WHERE subject = ? AND subject_kind = 'domain' AND pivot = ?",
            (domain, self.resolution_pivot))]

    def urls_of_host(self, host: str) -> list[str]:
        return [r[0] for r in self.connection.execute("SELECT url FROM relations WHERE host = ?", (host,))]

    def hosts_of_url(self, url: str) -> list[str]:
        return [r[0] for r in self.connection.execute("SELECT host FROM relations WHERE url = ?", (url,))]

    def domains_resolving_to(self, ip: str, limit: int) -> list[Row]:
        return self.subjects_with([self.resolution_pivot], ip, limit)

    # ---- reading: value -> subjects ----------------------------------------------------------

    def subjects_with(self, pivots: Sequence[str], value_key: str, limit: int) -> list[Row]:
        marks = ",".join("?" * len(pivots))
        return [Row(*r) for r in self.connection.execute(
            f"SELECT {_ROW_COLUMNS} FROM observations WHERE pivot IN ({marks}) AND value_key = ? LIMIT ?",
            (*pivots, value_key, limit))]

    def subjects_in_range(self, pivots: Sequence[str], low: str, high: str, limit: int) -> list[Row]:
        """Observations whose value key sorts between low and high (ISO dates sort as text)."""
        marks = ",".join("?" * len(pivots))
        return [Row(*r) for r in self.connection.execute(
            f"SELECT {_ROW_COLUMNS} FROM observations WHERE pivot IN ({marks}) AND value_key BETWEEN ? AND ? LIMIT ?",
            (*pivots, low, high, limit))]

    def count_with(self, pivots: Sequence[str], value_key: str, cap: int) -> int:
        marks = ",".join("?" * len(pivots))
        return self.connection.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM observations WHERE pivot IN ({marks}) AND value_key = ? LIMIT ?)",
            (*pivots, value_key, cap)).fetchone()[0]

    def distinct_values(self, pivots: Sequence[str]) -> list[tuple[str, str]]:
        """Every (value, value_key) recorded for the pivots, once each: what a pattern, range or
        comparison (hIGMA values) is tested against before the matching keys are expanded."""
        marks = ",".join("?" * len(pivots))
        return [(r[0], r[1]) for r in self.connection.execute(
            f"SELECT min(value), value_key FROM observations WHERE pivot IN ({marks}) GROUP BY value_key",
            tuple(pivots))]

    # ---- reading: names and addresses --------------------------------------------------------

    def domains_with_suffix(self, suffix: str, limit: int) -> list[str]:
        return [r[0] for r in self.connection.execute(
            "SELECT name FROM domains WHERE suffix = ? LIMIT ?", (suffix, limit))]

    def domains_with_length(self, length: int, limit: int) -> list[str]:
        return [r[0] for r in self.connection.execute(
            "SELECT name FROM domains WHERE label_len = ? LIMIT ?", (length, limit))]

    def domains_with_label(self, label: str, limit: int) -> list[str]:
        return [r[0] for r in self.connection.execute(
            "SELECT name FROM domain_labels WHERE label = ? LIMIT ?", (label, limit))]

    def domains_matching(self, pattern: str, limit: int) -> list[str]:
        """Names matching a glob (`*`, `?`), a `/regex/`, or containing a plain substring.

        The literal runs of the pattern (3+ characters) narrow the search through the trigram
        index; the full pattern is then applied to the candidates.
        """
        if len(pattern) > 2 and pattern.startswith("/") and pattern.endswith("/"):
            regex = re.compile(pattern[1:-1], re.IGNORECASE)  # names are stored lower-case
            literals = _regex_literals(pattern[1:-1])
        else:
            glob = pattern if any(c in pattern for c in "*?") else f"*{pattern}*"
            regex = re.compile(_glob_to_regex(glob))
            literals = [run for run in re.split(r"[*?]", glob) if len(run) >= 3]
        if literals:
            query = " AND ".join('"' + run.replace('"', '""') + '"' for run in literals)
            candidates = self.connection.execute(
                "SELECT d.name FROM domain_names f JOIN domains d ON d.id = f.rowid WHERE domain_names MATCH ?",
                (query,))
        else:
            candidates = self.connection.execute("SELECT name FROM domains")
        found = []
        for (name,) in candidates:
            if regex.search(name):
                found.append(name)
                if len(found) >= limit:
                    break
        return found

    def ips_near(self, ip: str, distance: int, same_prefix: int | None, limit: int) -> list[str]:
        """Known addresses within +/- distance of ip, optionally inside the same /prefix (v4) or /64 (v6)."""
        version, hi, lo = ip_numbers(ip)
        low, high = lo - distance, lo + distance
        # stay inside the address space (v4) or the /64 (v6: one `hi`), which also keeps SQLite's 64-bit range
        floor, ceiling = (0, (1 << 32) - 1) if version == 4 else (-(1 << 63), (1 << 63) - 1)
        low, high = max(low, floor), min(high, ceiling)
        if same_prefix is not None:
            if version == 4:
                network = ipaddress.ip_network(f"{ip}/{same_prefix}", strict=False)
                low, high = max(low, int(network.network_address)), min(high, int(network.broadcast_address))
        return [r[0] for r in self.connection.execute(
            "SELECT ip FROM ips WHERE version = ? AND hi = ? AND lo BETWEEN ? AND ? AND ip != ? LIMIT ?",
            (version, hi, low, high, ip, limit))]

    # ---- housekeeping ----------------------------------------------------------------------------

    def is_empty(self) -> bool:
        return self.connection.execute("SELECT 1 FROM observations LIMIT 1").fetchone() is None

    def stats(self) -> dict:
        conn = self.connection
        count = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "path": str(self.path),
            "schema_version": conn.execute("PRAGMA user_version").fetchone()[0],
            "observations": count("SELECT count(*) FROM observations"),
            "subjects": count("SELECT count(*) FROM (SELECT DISTINCT subject_kind, subject FROM observations)"),
            "relations": count("SELECT count(*) FROM relations"),
            "domains": count("SELECT count(*) FROM domains"),
            "ips": count("SELECT count(*) FROM ips"),
        }

    def integrity_ok(self) -> bool:
        return self.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _enable_wal(conn: sqlite3.Connection, attempts: int = 50) -> None:
    """Switch a file to WAL. The switch needs the file to itself and SQLite does not wait for it
    (no busy handler), so processes opening a brand-new store together retry briefly."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))


def _glob_to_regex(glob: str) -> str:
    return "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob) + "$"


def _regex_literals(regex: str) -> list[str]:
    """Literal runs that every match must contain, or none when that cannot be told cheaply.

    Alternation and groups give up (a group may be optional); a character followed by a
    quantifier that allows zero repeats is dropped from its run.
    """
    if any(c in regex for c in "|()"):
        return []
    runs, current, i = [], "", 0
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            escaped = regex[i + 1:i + 2]
            if escaped and not escaped.isalnum():
                current += escaped
            else:
                runs.append(current)
                current = ""
            i += 2
            continue
        if char in "*?{":
            runs.append(current[:-1])
            current = ""
        elif char == "[":
            runs.append(current)
            current = ""
            close = regex.find("]", i + 2)
            i = len(regex) if close < 0 else close
        elif char in ".^$+]}":
            runs.append(current)
            current = ""
        else:
            current += char
        i += 1
    runs.append(current)
    return [run.lower() for run in runs if len(run) >= 3]


assert SCHEMA_VERSION >= 1
