"""Import formats by name: each maps to a reader turning FILE into (location, Record|RecordError) pairs.

Adding a format = one entry here (its parser lives with the plugin that speaks that format).
"""
from __future__ import annotations

from store.importer import read_jsonl

FORMATS = {
    "jsonl": read_jsonl,
}
