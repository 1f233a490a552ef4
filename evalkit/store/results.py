"""A run's results and scores, as the comparison reads them."""

from __future__ import annotations

import json
from typing import Any

from evalkit.store.db import Store

__all__ = ["run_results", "run_scores", "run_transcripts"]

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


_TRANSCRIPTS = """
SELECT r.id AS result_id, r.case_id, r.prompt, r.provider, r."repeat", r.passed,
       r.error_class, r.transcript,
       coalesce((SELECT list(s.scorer || coalesce(': ' || s.detail, '') ORDER BY s.scorer)
                 FROM scores s WHERE s.result_id = r.id AND s.passed = false), []) AS failures
FROM results r WHERE r.run_id = ? AND r.transcript IS NOT NULL
ORDER BY r.case_id, r.prompt, r.provider, r."repeat"
"""


def run_transcripts(store: Store, run_id: str, case_id: str | None = None) -> list[dict[str, Any]]:
    """The trajectories of a run's conversations and agent loops (one case's, if named)."""
    sql, params = _TRANSCRIPTS, [run_id]
    if case_id is not None:
        sql = sql.replace("IS NOT NULL\n", "IS NOT NULL AND r.case_id = ?\n")
        params.append(case_id)
    rows = store.records(sql, params)
    for row in rows:
        row["steps"] = json.loads(row.pop("transcript"))
    return rows
