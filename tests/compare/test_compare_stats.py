"""compare.stats on fixed data, against scipy and direct computations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from evalkit.compare import budgets, stats


@pytest.mark.parametrize(
    ("b", "c"), [(0, 0), (5, 1), (10, 2), (3, 3), (0, 7), (20, 9), (1, 0), (31, 12), (150, 120)]
)
def test_mcnemar_exact_is_scipys_binomial_test_on_discordant_pairs(b, c):
    expected = 1.0 if b + c == 0 else sps.binomtest(b, b + c, 0.5).pvalue
    assert stats.mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # and vectorised
    got = stats.mcnemar_exact(np.array([b, c]), np.array([c, b]))
    assert got == pytest.approx([expected, expected], rel=1e-12, abs=1e-15)


def test_mcnemar_by_hand():
    # 12 pass->fail, 2 fail->pass: p = 2 * P(X <= 2), X ~ Bin(14, 1/2)
    by_hand = 2 * sum(math.comb(14, k) for k in range(3)) / 2**14
    assert stats.mcnemar_exact(12, 2) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(0.012939453125)


def test_sign_flip_exact_equals_mcnemar_with_one_repeat():
    d = np.array([-1] * 12 + [1] * 2 + [0] * 80)
    assert stats.sign_flip_exact(d) == pytest.approx(stats.mcnemar_exact(12, 2), rel=1e-10)
    assert stats.sign_flip_exact(np.zeros(10, dtype=int)) == 1.0


def _enumerate(d: np.ndarray) -> float:
    t = abs(d.sum())
    nz = d[d != 0]
    hits = sum(
        abs(np.dot(signs, nz)) >= abs(t) - 1e-9
        for signs in itertools.product((-1, 1), repeat=nz.size)
    )
    return hits / 2**nz.size


@pytest.mark.parametrize("seed", range(5))
def test_sign_flip_exact_against_full_enumeration_with_repeats(seed):
    rng = np.random.default_rng(seed)
    d = rng.integers(-5, 6, size=13)  # per-case differences of passes out of 5 repeats
    d[rng.random(13) < 0.3] = 0
    assert stats.sign_flip_exact(d) == pytest.approx(_enumerate(d), rel=1e-9)


def test_sign_flip_test_continuous_exact_small_and_monte_carlo_large():
    d = np.array([0.3, -0.1, 0.25, 0.4, 0.05, -0.2, 0.6, 0.15])
    assert stats.sign_flip_test(d, stats.rng_for("t")) == pytest.approx(_enumerate(d))
    rng = np.random.default_rng(3)
    big = rng.normal(0.15, 1.0, 60)
    p_mc = stats.sign_flip_test(big, stats.rng_for("t"), n_flips=20_000)
    # a paired t-test is a close approximation at this size
    assert p_mc == pytest.approx(sps.ttest_1samp(big, 0).pvalue, abs=0.03)
    assert stats.sign_flip_test(big, stats.rng_for("t")) == stats.sign_flip_test(
        big, stats.rng_for("t")
    ), "seeded"


def test_newcombe_interval_matches_published_example():
    # Fagerland, Lydersen & Laake (2017), ch. 8, Cavo et al. 2012: [[59, 6], [16, 80]];
    # the Newcombe square-and-add interval of p1 - p2 is -0.0621 (-0.1186 to -0.0046).
    # Ours is candidate - baseline, i.e. the mirror image.
    low, high = stats.newcombe_paired_ci(59, 6, 16, 80)
    assert (low, high) == pytest.approx((0.0046, 0.1186), abs=5e-5)


def test_newcombe_by_hand_without_correlation():
    # When the correlation term is 0 (small cross product), the interval is Wilson ± added
    # in quadrature.
    n11, n10, n01, n00 = 3, 5, 4, 8
    n = 20
    z = sps.norm.ppf(0.975)

    def wilson(x):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return centre - half, centre + half

    pa, pb = (n11 + n10) / n, (n11 + n01) / n
    (la, ua), (lb, ub) = wilson(n11 + n10), wilson(n11 + n01)
    assert n11 * n00 - n10 * n01 <= n / 2  # corrected correlation is 0
    expected = (pb - pa - math.hypot(pb - lb, ua - pa), pb - pa + math.hypot(ub - pb, pa - la))
    assert stats.newcombe_paired_ci(n11, n10, n01, n00) == pytest.approx(expected)


def test_cluster_bootstrap_is_a_direct_resampling_of_cases():
    rng = np.random.default_rng(11)
    diffs = rng.normal(-0.3, 1.0, 50)
    low, high = stats.cluster_bootstrap_ci(diffs, np.ones(50), np.random.default_rng(5), 2000)
    # the same computation by hand, with the same draws
    idx = np.random.default_rng(5).integers(0, 50, size=(2000, 50))
    by_hand = np.quantile(diffs[idx].mean(axis=1), [0.025, 0.975])
    assert (low, high) == pytest.approx(tuple(by_hand), abs=1e-12)


def test_paired_bootstrap_agrees_with_scipy():
    rng = np.random.default_rng(2)
    a = rng.normal(30, 8, 120)
    b = a + rng.normal(-1.0, 3, 120)
    got = stats.paired_continuous(
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


def test_cluster_bootstrap_with_repeats_resamples_cases_not_samples():
    # Two cases, five repeats each: resampling cases can only give the per-case means (and
    # their mixture); resampling samples would give many more values.
    diffs = np.array([5.0, -5.0])  # case sums over 5 repeats
    counts = np.array([5.0, 5.0])
    low, high = stats.cluster_bootstrap_ci(diffs, counts, np.random.default_rng(0), 2000)
    assert (low, high) == (-1.0, 1.0)


def test_holm_by_hand():
    p = [0.01, 0.04, 0.03, 0.5]
    # sorted: 0.01*4=0.04, 0.03*3=0.09, 0.04*2=0.08 -> max(0.09,0.08)=0.09, 0.5*1
    assert stats.holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert stats.holm([]) == []
    assert stats.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_mde_solves_connors_equation():
    n, psi0 = 200, 0.08
    delta = stats.mde_pass_rate(n, psi0)
    za, zb = sps.norm.ppf(0.975), sps.norm.ppf(0.8)
    psi = psi0 + delta
    assert math.sqrt(n) * delta == pytest.approx(
        za * math.sqrt(psi) + zb * math.sqrt(psi - delta**2), rel=1e-9
    )
    # more cases or less noise: a smaller detectable change; a stricter alpha: larger
    assert stats.mde_pass_rate(800, psi0) < delta
    assert stats.mde_pass_rate(n, 0.01) < delta
    assert stats.mde_pass_rate(n, psi0, alpha=0.01) > delta
    # a deterministic suite still needs about (za + zb)^2 flipped cases
    assert stats.mde_pass_rate(1000, 0.0) * 1000 == pytest.approx((za + zb) ** 2, rel=0.15)
    assert stats.mde_pass_rate(3, 0.5) is None


def test_paired_binary_one_repeat():
    a = np.array([1] * 80 + [1] * 12 + [0] * 2 + [0] * 26, dtype=float)[:, None]
    b = np.array([1] * 80 + [0] * 12 + [1] * 2 + [0] * 26, dtype=float)[:, None]
    got = stats.paired_binary(a, b)
    assert got is not None
    assert got.test == "exact McNemar" and got.discordant == (12, 2)
    assert got.estimate == pytest.approx(-10 / 120)
    assert got.p == pytest.approx(stats.mcnemar_exact(12, 2))
    assert got.ci == pytest.approx(stats.newcombe_paired_ci(80, 12, 2, 26))
    assert got.ci[0] < got.estimate < got.ci[1] < 0


def test_paired_binary_ignores_undecided_pairs():
    a = np.array([[1.0], [np.nan], [0.0], [1.0]])
    b = np.array([[0.0], [1.0], [np.nan], [1.0]])
    got = stats.paired_binary(a, b)
    assert got is not None and got.cases == 2 and got.discordant == (1, 0)
    assert stats.paired_binary(np.full((3, 1), np.nan), np.ones((3, 1))) is None


def test_paired_binary_repeats_uses_the_exact_sign_flip_and_a_cluster_interval():
    rng = np.random.default_rng(4)
    p = rng.uniform(0, 1, 60)
    a = (rng.random((60, 5)) < p[:, None]).astype(float)
    b = (rng.random((60, 5)) < (p[:, None] - 0.2)).astype(float)
    got = stats.paired_binary(a, b)
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
