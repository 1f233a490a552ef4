"""Simulated suites for testing the comparison statistics (numpy, seeded, vectorised).

A realistic suite at temperature 0: most cases nearly always pass (p = 0.99) or nearly always
fail (p = 0.01), a minority are coin flips (p uniform in [0.25, 0.75]). A regression hits a
subset of the passing cases hard (their p drops to 0.02), as many as it takes to lower the
expected pass rate by the given number of points. (With every case an independent coin of
middling probability no paired test reaches 80% power for a 10-point drop at n = 200: that is
a property of the data.)

Everything is shaped (simulations, cases[, repeats]) and drawn in one go.
"""

from __future__ import annotations

import numpy as np

SHARES = (0.60, 0.25, 0.15)  # nearly always pass, nearly always fail, coin flips
P_PASS, P_FAIL, P_HIT = 0.99, 0.01, 0.02


def suites(rng: np.random.Generator, sims: int, n: int) -> np.ndarray:
    """Per-case pass probabilities, shape (sims, n)."""
    kind = rng.choice(3, size=(sims, n), p=SHARES)
    coin = rng.uniform(0.25, 0.75, size=(sims, n))
    return np.where(kind == 0, P_PASS, np.where(kind == 1, P_FAIL, coin))


def hit_count(drop: float, n: int) -> int:
    """How many passing cases a regression of ``drop`` (pass-rate points / 100) must hit."""
    return round(drop * n / (P_PASS - P_HIT))


def regress(rng: np.random.Generator, p: np.ndarray, drop: float) -> tuple[np.ndarray, np.ndarray]:
    """(candidate probabilities, mask of the cases hit) for a drop of ``drop`` points/100."""
    sims, n = p.shape
    m = hit_count(drop, n)
    # Random order of the cases, stable-passing ones first: hit the first m of them.
    keys = rng.random((sims, n)) + (p != P_PASS) * 2.0
    order = np.argsort(keys, axis=1)
    hit = np.zeros((sims, n), dtype=bool)
    np.put_along_axis(hit, order[:, :m], True, axis=1)
    hit &= p == P_PASS
    return np.where(hit, P_HIT, p), hit


def shift_flaky(p: np.ndarray, shift: float) -> np.ndarray:
    """Candidate probabilities where every coin-flip case moves by ``shift`` (a change that
    only repeats can see case by case)."""
    flaky = (p > P_FAIL) & (p < P_PASS)
    return np.where(flaky, np.clip(p + shift, 0.0, 1.0), p)


def draw(rng: np.random.Generator, p: np.ndarray, repeats: int) -> np.ndarray:
    """Pass (1.0) / fail (0.0) outcomes, shape (sims, n, repeats)."""
    return (rng.random((*p.shape, repeats)) < p[..., None]).astype(float)


def p_values(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(two-sided p, estimate b − a) of the pass-rate test evalkit uses, per simulation:
    exact McNemar (vectorised) with one repeat, the exact sign-flip test over cases with
    more."""
    from evalkit import stats

    estimate = b.mean(axis=(1, 2)) - a.mean(axis=(1, 2))
    if a.shape[2] == 1:
        n10 = ((a == 1) & (b == 0)).sum(axis=(1, 2))
        n01 = ((a == 0) & (b == 1)).sum(axis=(1, 2))
        return np.asarray(stats.mcnemar_exact(n10, n01)), estimate
    d = (b.sum(axis=2) - a.sum(axis=2)).astype(np.int64)
    return np.array([stats.sign_flip_exact(row) for row in d]), estimate


def flagged(
    rng: np.random.Generator, *, sims: int, n: int, repeats: int, drop: float, alpha: float = 0.05
) -> tuple[float, float]:
    """(share of simulations flagged as a regression, share with any significant change)."""
    p = suites(rng, sims, n)
    q = regress(rng, p, drop)[0] if drop else p
    a, b = draw(rng, p, repeats), draw(rng, q, repeats)
    pv, est = p_values(a, b)
    return float(np.mean((pv < alpha) & (est < 0))), float(np.mean(pv < alpha))
