"""compare (statistics): the paired comparison of one metric between two runs of one suite.

Conventions: side ``a`` is the baseline, side ``b`` the candidate, and every difference is
``b − a`` (a drop in pass rate is negative). Inputs are per *case*, as ``(cases, repeats)``
arrays aligned by repeat index with NaN where a side has no decided value. A case's repeats
are not independent samples, so every test and interval here permutes, resamples or
corrects for whole cases. The methods themselves live in ``evalkit.stats``; this module
chooses among them and says what the numbers can and cannot tell. Seeded: the same data
gives the same numbers.

Pass/fail metrics
    ``d_i`` = (passes of case i in b) − (passes in a), over the repeats both sides decided.
    *Test*: the exact sign-flip test of ``T = Σ d_i`` (with one repeat this *is* the exact
    McNemar test). *Interval* of the difference in pass rate: Newcombe's square-and-add
    interval (Newcombe 1998, method 10); with repeats, the same on a Rao–Scott adjusted
    table (``evalkit.stats.newcombe_clustered_ci``), which keeps the sampling uncertainty
    when no case changed. *Minimum detectable drop*: Connor (1987), never more than the
    baseline pass rate (a pass rate cannot drop below 0).

Continuous scores
    *Test*: the sign-flip test of the per-case differences (exact up to 14 non-zero cases,
    else 10,000 seeded random sign vectors). *Interval*: paired (cluster) bootstrap
    percentile interval of the mean difference, from 2,000 seeded resamples of cases, with a
    warning under ``MIN_BOOTSTRAP_CASES`` cases. *MDE*: ``(z(1−α/2) + z(power))·sd(d)/√n``.

Several metrics: Holm's step-down correction (``evalkit.stats.holm``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evalkit.stats import (
    ALPHA,
    MIN_BOOTSTRAP_CASES,
    N_RESAMPLES,
    POWER,
    cluster_bootstrap_ci,
    holm,
    mcnemar_exact,
    mde_continuous,
    mde_pass_rate,
    newcombe_clustered_ci,
    newcombe_paired_ci,
    rng_for,
    sign_flip_exact,
    sign_flip_test,
)

if TYPE_CHECKING:  # numpy is imported inside the functions: `evalkit --help` stays light
    import numpy as np

__all__ = [
    "ALPHA",
    "POWER",
    "Paired",
    "holm",
    "paired_binary",
    "paired_continuous",
    "rng_for",
    "small_suite_warning",
]


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
    #: What the numbers cannot tell (e.g. a bootstrap interval from too few cases).
    warnings: list[str] = field(default_factory=list)


def small_suite_warning(cases: int, what: str = "interval") -> str | None:
    """The warning for a bootstrap from fewer than ``MIN_BOOTSTRAP_CASES`` cases."""
    if cases >= MIN_BOOTSTRAP_CASES:
        return None
    return (
        f"only {cases} case{'s' if cases != 1 else ''}: a bootstrap {what} from fewer than "
        f"{MIN_BOOTSTRAP_CASES} cases is too narrow (it covers the true change less often "
        "than 95%); read it as rough"
    )


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
    """A drop larger than the baseline pass rate cannot happen (the rate cannot go below 0):
    then no drop is detectable with the required power, and the answer is None."""
    return None if mde is None or mde > rate else mde


def paired_binary(
    a: Any,
    b: Any,
    *,
    rng: np.random.Generator | None = None,
    alpha: float = ALPHA,
    mde_alpha: float | None = None,
    n_resamples: int = N_RESAMPLES,
) -> Paired | None:
    """Pass/fail values (1/0/NaN), shape (cases, repeats): the exact test, Newcombe's
    interval (cluster-adjusted with repeats) and the minimum detectable drop.

    ``rng`` and ``n_resamples`` are accepted for symmetry with ``paired_continuous``; no
    pass/fail statistic draws random numbers.
    """
    import numpy as np

    del rng, n_resamples
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
    low, high, deff = newcombe_clustered_ci(sa, sb, k, alpha)
    psi0 = float(np.mean((d / k) ** 2))
    return Paired(
        test="exact sign-flip over cases",
        cases=n,
        pairs=total,
        baseline=rate_a,
        candidate=rate_b,
        estimate=rate_b - rate_a,
        ci=(low, high),
        p=sign_flip_exact(d),
        mde=_possible(mde_pass_rate(n, psi0, mde_level), rate_a),
        extra={"ci_method": "newcombe-clustered", "design_effect": deff},
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
    """Continuous values, shape (cases, repeats): sign-flip test, cluster bootstrap CI (with
    a warning under ``MIN_BOOTSTRAP_CASES`` cases)."""
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
    warning = small_suite_warning(n)
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
        warnings=[warning] if warning else [],
    )
