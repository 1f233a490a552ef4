"""store.frames on a store written by hand: undecided scores, errors, scorers named like
result columns, failures and the runs frame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evalkit.records import Result, Score
from evalkit.store import frames
from evalkit.store import runs as store_runs
from evalkit.store.db import Store


def _result(run_id: str, case: str, **kw: object) -> Result:
    return Result(
        id=f"{run_id}/{case}",
        run_id=run_id,
        suite="s",
        case_id=case,
        case_hash=f"h-{case}",
        prompt="p@v1",
        prompt_name="p",
        prompt_version="v1",
        prompt_hash="ph",
        provider="x",
        provider_type="openai",
        model="m",
        params={},
        repeat=0,
        input="",
        **kw,  # type: ignore[arg-type]
    )


def _score(
    result: Result, scorer: str, value: float | None, passed: bool | None, detail: str | None = None
) -> Score:
    return Score(
        result_id=result.id,
        run_id=result.run_id,
        scorer=scorer,
        scorer_type="judge",
        signature="sig",
        signature_json={},
        value=value,
        passed=passed,
        threshold=None,
        detail=detail,
    )


def _store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "s.duckdb")
    store_runs.insert_run(
        store, {"id": "r1", "suite": "s", "options": {"scorers": ["output", "judge"]}}
    )
    ok = _result("r1", "a", output="yes", passed=True)
    undecided = _result("r1", "b", output="hmm", passed=None)
    failed = _result("r1", "c", output="no", passed=False)
    errored = _result("r1", "d", output=None, error="boom", error_class="timeout", passed=False)
    store.write_batch(
        [ok, undecided, failed, errored],
        [
            _score(ok, "output", 1.0, True),
            _score(ok, "judge", 0.8, True),
            _score(undecided, "output", 1.0, True),
            _score(undecided, "judge", None, None, "invalid verdict: 'maybe'"),
            _score(failed, "output", 0.0, False, "missing 'yes'"),
            _score(failed, "judge", 0.2, False),
        ],
    )
    store_runs.finish_run(store, "r1", status="completed", exit_code=0, summary=None)
    return store


def test_wide_scores_keep_undecided_and_rename_a_colliding_scorer(tmp_path):
    with _store(tmp_path) as store:
        df = frames.scores_frame(store, run_ids=["r1"])
    assert list(df.columns[-4:]) == ["output_score", "output_score_passed", "judge", "judge_passed"]
    by_case = df.set_index("case_id")
    assert by_case.loc["a", "output"] == "yes"  # the result's output is not overwritten
    assert pd.isna(by_case.loc["b", "judge"]) and pd.isna(by_case.loc["b", "judge_passed"])
    assert pd.isna(by_case.loc["b", "passed"])  # undecided, not failed
    assert pd.isna(by_case.loc["d", "output_score"])  # a failed call has no scores


def test_failures_are_failed_errored_and_undecided_results(tmp_path):
    with _store(tmp_path) as store:
        rows = frames.failures(store, ["r1"])
    assert [(r["case_id"], r["passed"]) for r in rows] == [("b", None), ("c", False), ("d", False)]
    b, c, d = rows
    assert b["undecided"] == [
        {"scorer": "judge", "value": None, "detail": "invalid verdict: 'maybe'"}
    ]
    assert [f["scorer"] for f in c["failed"]] == ["judge", "output"]
    assert d["error_class"] == "timeout" and d["failed"] == []


def test_runs_frame_counts_decided_results_only(tmp_path):
    with _store(tmp_path) as store:
        df = frames.runs_frame(store)
    row = df.iloc[0]
    assert (row["results"], row["passed"], row["failed"], row["undecided"]) == (4, 1, 2, 1)
    assert row["pass_rate"] == 1 / 3 and row["errors"] == 1
    assert list(row["prompts"]) == ["p@v1"] and row["status"] == "completed"
