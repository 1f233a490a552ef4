"""What it costs a run to let readers in: whole-command wall of `evalkit run`, holding the store
file from start to end (``EVALKIT_STORE_HOLD=1``) against the default (the run looks for a
waiting reader's marker after each batch and closes the file for it, so `runs list`, `query`
and `report` answer while it writes); and how long such a reader takes.

Against the loopback fake OpenAI server answering instantly (its own process), 2,000 cases at
concurrency 16 with three cheap scorers (bench/calls.py's project), every result stored on a
fresh store; the two alternate for `--rounds` rounds; medians compared. Then, once per round, a
`evalkit runs list` started while a default run writes: its whole-command wall.

    python bench/sharing.py [--cases 2000] [--concurrency 16] [--rounds 3]

Prints figures only (no target): single runs on a shared 2-core machine swing by tens of
percent; read the medians and the ratio, and rerun when the machine is busy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from calls import ANSWER, make_project, peak_rss_mb  # noqa: E402

from fakeserver import FakeServerProcess  # noqa: E402


def reader_during_run(evalkit: list[str], root: Path, db: Path, env: dict[str, str]) -> float:
    """Start a run, then (once its first batch is stored) `runs list`: the reader's wall."""
    run = subprocess.Popen(
        [*evalkit, "run", "--json", "--no-cache", "--db", str(db)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while not (db.with_name(db.name + ".lock").exists() and db.exists()):
            time.sleep(0.05)
        time.sleep(1.0)  # well into the run
        began = time.perf_counter()
        listed = subprocess.run(
            [*evalkit, "runs", "list", "--json", "--db", str(db)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - began
        if listed.returncode != 0:
            raise SystemExit(f"runs list failed during a run: {listed.stderr[-2000:]}")
        statuses = [r["status"] for r in json.loads(listed.stdout)["runs"]]
        if run.poll() is not None or "running" not in statuses:
            print("  (note: the run had ended before the reader answered)")
        return wall
    finally:
        run.wait()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    evalkit = [sys.executable, "-m", "evalkit"]
    server = FakeServerProcess(default_answer=ANSWER, max_log=100)
    server.start()
    base_env = {k: v for k, v in os.environ.items() if k != "EVALKIT_STORE_HOLD"}
    modes = {"hold": {**base_env, "EVALKIT_STORE_HOLD": "1"}, "release": base_env}
    walls: dict[str, list[float]] = {m: [] for m in modes}
    readers: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_project(root, server.base_url, args.cases, stream=False)
            run_argv = [*evalkit, "run", "--json", "--no-cache", "-j", str(args.concurrency)]
            for round_ in range(args.rounds):
                order = list(modes) if round_ % 2 == 0 else list(reversed(modes))
                for mode in order:
                    db = root / f"{mode}-{round_}.duckdb"
                    wall, _, out = peak_rss_mb([*run_argv, "--db", str(db)], root, modes[mode])
                    if json.loads(out)["runs"][0]["status"] != "completed":
                        raise SystemExit(f"the {mode} run did not complete")
                    walls[mode].append(wall)
                db = root / f"reader-{round_}.duckdb"
                readers.append(reader_during_run(evalkit, root, db, base_env))
                print(
                    f"round {round_ + 1}: hold {walls['hold'][-1]:.2f} s, "
                    f"release {walls['release'][-1]:.2f} s, "
                    f"`runs list` during a run {readers[-1]:.2f} s",
                    flush=True,
                )
    finally:
        server.stop()
    hold = statistics.median(walls["hold"])
    release = statistics.median(walls["release"])
    print(
        f"\n{args.cases} cases, -j {args.concurrency}, medians of {args.rounds} rounds:\n"
        f"  run holding the store file (EVALKIT_STORE_HOLD=1): {hold:.2f} s\n"
        f"  run releasing it after each batch (default):       {release:.2f} s "
        f"({release / hold:.2f}x)\n"
        f"  `evalkit runs list` while a run writes:            "
        f"{statistics.median(readers):.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
