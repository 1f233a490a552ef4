"""Aggregates of a stored run: pass rates, score means, latency percentiles, tokens, cost.

Summaries are computed from the store (the single source of truth), so a resumed run or a
run read back later summarises exactly as it printed. A *group* is one system under test
within a run: one prompt version on one provider.

Pass rate = passed / (passed + failed): undecided results (no scorer could decide, e.g. an
invalid judge verdict) are counted apart; failed calls count as failed cases. Intervals and
repeat statistics (pass@1, pass^k) come from ``evalkit.score.uncertainty``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from evalkit.store.db import Store

__all__ = ["summarize_run", "wilson_interval"]


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sensible at 0, 1 and small n)."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


_GROUPS = """
SELECT prompt, provider, any_value(model) AS model,
       count(*) AS results,
       count(DISTINCT case_id) AS cases,
       count(*) FILTER (WHERE passed) AS passed,
       count(*) FILTER (WHERE NOT passed) AS failed,
       count(*) FILTER (WHERE passed IS NULL) AS undecided,
       count(error_class) AS errors,
       quantile_cont(latency_ms, 0.5) AS latency_p50_ms,
       quantile_cont(latency_ms, 0.95) AS latency_p95_ms,
       quantile_cont(ttft_ms, 0.5) AS ttft_p50_ms,
       quantile_cont(ttft_ms, 0.95) AS ttft_p95_ms,
       sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(cost_usd) AS cost_usd,
       count(*) FILTER (WHERE cache_hit) AS cache_hits,
       sum(attempts - 1) AS retries
FROM results WHERE run_id = ?
GROUP BY prompt, provider ORDER BY prompt, provider
"""

_SCORES = """
SELECT r.prompt, r.provider, s.scorer, any_value(s.scorer_type) AS type,
       avg(s.value) AS mean, count(s.value) AS n,
       count(*) FILTER (WHERE s.passed) AS passed,
       count(*) FILTER (WHERE NOT s.passed) AS failed,
       count(*) FILTER (WHERE s.passed IS NULL) AS undecided,
       count(*) - count(s.value) AS unscored,
       any_value(s.threshold) AS threshold
FROM scores s JOIN results r ON r.id = s.result_id
WHERE s.run_id = ?
GROUP BY r.prompt, r.provider, s.scorer
"""

_ERRORS = """
SELECT error_class, count(*) AS n, any_value(error) AS example
FROM results WHERE run_id = ? AND error_class IS NOT NULL
GROUP BY error_class ORDER BY n DESC
"""


def summarize_run(store: Store, run_id: str) -> dict[str, Any]:
    """Per-group aggregates of one run, as plain data (JSON-ready)."""
    groups = store.records(_GROUPS, [run_id])
    scores = store.records(_SCORES, [run_id])
    # Scorers in the suite's order (recorded with the run), then any others by name.
    row = store.fetchone("SELECT options FROM runs WHERE id = ?", [run_id])
    order = (json.loads(row[0]) if row and row[0] else {}).get("scorers") or []
    rank = {name: i for i, name in enumerate(order)}
    scores.sort(key=lambda s: (rank.get(s["scorer"], len(rank)), s["scorer"]))
    for group in groups:
        decided = group["passed"] + group["failed"]
        group["pass_rate"] = group["passed"] / decided if decided else None
        low, high = wilson_interval(group["passed"], decided)
        group["pass_rate_ci"] = [low, high] if decided else None
        group["scores"] = {
            s["scorer"]: {
                "type": s["type"],
                "mean": s["mean"],
                "n": s["n"],
                "passed": s["passed"],
                "failed": s["failed"],
                "undecided": s["undecided"],
                "threshold": s["threshold"],
                "unscored": s["unscored"],  # no value: e.g. invalid judge verdicts
            }
            for s in scores
            if s["prompt"] == group["prompt"] and s["provider"] == group["provider"]
        }
        for key in ("input_tokens", "output_tokens", "retries"):
            group[key] = int(group[key] or 0)
    from evalkit.score.uncertainty import add_uncertainty

    add_uncertainty(store, run_id, groups)  # intervals per metric, pass@1 / pass^k per case
    errors = store.records(_ERRORS, [run_id])
    return {
        "groups": groups,
        "errors": errors,
        "results": sum(g["results"] for g in groups),
        "cost_usd": sum((g["cost_usd"] or 0.0) for g in groups),
        "tokens": sum(g["input_tokens"] + g["output_tokens"] for g in groups),
    }
