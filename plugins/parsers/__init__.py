"""Parsers of the live sources' formats, shared by the live plugins and the importers.

Each turns a source document (RDAP JSON, crt.sh JSON, passive-DNS lines, an HTML page) into
plain facts: (pivot ID, raw value) pairs that callers normalise with `store.normalize`.
No network code lives here.
"""
from __future__ import annotations

import logging

from store.normalize import InvalidValue, normalize

log = logging.getLogger("dtf.plugins.parsers")


def normalised_values(kind: str, raws) -> list[tuple[str, str]]:
    """(display, key) of each raw value that fits `kind`, duplicates (by key) dropped.

    A value a source sends that does not fit (a malformed name, a date in an unknown layout) is
    skipped and logged: one odd field must not cost the analyst the rest of the answer.
    """
    out, keys = [], set()
    for raw in raws:
        try:
            display, key = normalize(kind, raw)
        except InvalidValue as exc:
            log.debug("skipping %r as %s: %s", raw, kind, exc)
            continue
        if key not in keys:
            keys.add(key)
            out.append((display, key))
    return out
