"""`import FORMAT FILE...`: stream observations into the store; summary on stdout, bad lines on stderr."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    from cli.importers import FORMATS

    cmd = subparsers.add_parser("import", help="import observations into the embedded store")
    cmd.add_argument("format", choices=sorted(FORMATS))
    cmd.add_argument("files", nargs="+", type=Path)
    cmd.add_argument("--source", help="source name for records that carry none (default: the format name)")
    cmd.add_argument("--batch", type=int, default=20000, help="observations per transaction")
    cmd.add_argument("--json", action="store_true", help="print the summary as JSON")
    cmd.set_defaults(handler=run)


def run(args) -> int:
    from cli.importers import FORMATS
    from store.importer import Importer
    from transforms.service import Service

    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        print(f"no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    service = Service()
    importer = Importer(service.store, service.value_kinds(), default_source=args.source or args.format,
                        batch_size=args.batch)
    reader = FORMATS[args.format]
    bar = _progress(sum(f.stat().st_size for f in args.files))
    for path in args.files:
        importer.run(reader(path, progress=bar.update if bar else None))
    if bar:
        bar.close()
    stats = importer.stats
    if args.json:
        print(json.dumps(stats.as_dict()))
    else:
        print(f"read {stats.read}, added {stats.added}, updated {stats.updated}, rejected {stats.rejected}"
              + (f", relations {stats.relations}" if stats.relations else ""))
    return 1 if stats.rejected and not (stats.added or stats.updated or stats.relations) and stats.read else 0


def _progress(total_bytes: int):
    """A byte-based progress bar on an interactive terminal only."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    return tqdm(total=total_bytes, unit="B", unit_scale=True, desc="import", file=sys.stderr)
