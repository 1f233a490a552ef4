"""Reads that summarise one stored run: per-group totals, per-scorer totals, error classes,
and per-case totals (as numpy arrays) for the intervals and repeat statistics.

Everything is aggregated in DuckDB: a run of 100,000 results comes back as one row per
group, per scorer and per case, never as one Python object per result. ``run.summary``
and ``run.uncertainty`` turn these into the run summary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalkit.store.db import Store

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CaseOutcomes",
    "CaseValues",
    "case_outcomes",
    "case_values",
    "error_totals",
    "grounding_totals",
    "group_totals",
    "score_totals",
    "scorer_order",
]

#: Requests of a result that were sent, not answered by the cache: a retry is an attempt
#: beyond them (a conversation makes several requests; a cache hit makes none).
_FRESH_REQUESTS = """(CASE WHEN transcript IS NULL THEN (CASE WHEN cache_hit THEN 0 ELSE 1 END)
    ELSE json_array_length(transcript) - len(list_filter(
        CAST(json_extract(transcript, '$[*].cache_hit') AS BOOLEAN[]),
        lambda hit: coalesce(hit, false))) END)"""

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
       sum(greatest(attempts - {_FRESH_REQUESTS}, 0)) AS retries,
       avg(score) AS score
FROM results WHERE run_id = ?
GROUP BY prompt, provider ORDER BY prompt, provider
""".replace("{_FRESH_REQUESTS}", _FRESH_REQUESTS)

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

# Cases sort by their id (byte order, as numpy sorts strings): the order the bootstraps
# resample them in, so a summary's intervals do not depend on how rows were stored.
_CASE_OUTCOMES = """
SELECT prompt, provider, case_id,
       count(*) AS results,
       count(*) FILTER (WHERE passed) AS passed,
       count(*) FILTER (WHERE NOT passed) AS failed
FROM results WHERE run_id = ?
GROUP BY prompt, provider, case_id
ORDER BY prompt, provider, case_id
"""

_CASE_VALUES = """
SELECT r.prompt, r.provider, s.scorer, r.case_id,
       sum(s.value) AS total,
       count(*) AS n,
       bool_and(s.value = 0 OR s.value = 1) AS binary
FROM scores s JOIN results r ON r.id = s.result_id
WHERE s.run_id = ? AND s.value IS NOT NULL AND isfinite(s.value)
GROUP BY r.prompt, r.provider, s.scorer, r.case_id
ORDER BY r.prompt, r.provider, s.scorer, r.case_id
"""


# Faithfulness verdicts (a judge's JSON detail with ``mode: faithfulness``), valid ones only.
_FAITHFUL = """
WITH judged AS (
    SELECT r.prompt, r.provider, s.scorer, r.case_id, r.repeat,
           CASE WHEN json_valid(s.detail) THEN s.detail END AS detail
    FROM scores s JOIN results r ON r.id = s.result_id
    WHERE s.run_id = ? AND s.scorer_type = 'judge' AND s.value IS NOT NULL
), verdicts AS (
    SELECT prompt, provider, scorer, case_id, repeat,
           CAST(json_extract(detail, '$.total') AS BIGINT) AS claims,
           json_extract(detail, '$.unsupported') AS unsupported,
           json_array_length(detail, '$.unsupported') AS n_unsupported
    FROM judged WHERE json_extract_string(detail, '$.mode') = 'faithfulness'
)
"""
_GROUNDING = (
    _FAITHFUL
    + """
SELECT prompt, provider, scorer, count(*) AS answers,
       count(*) FILTER (WHERE n_unsupported > 0) AS with_unsupported,
       coalesce(sum(claims), 0) AS claims, coalesce(sum(n_unsupported), 0) AS unsupported
FROM verdicts GROUP BY prompt, provider, scorer
"""
)
_GROUNDING_EXAMPLES = (
    _FAITHFUL
    + """
SELECT prompt, provider, scorer, case_id, repeat, unsupported FROM (
    SELECT *, row_number() OVER (
        PARTITION BY prompt, provider, scorer ORDER BY case_id, repeat) AS k
    FROM verdicts WHERE n_unsupported > 0
) WHERE k <= ? ORDER BY prompt, provider, scorer, case_id, repeat
"""
)


@dataclass
class CaseOutcomes:
    """One group's results per case (cases sorted by id): how many, passed, failed."""

    case_ids: np.ndarray
    results: np.ndarray
    passed: np.ndarray
    failed: np.ndarray


@dataclass
class CaseValues:
    """One scorer's finite values in one group, per case (sorted by id): their sum and
    count, and whether every value is 0 or 1."""

    case_ids: np.ndarray
    sums: np.ndarray
    counts: np.ndarray
    binary: bool


def group_totals(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Per (prompt, provider) totals of a run's results, ordered by prompt and provider."""
    return store.records(_GROUPS, [run_id])


def score_totals(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Per (prompt, provider, scorer) totals of a run's scores."""
    return store.records(_SCORES, [run_id])


def error_totals(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Failed calls per error class (most frequent first), with one example message."""
    return store.records(_ERRORS, [run_id])


def grounding_totals(
    store: Store, run_id: str, examples: int = 5
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Per (prompt, provider, scorer) of a faithfulness judge: answers judged, answers with
    unsupported claims, claims, unsupported claims, and the first ``examples`` answers with
    unsupported claims (case id, repeat, claims), by case id."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in store.records(_GROUNDING, [run_id]):
        key = (row.pop("prompt"), row.pop("provider"), row.pop("scorer"))
        out[key] = {**row, "examples": []}
    for row in store.records(_GROUNDING_EXAMPLES, [run_id, examples]):
        key = (row["prompt"], row["provider"], row["scorer"])
        claims = json.loads(row["unsupported"]) if row["unsupported"] else []
        out[key]["examples"].append(
            {"case_id": row["case_id"], "repeat": int(row["repeat"]), "claims": claims}
        )
    return out


def scorer_order(store: Store, run_id: str) -> list[str]:
    """The suite's scorers in their order, as recorded with the run (empty if none)."""
    row = store.fetchone("SELECT options FROM runs WHERE id = ?", [run_id])
    options = json.loads(row[0]) if row and row[0] else {}
    return list(options.get("scorers") or [])


def _split(columns: dict[str, Any], keys: tuple[str, ...]) -> dict[tuple[Any, ...], Any]:
    """Rows sorted by ``keys`` → ``{key values: {column: array slice}}``."""
    import numpy as np

    size = len(columns[keys[0]])
    if size == 0:
        return {}
    change = np.zeros(size, dtype=bool)
    change[0] = True
    for key in keys:
        col = np.asarray(columns[key], dtype=object)
        change[1:] |= col[1:] != col[:-1]
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], size)
    return {
        tuple(columns[k][start] for k in keys): {
            name: np.asarray(col[start:end]) for name, col in columns.items() if name not in keys
        }
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
    }


def case_outcomes(store: Store, run_id: str) -> dict[tuple[str, str], CaseOutcomes]:
    """Per group (prompt, provider): the results, passes and failures of each case."""
    import numpy as np

    parts = _split(store.fetchnumpy(_CASE_OUTCOMES, [run_id]), ("prompt", "provider"))
    return {
        key: CaseOutcomes(
            case_ids=p["case_id"],
            results=p["results"].astype(np.int64),
            passed=p["passed"].astype(np.int64),
            failed=p["failed"].astype(np.int64),
        )
        for key, p in parts.items()
    }


def case_values(store: Store, run_id: str) -> dict[tuple[str, str, str], CaseValues]:
    """Per group and scorer (prompt, provider, scorer): the sum and count of each case's
    finite values (NULL, NaN and infinite values are left out)."""
    import numpy as np

    parts = _split(store.fetchnumpy(_CASE_VALUES, [run_id]), ("prompt", "provider", "scorer"))
    return {
        key: CaseValues(
            case_ids=p["case_id"],
            sums=p["total"].astype(float),
            counts=p["n"].astype(float),
            binary=bool(np.all(p["binary"])),
        )
        for key, p in parts.items()
    }
