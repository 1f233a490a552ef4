"""A run's results and scores, as the comparison reads them."""

from __future__ import annotations

from typing import Any

from evalkit.store.db import Store

__all__ = ["run_results", "run_scores"]

_RESULTS = """
SELECT id, case_id, case_hash, "repeat", prompt, prompt_name, prompt_hash, provider, model,
       params, output, error, error_class, latency_ms, cost_usd, cache_hit, passed
FROM results WHERE run_id = ? ORDER BY case_id, "repeat"
"""
_SCORES = """
SELECT result_id, scorer, scorer_type, signature, signature_json, value, passed, threshold,
       detail
FROM scores WHERE run_id = ? ORDER BY rowid
"""


def run_results(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The results of a run (what a comparison pairs), by case and repeat."""
    return store.records(_RESULTS, [run_id])


def run_scores(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The scores of a run, in the order they were written."""
    return store.records(_SCORES, [run_id])
