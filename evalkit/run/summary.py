"""Aggregates of a stored run: pass rates, score means, latency percentiles, tokens, cost.

Summaries are computed from the store (the single source of truth), so a resumed run or a
run read back later summarises exactly as it printed. A *group* is one system under test
within a run: one prompt version on one provider. The totals are aggregated in DuckDB
(``store.summaries``); this module shapes them into the run summary (the ``summary`` of
``evalkit.run/1`` JSON).

Pass rate = passed / (passed + failed): undecided results (no scorer could decide, e.g. an
invalid judge verdict) are counted apart; failed calls count as failed cases. Intervals and
repeat statistics (pass@1, pass^k) come from ``evalkit.run.uncertainty``.
"""

from __future__ import annotations

from typing import Any

from evalkit.run.uncertainty import add_uncertainty
from evalkit.stats import wilson
from evalkit.store import summaries
from evalkit.store.db import Store

__all__ = ["summarize_run"]


def summarize_run(store: Store, run_id: str) -> dict[str, Any]:
    """Per-group aggregates of one run, as plain data (JSON-ready)."""
    groups = summaries.group_totals(store, run_id)
    scores = summaries.score_totals(store, run_id)
    # Scorers in the suite's order (recorded with the run), then any others by name.
    rank = {name: i for i, name in enumerate(summaries.scorer_order(store, run_id))}
    scores.sort(key=lambda s: (rank.get(s["scorer"], len(rank)), s["scorer"]))
    # Faithfulness totals come from judges' verdicts: no judge, nothing to read.
    judged = any(s["type"] == "judge" for s in scores)
    grounding = summaries.grounding_totals(store, run_id) if judged else {}
    for group in groups:
        decided = group["passed"] + group["failed"]
        group["pass_rate"] = group["passed"] / decided if decided else None
        group["pass_rate_ci"] = list(wilson(group["passed"], decided)) if decided else None
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
                "grounding": grounding.get((group["prompt"], group["provider"], s["scorer"])),
            }
            for s in scores
            if s["prompt"] == group["prompt"] and s["provider"] == group["provider"]
        }
        for key in ("input_tokens", "output_tokens", "retries"):
            group[key] = int(group[key] or 0)
    add_uncertainty(store, run_id, groups)  # intervals per metric, pass@1 / pass^k per case
    errors = summaries.error_totals(store, run_id)
    return {
        "groups": groups,
        "errors": errors,
        "results": sum(g["results"] for g in groups),
        "cost_usd": sum((g["cost_usd"] or 0.0) for g in groups),
        "tokens": sum(g["input_tokens"] + g["output_tokens"] for g in groups),
    }
