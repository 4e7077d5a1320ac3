"""`demo`: load the demo dataset (reserved names and numbers only) into the store."""
from __future__ import annotations

from pathlib import Path

DEMO_FILE = Path(__file__).resolve().parent.parent / "demo" / "demo.jsonl"


def register(subparsers) -> None:
    cmd = subparsers.add_parser("demo", help="load the demo dataset")
    cmd.add_argument("--if-empty", action="store_true", help="only when the store holds nothing yet")
    cmd.set_defaults(handler=run)


def run(args) -> int:
    from store.importer import Importer, read_jsonl
    from transforms.service import Service

    service = Service()
    if args.if_empty and not service.store.is_empty():
        print(f"store {service.store.path} already has data; demo not loaded")
        return 0
    stats = Importer(service.store, service.value_kinds(), default_source="demo").run(read_jsonl(DEMO_FILE))
    print(f"demo loaded into {service.store.path}: read {stats.read}, added {stats.added}, "
          f"updated {stats.updated}, rejected {stats.rejected}")
    return 1 if stats.rejected else 0
