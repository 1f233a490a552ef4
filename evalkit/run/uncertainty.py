"""How sure a run's numbers are: 95% intervals per metric, and what repeats say per case.

The methods are in ``evalkit.stats``; this module applies them to a run's groups:

* **Proportions** (pass rate, boolean scorers): Wilson's score interval; with repeats
  (``-n N``) the N answers to one case are not independent draws, so the interval uses the
  *effective* sample size ``n / deff`` (``evalkit.stats.clustered_wilson``).
* **Continuous scores** (BLEU, similarity, judge scores, latency): a percentile bootstrap of
  the mean, resampling *cases* (each with all its repeats) when N > 1, items otherwise;
  seeded, so the same run always prints the same interval.
* **Repeats**: per case the share of its N answers that passed; per group pass@1 (the mean of
  those shares), pass^k (cases whose every answer passed: what a user who asks k times sees)
  and pass@k (cases with at least one passing answer), and the flaky cases.

The per-case totals come from the store (``store.summaries``), aggregated in DuckDB.
"""

from __future__ import annotations

import math
from typing import Any

from evalkit.stats import N_RESAMPLES, cluster_mean_interval
from evalkit.store import summaries

__all__ = ["add_uncertainty", "repeat_statistics"]

#: Seed of the summary's bootstraps (a run always prints the same intervals).
SEED = 20240607


def repeat_statistics(
    case_ids: Any, results: Any, passed: Any, failed: Any, k: int
) -> dict[str, Any]:
    """pass@1, pass^k, pass@k and the flaky cases of one group, from per-case counts
    (``results`` per case, of which ``passed`` and ``failed``; the rest undecided); the
    per-case rows when cases were repeated (``k`` > 1)."""
    import numpy as np

    ids = np.asarray(case_ids, dtype=object)
    total = np.asarray(results, dtype=np.int64)
    ok = np.asarray(passed, dtype=np.int64)
    bad = np.asarray(failed, dtype=np.int64)
    decided = ok + bad
    has = decided > 0
    m = int(np.count_nonzero(has))
    means = ok[has] / decided[has]
    flaky = sorted(ids[has & (ok > 0) & (bad > 0)].tolist())
    per_case = None
    if k > 1:
        order = np.argsort(ids.astype(str), kind="stable")
        per_case = [
            {
                "case_id": case_id,
                "n": n,
                "passed": p,
                "failed": f,
                "undecided": n - p - f,
                "mean": p / (p + f) if p + f else None,
            }
            for case_id, n, p, f in zip(
                ids[order].tolist(),
                total[order].tolist(),
                ok[order].tolist(),
                bad[order].tolist(),
                strict=True,
            )
        ]
    return {
        "k": k,
        "cases": m,
        "pass_at_1": math.fsum(means.tolist()) / m if m else None,
        "pass_hat_k": int(np.count_nonzero(bad[has] == 0)) / m if m else None,
        "pass_at_k": int(np.count_nonzero(ok[has] > 0)) / m if m else None,
        "flaky": flaky,
        "per_case": per_case,
    }


def _boolean(scorer_type: str) -> bool | None:
    """Whether a scorer type's values are pass (1) / fail (0): a proportion. None when the
    type cannot be loaded (a plugin since uninstalled): then judged from the values."""
    from evalkit.registry import SCORERS

    try:
        return bool(SCORERS.get(scorer_type).boolean)
    except Exception:
        return None


def _interval(sums: Any, counts: Any, binary: bool) -> tuple[float, float, str] | None:
    import numpy as np

    return cluster_mean_interval(
        sums, counts, binary=binary, rng=np.random.default_rng(SEED), n_resamples=N_RESAMPLES
    )


def add_uncertainty(store: Any, run_id: str, groups: list[dict[str, Any]]) -> None:
    """Add intervals (``scores[name]["ci"]``, ``pass_rate_ci`` clustered by case) and a
    ``repeats`` block to each group of a run summary, in place."""
    outcomes = summaries.case_outcomes(store, run_id)
    values = summaries.case_values(store, run_id)
    for group in groups:
        key = (group["prompt"], group["provider"])
        cases = outcomes.get(key)
        if cases is None:
            group["repeats"] = repeat_statistics([], [], [], [], 1)
            continue
        k = int(cases.results.max(initial=1))
        group["repeats"] = repeat_statistics(
            cases.case_ids, cases.results, cases.passed, cases.failed, k
        )
        decided = cases.passed + cases.failed
        has = decided > 0
        if has.any() and k > 1:
            interval = _interval(cases.passed[has], decided[has], binary=True)
            if interval:
                group["pass_rate_ci"] = [interval[0], interval[1]]
                group["pass_rate_ci_method"] = interval[2]
        elif has.any():
            group["pass_rate_ci_method"] = "wilson"
        for name, score in group["scores"].items():
            found = values.get((*key, name))
            interval = None
            if found is not None:
                binary = _boolean(score["type"])
                interval = _interval(
                    found.sums, found.counts, found.binary if binary is None else binary
                )
            score["ci"] = [interval[0], interval[1]] if interval else None
            score["ci_method"] = interval[2] if interval else None
