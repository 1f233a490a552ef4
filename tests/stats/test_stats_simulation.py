"""evalkit.stats by simulation (seeded): why a bootstrap from fewer than
``MIN_BOOTSTRAP_CASES`` cases carries a warning."""

from __future__ import annotations

import math

import numpy as np

from evalkit import stats

SIMS = 1000


def _coverage(n: int, draw: str, rng: np.random.Generator) -> float:
    truth = 0.0 if draw == "normal" else math.exp(0.5)
    covered = 0
    for i in range(SIMS):
        d = rng.normal(0.0, 1.0, n) if draw == "normal" else rng.lognormal(0.0, 1.0, n)
        low, high = stats.cluster_bootstrap_ci(d, np.ones(n), stats.rng_for(n, i), 1000)
        covered += low <= truth <= high
    return covered / SIMS


def test_a_percentile_bootstrap_from_few_cases_covers_less_than_95_percent(capsys):
    rng = np.random.default_rng(3)
    table = {(n, d): _coverage(n, d, rng) for n in (5, 10, 20, 50) for d in ("normal", "lognormal")}
    with capsys.disabled():
        print(f"\npercentile bootstrap of a mean, 95% nominal ({SIMS} simulations each):")
        for n in (5, 10, 20, 50):
            print(
                f"  {n:>3} cases: normal {table[(n, 'normal')]:.1%}, "
                f"lognormal {table[(n, 'lognormal')]:.1%}"
            )
    se = 3 * math.sqrt(0.05 * 0.95 / SIMS)
    # under the warning's threshold the interval is clearly too narrow, even for normal data
    assert table[(5, "normal")] < 0.95 - se and table[(10, "normal")] < 0.95 - se
    # from the threshold on, it is close to nominal for well-behaved data
    assert stats.MIN_BOOTSTRAP_CASES == 20
    assert table[(20, "normal")] >= 0.95 - 2 * se and table[(50, "normal")] >= 0.95 - 2 * se
    # skewed data under-covers longer: the warning is a floor, not a guarantee
    assert table[(50, "lognormal")] < table[(50, "normal")]
