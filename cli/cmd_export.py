"""`export`: write the Maltego import files (both .mtz archives and the TDS CSVs) into dist/."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def register(subparsers) -> None:
    cmd = subparsers.add_parser("export", help="write dist/dtf-maltego.mtz, transforms.csv and settings.csv")
    cmd.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory (default: dist/ in the checkout)")
    cmd.add_argument("--python", help="interpreter Maltego starts for local transforms (default: this one)")
    cmd.add_argument("--workdir", help="working directory of local transforms (default: this checkout)")
    cmd.add_argument("--base-url", default=os.environ.get("DTF_BASE_URL"),
                     help="public address of the transform server for the TDS files "
                          "(default: $DTF_BASE_URL or http://127.0.0.1:8080)")
    cmd.set_defaults(handler=run)


def run(args) -> int:
    from pack.export import DEFAULT_BASE_URL, ExportError, export_all
    from transforms.service import Service

    service = Service()
    try:
        written = export_all(service, args.out, args.base_url or DEFAULT_BASE_URL, args.python, args.workdir)
    except ExportError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    print(f"{len(service.registry)} transforms; import {written[0].name} into Maltego "
          f"(Import | Import Configuration), or the CSVs into a TDS (see README)")
    return 0
