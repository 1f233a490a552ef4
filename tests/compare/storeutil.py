"""Build runs for comparison tests: in a real store (``write_run``), or in memory
(``group_from_outcomes``) for simulations that call the drift code thousands of times."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from evalkit.compare.align import Group, ScorerInfo
from evalkit.records import Result, Score
from evalkit.store import runs as store_runs
from evalkit.store.db import Store

_T0 = datetime(2026, 1, 1)


def make_result(
    run_id: str,
    case_id: str,
    *,
    prompt: str = "p@v1",
    provider: str = "x",
    repeat: int = 0,
    output: str = "out",
    error_class: str | None = None,
    case_hash: str | None = None,
    model: str = "m",
    latency_ms: float = 100.0,
    cost_usd: float | None = None,
    passed: bool | None = None,
    params: dict[str, Any] | None = None,
    prompt_hash: str = "ph",
) -> Result:
    name, _, version = prompt.partition("@")
    return Result(
        id=f"{run_id}/{case_id}/{prompt}/{provider}/{repeat}",
        run_id=run_id,
        suite="s",
        case_id=case_id,
        case_hash=case_hash or f"h-{case_id}",
        prompt=prompt,
        prompt_name=name,
        prompt_version=version,
        prompt_hash=prompt_hash,
        provider=provider,
        provider_type="openai",
        model=model,
        params=params or {"temperature": 0},
        repeat=repeat,
        input="",
        output=output if error_class is None else None,
        error="boom" if error_class else None,
        error_class=error_class,
        latency_ms=latency_ms,
        cost_usd=cost_usd,
        passed=passed,
    )


def make_score(
    result: Result,
    scorer: str,
    passed: bool | None,
    value: float | None = None,
    *,
    scorer_type: str = "contains",
    version: str = "1",
    threshold: float | None = None,
    detail: str | None = None,
    options: dict[str, Any] | None = None,
) -> Score:
    signature_json = {
        "scorer": scorer_type,
        "version": version,
        "options": options or {},
        "libs": {},
    }
    return Score(
        result_id=result.id,
        run_id=result.run_id,
        scorer=scorer,
        scorer_type=scorer_type,
        signature=json.dumps(signature_json, sort_keys=True),
        signature_json=signature_json,
        value=(1.0 if passed else 0.0) if value is None and passed is not None else value,
        passed=passed,
        threshold=threshold,
        detail=detail if detail is not None else (None if passed else f"missing in {scorer}"),
    )


def write_run(
    store: Store,
    run_id: str,
    items: Sequence[tuple[Result, Sequence[Score]]],
    *,
    suite: str = "s",
    minutes: int = 0,
    gates: list[dict[str, Any]] | None = None,
    status: str = "completed",
) -> str:
    """A completed run with these results and scores (``passed`` derived from the scores
    when a result does not set it)."""
    store_runs.insert_run(
        store, {"id": run_id, "suite": suite, "started_at": _T0 + timedelta(minutes=minutes)}
    )
    results, scores = [], []
    for result, result_scores in items:
        result.suite = suite
        if result.passed is None:
            marks = [s.passed for s in result_scores if s.passed is not None]
            result.passed = False if result.error_class else (all(marks) if marks else None)
        results.append(result)
        scores.extend(result_scores)
    store.write_batch(results, scores)
    store_runs.finish_run(
        store, run_id, status=status, exit_code=0, summary={"summary": {}, "gates": gates or []}
    )
    return run_id


def simple_run(
    store: Store,
    run_id: str,
    outcomes: dict[str, Sequence[bool]],
    *,
    prompt: str = "p@v1",
    provider: str = "x",
    scorer: str = "check",
    outputs: dict[str, str] | None = None,
    minutes: int = 0,
    **score_kw: Any,
) -> str:
    """One scorer; ``outcomes``: case id -> pass/fail per repeat."""
    items = []
    for case, marks in outcomes.items():
        for rep, ok in enumerate(marks):
            output = (outputs or {}).get(case, f"{case}:{'good' if ok else 'bad'}:{run_id}")
            r = make_result(
                run_id, case, prompt=prompt, provider=provider, repeat=rep, output=output
            )
            items.append((r, [make_score(r, scorer, ok, **score_kw)]))
    return write_run(store, run_id, items, minutes=minutes)


def group_from_outcomes(
    run_id: str, outcomes: np.ndarray, *, prompt: str = "p@v1", provider: str = "x"
) -> Group:
    """An in-memory group: ``outcomes`` (cases, repeats) of 1/0, one boolean scorer."""
    group = Group(run_id, "s", prompt, prompt.partition("@")[0], provider, {"ph"}, {"m"}, [{}])
    group.scorers["check"] = ScorerInfo("check", "contains", {"sig": {}}, {None}, True)
    for i, row in enumerate(outcomes):
        case = f"c{i:04d}"
        group.case_hashes[case] = f"h{i}"
        for rep, ok in enumerate(row):
            rid = f"{run_id}/{case}/{rep}"
            group.results[(case, rep)] = {
                "id": rid,
                "case_id": case,
                "repeat": rep,
                "error_class": None,
                "error": None,
                "output": "yes" if ok else "no",
                "latency_ms": None,
                "cache_hit": False,
                "cost_usd": None,
                "passed": bool(ok),
            }
            group.scores[rid] = {"check": {"passed": bool(ok), "value": float(ok), "detail": None}}
    return group
