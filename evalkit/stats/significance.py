"""Paired significance tests: exact McNemar, the sign-flip (randomisation) tests, and Holm's
correction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evalkit.stats.core import CHUNK_CELLS, N_FLIPS

if TYPE_CHECKING:  # numpy is imported inside the functions
    import numpy as np

__all__ = [
    "holm",
    "mcnemar_exact",
    "sign_flip_exact",
    "sign_flip_test",
]


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
