"""Store write and read speed: the DuckDB the default install resolves vs DuckDB 1.4.4 (what the
``team`` extra pins), and the DuckLake team store.

Each configuration runs in its own subprocess: it writes ``--results`` results (three scores
and one cache entry each, like ``bench/calls.py``'s suite) with ``Store.write_batch`` in the
runner's batches of 256, then summarises the run (``summarize_run``, what every report reads).
Rounds alternate the configurations; the table shows medians and ratios against the first
configuration, measured in the same run.

    python bench/store.py --pinned DIR [--rounds 3] [--results 20000] [--postgres CONNINFO]

``DIR`` holds DuckDB 1.4.4 and the extension packages, installed apart from the venv:
``pip install --target DIR duckdb==1.4.4 duckdb-ext-ducklake duckdb-ext-postgres``.
``--postgres`` adds a DuckLake store with its catalogue in that PostgreSQL database.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
from pathlib import Path
import duckdb
from evalkit.records import Result, Score
from evalkit.run.summary import summarize_run
kind, where, n, storage = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
import evalkit.store.db as db
if storage == "native":
    db.STORAGE_VERSION = "none"   # an unknown version: _create falls back to DuckDB's own
if kind == "duckdb":
    store = db.Store(Path(where) / "e.duckdb")
else:
    from evalkit.store.ducklake import DuckLakeStore, DuckLakeTarget
    catalog = where.split("|")[0]
    store = DuckLakeStore(DuckLakeTarget(catalog, where.split("|")[1]))
store.execute("INSERT INTO runs (id, suite, started_at, status, options) VALUES "
              "('r', 's', now()::TIMESTAMP, 'running', '{}')")
answer = "The capital is Paris, founded around 250 BC; population 2102650 in 2023."
def result(i):
    return Result(id=f"res{i:08d}", run_id="r", suite="s", case_id=f"c{i}", case_hash="h",
                  prompt="bench@v1", prompt_name="bench", prompt_version="v1", prompt_hash="ph",
                  provider="fake", provider_type="openai", model="fake-model",
                  params={"max_tokens": 32}, repeat=0,
                  input=[{"role": "user", "content": f"Q: question number {i}?\nA:"}],
                  output=answer, latency_ms=1.0 + i % 50, input_tokens=9, output_tokens=14,
                  passed=i % 7 != 0, created_at=time.time(), cache_key=f"k{i:030d}")
sig = {"scorer": "contains", "version": 1}
def scores(i):
    return [Score(result_id=f"res{i:08d}", run_id="r", scorer=name, scorer_type=name,
                  signature="sig-" + name, signature_json=sig, value=float(i % 3), passed=True,
                  threshold=None, detail=None) for name in ("contains", "regex", "bleu")]
def cache_row(r):
    return (r.cache_key, "openai", "fake-model", '{"input": "x"}', r.output, 9, 14, None,
            r.latency_ms, None, "stop", "fake", None, db.utcnow())
begun = time.perf_counter()
for start in range(0, n, 256):
    batch = [result(i) for i in range(start, min(n, start + 256))]
    store.write_batch(batch, [s for i in range(start, start + len(batch)) for s in scores(i)],
                      [cache_row(r) for r in batch])
write_s = time.perf_counter() - begun
begun = time.perf_counter()
summary = summarize_run(store, "r")
read_s = time.perf_counter() - begun
assert summary["results"] == n, summary["results"]
store.close()
size = sum(p.stat().st_size for p in Path(where.split("|")[-1]).rglob("*") if p.is_file())
print(json.dumps({"duckdb": duckdb.__version__, "write_s": write_s, "read_s": read_s,
                  "bytes": size}))
"""


def run_child(
    pythonpath: str | None, kind: str, where: str, n: int, storage: str
) -> dict[str, float]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run(
        [sys.executable, "-c", CHILD, kind, where, str(n), storage],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stderr[-3000:]}")
    data: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pinned", required=True, help="folder holding DuckDB 1.4.4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results", type=int, default=20_000)
    parser.add_argument("--postgres", help="libpq conninfo of an empty database")
    args = parser.parse_args()
    pinned = str(Path(args.pinned).resolve())
    configs: list[tuple[str, str | None, str, str]] = [
        ("default DuckDB, its own format", None, "duckdb", "native"),
        ("default DuckDB, 1.4 format (new stores)", None, "duckdb", "v1.4"),
        ("DuckDB 1.4.4 (team extra)", pinned, "duckdb", "v1.4"),
        ("DuckLake, DuckDB catalogue file", pinned, "ducklake-file", "v1.4"),
    ]
    if args.postgres:
        configs.append(("DuckLake, PostgreSQL catalogue", pinned, "ducklake-pg", "v1.4"))
    times: dict[str, list[dict[str, float]]] = {c[0]: [] for c in configs}
    for round_ in range(args.rounds):
        for label, path, kind, storage in configs:
            with tempfile.TemporaryDirectory() as tmp:
                if kind == "duckdb":
                    where = tmp
                elif kind == "ducklake-file":
                    where = f"{tmp}/catalogue.ducklake|{tmp}"
                else:
                    where = f"postgres:{args.postgres}|{tmp}"
                if kind == "ducklake-pg":
                    _reset_postgres(args.postgres, path)
                data = run_child(path, kind.split("-")[0], where, args.results, storage)
                times[label].append(data)
            print(
                f"round {round_ + 1} {label}: write {data['write_s']:.2f}s "
                f"read {data['read_s'] * 1000:.0f}ms",
                file=sys.stderr,
            )
    base = configs[0][0]
    bw = statistics.median(d["write_s"] for d in times[base])
    br = statistics.median(d["read_s"] for d in times[base])
    print(
        f"{args.results} results (3 scores and a cache entry each), batches of 256; "
        f"medians of {args.rounds} alternating rounds"
    )
    print(
        f"{'configuration':<42} {'DuckDB':<8} {'results/s':>10} {'×':>6} "
        f"{'summary ms':>11} {'×':>6} {'MiB':>6}"
    )
    for label, *_ in configs:
        w = statistics.median(d["write_s"] for d in times[label])
        r = statistics.median(d["read_s"] for d in times[label])
        size = statistics.median(d["bytes"] for d in times[label]) / 2**20
        version = str(times[label][0]["duckdb"])
        print(
            f"{label:<42} {version:<8} {args.results / w:>10.0f} {bw / w:>6.2f} "
            f"{r * 1000:>11.0f} {br / r:>6.2f} {size:>6.1f}"
        )
    print("× > 1: faster than the first line (the default install's DuckDB, its own format)")


def _reset_postgres(conninfo: str | None, pythonpath: str | None) -> None:
    """Drop the DuckLake catalogue tables so the next round starts from an empty database."""
    code = (
        "import duckdb, sys\n"
        "from evalkit.store.ducklake import extension_directory\n"
        "con = duckdb.connect()\n"
        "con.execute(f\"SET extension_directory = '{extension_directory()}'\")\n"
        'con.execute("LOAD postgres")\n'
        "con.execute(f\"ATTACH '{sys.argv[1]}' AS pg (TYPE postgres)\")\n"
        "con.execute(\"CALL postgres_execute('pg', 'DROP SCHEMA public CASCADE; "
        "CREATE SCHEMA public')\")\n"
    )
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    subprocess.run([sys.executable, "-c", code, conninfo or ""], env=env, check=True)


if __name__ == "__main__":
    main()
