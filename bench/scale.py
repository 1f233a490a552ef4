"""Memory and time as a suite grows: peak RSS and whole-command wall of `evalkit run` at 1,000,
10,000 and 100,000 cases.

Against the loopback fake OpenAI server answering instantly (its own process; it keeps no
request log), bench/calls.py's project (one JSONL suite, three cheap scorers: contains, regex,
bleu) at concurrency 16, every result stored on a fresh store; then a fully cached re-run on
the same store (every answer from the response cache: no request may reach the server).

    python bench/scale.py [--sizes 1000,10000,100000] [--concurrency 16] [--no-cached]

Prints the figures and the growth per 1,000 cases between sizes (target: peak RSS <= 600 MB
at 100,000 cases). Not a timed test: walls on a shared 2-core machine swing by tens of percent.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from calls import ANSWER, make_project, peak_rss_mb  # noqa: E402

from fakeserver import FakeServerProcess  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-cached", action="store_true", help="Skip the cached re-runs.")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    evalkit = [sys.executable, "-m", "evalkit"]
    server = FakeServerProcess(default_answer=ANSWER, max_log=1)
    server.start()
    env = {k: v for k, v in os.environ.items() if k != "EVALKIT_DB"}
    rows: list[tuple[int, float, float, float | None, float | None]] = []
    try:
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                make_project(root, server.base_url, n, stream=False)
                db = root / "scale.duckdb"
                argv = [*evalkit, "run", "--json", "-j", str(args.concurrency), "--db", str(db)]
                wall, peak, out = peak_rss_mb([*argv, "--no-cache"], root, env)
                run = json.loads(out)["runs"][0]
                if run["status"] != "completed":
                    raise SystemExit(f"{n} cases: the run did not complete")
                cached_wall = cached_peak = None
                if not args.no_cached:
                    before = server_requests(server)
                    cached_wall, cached_peak, out = peak_rss_mb(argv, root, env)
                    if server_requests(server) != before:
                        raise SystemExit(f"{n} cases: the cached re-run reached the server")
                    run = json.loads(out)["runs"][0]
                    if run["status"] != "completed":
                        raise SystemExit(f"{n} cases: the cached re-run did not complete")
                rows.append((n, wall, peak, cached_wall, cached_peak))
                cached = (
                    f"; cached re-run {cached_wall:7.2f} s, {cached_peak:6.0f} MB"
                    if cached_wall is not None and cached_peak is not None
                    else ""
                )
                print(
                    f"{n:>7} cases: run {wall:7.2f} s, peak RSS {peak:6.0f} MB{cached}", flush=True
                )
    finally:
        server.stop()
    print("\ngrowth between sizes (peak RSS per 1,000 more cases):")
    for (n0, _, p0, _, c0), (n1, _, p1, _, c1) in itertools.pairwise(rows):
        per = (p1 - p0) / ((n1 - n0) / 1000)
        extra = f", cached re-run {(c1 - c0) / ((n1 - n0) / 1000):.2f} MB" if c0 and c1 else ""
        print(f"  {n0} → {n1}: run {per:.2f} MB{extra}")
    return 0


def server_requests(server: FakeServerProcess) -> int:
    """Generation requests the fake server has answered so far."""
    return int(server.stats().get("total", 0))


if __name__ == "__main__":
    raise SystemExit(main())
