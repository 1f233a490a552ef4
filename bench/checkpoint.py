"""Does writing a run get slower as the store grows? Closing a DuckDB store checkpoints it;
this writes `--runs` runs of 2,000 results (3 scores each, in evalkit's 256-result batches)
into one new store and prints, for some of them, the time of the writes and of the close.

    python bench/checkpoint.py [--runs 12] [--python OTHER_PYTHON ...] [--indexed]

Each interpreter named by `--python` (another virtualenv with another DuckDB, evalkit
installed) runs the same in turn, alternating, `--rounds` times; medians are printed. This is
how the choice of DuckDB was measured (docs/scaling-out.md). `--indexed` adds, alternating
with the others, a store as it was before migration 7: results, scores and the caches keyed by
primary-key indexes (how much they cost, and what the store's size is, is why they went).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def grow(
    path: Path, runs: int, shown: list[int], indexed: bool = False
) -> dict[int, tuple[float, float]]:
    """Write ``runs`` runs into a new store at ``path``; (writes s, close s) per shown run.
    ``indexed``: the store as migration 6 left it (primary-key indexes)."""
    import duckdb  # noqa: F401  (the version under test)

    import evalkit.store.db as db
    from evalkit.records import Result, Score
    from evalkit.store.db import Store

    if indexed:
        db.MIGRATIONS = [m for m in db.MIGRATIONS if m[0] <= 6]  # type: ignore[misc]
        db.UNINDEXED_KEYS = {}  # type: ignore[misc]

    out: dict[int, tuple[float, float]] = {}
    for k in range(runs):
        store = Store(path)
        run = f"r{k}"
        results = [
            Result(
                id=f"{run}-{i}",
                run_id=run,
                suite="s",
                case_id=f"c{i}",
                case_hash="h",
                prompt="p@v1",
                prompt_name="p",
                prompt_version="v1",
                prompt_hash="ph",
                provider="fake",
                provider_type="openai",
                model="m",
                params={"max_tokens": 32},
                repeat=0,
                input=[{"role": "user", "content": f"Q: question {i}?\nA:"}],
                output="The capital is Paris, founded around 250 BC; population 2102650.",
                created_at=time.time(),
                cache_key=f"{k:04d}{i:028d}",
            )
            for i in range(2000)
        ]
        begun = time.perf_counter()
        for start in range(0, len(results), 256):
            batch = results[start : start + 256]
            scores = [
                Score(
                    result_id=r.id,
                    run_id=run,
                    scorer=name,
                    scorer_type=name,
                    signature="sig",
                    signature_json={"v": 1},
                    value=1.0,
                    passed=True,
                )
                for r in batch
                for name in ("contains", "regex", "bleu")
            ]
            store.write_batch(batch, scores)
        writes = time.perf_counter() - begun
        begun = time.perf_counter()
        store.close()
        if k + 1 in shown:
            out[k + 1] = (writes, time.perf_counter() - begun)
    return out


#: ``--indexed``'s stand-in for an interpreter: this one, with the store before migration 7.
INDEXED = "indexed"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--python", action="append", default=[])
    parser.add_argument("--indexed", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-indexed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shown = sorted({1, max(1, args.runs // 2), args.runs})
    if args.child:
        out = grow(Path(args.child), args.runs, shown, args.child_indexed)
        size = sum(f.stat().st_size for f in Path(args.child).parent.glob("s.duckdb*"))
        print(json.dumps({"runs": out, "size": size}))
        return 0
    pythons = [sys.executable, *args.python]
    if args.indexed:
        pythons.append(INDEXED)
    found: dict[str, dict[int, list[tuple[float, float]]]] = {p: {} for p in pythons}
    versions = {}
    sizes: dict[str, list[int]] = {}
    for _ in range(args.rounds):
        for python in pythons:
            command = [sys.executable if python == INDEXED else python, __file__]
            command += ["--runs", str(args.runs)]
            command += ["--child-indexed"] if python == INDEXED else []
            with tempfile.TemporaryDirectory() as tmp:
                out = subprocess.run(
                    [*command, "--child", f"{tmp}/s.duckdb"],
                    capture_output=True,
                    text=True,
                    check=True,
                )
            child = json.loads(out.stdout)
            sizes.setdefault(python, []).append(child["size"])
            for run, pair in child["runs"].items():
                found[python].setdefault(int(run), []).append(tuple(pair))  # type: ignore[arg-type]
            if python not in versions:
                versions[python] = subprocess.run(
                    [command[0], "-c", "import duckdb; print(duckdb.__version__)"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip() + (" with key indexes" if python == INDEXED else "")
    for python in pythons:
        for run, pairs in sorted(found[python].items()):
            writes = statistics.median(p[0] for p in pairs)
            close = statistics.median(p[1] for p in pairs)
            print(
                f"DuckDB {versions[python]}: run {run:>3} ({run * 2000:>6} results stored): "
                f"writes {writes:.2f} s, close (checkpoint) {close:.2f} s"
            )
        size = statistics.median(sizes[python])
        print(
            f"DuckDB {versions[python]}: file {size / 2**20:.1f} MB after {args.runs} runs "
            f"({size / (args.runs * 2000) / 1024:.2f} KiB per result with its 3 scores)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
