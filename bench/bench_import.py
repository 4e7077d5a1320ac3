"""JSONL import rate (observations/s) and peak memory at two sizes.

    python bench/bench_import.py [--sizes 100k,1M] [--batch N] [--no-breakdown]

Each size is a synth.py dataset imported into a fresh store with the real command,
`python server.py import jsonl FILE --json`, in a child process; the child's own peak RSS comes
from wait4(). Memory is flat when the peak barely moves while the input grows tenfold. The
store built for each size is kept for bench_latency.py.

For the smaller size a breakdown is measured in-process too (reading JSON only; reading and
normalising with writes discarded; the SQLite writes alone) and a re-import of the same file
into the filled store (the idempotent path: nothing added twice). Target: >= 200k observations/s.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (STORES, dataset, dataset_info, human_count, import_with_cli, parse_count,  # noqa: E402
                    remember_store, table, write_result)

TARGET = 200_000


class _Discard:
    """Stands in for the store to time reading + normalising alone; keeps the batches for replay."""

    def __init__(self):
        self.batches = []

    def write_batch(self, observations, relations=()):
        self.batches.append((observations, relations))
        return len(observations), 0


def breakdown(jsonl: Path, batch: int) -> dict:
    """Seconds spent reading, normalising and writing, each measured on its own (in this process)."""
    import tempfile

    from store import Store
    from store.importer import Importer, read_jsonl
    from transforms.service import Service

    started = time.perf_counter()
    lines = sum(1 for _ in read_jsonl(jsonl))
    read = time.perf_counter() - started

    with tempfile.TemporaryDirectory(dir=STORES) as tmp:
        service = Service(Path(tmp) / "kinds.sqlite3")
        kinds = service.value_kinds()
        resolution = service.catalog.resolution_pivot().id
        service.store.close()
        discard = _Discard()
        started = time.perf_counter()
        Importer(discard, kinds, batch_size=batch).run(read_jsonl(jsonl))
        normalise = time.perf_counter() - started - read

        store = Store(Path(tmp) / "write.sqlite3", resolution_pivot=resolution)
        started = time.perf_counter()
        for observations, relations in discard.batches:
            store.write_batch(observations, relations)
        write = time.perf_counter() - started
        store.close()
    return {"lines": lines, "read_json_s": read, "normalise_s": normalise, "sqlite_write_s": write}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k,1M", help="two (or more) comma-separated subject counts")
    parser.add_argument("--batch", type=int, help="observations per transaction (default: the CLI's)")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--quick", action="store_true", help="sizes 2k,20k")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = "2k,20k"
    sizes = [parse_count(s) for s in args.sizes.split(",")]

    rows, runs = [], {}
    for size in sizes:
        jsonl = dataset(size)
        db = STORES / f"synth-{human_count(size)}-s1.sqlite3"
        db.with_suffix(".done").unlink(missing_ok=True)
        run = import_with_cli(jsonl, db, args.batch)
        remember_store(jsonl, db, size)
        rate = run["read"] / run["seconds"]
        run.update(subjects=size, lines=dataset_info(jsonl)["lines"], file_bytes=jsonl.stat().st_size,
                   observations_per_s=rate, store_bytes=db.stat().st_size)
        runs[human_count(size)] = run
        rows.append([human_count(size), run["read"], run["added"], run["rejected"], run["seconds"], rate,
                     run["user_seconds"] + run["system_seconds"], run["peak_rss_mib"],
                     round(run["store_bytes"] / 1e6)])
        print(f"{human_count(size)}: {rate:,.0f} observations/s, peak RSS {run['peak_rss_mib']} MiB",
              file=sys.stderr, flush=True)

    print(table(["subjects", "lines read", "added", "rejected", "wall s", "obs/s", "cpu s", "peak RSS MiB",
                 "store MB"], rows, title="JSONL import via `python server.py import jsonl FILE` (fresh store each)"))
    small, large = human_count(sizes[0]), human_count(sizes[-1])
    rss_growth = runs[large]["peak_rss_mib"] / runs[small]["peak_rss_mib"]
    input_growth = runs[large]["lines"] / runs[small]["lines"]
    worst_rate = min(r["observations_per_s"] for r in runs.values())
    print(f"\npeak RSS {small} -> {large}: x{rss_growth:.2f} for x{input_growth:.0f} the input"
          f"; slowest rate {worst_rate:,.0f} obs/s (target >= {TARGET:,}: {'meets' if worst_rate >= TARGET else 'misses'})")

    payload = {"sizes": sizes, "batch": args.batch, "runs": runs, "target_obs_per_s": TARGET,
               "meets_target": worst_rate >= TARGET, "rss_growth": rss_growth, "input_growth": input_growth}

    if not args.no_breakdown:
        jsonl = dataset(sizes[0])
        parts = breakdown(jsonl, args.batch or 20000)
        total = parts["read_json_s"] + parts["normalise_s"] + parts["sqlite_write_s"]
        db = STORES / f"synth-{small}-s1.sqlite3"
        again = import_with_cli(jsonl, db, args.batch, fresh=False)
        parts["reimport"] = again
        rows = [[name, seconds, parts["lines"] / seconds, f"{seconds / total:.0%}"]
                for name, seconds in (("read + parse JSON (orjson, Record)", parts["read_json_s"]),
                                      ("normalise (Importer, writes discarded)", parts["normalise_s"]),
                                      ("SQLite upserts + name/IP indexes + FTS", parts["sqlite_write_s"]))]
        rows.append([f"re-import into the filled store (added {again['added']}, updated {again['updated']})",
                     again["seconds"], again["read"] / again["seconds"], ""])
        print(table(["stage", "seconds", "lines/s if alone", "share"], rows,
                    title=f"\nwhere the time goes, {small} subjects ({parts['lines']:,} lines), in-process"))
        payload["breakdown"] = parts
    path = write_result("bench_import", {**payload, "load_average_after": os.getloadavg()})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
