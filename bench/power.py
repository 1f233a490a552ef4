"""How often does `evalkit run --baseline` flag a regression, and how often a false alarm?

Simulates realistic suites (see tests/compare/simsuite.py: most cases nearly always pass or
nearly always fail, 15% coin flips; a regression hits some passing cases hard) and prints,
for each suite size and number of repeats, the false-alarm rate of A/A comparisons, the power
to flag 10-, 5- and 3-point drops, and the median smallest detectable change evalkit reports.
Seeded: the same numbers every time.

    python bench/power.py [--sims 1000] [--sizes 100,200,500]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "compare"))

import simsuite as sim

from evalkit.compare import stats


def median_mde(rng: np.random.Generator, n: int, repeats: int, count: int = 50) -> float:
    p = sim.suites(rng, count, n)
    a, b = sim.draw(rng, p, repeats), sim.draw(rng, p, repeats)
    found = [stats.paired_binary(a[i], b[i], n_resamples=200) for i in range(count)]
    return float(np.median([f.mde for f in found if f is not None and f.mde is not None]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--sizes", default="100,200,500")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"{args.sims} simulated comparisons per cell, α = 0.05 (two-sided), seeded\n")
    print(
        f"{'cases':>5} {'repeats':>7} {'A/A alarms':>10} {'10 pts':>7} {'5 pts':>7} "
        f"{'3 pts':>7} {'reported MDE':>13}"
    )
    for n in (int(x) for x in args.sizes.split(",")):
        for repeats in (1, 5):
            rng = np.random.default_rng(n * 10 + repeats)
            _, alarms = sim.flagged(rng, sims=args.sims, n=n, repeats=repeats, drop=0.0)
            power = [
                sim.flagged(rng, sims=args.sims, n=n, repeats=repeats, drop=d)[0]
                for d in (0.10, 0.05, 0.03)
            ]
            mde = median_mde(rng, n, repeats)
            print(
                f"{n:>5} {repeats:>7} {alarms:>10.1%} "
                + " ".join(f"{p:>7.1%}" for p in power)
                + f" {mde * 100:>9.1f} pts"
            )
    print(f"\n{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
