"""Helpers shared by the benchmark scripts: paths, cached datasets and stores, tables, JSON results.

The scripts are run as files (`python bench/x.py`), so this module also puts the checkout on
sys.path. Generated data and stores live under bench/results/ (git-ignored) and are reused
between runs when their inputs have not changed.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
DATA = RESULTS / "data"
STORES = RESULTS / "stores"
PYTHON = sys.executable

for _path in (str(ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# Only the embedded store: live plugins would measure the network, not this code.
os.environ.setdefault("DTF_PLUGINS", "local")
os.environ.setdefault("DTF_CONFIG", str(ROOT / "tests" / "no-config.yaml"))


def human_count(n: int) -> str:
    """10000 -> 10k, 1000000 -> 1M (names of dataset files and table rows)."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def parse_count(text: str) -> int:
    """'10k' -> 10000, '1M' -> 1000000, '2500' -> 2500 (command-line sizes)."""
    text = text.strip().lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if factor > 1 else text) * factor)


def dataset(subjects: int, seed: int = 1, quiet: bool = False) -> Path:
    """The synthetic JSONL for `subjects`, generated once and reused (synth.py is deterministic)."""
    from synth import generate

    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"synth-{human_count(subjects)}-s{seed}.jsonl"
    done = path.with_suffix(".done")
    if not (path.exists() and done.exists()):
        started = time.perf_counter()
        if not quiet:
            print(f"generating {path.name} ...", file=sys.stderr, flush=True)
        lines = generate(subjects, path, seed=seed)
        done.write_text(json.dumps({"subjects": subjects, "lines": lines,
                                    "seconds": round(time.perf_counter() - started, 1)}))
    return path


def dataset_info(path: Path) -> dict:
    return json.loads(path.with_suffix(".done").read_text())


def import_with_cli(jsonl: Path, db: Path, batch: int | None = None, fresh: bool = True) -> dict:
    """Run `python server.py import jsonl FILE --json` into `db` (emptied first if `fresh`) in a child.

    Returns the importer's summary plus wall time and the child's peak RSS (from wait4, so
    it is this child's own peak, not the largest child's so far).
    """
    for suffix in ("", "-wal", "-shm"):
        if fresh:
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DTF_DB=str(db), DTF_LOG_LEVEL="WARNING")
    command = [PYTHON, str(ROOT / "server.py"), "import", "jsonl", str(jsonl), "--json"]
    if batch:
        command += ["--batch", str(batch)]
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    out, err = child.stdout.read(), child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"import failed ({child.returncode}): {err.decode()[-2000:]}")
    summary = json.loads(out.decode().strip().splitlines()[-1])
    peak_kib = usage.ru_maxrss  # Linux: KiB
    return {**summary, "seconds": seconds, "peak_rss_mib": round(peak_kib / 1024, 1),
            "user_seconds": usage.ru_utime, "system_seconds": usage.ru_stime,
            "stderr_tail": err.decode()[-500:]}


def store_for(subjects: int, seed: int = 1, quiet: bool = False) -> Path:
    """A store holding the synthetic dataset, imported once through the CLI and then reused."""
    jsonl = dataset(subjects, seed, quiet)
    STORES.mkdir(parents=True, exist_ok=True)
    db = STORES / f"synth-{human_count(subjects)}-s{seed}.sqlite3"
    stamp = db.with_suffix(".done")
    if not (db.exists() and stamp.exists() and stamp.read_text() == _stamp(jsonl)):
        if not quiet:
            print(f"importing {jsonl.name} into {db.name} ...", file=sys.stderr, flush=True)
        stamp.unlink(missing_ok=True)
        import_with_cli(jsonl, db)
        stamp.write_text(_stamp(jsonl))
    return db


def remember_store(jsonl: Path, db: Path, subjects: int, seed: int = 1) -> None:
    """Let bench_import hand a store it just built to bench_latency (same name and stamp as store_for)."""
    target = STORES / f"synth-{human_count(subjects)}-s{seed}.sqlite3"
    if db != target:
        return
    target.with_suffix(".done").write_text(_stamp(jsonl))


def _stamp(jsonl: Path) -> str:
    from store.schema import SCHEMA_VERSION

    stat = jsonl.stat()
    return f"{jsonl.name} {stat.st_size} {int(stat.st_mtime)} schema={SCHEMA_VERSION}"


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    """A plain fixed-width table for the terminal."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [title] if title else []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if n and _numeric(c) else c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "").replace("-", "").replace("x", "").strip().isdigit()


def machine() -> dict:
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "sqlite": __import__("sqlite3").sqlite_version}


def write_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": machine(), **payload}
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    return path
