"""compare.stats (the paired comparison of one metric) and compare.budgets on fixed data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from evalkit import stats
from evalkit.compare import budgets
from evalkit.compare import stats as cstats


def test_paired_bootstrap_agrees_with_scipy():
    rng = np.random.default_rng(2)
    a = rng.normal(30, 8, 120)
    b = a + rng.normal(-1.0, 3, 120)
    got = cstats.paired_continuous(
        a[:, None], b[:, None], rng=np.random.default_rng(1), n_resamples=20_000
    )
    ref = sps.bootstrap(
        (a, b),
        lambda x, y, axis=-1: np.mean(y - x, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=20_000,
        method="percentile",
        random_state=np.random.default_rng(9),
    ).confidence_interval
    assert got is not None
    assert got.ci == pytest.approx((ref.low, ref.high), abs=0.06)  # Monte-Carlo noise only
    assert got.estimate == pytest.approx(np.mean(b - a))


def test_paired_binary_one_repeat():
    a = np.array([1] * 80 + [1] * 12 + [0] * 2 + [0] * 26, dtype=float)[:, None]
    b = np.array([1] * 80 + [0] * 12 + [1] * 2 + [0] * 26, dtype=float)[:, None]
    got = cstats.paired_binary(a, b)
    assert got is not None
    assert got.test == "exact McNemar" and got.discordant == (12, 2)
    assert got.estimate == pytest.approx(-10 / 120)
    assert got.p == pytest.approx(stats.mcnemar_exact(12, 2))
    assert got.ci == pytest.approx(stats.newcombe_paired_ci(80, 12, 2, 26))
    assert got.ci[0] < got.estimate < got.ci[1] < 0


def test_paired_binary_ignores_undecided_pairs():
    a = np.array([[1.0], [np.nan], [0.0], [1.0]])
    b = np.array([[0.0], [1.0], [np.nan], [1.0]])
    got = cstats.paired_binary(a, b)
    assert got is not None and got.cases == 2 and got.discordant == (1, 0)
    assert cstats.paired_binary(np.full((3, 1), np.nan), np.ones((3, 1))) is None


def test_paired_binary_repeats_uses_the_exact_sign_flip_and_a_cluster_interval():
    rng = np.random.default_rng(4)
    p = rng.uniform(0, 1, 60)
    a = (rng.random((60, 5)) < p[:, None]).astype(float)
    b = (rng.random((60, 5)) < (p[:, None] - 0.2)).astype(float)
    got = cstats.paired_binary(a, b)
    assert got is not None and got.test == "exact sign-flip over cases"
    d = (b.sum(1) - a.sum(1)).astype(int)
    assert got.p == pytest.approx(stats.sign_flip_exact(d))
    assert got.ci[0] < got.estimate < got.ci[1]
    assert got.estimate == pytest.approx(b.mean() - a.mean())


def test_ratio_of_p95_with_interval():
    rng = np.random.default_rng(8)
    a = rng.lognormal(6, 0.3, (100, 1))
    b = a * 1.5
    got = budgets.ratio(a, b, "p95")
    assert got is not None and got.ratio == pytest.approx(1.5)
    assert got.ci == pytest.approx((1.5, 1.5))
    noisy = budgets.ratio(a, rng.lognormal(6, 0.3, (100, 1)), "p95")
    assert noisy is not None and noisy.ci is not None and noisy.ci[0] < 1 < noisy.ci[1]
    assert budgets.ratio(np.zeros((5, 1)), np.ones((5, 1)), "mean").ratio is None


# -- corrections ------------------------------------------------------------------------------
def test_the_minimum_detectable_drop_never_exceeds_the_baseline_pass_rate():
    # 20 cases at a 30% pass rate, 6 discordant: Connor's equation asks for a ~40-point drop,
    # which a suite that passes 30% of its cases cannot show.
    a = np.array([1] * 6 + [0] * 14, dtype=float)[:, None]
    b = np.array([1] * 3 + [0] * 3 + [1] * 3 + [0] * 11, dtype=float)[:, None]
    connor = stats.mde_pass_rate(20, 6 / 20)
    assert connor is not None and 0.3 < connor < 0.7
    got = cstats.paired_binary(a, b)
    assert got is not None and got.baseline == pytest.approx(0.3)
    assert got.mde is None
    # a high pass rate keeps Connor's answer
    assert cstats.paired_binary(1 - a, 1 - b).mde == pytest.approx(connor)


@pytest.mark.parametrize("repeats", [1, 3])
def test_a_reported_detectable_drop_is_always_a_possible_drop(repeats):
    rng = np.random.default_rng(repeats)
    for _ in range(200):
        n = int(rng.integers(5, 60))
        p = rng.uniform(0, 1, n) * rng.uniform(0, 1)
        a = (rng.random((n, repeats)) < p[:, None]).astype(float)
        b = (rng.random((n, repeats)) < p[:, None]).astype(float)
        got = cstats.paired_binary(a, b)
        assert got is not None
        assert got.mde is None or got.mde <= got.baseline


def test_repeats_with_no_case_changed_keep_an_interval():
    # 30 cases x 4 repeats, the same passes per case on both sides (some repeats differ)
    rng = np.random.default_rng(9)
    a = (rng.random((30, 4)) < rng.uniform(0, 1, 30)[:, None]).astype(float)
    b = a[:, ::-1].copy()
    got = cstats.paired_binary(a, b)
    assert got is not None and got.estimate == 0.0 and got.p == 1.0
    assert got.ci[0] < -0.02 and got.ci[1] > 0.02, got.ci
    # cases that always pass or always fail: the interval of one answer per case
    det = np.repeat((rng.random(30) < 0.7).astype(float)[:, None], 4, axis=1)
    got = cstats.paired_binary(det, det)
    one = cstats.paired_binary(det[:, :1], det[:, :1])
    assert got is not None and one is not None
    assert got.ci == pytest.approx(one.ci) and got.ci[0] < 0 < got.ci[1]


def test_undefined_ratios_are_counted_and_bound_the_interval():
    # cost 0 in 15 of 20 baseline cases: some resamples pick only free cases (no ratio)
    a = np.array([0.0] * 15 + [1.0] * 5)[:, None]
    b = a * 1.5 + 0.1
    got = budgets.ratio(a, b, "mean", rng=np.random.default_rng(4))
    assert got is not None and got.ratio is not None and got.ci is not None
    idx = np.random.default_rng(4).integers(0, 20, size=(2000, 20))
    expected = int(np.count_nonzero(a[idx, 0].mean(axis=1) == 0))
    assert got.undefined == expected > 0 and got.resamples == 2000
    assert got.ci[0] <= got.ratio <= got.ci[1]
    assert any(f"{expected} of 2000 bootstrap resamples" in w for w in got.warnings)
    # free in 18 of 20: about one resample in eight has no ratio, too many for an interval
    a = np.array([0.0] * 18 + [1.0] * 2)[:, None]
    got = budgets.ratio(a, a * 2, "mean")
    assert got is not None and got.ratio == pytest.approx(2.0) and got.ci is None
    assert got.undefined > 50
    assert any(w.startswith("no interval") for w in got.warnings)


def test_small_suites_warn_that_a_bootstrap_interval_is_rough():
    rng = np.random.default_rng(12)
    a = rng.normal(50, 10, (30, 1))
    b = a + rng.normal(0, 2, (30, 1))
    small = cstats.paired_continuous(a[:10], b[:10])
    enough = cstats.paired_continuous(a[:20], b[:20])
    assert small is not None and enough is not None
    assert len(small.warnings) == 1 and "only 10 cases" in small.warnings[0]
    assert enough.warnings == []
    # pass/fail metrics use no bootstrap: exact test, Newcombe interval, no warning
    binary = cstats.paired_binary((a[:10] > 50).astype(float), (b[:10] > 50).astype(float))
    assert binary is not None and binary.warnings == []
    latency = budgets.ratio(a[:10], b[:10], "p95")
    assert latency is not None and any("only 10 cases" in w for w in latency.warnings)
    assert budgets.ratio(a, b, "p95").warnings == []
