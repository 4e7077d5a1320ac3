"""Run every benchmark in a sensible order and print one summary at the end.

    python bench/run_all.py            # full: import 100k + 1M, latency 10k/100k/1M, HTTP ratio
    python bench/run_all.py --quick    # small sizes, a minute or two

Import runs first so the stores it builds are reused by the latency benchmark (each size is
imported once). Each script also writes bench/results/<name>.json; this one adds
bench/results/run_all.json with the headline figures against their targets.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, PYTHON, RESULTS, ROOT, table, write_result  # noqa: E402


def run(script: str, *args: str) -> float:
    print(f"\n=== {script} {' '.join(args)}", flush=True)
    started = time.perf_counter()
    subprocess.run([PYTHON, str(BENCH / script), *args], check=True, cwd=ROOT)
    return time.perf_counter() - started


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few requests")
    parser.add_argument("--http-latency", action="store_true", help="also measure pivot latency over HTTP")
    args = parser.parse_args(argv)
    quick = ["--quick"] if args.quick else []

    seconds = {}
    seconds["bench_import"] = run("bench_import.py", *quick)
    seconds["bench_latency"] = run("bench_latency.py", *quick, *(["--http"] if args.http_latency else []))
    seconds["bench_ratio"] = run("bench_ratio.py", *quick)

    imported, latency, ratio = load("bench_import"), load("bench_latency"), load("bench_ratio")
    runs = imported["runs"]
    small, large = list(runs)[0], list(runs)[-1]
    engine = latency["summary"]["engine"]
    lat_small, lat_large = (f"{latency['sizes'][0]:,}", f"{latency['sizes'][-1]:,}")
    rows = [
        ["import rate (slowest size), obs/s", min(r["observations_per_s"] for r in runs.values()),
         f">= {imported['target_obs_per_s']:,}", imported["meets_target"]],
        [f"import peak RSS {small} -> {large}, MiB",
         f"{runs[small]['peak_rss_mib']} -> {runs[large]['peak_rss_mib']}", "flat", imported["rss_growth"] < 1.5],
        [f"pivot p50 at {lat_large} subjects, ms", engine["mix_p50_ms_largest"], "<= 5", engine["meets_p50"]],
        [f"pivot p50 growth {lat_small} -> {lat_large}", f"{engine['mix_growth']:.2f}x", "<= 2x",
         engine["meets_growth"]],
        ["pivot req/s / bare maltego-trx req/s", ratio["ratio"], ">= 0.8", ratio["meets_target"]],
    ]
    print(table(["measure", "value", "target", "met"], rows, title="\n=== summary" + (" (quick)" if args.quick else "")))
    path = write_result("run_all", {"quick": args.quick, "seconds": seconds,
                                    "summary": [dict(zip(["measure", "value", "target", "met"], r)) for r in rows]})
    print(f"results: {path}  (total {sum(seconds.values()):.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
