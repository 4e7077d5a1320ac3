"""`stats`: what the store holds."""
from __future__ import annotations

import json


def register(subparsers) -> None:
    cmd = subparsers.add_parser("stats", help="counts of what the embedded store holds")
    cmd.set_defaults(handler=run)


def run(args) -> int:
    from store import Store

    print(json.dumps(Store().stats(), indent=1))
    return 0
