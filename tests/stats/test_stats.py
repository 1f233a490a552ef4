"""evalkit.stats on fixed data, against scipy, published examples and direct computations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from evalkit import stats
from evalkit.stats import mean_interval, wilson


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


# -- intervals of one run's mean (run.uncertainty uses these) ------------------------------
def test_independent_proportion_is_plain_wilson():
    values = [1] * 15 + [0] * 7
    low, high, method = mean_interval(values, list(range(22)))
    assert method == "wilson"
    assert (low, high) == pytest.approx(wilson(15, 22))


def test_repeats_that_always_agree_count_each_case_once():
    # 10 cases x 3 repeats; a case passes all its repeats or none: 3 answers = 1 observation
    cases = [c for c in range(10) for _ in range(3)]
    values = [1.0 if c < 5 else 0.0 for c in cases]
    low, high, method = mean_interval(values, cases)
    assert method == "wilson-clustered"
    assert (low, high) == pytest.approx(wilson(5, 10))
    naive = wilson(15, 30)
    assert high - low > naive[1] - naive[0]


def test_repeats_that_vary_within_cases_are_not_penalised():
    cases = [c for c in range(20) for _ in range(2)]
    values = [1.0, 0.0] * 20  # each case: one pass, one fail
    low, high, _ = mean_interval(values, cases)
    assert (low, high) == pytest.approx(wilson(20, 40))  # design effect floor of 1


def test_all_pass_with_repeats_uses_the_number_of_cases():
    cases = [c for c in range(8) for _ in range(4)]
    low, high, _ = mean_interval([1.0] * 32, cases)
    assert (low, high) == pytest.approx(wilson(8, 8))


def test_bootstrap_is_seeded_covers_the_mean_and_resamples_cases():
    rng = np.random.default_rng(1)
    case_effect = rng.normal(0, 10, size=40)
    cases = np.repeat(np.arange(40), 5)
    values = 30 + case_effect[cases] + rng.normal(0, 1, size=cases.size)
    first = mean_interval(values, cases)
    assert first == mean_interval(values, cases), "same data, same interval"
    low, high, method = first
    assert method == "bootstrap-clustered" and low < values.mean() < high
    items = mean_interval(values, np.arange(values.size))
    assert items[2] == "bootstrap"
    assert (high - low) > 1.8 * (items[1] - items[0]), "cases, not samples, are resampled"


def test_too_little_data():
    assert mean_interval([], []) is None
    assert mean_interval([0.7], ["a"]) is None
    assert mean_interval([0.7, 0.8], ["a", "a"]) is None  # one case: no spread to measure


def test_continuous_scores_that_happen_to_be_0_or_1_are_not_proportions():
    cases = list(range(10))
    assert mean_interval([1.0] * 10, cases, binary=False) == (1.0, 1.0, "bootstrap")
    assert mean_interval([1.0] * 10, cases)[2] == "wilson"  # unknown type: judged by values


# -- proportions ------------------------------------------------------------------------------
def test_wilson_scalars_arrays_and_no_trials():
    low, high = wilson(15, 22)
    assert isinstance(low, float) and 0 < low < 15 / 22 < high < 1
    lows, highs = wilson(np.array([15, 0, 22]), np.array([22, 22, 22]))
    assert (lows[0], highs[0]) == (low, high)
    assert lows[1] == 0.0 and highs[2] == 1.0
    assert all(math.isnan(x) for x in wilson(0, 0))
    # z(0.975), the default, is what a 95% interval uses
    assert stats.z_quantile(0.975) == stats.Z95


def test_clustered_wilson_design_effect():
    # each case passes all or none of its 4 repeats: 4 answers are one observation
    sums, counts = np.array([4.0, 4.0, 0.0, 4.0, 0.0]), np.full(5, 4.0)
    low, high, n_eff = stats.clustered_wilson(sums, counts)
    assert n_eff == pytest.approx(5.0)
    assert (low, high) == pytest.approx(wilson(3, 5))


# -- the case-level bootstrap -----------------------------------------------------------------
def test_resample_cases_is_the_same_draw_whatever_the_chunk_size():
    values = np.random.default_rng(1).normal(size=41)

    def mean(idx):
        return values[idx].mean(axis=1)

    one_block = stats.resample_cases(41, np.random.default_rng(2), 500, mean)
    by_hand = values[np.random.default_rng(2).integers(0, 41, size=(500, 41))].mean(axis=1)
    assert np.array_equal(one_block, by_hand)
    # ``cells`` (values one resample touches) only sets how many rows are drawn at once
    for rows in (1, 3, 7):
        chunked = stats.resample_cases(
            41, np.random.default_rng(2), 500, mean, cells=stats.CHUNK_CELLS // rows
        )
        assert np.array_equal(chunked, one_block)


def test_percentile_interval_without_undefined_replicates_is_the_plain_one():
    est = np.random.default_rng(3).normal(size=2000)
    assert stats.percentile_interval(est) == tuple(np.quantile(est, [0.025, 0.975]))


@pytest.mark.parametrize("undefined", [1, 7, 49])
def test_undefined_replicates_go_to_whichever_tail_widens_the_interval(undefined):
    rng = np.random.default_rng(undefined)
    est = rng.lognormal(0, 0.3, 2000)
    est[rng.choice(2000, undefined, replace=False)] = np.nan
    low, high = stats.percentile_interval(est)
    finite = est[np.isfinite(est)]
    # all undefined at the bottom gives the lowest lower limit, all at the top the highest
    # upper limit: the interval holds wherever they belong
    bottom = np.where(np.isfinite(est), est, -1e9)
    top = np.where(np.isfinite(est), est, 1e9)
    assert low == pytest.approx(np.quantile(bottom, 0.025), rel=1e-12)
    assert high == pytest.approx(np.quantile(top, 0.975), rel=1e-12)
    plain = np.quantile(finite, [0.025, 0.975])  # what dropping them silently gives
    assert low <= plain[0] and high >= plain[1]


def test_too_many_undefined_replicates_give_no_interval():
    est = np.arange(2000.0)
    est[:50] = np.inf  # 50 > 0.025 · 1999: the lower tail could be anywhere
    assert stats.percentile_interval(est) is None
    est[:49] = np.inf
    est[49] = 49.0
    assert stats.percentile_interval(est) is not None
    assert stats.percentile_interval(np.full(10, np.nan)) is None


# -- paired intervals -------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_clustered_newcombe_with_one_repeat_is_newcombe(seed):
    rng = np.random.default_rng(seed)
    a = (rng.random(80) < 0.7).astype(float)
    b = np.where(rng.random(80) < 0.15, 1 - a, a)
    table = [np.sum((a == x) & (b == y)) for x, y in ((1, 1), (1, 0), (0, 1), (0, 0))]
    low, high, deff = stats.newcombe_clustered_ci(a, b, np.ones(80))
    assert deff == 1.0
    assert (low, high) == pytest.approx(stats.newcombe_paired_ci(*table), abs=1e-12)


def test_clustered_newcombe_with_repeats_that_always_agree_counts_each_case_once():
    rng = np.random.default_rng(5)
    a = (rng.random(60) < 0.6).astype(float)
    b = np.where(rng.random(60) < 0.2, 1 - a, a)
    table = [np.sum((a == x) & (b == y)) for x, y in ((1, 1), (1, 0), (0, 1), (0, 0))]
    low, high, deff = stats.newcombe_clustered_ci(5 * a, 5 * b, np.full(60, 5.0))
    assert deff == pytest.approx(5.0)
    assert (low, high) == pytest.approx(stats.newcombe_paired_ci(*table), abs=1e-12)


def test_clustered_newcombe_keeps_the_uncertainty_when_no_case_changed():
    # 40 cases x 5 repeats; each case passes the same number of repeats on both sides
    rng = np.random.default_rng(6)
    passes = rng.integers(0, 6, 40).astype(float)
    k = np.full(40, 5.0)
    # a bootstrap over cases sees no variation at all
    assert stats.cluster_bootstrap_ci(passes - passes, k, np.random.default_rng(0)) == (0.0, 0.0)
    low, high, _ = stats.newcombe_clustered_ci(passes, passes, k)
    assert low < -0.01 and high > 0.01
    # deterministic cases: the interval of one repeat per case, not [0, 0] either
    same = np.where(passes > 2, 5.0, 0.0)
    low, high, deff = stats.newcombe_clustered_ci(same, same, k)
    n11 = float(np.sum(same > 0))
    assert deff == 5.0
    assert (low, high) == pytest.approx(stats.newcombe_paired_ci(n11, 0, 0, 40 - n11))
    assert low < 0 < high
