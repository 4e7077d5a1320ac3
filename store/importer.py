"""Streaming, batched, idempotent import of observations into the store.

Readers turn a source format into records; `Importer` normalises them, writes them in
batches (one transaction each, so a killed import leaves only whole batches behind and a
rerun completes it), and keeps the counts an analyst sees in the summary. Bad records are
reported with their line number and skipped; the good ones around them are kept.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Callable, Iterable, Iterator

import orjson

from .db import Observation, Store
from .normalize import SUBJECT_KINDS, InvalidValue, is_ip, iso_timestamp, normalize, url, url_host

MAX_REPORTED_ERRORS = 50


@dataclass
class ImportStats:
    read: int = 0
    added: int = 0
    updated: int = 0
    rejected: int = 0
    relations: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"read": self.read, "added": self.added, "updated": self.updated,
                "rejected": self.rejected, "relations": self.relations}


class RecordError(ValueError):
    """One input record is unusable; the message says why."""


@dataclass(frozen=True)
class Record:
    """A raw fact before normalisation, as readers produce it."""
    kind: str
    subject: str
    pivot: str | None = None
    value: object = None
    source: str | None = None
    first_seen: object = None
    last_seen: object = None
    host: str | None = None


class Importer:
    """Normalises records against pivot value kinds and writes them to the store in batches."""

    def __init__(self, store: Store, value_kinds: dict[str, str], default_source: str = "import",
                 batch_size: int = 20000, on_error: Callable[[str], None] | None = None):
        self.store = store
        self.value_kinds = value_kinds
        self.default_source = default_source
        self.batch_size = batch_size
        self.on_error = on_error or (lambda message: print(message, file=sys.stderr))
        self.stats = ImportStats()

    def run(self, numbered_records: Iterable[tuple[str, object]]) -> ImportStats:
        """Consume (location, Record | RecordError) pairs; location names file and line."""
        observations: list[Observation] = []
        relations: list[tuple[str, str]] = []
        for location, record in numbered_records:
            self.stats.read += 1
            try:
                if isinstance(record, Exception):
                    raise record
                _check_text_fields(record)
                if record.host is not None:
                    relations.append(self._relation(record))
                else:
                    observations.append(self._observation(record))
            except (RecordError, InvalidValue) as exc:
                self._reject(location, exc)
                continue
            if len(observations) + len(relations) >= self.batch_size:
                self._flush(observations, relations)
                observations, relations = [], []
        self._flush(observations, relations)
        return self.stats

    def _reject(self, location: str, exc: Exception) -> None:
        self.stats.rejected += 1
        message = f"{location}: rejected: {exc}"
        if len(self.stats.errors) < MAX_REPORTED_ERRORS:
            self.stats.errors.append(message)
            self.on_error(message)

    def _flush(self, observations, relations) -> None:
        if observations or relations:
            added, updated = self.store.write_batch(observations, relations)
            self.stats.added += added
            self.stats.updated += updated
            self.stats.relations += len(relations)

    def _relation(self, record: Record) -> tuple[str, str]:
        if record.kind != "url":
            raise RecordError(f"a relation needs kind 'url', got {record.kind!r}")
        address = url(record.subject)
        host = url_host(address)
        given = normalize("domain", record.host)[1] if not is_ip(record.host) else normalize("ip", record.host)[1]
        if given != host.strip("[]"):
            raise RecordError(f"host {record.host!r} is not the host of {record.subject!r}")
        return address, given

    def _observation(self, record: Record) -> Observation:
        kind_of_value = self.value_kinds.get(record.pivot or "")
        if kind_of_value is None:
            raise RecordError(f"unknown DTF pivot ID {record.pivot!r}" if record.pivot else "missing field 'pivot'")
        if record.kind not in SUBJECT_KINDS:
            raise RecordError(f"unknown kind {record.kind!r} (domain, ip, url, hash, cert or email)")
        subject = normalize(record.kind, record.subject)[1]
        value, key = normalize(kind_of_value, record.value)
        first = iso_timestamp(record.first_seen) if record.first_seen not in (None, "") else None
        last = iso_timestamp(record.last_seen) if record.last_seen not in (None, "") else None
        if first and last and first > last:
            raise RecordError(f"first_seen {first} is after last_seen {last}")
        first, last = first or last, last or first
        source = str(record.source or self.default_source).strip() or self.default_source
        return Observation(record.kind, subject, record.pivot, value, key, source, first, last)


_TEXT_FIELDS = ("kind", "subject", "pivot", "host", "source")
_text_fields_of = attrgetter(*_TEXT_FIELDS)
_TEXT_TYPES = frozenset((str, type(None)))


def _check_text_fields(record: Record) -> None:
    """Names and identifiers must be strings: a list or object there is a bad line, not a crash."""
    if _TEXT_TYPES.issuperset(map(type, _text_fields_of(record))):
        return  # the common case, checked without a Python-level loop
    for name in _TEXT_FIELDS:
        value = getattr(record, name)
        if value is not None and not isinstance(value, str):
            raise RecordError(f"field {name!r} must be a string, not {type(value).__name__}")


# ---- JSON lines ---------------------------------------------------------------------------------

_FIELDS = ("kind", "subject", "pivot", "value", "source", "first_seen", "last_seen", "host")  # Record's order
_FIELD_SET = frozenset(_FIELDS)


def json_lines(path: Path, progress: Callable[[int], None] | None = None) -> Iterator[tuple[str, object]]:
    """(location, parsed JSON | RecordError) per non-empty line, for every JSON-lines import format."""
    name = str(path)  # formatted once, not on every line
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if progress:
                progress(len(line))
            if not line.strip():
                continue
            try:
                yield f"{name}:{number}", orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield f"{name}:{number}", RecordError(f"not JSON ({exc.msg})")


def read_jsonl(path: Path, progress: Callable[[int], None] | None = None) -> Iterator[tuple[str, object]]:
    """One record per non-empty line; a malformed line becomes a RecordError at its location."""
    for location, data in json_lines(path, progress):
        if isinstance(data, RecordError):
            yield location, data
        elif not isinstance(data, dict):
            yield location, RecordError("expected a JSON object")
        elif not _FIELD_SET.issuperset(data):
            yield location, RecordError(f"unknown field(s) {sorted(set(data) - _FIELD_SET)}")
        elif not data.get("kind") or not data.get("subject"):
            yield location, RecordError("missing field 'kind' or 'subject'")
        elif "host" not in data and data.get("value") in (None, ""):
            yield location, RecordError("missing field 'value'")
        else:
            yield location, Record(*map(data.get, _FIELDS))
