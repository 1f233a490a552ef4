"""The statistics, tested by simulation (seeded): false alarms, power, what the reported
smallest detectable change means, and interval coverage. See simsuite.py for the model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simsuite as sim
from storeutil import group_from_outcomes

from evalkit.compare import stats
from evalkit.compare.align import Pairing
from evalkit.compare.drift import compare_pairings

SIMS = 1000
N = 200


def margin(p: float, sims: int) -> float:
    """Three Monte-Carlo standard errors."""
    return 3 * math.sqrt(p * (1 - p) / sims)


@pytest.mark.parametrize("repeats", [1, 5])
def test_a_a_false_alarm_rate_is_at_most_alpha(repeats, record_property, capsys):
    rng = np.random.default_rng(100 + repeats)
    regressed, any_change = sim.flagged(rng, sims=SIMS, n=N, repeats=repeats, drop=0.0)
    record_property(f"false_alarm_r{repeats}", any_change)
    with capsys.disabled():
        print(
            f"\nA/A at n={N}, {repeats} repeat(s), {SIMS} simulations: significant change "
            f"{any_change:.1%}, flagged regression {regressed:.1%}"
        )
    # "Any change" counts both directions: the two-sided test's size.
    assert any_change <= 0.05 + margin(0.05, SIMS), any_change
    assert regressed <= 0.025 + margin(0.025, SIMS), regressed


def test_power_for_a_ten_point_drop_at_200_cases_and_the_power_table(record_property, capsys):
    rows = []
    for repeats in (1, 5):
        for drop in (0.10, 0.05, 0.03):
            rng = np.random.default_rng(int(drop * 1000) + repeats)
            power, _ = sim.flagged(rng, sims=SIMS, n=N, repeats=repeats, drop=drop)
            rows.append((repeats, drop, power))
            record_property(f"power_n{N}_r{repeats}_drop{int(drop * 100)}", power)
    with capsys.disabled():
        print(f"\npower to flag a pass-rate drop at n={N} (α=0.05, {SIMS} simulations each):")
        for repeats, drop, power in rows:
            print(
                f"  {repeats} repeat{'s' if repeats > 1 else ' '}  "
                f"{drop * 100:.0f}-point drop: {power:.1%}"
            )
    power = {(r, d): p for r, d, p in rows}
    assert power[(1, 0.10)] >= 0.80
    assert power[(5, 0.10)] >= 0.80
    # repeats average out the coin-flip cases: more power at every size
    for drop in (0.05, 0.03):
        assert power[(5, drop)] > power[(1, drop)]


@pytest.mark.parametrize("repeats", [1, 5])
def test_the_smallest_detectable_change_is_detected_with_about_80_percent_power(repeats):
    """The MDE a verdict reports, from the suite's own noise, means what it says."""
    rng = np.random.default_rng(40 + repeats)
    p = sim.suites(rng, 1, N)
    # What a verdict sees: the mean squared per-case difference of one A/A comparison.
    a, b = sim.draw(rng, p, repeats)[0], sim.draw(rng, p, repeats)[0]
    observed = stats.paired_binary(a, b)
    assert observed is not None and observed.mde is not None
    mde = observed.mde
    trials = np.repeat(p, 600, axis=0)
    q, _ = sim.regress(rng, trials, mde)
    pv, est = sim.p_values(sim.draw(rng, trials, repeats), sim.draw(rng, q, repeats))
    power = float(np.mean((pv < 0.05) & (est < 0)))
    # One repeat: calibrated. Repeats: conservative (a drop of the MDE is seen more often).
    assert 0.68 <= power <= (0.93 if repeats == 1 else 1.0), (mde, power)


@pytest.mark.parametrize(("repeats", "drop"), [(1, 0.0), (1, 0.10), (5, 0.0), (5, 0.10)])
def test_intervals_cover_the_true_difference(repeats, drop):
    rng = np.random.default_rng(7 + repeats + int(drop * 100))
    sims = 300
    p = sim.suites(rng, sims, N)
    q = sim.regress(rng, p, drop)[0] if drop else p
    a, b = sim.draw(rng, p, repeats), sim.draw(rng, q, repeats)
    covered = 0
    for i in range(sims):
        got = stats.paired_binary(a[i], b[i], n_resamples=1000)
        assert got is not None
        truth = float(np.mean(q[i] - p[i]))
        covered += got.ci[0] <= truth <= got.ci[1]
    assert covered / sims >= 0.95 - margin(0.95, sims), covered / sims


@pytest.mark.parametrize(("n", "repeats"), [(10, 2), (10, 5), (20, 3), (50, 5)])
@pytest.mark.parametrize("shift", [0.0, -0.2])
def test_the_interval_with_repeats_covers_small_suites(n, repeats, shift, capsys):
    """Newcombe's interval on the Rao–Scott adjusted table (repeats) covers the true change
    in small suites, where a bootstrap over cases collapses or under-covers."""
    from evalkit.stats import cluster_bootstrap_ci, newcombe_clustered_ci

    rng = np.random.default_rng(n * 10 + repeats + int(-shift * 10))
    sims = 300
    p = sim.suites(rng, sims, n)
    q = sim.shift_flaky(p, shift)
    a, b = sim.draw(rng, p, repeats), sim.draw(rng, q, repeats)
    covered = boot_covered = collapsed = 0
    for i in range(sims):
        sa, sb, k = a[i].sum(axis=1), b[i].sum(axis=1), np.full(n, float(repeats))
        truth = float(np.mean(q[i] - p[i]))
        low, high, _ = newcombe_clustered_ci(sa, sb, k)
        covered += low <= truth <= high
        assert low < high, "never a single point"
        blow, bhigh = cluster_bootstrap_ci(sb - sa, k, stats.rng_for(i), 1000)
        boot_covered += blow <= truth <= bhigh
        collapsed += blow == bhigh
    with capsys.disabled():
        print(
            f"\ncoverage at n={n}, {repeats} repeats, flaky cases {shift:+.1f}: "
            f"clustered Newcombe {covered / sims:.1%}, case bootstrap {boot_covered / sims:.1%} "
            f"(a single point in {collapsed / sims:.0%})"
        )
    assert covered / sims >= 0.95 - margin(0.95, sims), covered / sims


def test_the_verdict_code_agrees_with_the_vectorised_simulation():
    """The drift verdict (Holm, flips, MDE) on in-memory runs gives the same decisions."""
    rng = np.random.default_rng(5)
    sims = 40
    p = sim.suites(rng, sims, N)
    q, _ = sim.regress(rng, p, 0.10)
    a, b = sim.draw(rng, p, 1), sim.draw(rng, q, 1)
    pv, est = sim.p_values(a, b)
    for i in range(sims):
        base = group_from_outcomes("base", a[i])
        cand = group_from_outcomes("cand", b[i])
        verdict = compare_pairings(
            [Pairing(base, cand)],
            suite="s",
            baseline_runs=[{"id": "base"}],
            candidate_runs=[{"id": "cand"}],
        )
        (pairing,) = verdict.pairings
        pass_rate = pairing.metrics[0]
        assert pass_rate.p == pytest.approx(pv[i])
        assert pass_rate.ci is not None
        low, high = pass_rate.ci
        expected = (
            "regressed"
            if pv[i] < 0.05 and est[i] < 0
            else "improved"
            if pv[i] < 0.05
            else "equivalent"
            if low >= -0.02 and high <= 0.02
            else "inconclusive"
        )
        assert pass_rate.verdict == expected
        # the one scorer is the pass rate: it is not tested twice
        assert pairing.metrics[1].same_as == "pass rate" and verdict.tests == 1
        flips = {f.case_id for f in pairing.flips.pass_to_fail}
        assert flips == {f"c{j:04d}" for j in np.flatnonzero((a[i, :, 0] == 1) & (b[i, :, 0] == 0))}
