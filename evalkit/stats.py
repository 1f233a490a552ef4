"""The statistics every stage shares, as pure functions over arrays.

``score/`` (how sure one run's numbers are) and ``compare/`` (did a change make a run worse)
both build on this module; it imports nothing from evalkit, and numpy/scipy only inside the
functions, so ``evalkit --help`` stays light. Everything that draws random numbers takes a
seeded generator: the same data always gives the same numbers.

Cases are clusters. A case's repeats (``-n N``) are not independent samples, so every
interval and test here either treats whole cases as the unit (the bootstrap resamples cases,
the sign-flip test flips cases) or corrects for the clustering with a design effect.

What is here, and the method each uses:

* proportions: ``wilson`` (Wilson 1927 score interval), ``clustered_wilson`` (Wilson on the
  effective sample size n/deff, Kish 1965; Rao & Scott 1992);
* the case-level bootstrap: ``resample_cases`` (the one resampling loop), ``bootstrap_means``,
  ``cluster_bootstrap_ci``, ``mean_interval``, ``percentile_interval`` (Efron & Tibshirani
  1993, ch. 13; cases as the resampling unit, as for hierarchical data in Davison & Hinkley
  1997, ch. 3);
* paired tests: ``mcnemar_exact`` (McNemar 1947, exact binomial form), ``sign_flip_exact`` and
  ``sign_flip_test`` (Fisher's randomisation test of a paired sum, Fisher 1935, ch. 3),
  ``holm`` (Holm 1979);
* paired intervals: ``newcombe_paired_ci`` (Newcombe 1998, method 10) and
  ``newcombe_clustered_ci`` (the same on a Rao–Scott adjusted table, for repeats);
* power: ``mde_pass_rate`` (Connor 1987) and ``mde_continuous`` (normal approximation).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported inside the functions
    import numpy as np

__all__ = [
    "ALPHA",
    "MIN_BOOTSTRAP_CASES",
    "N_FLIPS",
    "N_RESAMPLES",
    "POWER",
    "Z95",
    "bootstrap_means",
    "cluster_bootstrap_ci",
    "cluster_totals",
    "clustered_wilson",
    "holm",
    "mcnemar_exact",
    "mde_continuous",
    "mde_pass_rate",
    "mean_interval",
    "newcombe_clustered_ci",
    "newcombe_paired_ci",
    "percentile_interval",
    "resample_cases",
    "rng_for",
    "sign_flip_exact",
    "sign_flip_test",
    "wilson",
    "z_quantile",
]

ALPHA = 0.05
POWER = 0.80
#: Bootstrap resamples; percentiles are stable to about ±0.005 of the spread at this size.
N_RESAMPLES = 2000
#: Random sign vectors of the Monte-Carlo sign-flip test.
N_FLIPS = 10_000
SEED = 20_250_205
#: z(0.975): the 95% two-sided normal quantile.
Z95 = 1.959963984540054
#: Fewer cases than this and a percentile bootstrap interval is too narrow to trust: it is
#: close to a normal interval with the variance divided by n (not n − 1) and no t correction
#: (the "narrowness bias" of Hesterberg 2015, The American Statistician 69:371–386).
#: Measured for the mean of n normal values (1,000 simulations,
#: tests/test_stats_simulation.py): 83% coverage at 5 cases, 92% at 10, 94% at 20; skewed
#: (lognormal) values: 71%, 80%, 85%, and still 91% at 50 cases.
MIN_BOOTSTRAP_CASES = 20
#: Largest resample matrix (elements) drawn at once; bigger ones are drawn in chunks.
CHUNK_CELLS = 4_000_000


def rng_for(*key: object) -> np.random.Generator:
    """A generator seeded from a stable key, so a metric's numbers do not depend on the
    order in which metrics are computed."""
    import numpy as np

    return np.random.default_rng([SEED, zlib.crc32(repr(key).encode("utf-8"))])


def z_quantile(level: float) -> float:
    """The standard normal quantile ``z(level)``."""
    from scipy.stats import norm

    return float(norm.ppf(level))


def _scalar_or_array(*arrays: Any) -> Any:
    if all(a.ndim == 0 for a in arrays):
        return tuple(float(a) for a in arrays)
    return arrays


# -- proportions ------------------------------------------------------------------------------
def wilson(successes: Any, n: Any, z: float = Z95) -> Any:
    """Wilson's score interval of a proportion, ``(low, high)`` (vectorised; NaN where n = 0).

    The interval inverts the score test (Wilson 1927): sensible at 0 and 1 and for small n,
    where the Wald interval collapses or leaves [0, 1]. ``successes`` and ``n`` may be
    non-integer (an effective sample size). With ``z`` = z(1 − α/2) it is a 1 − α interval.
    """
    import numpy as np

    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.asarray(successes, dtype=float) / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        low = np.where(n > 0, np.maximum(0.0, centre - half), np.nan)
        high = np.where(n > 0, np.minimum(1.0, centre + half), np.nan)
    return _scalar_or_array(low, high)


def cluster_totals(values: Any, clusters: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums and counts of ``values``, clusters in sorted order of their ids."""
    import numpy as np

    y = np.asarray(values, dtype=float)
    _, cluster = np.unique(np.asarray(clusters), return_inverse=True)
    k = int(cluster.max()) + 1 if cluster.size else 0
    sums = np.bincount(cluster, weights=y, minlength=k)
    counts = np.bincount(cluster, minlength=k).astype(float)
    return sums, counts


def clustered_wilson(sums: Any, counts: Any, z: float = Z95) -> tuple[float, float, float]:
    """Wilson's interval of a clustered proportion: ``(low, high, n_eff)``.

    ``sums[i]`` successes out of ``counts[i]`` trials in cluster (case) i. The interval is
    Wilson's on the effective sample size ``n_eff = n / deff`` (Kish 1965; the same
    adjustment as Rao & Scott 1992), where the design effect ``deff`` is the cluster-robust
    variance of the proportion, ``Σ(sᵢ − p·cᵢ)² / n²``, over the binomial one,
    ``p(1 − p)/n``, floored at 1 (repeats that vary independently are not penalised). With
    no variation to measure (p = 0 or 1) each cluster counts once.
    """
    import numpy as np

    s = np.asarray(sums, dtype=float)
    c = np.asarray(counts, dtype=float)
    n = float(c.sum())
    p = float(s.sum()) / n
    if 0.0 < p < 1.0:
        residual = s - p * c
        deff = max(float((residual**2).sum() / n**2) / (p * (1 - p) / n), 1.0)
        n_eff = n / deff
    else:
        n_eff = float(s.size)
    low, high = wilson(p * n_eff, n_eff, z)
    return low, high, n_eff


# -- the case-level bootstrap -----------------------------------------------------------------
def resample_cases(
    n: int,
    rng: np.random.Generator,
    n_resamples: int,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    cells: int | None = None,
) -> np.ndarray:
    """The case-level bootstrap: ``statistic(idx)`` over ``n_resamples`` resamples of ``n``
    cases drawn with replacement.

    ``idx`` is a (resamples, n) block of case indices, ``rng.integers(0, n, (rows, n))``;
    ``statistic`` returns one estimate per row. Blocks are drawn in chunks of rows so that a
    block touches at most ``CHUNK_CELLS`` values (``cells``: values one resample touches,
    default ``n``). The draws, and so the estimates, depend only on ``rng``'s state, ``n``,
    ``n_resamples`` and ``cells``.
    """
    import numpy as np

    estimates = np.empty(n_resamples)
    chunk = max(1, CHUNK_CELLS // max(cells if cells is not None else n, 1))
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        idx = rng.integers(0, n, size=(size, n))
        estimates[start : start + size] = statistic(idx)
    return estimates


def bootstrap_means(
    sums: Any, counts: Any, rng: np.random.Generator, n_resamples: int = N_RESAMPLES
) -> np.ndarray:
    """Bootstrap replicates of ``Σ sums / Σ counts``, resampling whole clusters (cases).

    With one value per case (``counts`` all 1) this is the ordinary bootstrap of a mean;
    with ``sums`` the per-case differences of two paired runs, the paired bootstrap.
    """
    import numpy as np

    s = np.asarray(sums, dtype=float)
    w = np.asarray(counts, dtype=float)
    if w.size and np.all(w == w[0]) and w[0] == int(w[0]):
        # Every case has the same (whole) count: each resample's total count is that count
        # times n, exactly, so only the sums need gathering (the same numbers, half the work).
        total = float(w[0]) * s.size
        return resample_cases(s.size, rng, n_resamples, lambda idx: s[idx].sum(axis=1) / total)
    return resample_cases(
        s.size, rng, n_resamples, lambda idx: s[idx].sum(axis=1) / w[idx].sum(axis=1)
    )


def percentile_interval(estimates: Any, alpha: float = ALPHA) -> tuple[float, float] | None:
    """The percentile interval of bootstrap replicates, with undefined ones accounted for.

    Replicates that are not finite (a ratio whose resampled denominator is 0 or missing)
    cannot be ordered, but they are not dropped silently: they are placed in whichever tail
    widens the interval, i.e. the limits are the ``α/2·(R−1) − u`` and ``(1 − α/2)·(R−1)``
    order statistics of the ``R − u`` finite replicates (linear interpolation, as
    ``numpy.quantile``). That bound exists while ``u ≤ α/2·(R−1)``; beyond it the data
    cannot give an interval and the answer is None. With every replicate finite it is the
    plain percentile interval ``quantile(estimates, [α/2, 1 − α/2])``.
    """
    import numpy as np

    values = np.asarray(estimates, dtype=float)
    total = values.size
    finite = values[np.isfinite(values)]
    undefined = total - finite.size
    if total == 0 or finite.size == 0:
        return None
    if undefined == 0:
        low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
        return float(low), float(high)
    lower_rank = alpha / 2 * (total - 1) - undefined
    upper_rank = (1 - alpha / 2) * (total - 1)
    last = finite.size - 1
    if lower_rank < 0 or upper_rank > last:
        return None
    if last == 0:
        return float(finite[0]), float(finite[0])
    low, high = np.quantile(finite, [lower_rank / last, upper_rank / last])
    return float(low), float(high)


def cluster_bootstrap_ci(
    diff_sums: Any,
    counts: Any,
    rng: np.random.Generator,
    n_resamples: int = N_RESAMPLES,
    alpha: float = ALPHA,
) -> tuple[float, float]:
    """Percentile interval of ``Σ diff / Σ count`` resampling whole cases with replacement
    (``bootstrap_means`` + ``percentile_interval``)."""
    interval = percentile_interval(bootstrap_means(diff_sums, counts, rng, n_resamples), alpha)
    assert interval is not None  # means of non-empty cases are always finite
    return interval


def mean_interval(
    values: Any,
    clusters: Any,
    *,
    binary: bool | None = None,
    rng: np.random.Generator | None = None,
    n_resamples: int = N_RESAMPLES,
) -> tuple[float, float, str] | None:
    """95% interval of the mean of ``values`` with ``clusters`` (case ids) as the units:
    ``(low, high, method)``, or None when there is too little to say anything.

    Proportions (``binary``; None: judged from the values being all 0 or 1) get Wilson's
    interval (``"wilson"``), or ``clustered_wilson`` when a cluster holds several values
    (``"wilson-clustered"``). Other values get the percentile bootstrap of the mean,
    resampling clusters (``"bootstrap-clustered"``) or single values (``"bootstrap"``).
    """
    import numpy as np

    y = np.asarray(values, dtype=float)
    if y.size == 0:
        return None
    if binary is None:
        binary = bool(np.isin(y, (0.0, 1.0)).all())
    sums, counts = cluster_totals(y, clusters)
    return cluster_mean_interval(sums, counts, binary=binary, rng=rng, n_resamples=n_resamples)


def cluster_mean_interval(
    sums: Any,
    counts: Any,
    *,
    binary: bool,
    rng: np.random.Generator | None = None,
    n_resamples: int = N_RESAMPLES,
) -> tuple[float, float, str] | None:
    """``mean_interval`` from per-cluster sums and counts (what a store query returns)."""
    import numpy as np

    s = np.asarray(sums, dtype=float)
    c = np.asarray(counts, dtype=float)
    k = s.size
    n = float(c.sum())
    if k == 0 or n == 0:
        return None
    clustered = k < n
    if binary:
        if not clustered:
            p = float(s.sum()) / n
            low, high = wilson(p * n, n)
            return low, high, "wilson"
        low, high, _ = clustered_wilson(s, c)
        return low, high, "wilson-clustered"
    if k < 2:
        return None
    interval = percentile_interval(
        bootstrap_means(s, c, rng if rng is not None else np.random.default_rng(SEED), n_resamples)
    )
    if interval is None:
        return None
    return interval[0], interval[1], "bootstrap-clustered" if clustered else "bootstrap"


# -- paired tests -----------------------------------------------------------------------------
def mcnemar_exact(pass_to_fail: Any, fail_to_pass: Any) -> Any:
    """Two-sided exact McNemar p-value from the discordant counts (vectorised).

    Under no change each discordant pair is a fair coin (McNemar 1947, in its exact binomial
    form): p = min(1, 2·P(X ≤ min(b, c))) with X ~ Binomial(b + c, ½) — what
    ``scipy.stats.binomtest(b, b + c).pvalue`` gives.
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
    """Exact two-sided sign-flip (randomisation) p-value of ``T = Σ d`` for integer per-case
    differences.

    With no change a case's two sides are exchangeable, so each ``d`` is symmetric about 0
    (Fisher 1935, ch. 3). Cases with the same ``|d|`` contribute ``|d|·(2X − c)``,
    X ~ Binomial(c, ½); the null distribution of T is the convolution over the distinct
    ``|d|`` values (at most the number of repeats), so it is exact and fast. With
    ``d ∈ {−1, 0, 1}`` it equals ``mcnemar_exact``.
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
    """Two-sided sign-flip (randomisation) p-value of ``T = Σ d`` for real per-case
    differences.

    Exact enumeration up to 14 non-zero differences; otherwise ``n_flips`` random sign
    vectors, with p = (1 + #{|T*| ≥ |T|}) / (1 + n_flips) (never 0; Phipson & Smyth 2010).
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
    chunk = max(1, CHUNK_CELLS // m)
    for start in range(0, n_flips, chunk):
        size = min(chunk, n_flips - start)
        signs = rng.integers(0, 2, size=(size, m), dtype=np.int8) * 2 - 1
        extreme += int(np.count_nonzero(np.abs(signs @ arr) >= t - tol))
    return (extreme + 1) / (n_flips + 1)


def holm(p_values: Any) -> list[float]:
    """Holm's (1979) step-down adjusted p-values (compare each with α): valid whatever the
    dependence between the tests."""
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


# -- paired intervals -------------------------------------------------------------------------
def newcombe_paired_ci(
    n11: Any, n10: Any, n01: Any, n00: Any, alpha: float = ALPHA
) -> tuple[Any, Any]:
    """Newcombe's square-and-add (hybrid score) interval for ``p_b − p_a`` from a paired 2×2
    table (vectorised; Newcombe 1998, method 10, with its continuity-corrected φ).

    ``n10``: passed in a, failed in b (pass→fail); ``n01``: fail→pass. The Wilson intervals
    of the two margins are combined with the correlation of the pairs, so the interval keeps
    the sampling uncertainty of each proportion even when no pair is discordant. Cells may
    be non-integer (see ``newcombe_clustered_ci``).
    """
    import numpy as np

    n11, n10, n01, n00 = (np.asarray(x, dtype=float) for x in (n11, n10, n01, n00))
    n = n11 + n10 + n01 + n00
    z = z_quantile(1 - alpha / 2)
    pa, pb = (n11 + n10) / n, (n11 + n01) / n
    la, ua = wilson(n11 + n10, n, z)
    lb, ub = wilson(n11 + n01, n, z)
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


def newcombe_clustered_ci(
    passes_a: Any, passes_b: Any, trials: Any, alpha: float = ALPHA
) -> tuple[float, float, float]:
    """Newcombe's interval for ``p_b − p_a`` when each case was run several times:
    ``(low, high, design_effect)``.

    ``passes_a[i]``, ``passes_b[i]``: passes of case i on each side over its ``trials[i]``
    repeats decided on both sides. The method is Rao & Scott's (1992) for clustered binary
    data — divide the counts by a design effect and apply the independent-data method —
    with Newcombe's (1998) method 10 as that method:

    1. The paired 2×2 table of the repeats, with repeats paired at random within a case
       (they are exchangeable): ``n11 = Σ aᵢ·bᵢ/kᵢ``, ``n10 = Σ aᵢ·(kᵢ − bᵢ)/kᵢ``, …
    2. The design effect of the difference: the cluster-robust variance
       ``Σ(dᵢ − d̂·kᵢ)² / N²`` (dᵢ = bᵢ − aᵢ) over the variance the table implies for
       independent pairs, ``(p10 + p01 − (p01 − p10)²) / N``; at least 1, at most the mean
       repeats per case (perfectly correlated repeats are one observation). A table with no
       discordant pair (no case changed, every case all-pass or all-fail) has nothing to
       measure it from: each case then counts once.
    3. Newcombe's interval of the table divided by that design effect.

    Unlike a case bootstrap, which collapses to [0, 0] when no case changed, this keeps the
    sampling uncertainty of both proportions, as Newcombe's interval does with one repeat;
    with one repeat per case it *is* Newcombe's interval. Coverage, measured by simulation
    (tests/compare/test_compare_simulation.py, 300 suites each): 97–98% at 50 cases with 5
    repeats and 99% at 10–20 cases (conservative), where the case bootstrap gave 73–92% when
    flaky cases changed, and a single point in up to 29% of 10-case suites.
    """
    import numpy as np

    a = np.asarray(passes_a, dtype=float)
    b = np.asarray(passes_b, dtype=float)
    k = np.asarray(trials, dtype=float)
    total = float(k.sum())
    n11 = float((a * b / k).sum())
    n10 = float((a * (k - b) / k).sum())
    n01 = float(((k - a) * b / k).sum())
    n00 = total - n11 - n10 - n01
    delta = float((b - a).sum()) / total
    p10, p01 = n10 / total, n01 / total
    independent = (p10 + p01 - (p01 - p10) ** 2) / total
    most = total / k.size
    if independent > 0:
        clustered = float(((b - a - delta * k) ** 2).sum()) / total**2
        deff = min(max(clustered / independent, 1.0), most)
    else:
        deff = most
    low, high = newcombe_paired_ci(n11 / deff, n10 / deff, n01 / deff, n00 / deff, alpha)
    return float(low), float(high), deff


# -- power ------------------------------------------------------------------------------------
def mde_pass_rate(n: int, psi0: float, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest pass-rate drop δ a two-sided paired test at level α detects with
    ``power``, by Connor's (1987) normal approximation for paired proportions::

        √n·δ = z(1−α/2)·√ψ + z(power)·√(ψ − δ²),   ψ = ψ₀ + δ

    with ``n`` cases and ψ₀ the observed mean squared per-case difference (with one repeat:
    the share of discordant cases), taken as the suite's noise; a regression is assumed to
    add δ of whole-case pass→fail flips on top of it (so ψ grows with δ). A suite whose cases
    are all deterministic (ψ₀ = 0) still needs about (z(1−α/2) + z(power))² ≈ 8 flipped
    cases. None when even a drop of 100 points would not be detected (too few cases).
    """
    if n <= 0:
        return None
    za, zb = z_quantile(1 - alpha / 2), z_quantile(power)
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
    """``(z(1−α/2) + z(power))·sd/√n`` of the per-case mean differences (the normal
    approximation of a paired test's power); None under 2 cases."""
    import numpy as np

    d = np.asarray(per_case_diffs, dtype=float)
    if d.size < 2:
        return None
    return float(
        (z_quantile(1 - alpha / 2) + z_quantile(power)) * d.std(ddof=1) / math.sqrt(d.size)
    )
