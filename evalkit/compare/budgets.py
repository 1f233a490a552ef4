"""compare (budgets): latency p95 and cost per result as ratios, this run over the baseline.

The ratio of the statistic (p95 of latency, mean of cost) comes with a paired cluster
bootstrap percentile interval (cases resampled together on both sides). *slower* /
*costlier* means the whole interval lies above a tolerance (×1.2 for latency, which also moves
with the machine's load; ×1.05 for cost); *faster* / *cheaper* below its inverse;
*equivalent* within both, *inconclusive* otherwise; *over budget*
means the suite's gate failed for the candidate. Answers served from the cache are left out of
latency.

Resamples whose baseline statistic is 0 or missing (a resample of only cached answers, or
of only free calls) have no ratio: they are counted (``undefined_resamples``), the interval
places them in whichever tail widens it, and with more than α/2 of them there is no
interval; either way the budget's ``warnings`` say so. A budget from fewer than
``evalkit.stats.MIN_BOOTSTRAP_CASES`` cases carries a warning too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalkit import stats
from evalkit.compare.align import Alignment, Pairing, value_matrix
from evalkit.compare.equivalence import budget_verdict
from evalkit.compare.stats import small_suite_warning

if TYPE_CHECKING:
    import numpy as np

__all__ = ["COST_TOLERANCE", "LATENCY_TOLERANCE", "Ratio", "budgets", "ratio"]

#: Ratios whose whole interval lies within these are "equivalent", even when it excludes 1.
LATENCY_TOLERANCE = 1.2
COST_TOLERANCE = 1.05


@dataclass
class Ratio:
    """b/a of a statistic (p95 or mean) over all values, with a cluster bootstrap interval."""

    statistic: str
    baseline: float
    candidate: float
    ratio: float | None
    ci: tuple[float, float] | None
    #: Cases compared, bootstrap resamples drawn, and resamples whose ratio was undefined
    #: (the resampled baseline statistic 0 or missing).
    cases: int = 0
    resamples: int = 0
    undefined: int = 0

    @property
    def warnings(self) -> list[str]:
        """What the interval cannot tell: too few cases, undefined resamples."""
        out = []
        small = small_suite_warning(self.cases)
        if small and self.ratio is not None:
            out.append(small)
        if self.undefined:
            share = f"{self.undefined} of {self.resamples} bootstrap resamples"
            if self.ci is None:
                out.append(
                    f"no interval: {share} had no defined ratio (a zero or missing "
                    "baseline); too many to bound the interval"
                )
            else:
                out.append(
                    f"{share} had no defined ratio (a zero or missing baseline); the "
                    "interval counts them in whichever tail widens it"
                )
        return out


def _stat(x: np.ndarray, statistic: str) -> Any:
    import numpy as np

    nan = bool(np.isnan(x).any())
    if statistic == "p95":
        return (np.nanquantile if nan else np.quantile)(x, 0.95, axis=-1)
    return (np.nanmean if nan else np.mean)(x, axis=-1)


def ratio(
    a: Any,
    b: Any,
    statistic: str = "p95",
    *,
    rng: np.random.Generator | None = None,
    n_resamples: int = stats.N_RESAMPLES,
    alpha: float = stats.ALPHA,
) -> Ratio | None:
    """``statistic`` ("p95" or "mean") of b over a; a and b are (cases, repeats) with NaN
    where missing, resampled together by case (``evalkit.stats.resample_cases``).

    A resample whose baseline statistic is 0 or missing has no ratio: such resamples are
    counted (``Ratio.undefined``) and the interval accounts for them
    (``evalkit.stats.percentile_interval``), or there is none when there are too many.
    """
    import warnings

    import numpy as np

    a = np.atleast_2d(np.asarray(a, dtype=float))
    b = np.atleast_2d(np.asarray(b, dtype=float))
    keep = ~np.isnan(a).all(axis=1) & ~np.isnan(b).all(axis=1)
    a, b = a[keep], b[keep]
    n = a.shape[0]
    if n == 0:
        return None
    base, cand = float(_stat(a.ravel(), statistic)), float(_stat(b.ravel(), statistic))
    if not base > 0:
        return Ratio(statistic, base, cand, None, None, cases=n)
    rng = rng if rng is not None else stats.rng_for("ratio", statistic, n)

    def resampled(idx: np.ndarray) -> np.ndarray:
        rows = idx.shape[0]
        return _stat(b[idx].reshape(rows, -1), statistic) / _stat(
            a[idx].reshape(rows, -1), statistic
        )

    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        # a resample of only missing values: its statistic is NaN, counted below
        warnings.simplefilter("ignore", RuntimeWarning)
        ratios = stats.resample_cases(n, rng, n_resamples, resampled, cells=a.size)
    undefined = int(np.count_nonzero(~np.isfinite(ratios)))
    ci = stats.percentile_interval(ratios, alpha)
    return Ratio(
        statistic,
        base,
        cand,
        cand / base,
        ci,
        cases=n,
        resamples=n_resamples,
        undefined=undefined,
    )


def _gate(run: dict[str, Any], gate: str, scope: str) -> dict[str, Any] | None:
    for g in (run.get("summary") or {}).get("gates") or []:
        if g.get("gate") == gate and g.get("scope") in (scope, "run"):
            return {"limit": g.get("limit"), "actual": g.get("actual"), "passed": g.get("passed")}
    return None


def budgets(
    pairing: Pairing, alignment: Alignment, key: str, candidate_run: dict[str, Any]
) -> list[dict[str, Any]]:
    """Latency and cost of one pairing (each left out when neither side has any)."""
    a, b = pairing.baseline, pairing.candidate
    out = []

    def latency(row: dict[str, Any]) -> Any:
        return None if row["error_class"] or row["cache_hit"] else row["latency_ms"]

    def cost(row: dict[str, Any]) -> Any:
        return row["cost_usd"]

    for name, getter, stat, gate, words, tol in (
        ("latency p95", latency, "p95", "latency_p95_ms", ("slower", "faster"), LATENCY_TOLERANCE),
        ("cost per result", cost, "mean", "cost_usd", ("costlier", "cheaper"), COST_TOLERANCE),
    ):
        ma = value_matrix(a, alignment, b, getter)
        mb = value_matrix(b, alignment, a, getter)
        found = ratio(ma, mb, stat, rng=stats.rng_for(key, name))
        if found is None or (stat == "mean" and found.baseline == 0 and found.candidate == 0):
            continue
        verdict = budget_verdict(found.ci, tol, words)
        budget = _gate(candidate_run, gate, b.label)
        if budget and budget["passed"] is False:
            verdict = "over budget"
        out.append(
            {
                "metric": name,
                "statistic": stat,
                "baseline": found.baseline,
                "candidate": found.candidate,
                "ratio": found.ratio,
                "ci": None if found.ci is None else list(found.ci),
                "verdict": verdict,
                "budget": budget,
                "tolerance": tol,
                "worse": verdict in (words[0], "over budget"),
                "resamples": found.resamples,
                "undefined_resamples": found.undefined,
                "warnings": found.warnings,
            }
        )
    return out
