"""compare (statistics): paired tests, intervals and power for two runs of one suite.

Conventions: side ``a`` is the baseline, side ``b`` the candidate, and every difference is
``b − a`` (a drop in pass rate is negative). Inputs are per *case*, as ``(cases, repeats)``
arrays aligned by repeat index with NaN where a side has no decided value. A case's repeats
are not independent samples, so every test and interval here permutes or resamples whole
cases. Everything is seeded: the same data gives the same numbers.

Pass/fail metrics
    ``d_i`` = (passes of case i in b) − (passes in a), over the repeats both sides decided.
    *Test*: the exact sign-flip (permutation) test of ``T = Σ d_i``. With no change, a case's
    two sides are exchangeable, so each ``d_i`` is symmetric about 0; the null distribution
    of ``T`` is the convolution of those fair coins, computed exactly. With one repeat
    ``d_i ∈ {−1, 0, 1}`` and this *is* the exact McNemar test (a two-sided binomial test on
    the discordant pairs).
    *Interval* of the difference in pass rate: with one repeat, Newcombe's square-and-add
    (hybrid score) interval for paired proportions (Newcombe 1998, continuity-corrected
    correlation); with repeats, a cluster bootstrap over cases.

Continuous scores
    *Test*: the sign-flip test of the per-case differences (exact up to 14 non-zero cases,
    else 10,000 seeded random sign vectors). *Interval*: paired (cluster) bootstrap percentile
    interval of the mean difference, from 2,000 seeded resamples of cases.

Several metrics: Holm's step-down correction (valid whatever the dependence between metrics).

Minimum detectable effect (MDE) of a pass/fail metric: the smallest drop δ that the two-sided
test at level α detects with 80% power, by Connor's (1987) normal approximation for paired
proportions::

    √n·δ = z(1−α/2)·√ψ + z(power)·√(ψ − δ²),   ψ = ψ₀ + δ

with ``n`` cases and ψ₀ the observed mean squared per-case difference (with one repeat: the
share of discordant cases), taken as the suite's noise; a regression is assumed to add δ of
whole-case pass→fail flips on top of that noise (so ψ grows with δ). A suite whose cases are
all deterministic (ψ₀ = 0) still needs about (z(1−α/2) + z(power))² ≈ 8 flipped cases. For
continuous scores: ``(z(1−α/2) + z(power))·sd(d)/√n``.

Budgets (latency p95, cost per result): the ratio b/a of the statistic, with a paired cluster
bootstrap percentile interval.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported inside the functions: `evalkit --help` stays light
    import numpy as np

__all__ = [
    "ALPHA",
    "N_FLIPS",
    "N_RESAMPLES",
    "POWER",
    "Paired",
    "cluster_bootstrap_ci",
    "holm",
    "mcnemar_exact",
    "mde_continuous",
    "mde_pass_rate",
    "newcombe_paired_ci",
    "paired_binary",
    "paired_continuous",
    "rng_for",
    "sign_flip_exact",
    "sign_flip_test",
]

ALPHA = 0.05
POWER = 0.80
N_RESAMPLES = 2000
N_FLIPS = 10_000
SEED = 20_250_205
#: Largest resample matrix (elements) drawn at once; bigger ones are drawn in chunks.
_CHUNK = 4_000_000


def rng_for(*key: object) -> np.random.Generator:
    """A generator seeded from a stable key, so a metric's numbers do not depend on the
    order in which metrics are computed."""
    import numpy as np

    return np.random.default_rng([SEED, zlib.crc32(repr(key).encode("utf-8"))])


# -- tests ------------------------------------------------------------------------------------
def mcnemar_exact(pass_to_fail: Any, fail_to_pass: Any) -> Any:
    """Two-sided exact McNemar p-value from the discordant counts (vectorised).

    Under no change each discordant pair is a fair coin: p = min(1, 2·P(X ≤ min(b, c))) with
    X ~ Binomial(b + c, ½) — what ``scipy.stats.binomtest(b, b + c).pvalue`` gives.
    """
    import numpy as np
    from scipy.stats import binom

    b = np.asarray(pass_to_fail)
    c = np.asarray(fail_to_pass)
    m = b + c
    p = np.minimum(1.0, 2.0 * binom.cdf(np.minimum(b, c), m, 0.5))
    p = np.where(m == 0, 1.0, p)
    return float(p) if p.ndim == 0 else p


def _convolve(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    import numpy as np

    if x.size * y.size <= 5_000_000:
        return np.convolve(x, y)
    from scipy.signal import fftconvolve

    return np.clip(fftconvolve(x, y), 0.0, None)


def sign_flip_exact(d: Any) -> float:
    """Exact two-sided sign-flip p-value of ``T = Σ d`` for integer per-case differences.

    Cases with the same ``|d|`` contribute ``|d|·(2X − c)``, X ~ Binomial(c, ½); the null
    distribution of T is the convolution over the distinct ``|d|`` values (at most the number
    of repeats), so it is exact and fast. With ``d ∈ {−1, 0, 1}`` it equals ``mcnemar_exact``.
    """
    import numpy as np
    from scipy.stats import binom

    arr = np.asarray(d, dtype=np.int64)
    t = abs(int(arr.sum()))
    nonzero = np.abs(arr[arr != 0])
    if nonzero.size == 0:
        return 1.0
    values, counts = np.unique(nonzero, return_counts=True)
    dist = np.ones(1)
    offset = 0
    for v, c in zip(values.tolist(), counts.tolist(), strict=True):
        coin = np.zeros(2 * c * v + 1)
        coin[:: 2 * v] = binom.pmf(np.arange(c + 1), c, 0.5)
        dist = _convolve(dist, coin)
        offset += c * v
    sums = np.arange(dist.size) - offset
    return float(min(1.0, dist[np.abs(sums) >= t].sum()))


def sign_flip_test(d: Any, rng: np.random.Generator, n_flips: int = N_FLIPS) -> float:
    """Two-sided sign-flip p-value of ``T = Σ d`` for real per-case differences.

    Exact enumeration up to 14 non-zero differences; otherwise ``n_flips`` random sign
    vectors, with p = (1 + #{|T*| ≥ |T|}) / (1 + n_flips) (never 0).
    """
    import numpy as np

    arr = np.asarray(d, dtype=float)
    arr = arr[arr != 0]
    m = arr.size
    if m == 0:
        return 1.0
    t = abs(arr.sum())
    tol = 1e-9 * float(np.abs(arr).sum())
    if m <= 14:
        signs = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1) * 2 - 1
        return float(np.mean(np.abs(signs @ arr) >= t - tol))
    extreme = 0
    chunk = max(1, _CHUNK // m)
    for start in range(0, n_flips, chunk):
        size = min(chunk, n_flips - start)
        signs = rng.integers(0, 2, size=(size, m), dtype=np.int8) * 2 - 1
        extreme += int(np.count_nonzero(np.abs(signs @ arr) >= t - tol))
    return (extreme + 1) / (n_flips + 1)


def holm(p_values: Any) -> list[float]:
    """Holm's step-down adjusted p-values (compare each with α)."""
    import numpy as np

    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return [float(x) for x in adjusted]


# -- intervals --------------------------------------------------------------------------------
def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(level))


def _wilson(successes: Any, n: Any, z: float) -> tuple[Any, Any]:
    import numpy as np

    n = np.asarray(n, dtype=float)
    p = np.asarray(successes, dtype=float) / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.maximum(0.0, centre - half), np.minimum(1.0, centre + half)


def newcombe_paired_ci(
    n11: Any, n10: Any, n01: Any, n00: Any, alpha: float = ALPHA
) -> tuple[Any, Any]:
    """Newcombe's square-and-add (hybrid score) interval for ``p_b − p_a`` from a paired 2×2
    table (vectorised). ``n10``: passed in a, failed in b (pass→fail); ``n01``: fail→pass."""
    import numpy as np

    n11, n10, n01, n00 = (np.asarray(x, dtype=float) for x in (n11, n10, n01, n00))
    n = n11 + n10 + n01 + n00
    z = _z(1 - alpha / 2)
    pa, pb = (n11 + n10) / n, (n11 + n01) / n
    la, ua = _wilson(n11 + n10, n, z)
    lb, ub = _wilson(n11 + n01, n, z)
    # The correlation of the two proportions, with Newcombe's continuity correction (as in
    # Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables", ch. 8).
    den = (n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00)
    cross = n11 * n00 - n10 * n01
    cross = np.where(cross > n / 2, cross - n / 2, np.where(cross >= 0, 0.0, cross))
    phi = cross / np.sqrt(np.where(den > 0, den, 1.0)) * (den > 0)
    delta = pb - pa
    low = delta - np.sqrt(
        np.maximum(0.0, (pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2)
    )
    high = delta + np.sqrt(
        np.maximum(0.0, (ub - pb) ** 2 - 2 * phi * (ub - pb) * (pa - la) + (pa - la) ** 2)
    )
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def cluster_bootstrap_ci(
    diff_sums: Any,
    counts: Any,
    rng: np.random.Generator,
    n_resamples: int = N_RESAMPLES,
    alpha: float = ALPHA,
) -> tuple[float, float]:
    """Percentile interval of ``Σ diff / Σ count`` resampling whole cases with replacement.

    With one value per case (``counts`` all 1) this is the ordinary paired bootstrap of the
    mean difference. Resample indices are ``rng.integers(0, n, (n_resamples, n))``, drawn in
    chunks of rows when that matrix is large.
    """
    import numpy as np

    sums = np.asarray(diff_sums, dtype=float)
    weights = np.asarray(counts, dtype=float)
    n = sums.size
    estimates = np.empty(n_resamples)
    chunk = max(1, _CHUNK // max(n, 1))
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        idx = rng.integers(0, n, size=(size, n))
        estimates[start : start + size] = sums[idx].sum(axis=1) / weights[idx].sum(axis=1)
    low, high = np.quantile(estimates, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


# -- power ------------------------------------------------------------------------------------
def mde_pass_rate(n: int, psi0: float, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest pass-rate drop detectable with ``power`` (see the module docstring);
    None when even a drop of 100 points would not be (too few cases)."""
    if n <= 0:
        return None
    za, zb = _z(1 - alpha / 2), _z(power)
    root_n = math.sqrt(n)

    def gap(delta: float) -> float:
        psi = psi0 + delta
        return root_n * delta - za * math.sqrt(psi) - zb * math.sqrt(max(psi - delta**2, 0.0))

    # gap is convex with gap(0) ≤ 0, so it crosses zero upwards at most once.
    if gap(1.0) < 0:
        return None
    low, high = 0.0, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        if gap(mid) < 0:
            low = mid
        else:
            high = mid
    return high


def mde_continuous(per_case_diffs: Any, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """``(z(1−α/2) + z(power))·sd/√n`` of the per-case mean differences."""
    import numpy as np

    d = np.asarray(per_case_diffs, dtype=float)
    if d.size < 2:
        return None
    return float((_z(1 - alpha / 2) + _z(power)) * d.std(ddof=1) / math.sqrt(d.size))


# -- one metric, two sides ----------------------------------------------------------------------
@dataclass
class Paired:
    """A paired comparison of one metric (values are b − a)."""

    test: str
    #: Cases with at least one repeat decided on both sides; pairs = (case, repeat) pairs.
    cases: int
    pairs: int
    baseline: float
    candidate: float
    estimate: float
    ci: tuple[float, float]
    p: float
    mde: float | None
    #: (pass→fail, fail→pass) counts of discordant cases, for pass/fail with one repeat.
    discordant: tuple[int, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _pairs(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-case sums over repeats decided on both sides, and their counts (cases with none
    dropped)."""
    import numpy as np

    a = np.atleast_2d(np.asarray(a, dtype=float))
    b = np.atleast_2d(np.asarray(b, dtype=float))
    if a.shape != b.shape:
        raise ValueError(f"sides differ in shape: {a.shape} vs {b.shape}")
    valid = ~np.isnan(a) & ~np.isnan(b)
    counts = valid.sum(axis=1)
    keep = counts > 0
    sa = np.where(valid, a, 0.0).sum(axis=1)[keep]
    sb = np.where(valid, b, 0.0).sum(axis=1)[keep]
    return sa, sb, counts[keep]


def _possible(mde: float | None, rate: float) -> float | None:
    """No detectable change when it is larger than any change the pass rate can make."""
    return None if mde is None or mde > max(rate, 1 - rate) else mde


def paired_binary(
    a: Any,
    b: Any,
    *,
    rng: np.random.Generator | None = None,
    alpha: float = ALPHA,
    mde_alpha: float | None = None,
    n_resamples: int = N_RESAMPLES,
) -> Paired | None:
    """Pass/fail values (1/0/NaN), shape (cases, repeats): exact test, interval, MDE."""
    import numpy as np

    sa, sb, k = _pairs(a, b)
    n = int(k.size)
    if n == 0:
        return None
    total = int(k.sum())
    rate_a, rate_b = float(sa.sum() / total), float(sb.sum() / total)
    d = np.rint(sb - sa).astype(np.int64)
    mde_level = alpha if mde_alpha is None else mde_alpha
    if int(k.max()) == 1:
        n10 = int(np.count_nonzero((sa == 1) & (sb == 0)))
        n01 = int(np.count_nonzero((sa == 0) & (sb == 1)))
        n11 = int(np.count_nonzero((sa == 1) & (sb == 1)))
        n00 = n - n10 - n01 - n11
        low, high = newcombe_paired_ci(n11, n10, n01, n00, alpha)
        return Paired(
            test="exact McNemar",
            cases=n,
            pairs=total,
            baseline=rate_a,
            candidate=rate_b,
            estimate=rate_b - rate_a,
            ci=(low, high),
            p=float(mcnemar_exact(n10, n01)),
            mde=_possible(mde_pass_rate(n, (n10 + n01) / n, mde_level), rate_a),
            discordant=(n10, n01),
        )
    rng = rng if rng is not None else rng_for("binary", n, total)
    ci = cluster_bootstrap_ci(d, k, rng, n_resamples, alpha)
    psi0 = float(np.mean((d / k) ** 2))
    return Paired(
        test="exact sign-flip over cases",
        cases=n,
        pairs=total,
        baseline=rate_a,
        candidate=rate_b,
        estimate=rate_b - rate_a,
        ci=ci,
        p=sign_flip_exact(d),
        mde=_possible(mde_pass_rate(n, psi0, mde_level), rate_a),
    )


def paired_continuous(
    a: Any,
    b: Any,
    *,
    rng: np.random.Generator | None = None,
    alpha: float = ALPHA,
    mde_alpha: float | None = None,
    n_resamples: int = N_RESAMPLES,
) -> Paired | None:
    """Continuous values, shape (cases, repeats): sign-flip test, cluster bootstrap CI."""
    sa, sb, k = _pairs(a, b)
    n = int(k.size)
    if n == 0:
        return None
    rng = rng if rng is not None else rng_for("continuous", n, int(k.sum()))
    total = float(k.sum())
    d = sb - sa
    ci = cluster_bootstrap_ci(d, k, rng, n_resamples, alpha)
    mean_a, mean_b = float(sa.sum() / total), float(sb.sum() / total)
    p = sign_flip_test(d, rng)
    return Paired(
        test="paired bootstrap" + (" over cases" if int(k.max()) > 1 else ""),
        cases=n,
        pairs=int(total),
        baseline=mean_a,
        candidate=mean_b,
        estimate=mean_b - mean_a,
        ci=ci,
        p=p,
        mde=mde_continuous(d / k, mde_alpha if mde_alpha is not None else alpha),
        extra={"p_test": "sign-flip"},
    )
