"""Reads for the HTML report: a run's results and scores as columns, the cases they answered,
the prompt versions they used, and a suite's run history with per-metric aggregates.

Everything the report shows comes from these queries (the report layer runs no SQL). Results
and scores come back column-wise (one list per column) because a report may embed tens of
thousands of them and building a dict per row would cost more than the query.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from evalkit.store.db import Store

__all__ = [
    "RESULT_FIELDS",
    "SCORE_FIELDS",
    "baseline_names",
    "history_aggregates",
    "history_runs",
    "prompt_sources",
    "run_cases",
    "run_results",
    "run_scores",
    "score_details",
    "scorer_types",
]

#: Columns of ``run_results``, in order (then ``input`` and ``input_kind``).
RESULT_FIELDS = (
    "id",
    "case_id",
    "prompt",
    "provider",
    "model",
    "repeat",
    "output",
    "error",
    "error_class",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "passed",
    "transcript",
)
#: Columns of ``run_scores``, in order (``value`` rounded, ``note``: see ``run_scores``).
SCORE_FIELDS = ("result_id", "scorer", "value", "passed", "note")
#: A value to 4 significant digits (what a report shows); NaN and infinities as NULL.
_ROUNDED = """
CASE WHEN value IS NULL OR NOT isfinite(value) THEN NULL WHEN value = 0 THEN 0.0
     ELSE round(value, 3 - CAST(floor(log10(abs(value))) AS INTEGER)) END
"""


def _columns(
    store: Store, sql: str, params: Sequence[Any], names: Sequence[str]
) -> dict[str, list[Any]]:
    rows = store.fetchall(sql, params)
    if not rows:
        return {name: [] for name in names}
    return {name: list(col) for name, col in zip(names, zip(*rows, strict=True), strict=True)}


def run_results(store: Store, run_id: str) -> dict[str, list[Any]]:
    """Every result of a run, column-wise (``RESULT_FIELDS``), ordered by case, prompt
    version, provider and repeat. ``input`` is the rendered request: the prompt text of a
    completion call, the JSON text of a chat call's messages (``input_kind`` 'ARRAY')."""
    names = ", ".join(f'"{n}"' for n in RESULT_FIELDS)
    return _columns(
        store,
        f"SELECT {names}, "
        "CASE WHEN json_type(input) = 'VARCHAR' THEN input->>'$' ELSE input::VARCHAR END, "
        "json_type(input) FROM results WHERE run_id = ? "
        'ORDER BY case_id, prompt, provider, "repeat"',
        [run_id],
        [*RESULT_FIELDS, "input", "input_kind"],
    )


#: A score's detail in one line: a judge's JSON detail becomes the claims it found unsupported
#: (faithfulness), else its rationale (or its error, or its verdict); other details are kept
#: as they are.
_NOTE = """
CASE WHEN starts_with(detail, '{') AND json_valid(detail) THEN coalesce(
    'unsupported claims: ' || CASE WHEN json_array_length(detail->'$.unsupported') > 0
        THEN array_to_string(CAST(detail->'$.unsupported' AS VARCHAR[]), ' · ') END,
    'judge''s rationale: ' || (detail->>'$.rationale'),
    'invalid verdict: ' || (detail->>'$.error'),
    'verdict: ' || (detail->>'$.verdict'),
    detail)
ELSE detail END
"""


def run_scores(store: Store, run_id: str) -> dict[str, list[Any]]:
    """Every score of a run, column-wise (``SCORE_FIELDS``), in the order they were stored:
    ``value`` to 4 significant digits, ``note`` the detail in one line (a judge's raw reply
    stays in the store: see ``score_details``)."""
    return _columns(
        store,
        f"SELECT result_id, scorer, {_ROUNDED}, passed, {_NOTE} FROM scores "
        "WHERE run_id = ? ORDER BY rowid",
        [run_id],
        SCORE_FIELDS,
    )


def scorer_types(store: Store, run_id: str) -> dict[str, str]:
    """Scorer name -> type, for one run."""
    return {
        str(name): str(kind)
        for name, kind in store.fetchall(
            "SELECT scorer, any_value(scorer_type) FROM scores WHERE run_id = ? GROUP BY scorer",
            [run_id],
        )
    }


def score_details(store: Store, result_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """The full details of some results' scores: result id -> scorer -> detail."""
    out: dict[str, dict[str, str]] = {}
    for rid, scorer, detail in store.fetchall(
        "SELECT result_id, scorer, detail FROM scores "
        "WHERE result_id IN (SELECT unnest(?::VARCHAR[])) AND detail IS NOT NULL",
        [list(result_ids)],
    ):
        out.setdefault(str(rid), {})[str(scorer)] = str(detail)
    return out


def run_cases(store: Store, suite: str, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The cases (id, hash, vars, reference, tags; JSON decoded) that the runs answered,
    each content version once."""
    rows = store.records(
        "SELECT c.id, c.hash, c.vars, c.reference, c.tags FROM cases c "
        "JOIN (SELECT DISTINCT case_id, case_hash FROM results "
        "      WHERE run_id IN (SELECT unnest(?::VARCHAR[]))) r "
        "ON r.case_id = c.id AND r.case_hash = c.hash WHERE c.suite = ? ORDER BY c.id, c.hash",
        [list(run_ids), suite],
    )
    for row in rows:
        for key in ("vars", "reference", "tags"):
            if isinstance(row[key], str):
                row[key] = json.loads(row[key])
    return rows


def prompt_sources(store: Store, hashes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Stored prompt versions by content hash: name, version, source text, description."""
    rows = store.records(
        "SELECT name, version, hash, source, description, parent FROM prompt_versions "
        "WHERE hash IN (SELECT unnest(?::VARCHAR[]))",
        [sorted(set(hashes))],
    )
    return {row["hash"]: row for row in rows}


def baseline_names(store: Store, suite: str) -> dict[str, list[str]]:
    """Run id -> the baseline names that point at it, for one suite."""
    out: dict[str, list[str]] = {}
    for name, run_id in store.fetchall(
        "SELECT name, run_id FROM baselines WHERE suite = ? ORDER BY name", [suite]
    ):
        out.setdefault(str(run_id), []).append(str(name))
    return out


def history_runs(store: Store, suite: str, up_to: str, limit: int = 30) -> list[dict[str, Any]]:
    """The last ``limit`` runs of a suite that started no later than run ``up_to`` (itself
    included), oldest first: id, started_at, status, exit code, commit and the stored summary
    (JSON decoded; it holds the intervals computed when the run finished)."""
    rows = store.records(
        "SELECT id, started_at, status, exit_code, git_commit, summary FROM runs "
        "WHERE suite = ? AND (started_at, id) <= "
        "      (SELECT (started_at, id) FROM runs WHERE id = ?) "
        "ORDER BY started_at DESC, id DESC LIMIT ?",
        [suite, up_to, limit],
    )
    for row in rows:
        if isinstance(row["summary"], str):
            row["summary"] = json.loads(row["summary"])
    return rows[::-1]


_GROUP_AGGREGATES = """
SELECT run_id, prompt, provider,
       count(*) AS results,
       count(*) FILTER (WHERE passed) AS passed,
       count(*) FILTER (WHERE NOT passed) AS failed,
       count(*) FILTER (WHERE passed IS NULL) AS undecided,
       count(error_class) AS errors,
       quantile_cont(latency_ms, 0.95) AS latency_p95_ms,
       sum(cost_usd) AS cost_usd,
       count(cost_usd) AS priced
FROM results WHERE run_id IN (SELECT unnest(?::VARCHAR[]))
GROUP BY run_id, prompt, provider
"""
_SCORE_AGGREGATES = """
SELECT s.run_id, r.prompt, r.provider, s.scorer,
       any_value(s.scorer_type) AS type,
       avg(s.value) AS mean, count(s.value) AS n,
       count(*) FILTER (WHERE s.passed) AS passed,
       count(*) FILTER (WHERE NOT s.passed) AS failed,
       count(DISTINCT s.threshold) AS thresholds, any_value(s.threshold) AS threshold,
       count(DISTINCT s.signature) AS signatures, any_value(s.signature) AS signature
FROM scores s JOIN results r ON r.id = s.result_id
WHERE s.run_id IN (SELECT unnest(?::VARCHAR[]))
GROUP BY s.run_id, r.prompt, r.provider, s.scorer
"""


def history_aggregates(
    store: Store, run_ids: Sequence[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per run × prompt version × provider: pass/fail counts, errors, latency p95 and cost;
    and per scorer: mean, pass/fail counts, threshold and signature (the signature tells
    whether two runs' scores are comparable)."""
    ids = list(run_ids)
    return store.records(_GROUP_AGGREGATES, [ids]), store.records(_SCORE_AGGREGATES, [ids])
