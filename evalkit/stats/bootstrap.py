"""The case-level bootstrap: one resampling loop, the percentile interval, and the interval
of a (clustered) mean."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evalkit.stats.core import ALPHA, CHUNK_CELLS, N_RESAMPLES, SEED
from evalkit.stats.proportions import clustered_wilson, wilson

if TYPE_CHECKING:  # numpy is imported inside the functions
    import numpy as np

__all__ = [
    "bootstrap_means",
    "cluster_bootstrap_ci",
    "cluster_mean_interval",
    "cluster_totals",
    "mean_interval",
    "percentile_interval",
    "resample_cases",
]


def cluster_totals(values: Any, clusters: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums and counts of ``values``, clusters in sorted order of their ids."""
    import numpy as np

    y = np.asarray(values, dtype=float)
    _, cluster = np.unique(np.asarray(clusters), return_inverse=True)
    k = int(cluster.max()) + 1 if cluster.size else 0
    sums = np.bincount(cluster, weights=y, minlength=k)
    counts = np.bincount(cluster, minlength=k).astype(float)
    return sums, counts


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
