"""What the typed comparison costs: `evalkit compare RUN_A RUN_B --json` on a large suite,
this tree against another revision (default: main), alternating, medians of the rounds.

A store gets two runs of ``--cases`` cases (one pass/fail scorer and one continuous score per
result; ``--flips`` of the cases flip, two thirds of them pass → fail, so the comparison
carries thousands of flips with both outputs). Each round times the whole command as a user
runs it (a fresh process: imports, store, statistics, models, JSON), once with the other
revision's code (``git archive REV evalkit``, put first on PYTHONPATH) and once with this
tree's, in alternating order; then, in this process, how long building and printing the
typed result takes next to the comparison itself.

    python bench/compare.py [--cases 10000] [--flips 0.15] [--rounds 3] [--against main]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "compare"))

from storeutil import make_result, make_score, write_run  # noqa: E402

from evalkit.store.db import Store  # noqa: E402


def build_store(path: Path, cases: int, flips: float) -> None:
    """Two runs: ``base`` passes 70% of the cases; ``cand`` flips ``flips`` of them."""
    flipped = int(cases * flips)
    lost = set(range(0, 2 * flipped // 3))  # pass → fail (all among the passing 70%)
    gained = set(range(int(cases * 0.7), int(cases * 0.7) + flipped - len(lost)))
    with Store(path) as store:
        for run_id, minutes in (("base", 0), ("cand", 1)):
            items = []
            for i in range(cases):
                ok = i < int(cases * 0.7)
                if run_id == "cand" and (i in lost or i in gained):
                    ok = not ok
                case = f"case-{i:05d}"
                output = f"{case} answer {'right' if ok else 'wrong'} from {run_id}"
                r = make_result(run_id, case, output=output, latency_ms=100.0 + (i % 37))
                items.append(
                    (
                        r,
                        [
                            make_score(r, "check", ok),
                            make_score(
                                r, "bleu", None, value=30.0 + (i % 11) + ok, scorer_type="bleu"
                            ),
                        ],
                    )
                )
            write_run(store, run_id, items, minutes=minutes)


def export(rev: str, into: Path) -> Path:
    """``rev``'s evalkit package in ``into`` (read from git; no checkout is touched)."""
    data = subprocess.run(
        ["git", "archive", "--format=tar", rev, "evalkit"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


#: Runs evalkit's CLI from the code in argv[1] ("" = the installed, editable tree): the
#: editable install's import hook is dropped so that the other tree's package is found.
LAUNCH = """
import sys
src = sys.argv.pop(1)
if src:
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
    sys.path.insert(0, src)
import evalkit.cli.main
assert not src or evalkit.cli.main.__file__.startswith(src), evalkit.cli.main.__file__
sys.argv[0] = "evalkit"
evalkit.cli.main.main()
"""


def timed(project: Path, db: Path, src: str) -> tuple[float, float, int]:
    """(wall s, CPU s of the process, bytes printed)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, src, "compare", "base", "cand", "--json", "--db", str(db)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr)
    return wall, cpu, len(done.stdout)


def in_process(db: Path) -> None:
    from evalkit.compare.drift import compare_runs
    from evalkit.contracts import Comparison

    with Store(db, read_only=True) as store:
        started = time.perf_counter()
        comparison = compare_runs(store, "base", "cand")
        total = time.perf_counter() - started
    started = time.perf_counter()
    data = comparison.as_json()
    dump = time.perf_counter() - started
    started = time.perf_counter()
    Comparison.model_validate(data)
    validate = time.perf_counter() - started
    flips = comparison.counts.pass_to_fail + comparison.counts.fail_to_pass
    print(
        f"\nin this process: compare_runs {total:.2f} s ({flips} flips with outputs); "
        f"as_json {dump * 1000:.0f} ms; validating the whole result again "
        f"{validate * 1000:.0f} ms ({validate / total:.1%} of compare_runs)"
    )
    print(f"JSON printed: {len(json.dumps(data, default=str)) / 1e6:.1f} MB")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--flips", type=float, default=0.15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", default="main", help="the git revision to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        db = project / "bench.duckdb"
        started = time.perf_counter()
        build_store(db, args.cases, args.flips)
        print(f"store: 2 runs × {args.cases} cases in {time.perf_counter() - started:.1f} s\n")
        other = str(export(args.against, project / "other"))
        walls: dict[str, list[float]] = {args.against: [], "this tree": []}
        cpus: dict[str, list[float]] = {args.against: [], "this tree": []}
        for i in range(args.rounds):
            order = [(args.against, other), ("this tree", "")]
            for name, path in order if i % 2 == 0 else order[::-1]:
                wall, cpu, size = timed(project, db, path)
                walls[name].append(wall)
                cpus[name].append(cpu)
                print(
                    f"round {i + 1}: {name:>10} {wall:6.2f} s wall, {cpu:6.2f} s CPU "
                    f"({size / 1e6:.1f} MB of JSON)"
                )
        for what, values in (("wall", walls), ("CPU", cpus)):
            base = statistics.median(values[args.against])
            mine = statistics.median(values["this tree"])
            print(
                f"median {what:>4}: {args.against} {base:.2f} s, this tree {mine:.2f} s "
                f"→ ×{mine / base:.2f}"
            )
        in_process(db)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
