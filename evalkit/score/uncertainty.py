"""How sure a run's numbers are: 95% intervals per metric, and what repeats say per case.

* **Proportions** (pass rate, boolean scorers): the Wilson score interval. With repeats
  (``-n N``) the N answers to one case are not independent draws, so the interval uses the
  *effective* sample size ``n / deff``, where the design effect ``deff`` is the cluster-robust
  variance of the mean (cases as clusters) over the independent-sample one (at least 1).
* **Continuous scores** (BLEU, similarity, judge scores, latency): a percentile bootstrap of
  the mean, resampling *cases* (each with all its repeats) when N > 1, items otherwise;
  seeded, so the same run always prints the same interval, and vectorised with numpy.
* **Repeats**: per case the share of its N answers that passed; per group pass@1 (the mean of
  those shares), pass^k (cases whose every answer passed: what a user who asks k times sees)
  and pass@k (cases with at least one passing answer), and the flaky cases.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

__all__ = ["add_uncertainty", "mean_interval"]

#: Bootstrap resamples; the interval's percentiles are stable to about ±0.005 at this size.
N_BOOT = 2000
SEED = 20240607
_CELLS = 4_000_000  # resample matrix cells per chunk (memory bound)


def _wilson(successes: float, n: float) -> tuple[float, float]:
    from evalkit.score.metrics import wilson_interval

    return wilson_interval(successes, n)  # type: ignore[arg-type]


def mean_interval(
    values: Any,
    clusters: Any,
    *,
    binary: bool | None = None,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> tuple[float, float, str] | None:
    """95% interval of the mean of ``values`` with ``clusters`` (case ids) as resampling
    units; ``(low, high, method)``, or None when there is too little to say anything."""
    import numpy as np

    y = np.asarray(values, dtype=float)
    if y.size == 0:
        return None
    _, cluster = np.unique(np.asarray(clusters), return_inverse=True)
    k = int(cluster.max()) + 1
    clustered = k < y.size
    if binary is None:
        binary = bool(np.isin(y, (0.0, 1.0)).all())
    if binary:
        n, p = float(y.size), float(y.mean())
        if not clustered:
            return (*_wilson(p * n, n), "wilson")
        if 0.0 < p < 1.0:
            residual = np.bincount(cluster, weights=y - p, minlength=k)
            deff = max(float((residual**2).sum() / n**2) / (p * (1 - p) / n), 1.0)
            n_eff = n / deff
        else:
            n_eff = float(k)  # no variation to measure: count each case once
        return (*_wilson(p * n_eff, n_eff), "wilson-clustered")
    if k < 2:
        return None
    sums = np.bincount(cluster, weights=y, minlength=k)
    counts = np.bincount(cluster, minlength=k).astype(float)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    step = max(1, _CELLS // k)
    for start in range(0, n_boot, step):
        size = min(step, n_boot - start)
        idx = rng.integers(0, k, size=(size, k))
        means[start : start + size] = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high), "bootstrap-clustered" if clustered else "bootstrap"


_RESULTS = """
SELECT prompt, provider, case_id, passed FROM results WHERE run_id = ?
"""
_SCORE_VALUES = """
SELECT r.prompt, r.provider, s.scorer, r.case_id, s.value
FROM scores s JOIN results r ON r.id = s.result_id
WHERE s.run_id = ? AND s.value IS NOT NULL
"""


def _repeats(rows: list[tuple[str, Any]], k: int) -> dict[str, Any]:
    by_case: dict[str, list[Any]] = defaultdict(list)
    for case_id, passed in rows:
        by_case[case_id].append(passed)
    cases: list[dict[str, Any]] = []
    for case_id, marks in by_case.items():
        passed = sum(m is True for m in marks)
        failed = sum(m is False for m in marks)
        decided = passed + failed
        cases.append(
            {
                "case_id": case_id,
                "n": len(marks),
                "passed": passed,
                "failed": failed,
                "undecided": len(marks) - decided,
                "mean": passed / decided if decided else None,
            }
        )
    decided_cases = [c for c in cases if c["mean"] is not None]
    m = len(decided_cases)
    flaky = sorted(c["case_id"] for c in decided_cases if c["passed"] and c["failed"])
    return {
        "k": k,
        "cases": m,
        "pass_at_1": sum(c["mean"] for c in decided_cases) / m if m else None,
        "pass_hat_k": sum(not c["failed"] for c in decided_cases) / m if m else None,
        "pass_at_k": sum(c["passed"] > 0 for c in decided_cases) / m if m else None,
        "flaky": flaky,
        "per_case": sorted(cases, key=lambda c: c["case_id"]) if k > 1 else None,
    }


def _boolean(scorer_type: str) -> bool | None:
    """Whether a scorer type's values are pass (1) / fail (0): a proportion. None when the
    type cannot be loaded (a plugin since uninstalled): then judged from the values."""
    from evalkit.registry import SCORERS

    try:
        return bool(SCORERS.get(scorer_type).boolean)
    except Exception:
        return None


def add_uncertainty(store: Any, run_id: str, groups: list[dict[str, Any]]) -> None:
    """Add intervals (``scores[name]["ci"]``, ``pass_rate_ci`` clustered by case) and a
    ``repeats`` block to each group of a run summary, in place."""
    results: dict[tuple[str, str], list[tuple[str, Any]]] = defaultdict(list)
    for prompt, provider, case_id, passed in store.fetchall(_RESULTS, [run_id]):
        results[(prompt, provider)].append((case_id, passed))
    values: dict[tuple[str, str, str], tuple[list[str], list[float]]] = defaultdict(
        lambda: ([], [])
    )
    for prompt, provider, scorer, case_id, value in store.fetchall(_SCORE_VALUES, [run_id]):
        if math.isfinite(value):
            cases, vals = values[(prompt, provider, scorer)]
            cases.append(case_id)
            vals.append(value)
    for group in groups:
        key = (group["prompt"], group["provider"])
        rows = results.get(key, [])
        per_case: dict[str, int] = defaultdict(int)
        for case_id, _ in rows:
            per_case[case_id] += 1
        k = max(per_case.values(), default=1)
        group["repeats"] = _repeats(rows, k)
        decided = [(c, 1.0 if p else 0.0) for c, p in rows if p is not None]
        if decided and k > 1:
            interval = mean_interval([v for _, v in decided], [c for c, _ in decided], binary=True)
            if interval:
                group["pass_rate_ci"] = [interval[0], interval[1]]
                group["pass_rate_ci_method"] = interval[2]
        elif decided:
            group["pass_rate_ci_method"] = "wilson"
        for name, score in group["scores"].items():
            cases, vals = values.get((*key, name), ([], []))
            interval = mean_interval(vals, cases, binary=_boolean(score["type"])) if vals else None
            score["ci"] = [interval[0], interval[1]] if interval else None
            score["ci_method"] = interval[2] if interval else None
