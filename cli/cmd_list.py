"""`list`: the transforms this server exposes (`--json` is a contract other tools rely on)."""
from __future__ import annotations

import json


def register(subparsers) -> None:
    cmd = subparsers.add_parser("list", help="list transforms")
    cmd.add_argument("--json", action="store_true", help="one JSON object per transform: name, path, kind, pivot, input, outputs, set")
    cmd.set_defaults(handler=run)


def run(args) -> int:
    from transforms.service import Service

    service = Service()
    specs = list(service.registry)
    if args.json:
        print(json.dumps([spec.as_json() for spec in specs], indent=1))
        return 0
    for spec in specs:
        print(f"{spec.path:<40} {spec.kind:<8} {spec.pivot or '-':<10} {spec.input:<24} {spec.display}")
    print(f"{len(specs)} transforms")
    return 0
