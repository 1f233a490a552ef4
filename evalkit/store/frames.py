"""The store as pandas DataFrames: results, scores (wide or long) and runs.

Every frame comes straight from DuckDB (``.df()``, through Arrow): the filtering, joining
and pivoting happen in SQL, never in a Python loop over rows. Filters are optional and
combine with AND:

* ``run_ids`` — a list of run ids (already resolved; see ``evalkit.store.runs.resolve_run``);
* ``suite`` — a suite name;
* ``prompt`` — ``name@vN`` (that version) or ``name`` (every version of it);
* ``provider`` — a provider id.

JSON columns (``params``, ``vars``, ``reference``, ...) come back as JSON text; parse the
ones you need (``df["vars"].map(json.loads)``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from evalkit.store.db import Store

__all__ = ["RESULT_FRAME_COLUMNS", "failures", "results_frame", "runs_frame", "scores_frame"]

#: The columns of ``results_frame`` in order (``r.`` = results, ``c.`` = cases).
RESULT_FRAME_COLUMNS: list[str] = [
    "r.id AS result_id",
    "r.run_id",
    "r.suite",
    "r.case_id",
    "r.prompt",
    "r.prompt_name",
    "r.prompt_version",
    "r.provider",
    "r.model",
    "r.repeat",
    "c.vars",
    "c.reference",
    "r.output",
    "r.passed",
    "r.error",
    "r.error_class",
    "r.latency_ms",
    "r.ttft_ms",
    "r.input_tokens",
    "r.output_tokens",
    "r.cached_input_tokens",
    "r.cost_usd",
    "r.cache_hit",
    "r.served_by",
    "r.attempts",
    "r.finish_reason",
    "r.params",
    "r.prompt_hash",
    "r.case_hash",
    "r.created_at",
]

_ORDER = "r.run_id, r.prompt, r.provider, r.case_id, r.repeat"


def _df(store: Store, sql: str, params: Sequence[Any]) -> Any:
    """The query's rows as a pandas DataFrame (DuckDB converts through Arrow)."""
    with store._lock:
        return store.con.execute(sql, list(params)).df()


def _where(
    run_ids: Sequence[str] | None,
    suite: str | None,
    prompt: str | None,
    provider: str | None,
    alias: str = "r",
) -> tuple[str, list[Any]]:
    """A WHERE clause over a results table aliased ``alias``, and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    if run_ids is not None:
        clauses.append(f"{alias}.run_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(run_ids))
    if suite is not None:
        clauses.append(f"{alias}.suite = ?")
        params.append(suite)
    if prompt is not None:
        column = "prompt" if "@" in prompt else "prompt_name"
        clauses.append(f"{alias}.{column} = ?")
        params.append(prompt)
    if provider is not None:
        clauses.append(f"{alias}.provider = ?")
        params.append(provider)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _results_sql(where: str) -> str:
    return (
        f"SELECT {', '.join(RESULT_FRAME_COLUMNS)} FROM results r "
        "LEFT JOIN cases c ON c.suite = r.suite AND c.id = r.case_id AND c.hash = r.case_hash"
        f"{where}"
    )


def results_frame(
    store: Store,
    *,
    run_ids: Sequence[str] | None = None,
    suite: str | None = None,
    prompt: str | None = None,
    provider: str | None = None,
    with_scores: bool = False,
) -> Any:
    """One row per result (a case × prompt version × provider × repeat), with the case's
    vars and reference; ``with_scores`` adds the wide score columns of ``scores_frame``."""
    where, params = _where(run_ids, suite, prompt, provider)
    if not with_scores:
        return _df(store, _results_sql(where) + f" ORDER BY {_ORDER}", params)
    names = _scorer_names(store, where, params)
    if not names:
        return _df(store, _results_sql(where) + f" ORDER BY {_ORDER}", params)
    pivot = _pivot_sql(names, where)
    sql = (
        f"WITH base AS ({_results_sql(where)}), wide AS ({pivot}) "
        "SELECT base.*, wide.* EXCLUDE (result_id) FROM base "
        "LEFT JOIN wide ON wide.result_id = base.result_id "
        "ORDER BY base.run_id, base.prompt, base.provider, base.case_id, base.repeat"
    )
    return _df(store, sql, [*params, *params])


def _scorer_names(store: Store, where: str, params: list[Any]) -> list[str]:
    """Scorer names of the selected results: in their suites' order, then by name."""
    rows = store.fetchall(
        "SELECT DISTINCT s.scorer, r.run_id FROM scores s JOIN results r ON r.id = s.result_id"
        + where,
        params,
    )
    if not rows:
        return []
    run_ids = sorted({row[1] for row in rows})
    order: list[str] = []
    for (options,) in store.fetchall(
        "SELECT options FROM runs WHERE id IN (SELECT unnest(?::VARCHAR[])) ORDER BY id",
        [run_ids],
    ):
        for name in (json.loads(options) if options else {}).get("scorers") or []:
            if name not in order:
                order.append(name)
    present = {row[0] for row in rows}
    return [n for n in order if n in present] + sorted(present - set(order))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _pivot_sql(names: Sequence[str], where: str) -> str:
    """Scores of the selected results, one row per result: ``<scorer>`` (the value) and
    ``<scorer>_passed`` per scorer (``<scorer>_score`` for a scorer named like a result
    column). Conditional aggregates (rather than PIVOT) keep the columns in the suites'
    scorer order and named exactly."""
    taken = {c.rsplit(" AS ", 1)[-1].split(".")[-1] for c in RESULT_FRAME_COLUMNS}
    columns = []
    for name in names:
        label = f"{name}_score" if name in taken else name  # a scorer named `output`
        columns.append(
            f"any_value(s.value) FILTER (WHERE s.scorer = {_literal(name)}) AS {_quote(label)}"
        )
        columns.append(
            f"any_value(s.passed) FILTER (WHERE s.scorer = {_literal(name)}) "
            f"AS {_quote(label + '_passed')}"
        )
    return (
        f"SELECT s.result_id, {', '.join(columns)} FROM scores s "
        f"WHERE s.result_id IN (SELECT r.id FROM results r{where}) GROUP BY s.result_id"
    )


def scores_frame(
    store: Store,
    *,
    run_ids: Sequence[str] | None = None,
    suite: str | None = None,
    prompt: str | None = None,
    provider: str | None = None,
    wide: bool = True,
) -> Any:
    """Scores of the selected results.

    ``wide`` (default): one row per result — its identifying columns, ``output`` and
    ``passed``, then per scorer ``<scorer>`` (the value) and ``<scorer>_passed`` (NULL/NA
    where the scorer had no pass/fail outcome or could not decide). Otherwise long: one row
    per score with its ``signature``, ``threshold`` and ``detail``.
    """
    where, params = _where(run_ids, suite, prompt, provider)
    ids = (
        "r.id AS result_id, r.run_id, r.suite, r.case_id, r.prompt, r.provider, r.repeat, "
        "r.output, r.passed"
    )
    if not wide:
        sql = (
            f"SELECT {ids.replace('r.passed', 'r.passed AS result_passed')}, s.scorer, "
            "s.scorer_type, s.value, s.passed, s.threshold, s.detail, s.signature "
            "FROM scores s JOIN results r ON r.id = s.result_id"
            f"{where} ORDER BY {_ORDER}, s.scorer"
        )
        return _df(store, sql, params)
    names = _scorer_names(store, where, params)
    if not names:
        return _df(store, f"SELECT {ids} FROM results r{where} ORDER BY {_ORDER}", params)
    sql = (
        f"WITH wide AS ({_pivot_sql(names, where)}) "
        f"SELECT {ids}, wide.* EXCLUDE (result_id) FROM results r "
        f"LEFT JOIN wide ON wide.result_id = r.id{where} ORDER BY {_ORDER}"
    )
    return _df(store, sql, [*params, *params])


_RUNS = """
SELECT ru.id AS run_id, ru.suite, ru.started_at, ru.ended_at, ru.status, ru.exit_code,
       ru.planned,
       count(r.id) AS results,
       count(*) FILTER (WHERE r.passed) AS passed,
       count(*) FILTER (WHERE NOT r.passed) AS failed,
       count(r.id) FILTER (WHERE r.passed IS NULL) AS undecided,
       count(r.error_class) AS errors,
       (count(*) FILTER (WHERE r.passed))::DOUBLE
           / nullif(count(*) FILTER (WHERE r.passed IS NOT NULL), 0) AS pass_rate,
       list(DISTINCT r.prompt ORDER BY r.prompt) FILTER (WHERE r.prompt IS NOT NULL) AS prompts,
       list(DISTINCT r.provider ORDER BY r.provider)
           FILTER (WHERE r.provider IS NOT NULL) AS providers,
       quantile_cont(r.latency_ms, 0.95) AS latency_p95_ms,
       sum(r.cost_usd) AS cost_usd,
       ru.git_commit, ru.git_dirty, ru.evalkit_version, ru.baseline, ru.baseline_run_id,
       ru.comparison ->> 'verdict' AS verdict, ru.tags
FROM runs ru LEFT JOIN results r ON r.run_id = ru.id
"""


def runs_frame(
    store: Store,
    *,
    run_ids: Sequence[str] | None = None,
    suite: str | None = None,
    prompt: str | None = None,
    provider: str | None = None,
    limit: int | None = None,
) -> Any:
    """One row per run, newest first: status, counts, pass rate (passed / decided), the
    prompt versions and providers it ran, latency p95, cost, provenance and its verdict
    against a baseline. ``prompt``/``provider`` keep the runs that have such results (and
    count only those)."""
    clauses: list[str] = []
    params: list[Any] = []
    if run_ids is not None:
        clauses.append("ru.id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(run_ids))
    if suite is not None:
        clauses.append("ru.suite = ?")
        params.append(suite)
    join_filter, join_params = _where(None, None, prompt, provider)
    sql = _RUNS
    if join_filter:  # filter the joined results, then drop runs without any
        sql = sql.replace(
            "LEFT JOIN results r ON r.run_id = ru.id",
            "JOIN results r ON r.run_id = ru.id AND " + join_filter.removeprefix(" WHERE "),
        )
        params = [*join_params, *params]
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " GROUP BY ALL ORDER BY ru.started_at DESC, ru.id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return _df(store, sql, params)


_FAILURES = """
SELECT r.run_id, r.case_id, r.prompt, r.provider, r.repeat, r.output, r.passed,
       r.error, r.error_class,
       list({'scorer': s.scorer, 'value': s.value, 'detail': s.detail}
            ORDER BY s.scorer) FILTER (WHERE s.passed = false) AS failed,
       list({'scorer': s.scorer, 'value': s.value, 'detail': s.detail}
            ORDER BY s.scorer) FILTER (WHERE s.passed IS NULL AND s.detail IS NOT NULL)
           AS undecided
FROM results r LEFT JOIN scores s ON s.result_id = r.id
WHERE r.run_id IN (SELECT unnest(?::VARCHAR[])) AND r.passed IS NOT TRUE
GROUP BY ALL
ORDER BY r.run_id, r.prompt, r.provider, r.case_id, r.repeat
"""


def failures(
    store: Store, run_ids: Sequence[str], limit: int | None = None
) -> list[dict[str, Any]]:
    """Results of the runs that did not pass (failed, errored, or undecided), each with
    ``failed`` (the scores that failed: scorer, value, detail) and ``undecided`` (scores
    that could not decide, with the reason)."""
    sql = _FAILURES + (" LIMIT ?" if limit is not None else "")
    params: list[Any] = [list(run_ids)] + ([limit] if limit is not None else [])
    rows = store.records(sql, params)
    for row in rows:
        row["failed"] = row["failed"] or []
        row["undecided"] = row["undecided"] or []
    return rows
