"""Requests/s of a DTF pivot transform divided by requests/s of a bare maltego-trx transform.

    python bench/bench_ratio.py [--requests 3000] [--concurrency 2,8] [--rounds 3] [--client python|wrk]

Both are real HTTP servers on 127.0.0.1, each in its own process, under the same werkzeug
threaded server with the same settings (bench/serve.py): the project's Flask app over the demo
store, and maltego_trx.server's app with one registered DiscoverableTransform returning one
maltego.Phrase. Both get a real Maltego v2 request (short type + Genealogy, soft limit 12, as
the client sends) from the same concurrent client, the same number of requests. (The client asks
for keep-alive; werkzeug's server closes every connection after one response, for both apps, so
each request also pays a TCP connect and a new server thread.) Rounds alternate bare/DTF so drift
on a shared machine hits both; the median round counts. The ratio is measured at each concurrency
level given (default 2, then 8): both servers are single processes bound by the GIL, and the
heavier a request, the more it loses when many threads compete, so the level matters.

The pivot is P0101.010 (name server) from calmoriver.test: 12 shown of 16 found, each with the
full annotation (link label and dtf.* link properties, trail, display information), which is
what an analyst's right-click costs. The same pivot with soft limit 1 (one entity returned, as
the bare transform does) is measured too, to show how much of the gap is the size of the answer.
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, PYTHON, ROOT, STORES, import_with_cli, table, write_result  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from support import maltego_request, parse_response  # noqa: E402

TARGET = 0.8
DEMO = ROOT / "demo" / "demo.jsonl"
CASES = {
    # name: (transform, entity type, value, soft limit)
    "pivot P0101.010 (12 of 16 results)": ("dtfp0101010pivotdomain", "maltego.Domain", "calmoriver.test", 12),
    "pivot P0101.010, soft limit 1 (1 result)": ("dtfp0101010pivotdomain", "maltego.Domain", "calmoriver.test", 1),
}
PRIMARY = "pivot P0101.010 (12 of 16 results)"


class Server:
    """A bench/serve.py child process; knows its port once it printed it."""

    def __init__(self, *args: str):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen([PYTHON, str(BENCH / "serve.py"), *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"server did not start: {line!r} {self.process.stderr.read()[-2000:]}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def demo_store() -> Path:
    db = STORES / "demo.sqlite3"
    stamp = db.with_suffix(".done")
    expected = f"{DEMO.stat().st_size} {int(DEMO.stat().st_mtime)}"
    if not (db.exists() and stamp.exists() and stamp.read_text() == expected):
        summary = import_with_cli(DEMO, db)
        if summary["rejected"]:
            raise RuntimeError(f"demo import rejected lines: {summary}")
        stamp.write_text(expected)
    return db


def post_once(port: int, path: str, body: bytes) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body, {"Content-Type": "text/xml"})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        conn.close()


def drive_python(port: int, path: str, body: bytes, requests: int, concurrency: int) -> dict:
    """`requests` POSTs over `concurrency` keep-alive connections; returns rate and latencies."""
    counter = itertools.count()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    headers = {"Content-Type": "text/xml", "Connection": "keep-alive"}

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        try:
            while next(counter) < requests:
                started = time.perf_counter()
                conn.request("POST", path, body, headers)
                response = conn.getresponse()
                data = response.read()
                mine.append(time.perf_counter() - started)
                if response.status != 200 or not data:
                    errors.append(f"HTTP {response.status}")
        except Exception as exc:  # reported, and the run is flagged invalid
            errors.append(repr(exc))
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    latencies.sort()
    return {"requests": len(latencies), "seconds": seconds, "rps": len(latencies) / seconds,
            "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
            "errors": errors[:5], "error_count": len(errors)}


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml"
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  io.write(string.format("BENCH %d %d %d %d %d\\n", summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def drive_wrk(port: int, path: str, body: bytes, seconds: float, concurrency: int) -> dict:
    """wrk for a fixed duration (it has no fixed request count), 2 threads, same connections."""
    with tempfile.TemporaryDirectory() as tmp:
        script, body_file = Path(tmp) / "post.lua", Path(tmp) / "body.xml"
        script.write_text(_WRK_SCRIPT)
        body_file.write_bytes(body)
        out = subprocess.run(["wrk", "-t2", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", str(script),
                              f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                             env=dict(os.environ, BENCH_BODY=str(body_file)), check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("BENCH "))
    count, micros, errors, p50, _p99 = (int(x) for x in line.split()[1:])
    return {"requests": count, "seconds": micros / 1e6, "rps": count / (micros / 1e6), "p50_ms": p50 / 1000,
            "errors": [] if not errors else [f"{errors} wrk errors"], "error_count": errors}


def check_answers(dtf: Server, bare: Server) -> dict:
    """Both servers answer what they should before any timing (a fast wrong answer is no result)."""
    found = {}
    for case, (name, entity_type, value, soft) in CASES.items():
        status, text = post_once(dtf.port, f"/run/{name}/", maltego_request(entity_type, value, soft=soft))
        parsed = parse_response(text)
        if status != 200 or not parsed.entities or parsed.exceptions:
            raise RuntimeError(f"DTF transform {name} gave no results: {status} {text[:300]}")
        if not all(e.link.get("dtf.pivot") for e in parsed.entities):
            raise RuntimeError(f"DTF transform {name} answered without annotation")
        found[case] = {"entities": len(parsed.entities), "bytes": len(text.encode()),
                       "messages": parsed.message_text()}
    status, text = post_once(bare.port, "/run/benchbarephrase/", maltego_request("maltego.Domain", "calmoriver.test"))
    parsed = parse_response(text)
    if status != 200 or [e.type for e in parsed.entities] != ["maltego.Phrase"]:
        raise RuntimeError(f"bare transform answered wrongly: {status} {text[:300]}")
    found["bare"] = {"entities": 1, "bytes": len(text.encode())}
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), to price one request on the server."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(targets, client: str, requests: int, rounds: int, concurrency: int) -> dict[str, list[dict]]:
    """Alternating rounds over every target at one concurrency level; every request must succeed."""
    runs: dict[str, list[dict]] = {case: [] for case, *_ in targets}
    for _, port, path, body, _ in targets:  # warm-up: imports, caches, page cache, connection pool
        drive_python(port, path, body, 200, concurrency)
    for _ in range(rounds):
        for case, port, path, body, pid in targets:
            cpu_before = cpu_seconds(pid)
            if client == "wrk":
                result = drive_wrk(port, path, body, max(2.0, requests / 1000), concurrency)
            else:
                result = drive_python(port, path, body, requests, concurrency)
            result["server_cpu_ms_per_request"] = (cpu_seconds(pid) - cpu_before) * 1000 / result["requests"]
            if result["error_count"]:
                raise RuntimeError(f"{case}: {result['error_count']} failed requests, e.g. {result['errors']}")
            runs[case].append(result)
    return runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per server per round (python client)")
    parser.add_argument("--concurrency", default="2,8",
                        help="comma-separated numbers of concurrent connections; the first gives the headline")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", choices=["python", "wrk", "auto"], default="python",
                        help="python: thread pool of http.client connections, fixed request count; "
                             "wrk: Debian's wrk for a fixed time instead (auto: wrk if installed)")
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.rounds = min(args.requests, 600), 1
    levels = [int(c) for c in str(args.concurrency).split(",")]
    client = "wrk" if args.client == "wrk" or (args.client == "auto" and shutil.which("wrk")) else "python"

    store = demo_store()
    with Server("dtf", "--store", str(store)) as dtf, Server("bare") as bare:
        answers = check_answers(dtf, bare)
        bare_body = maltego_request("maltego.Domain", "calmoriver.test")
        targets = [("bare", bare.port, "/run/benchbarephrase/", bare_body, bare.process.pid)]
        targets += [(case, dtf.port, f"/run/{name}/", maltego_request(entity_type, value, soft=soft), dtf.process.pid)
                    for case, (name, entity_type, value, soft) in CASES.items()]
        by_level = {level: measure(targets, client, args.requests, args.rounds, level) for level in levels}

    levels_out = {}
    for level, runs in by_level.items():
        median = {case: statistics.median(r["rps"] for r in results) for case, results in runs.items()}
        rows, cases = [], {}
        cpu = {case: statistics.median(r["server_cpu_ms_per_request"] for r in results)
               for case, results in runs.items()}
        for case in runs:
            ratio = median[case] / median["bare"]
            cases[case] = {"rps_median": median[case], "rps_rounds": [r["rps"] for r in runs[case]],
                           "p50_ms_rounds": [r["p50_ms"] for r in runs[case]],
                           "server_cpu_ms_per_request": cpu[case], "cpu_ratio": cpu["bare"] / cpu[case],
                           "ratio_to_bare": ratio, **answers.get(case, {})}
            rows.append([case, median[case], ", ".join(f"{r['rps']:.0f}" for r in runs[case]),
                         statistics.median(r["p50_ms"] for r in runs[case]), answers[case]["bytes"],
                         cpu[case], ratio])
        levels_out[level] = {"ratio": median[PRIMARY] / median["bare"], "cases": cases}
        print(table(["transform", "req/s (median)", "rounds", "p50 ms", "response bytes", "server cpu ms/req",
                     "ratio"], rows,
                    title=f"\nHTTP throughput, werkzeug threaded server, {client} client, {level} concurrent "
                          f"connection(s), {args.requests} requests x {args.rounds} rounds"))
    ratio = levels_out[levels[0]]["ratio"]
    verdict = "meets" if ratio >= TARGET else "misses"
    print(f"\nratio {PRIMARY} / bare maltego-trx at {levels[0]} connection(s) = {ratio:.2f}  "
          f"(target >= {TARGET}: {verdict})"
          + "".join(f"; at {level}: {levels_out[level]['ratio']:.2f}" for level in levels[1:]))
    path = write_result("bench_ratio", {
        "client": client, "server": "werkzeug make_server(threaded=True), one process each, access log off",
        "concurrency_levels": levels, "requests_per_round": args.requests, "rounds": args.rounds,
        "primary": PRIMARY, "ratio": ratio, "target": TARGET, "meets_target": ratio >= TARGET,
        "levels": levels_out, "load_average_after": os.getloadavg()})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
