"""The pandas API: results / scores / runs frames straight from the store, and
``Evaluation.to_pandas()`` / ``Comparison.to_pandas()``, on a project answered by a loopback
fake server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from evalkit import api
from evalkit.errors import NotFoundError
from fakeserver import FakeServer
from projects import CAPITALS, RULES, write_project


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(rules=RULES) as srv:
        yield srv


@pytest.fixture
def project(in_tmp: Path, server: FakeServer) -> Path:
    return write_project(in_tmp, server.base_url)


@pytest.fixture
def evaluation(project: Path) -> api.Evaluation:
    return api.evaluate()


def test_results_one_row_per_result_with_case_vars(evaluation):
    df = api.results("last")
    assert isinstance(df, pd.DataFrame)
    assert len(df) == 2 * len(CAPITALS)
    assert set(df["prompt"]) == {"capitals@v1", "capitals@v2"}
    assert df["run_id"].nunique() == 1 and df["run_id"].iloc[0] == evaluation.runs[0].run_id
    # v1 gets Peru and Kenya wrong (the fake server's rules), v2 gets everything right
    by_prompt = df.groupby("prompt")["passed"].mean().to_dict()
    assert by_prompt == {"capitals@v1": 6 / 8, "capitals@v2": 1.0}
    peru = df[(df["case_id"] == "peru") & (df["prompt"] == "capitals@v1")].iloc[0]
    assert peru["output"] == "Quito" and not peru["passed"]
    assert json.loads(peru["vars"]) == {"country": "Peru", "capital": "Lima"}
    assert json.loads(peru["reference"]) == "Lima"
    assert pd.api.types.is_datetime64_any_dtype(df["created_at"])
    assert df["latency_ms"].notna().all() and (df["error"].isna()).all()


def test_results_filters_by_prompt_name_version_and_provider(evaluation):
    assert len(api.results(prompt="capitals@v2")) == len(CAPITALS)
    assert len(api.results(prompt="capitals")) == 2 * len(CAPITALS)
    assert len(api.results(provider="fake", suite="capitals")) == 2 * len(CAPITALS)
    assert api.results(provider="nobody").empty
    assert list(api.results(provider="nobody").columns) == list(api.results().columns)


def test_run_references_like_the_cli(evaluation, project):
    run_id = evaluation.runs[0].run_id
    second = api.evaluate(prompts=["capitals@v2"]).runs[0].run_id
    assert set(api.results("last")["run_id"]) == {second}
    assert set(api.results(run_id[:-1])["run_id"]) == {run_id}
    assert set(api.results([run_id, "last"])["run_id"]) == {run_id, second}
    api.set_baseline("main", [run_id])
    assert set(api.results("main", suite="capitals")["run_id"]) == {run_id}
    with pytest.raises(NotFoundError):
        api.results("no-such-run")


def test_scores_wide_has_a_value_and_a_passed_column_per_scorer(evaluation):
    df = api.scores("last")
    scorer_columns = [
        c
        for c in df.columns
        if c
        not in (
            "result_id",
            "run_id",
            "suite",
            "case_id",
            "prompt",
            "provider",
            "repeat",
            "output",
            "passed",
        )
    ]
    # the suite's order: has-capital, equals, chrf
    assert scorer_columns == [
        "has-capital",
        "has-capital_passed",
        "equals",
        "equals_passed",
        "chrf",
        "chrf_passed",
    ]
    assert len(df) == 2 * len(CAPITALS)
    v1 = df[df["prompt"] == "capitals@v1"]
    assert v1["has-capital"].mean() == pytest.approx(6 / 8)
    assert v1["has-capital_passed"].sum() == 6
    # chrf has no threshold: a value, never a pass/fail outcome
    assert df["chrf"].between(0, 100).all() and df["chrf_passed"].isna().all()
    assert (df.groupby("prompt")["chrf"].mean()["capitals@v2"]) == pytest.approx(100.0)


def test_scores_long_one_row_per_score_with_detail(evaluation):
    df = api.scores("last", wide=False)
    assert len(df) == 3 * 2 * len(CAPITALS)
    failed = df[(df["case_id"] == "kenya") & (df["scorer"] == "has-capital")]
    assert failed["prompt"].tolist() == ["capitals@v1", "capitals@v2"]
    assert failed["passed"].tolist() == [False, True]
    assert "missing 'Nairobi'" in failed["detail"].iloc[0]
    assert df["signature"].notna().all()


def test_results_with_scores_joins_the_wide_columns(evaluation):
    df = api.results("last", scores=True)
    assert {"output", "latency_ms", "has-capital", "equals_passed"} <= set(df.columns)
    assert len(df) == 2 * len(CAPITALS)


def test_runs_frame(evaluation):
    api.evaluate(prompts=["capitals@v2"])
    df = api.runs()
    assert len(df) == 2
    newest, oldest = df.iloc[0], df.iloc[1]
    assert newest["started_at"] > oldest["started_at"]
    assert list(newest["prompts"]) == ["capitals@v2"]
    assert list(oldest["prompts"]) == ["capitals@v1", "capitals@v2"]
    assert oldest["results"] == 16 and oldest["passed"] == 14
    assert oldest["pass_rate"] == pytest.approx(14 / 16)
    assert newest["pass_rate"] == 1.0 and newest["status"] == "completed"
    only_v1 = api.runs(prompt="capitals@v1")
    assert len(only_v1) == 1 and only_v1["results"].iloc[0] == 8
    assert only_v1["pass_rate"].iloc[0] == pytest.approx(6 / 8)
    assert len(api.runs(limit=1)) == 1


def test_evaluation_to_pandas_is_its_runs_results_with_scores(evaluation):
    df = evaluation.to_pandas()
    assert len(df) == 2 * len(CAPITALS)
    assert set(df["run_id"]) == {evaluation.runs[0].run_id}
    assert "has-capital_passed" in df.columns
    plain = evaluation.to_pandas(scores=False)
    assert "has-capital" not in plain.columns and len(plain) == len(df)


def test_compare_to_pandas_one_row_per_metric_per_pairing(evaluation):
    data = api.compare(["capitals"], prompts=["capitals@v1", "capitals@v2"])
    assert data.as_json()["schema"] == "evalkit.compare/1"
    df = data.to_pandas()
    (pairing,) = data.pairings
    assert len(df) == len(pairing.metrics) + len(pairing.budgets)
    pass_rate = df[df["metric"] == "pass rate"].iloc[0]
    assert pass_rate["baseline_prompt"] == "capitals@v1"
    assert pass_rate["candidate_prompt"] == "capitals@v2"
    assert pass_rate["baseline"] == pytest.approx(6 / 8) and pass_rate["candidate"] == 1.0
    assert pass_rate["change"] == pytest.approx(0.25)
    assert pass_rate["ci_low"] < pass_rate["change"] < pass_rate["ci_high"]
    assert pass_rate["verdict"] == pairing.metrics[0].verdict
    assert pass_rate["detectable"] is not None
    latency = df[df["kind"] == "budget"]
    assert "latency p95" in set(latency["metric"])


def test_dry_run_evaluation_has_an_empty_frame(project):
    evaluation = api.evaluate(dry_run=True)
    df = evaluation.to_pandas()
    assert df.empty and "case_id" in df.columns
