"""Intervals per metric (Wilson, clustered Wilson, bootstrap) and repeat statistics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from evalkit.score.metrics import wilson_interval
from evalkit.score.uncertainty import _repeats, mean_interval
from fakeserver import FakeServer
from projects import RULES, write_project


def test_independent_proportion_is_plain_wilson():
    values = [1] * 15 + [0] * 7
    low, high, method = mean_interval(values, list(range(22)))
    assert method == "wilson"
    assert (low, high) == pytest.approx(wilson_interval(15, 22))


def test_repeats_that_always_agree_count_each_case_once():
    # 10 cases x 3 repeats; a case passes all its repeats or none: 3 answers = 1 observation
    cases = [c for c in range(10) for _ in range(3)]
    values = [1.0 if c < 5 else 0.0 for c in cases]
    low, high, method = mean_interval(values, cases)
    assert method == "wilson-clustered"
    assert (low, high) == pytest.approx(wilson_interval(5, 10))
    naive = wilson_interval(15, 30)
    assert high - low > naive[1] - naive[0]


def test_repeats_that_vary_within_cases_are_not_penalised():
    cases = [c for c in range(20) for _ in range(2)]
    values = [1.0, 0.0] * 20  # each case: one pass, one fail
    low, high, _ = mean_interval(values, cases)
    assert (low, high) == pytest.approx(wilson_interval(20, 40))  # design effect floor of 1


def test_all_pass_with_repeats_uses_the_number_of_cases():
    cases = [c for c in range(8) for _ in range(4)]
    low, high, _ = mean_interval([1.0] * 32, cases)
    assert (low, high) == pytest.approx(wilson_interval(8, 8))


def test_bootstrap_is_seeded_covers_the_mean_and_resamples_cases():
    rng = np.random.default_rng(1)
    case_effect = rng.normal(0, 10, size=40)
    cases = np.repeat(np.arange(40), 5)
    values = 30 + case_effect[cases] + rng.normal(0, 1, size=cases.size)
    first = mean_interval(values, cases)
    assert first == mean_interval(values, cases), "same data, same interval"
    low, high, method = first
    assert method == "bootstrap-clustered" and low < values.mean() < high
    items = mean_interval(values, np.arange(values.size))
    assert items[2] == "bootstrap"
    assert (high - low) > 1.8 * (items[1] - items[0]), "cases, not samples, are resampled"


def test_too_little_data():
    assert mean_interval([], []) is None
    assert mean_interval([0.7], ["a"]) is None
    assert mean_interval([0.7, 0.8], ["a", "a"]) is None  # one case: no spread to measure


def test_repeat_statistics():
    rows = [
        ("a", True),
        ("a", True),
        ("a", True),
        ("b", True),
        ("b", False),
        ("b", True),
        ("c", False),
        ("c", False),
        ("c", None),
        ("d", None),
        ("d", None),
        ("d", None),
    ]
    rep = _repeats(rows, 3)
    assert rep["cases"] == 3  # d never decided
    assert rep["pass_at_1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert rep["pass_hat_k"] == pytest.approx(1 / 3)
    assert rep["pass_at_k"] == pytest.approx(2 / 3)
    assert rep["flaky"] == ["b"]
    by_id = {c["case_id"]: c for c in rep["per_case"]}
    assert by_id["c"] == {
        "case_id": "c",
        "n": 3,
        "passed": 0,
        "failed": 2,
        "undecided": 1,
        "mean": 0.0,
    }


def test_run_with_repeats_reports_pass_hat_k_and_intervals(in_tmp: Path):
    with FakeServer(rules=RULES, faults={"400": 0.25}, seed=3) as server:
        write_project(in_tmp, server.base_url)
        config = in_tmp / "evalkit.yaml"
        config.write_text(
            config.read_text().replace("concurrency: 4}", "concurrency: 4, error_budget: 1}")
        )
        result = CliRunner().invoke(app, ["run", "-n", "3", "--prompt", "capitals@v2", "--json"])
        text = CliRunner().invoke(app, ["runs", "show", "last"])
    assert result.exit_code == 0, result.output
    (group,) = json.loads(result.stdout)["runs"][0]["summary"]["groups"]
    rep = group["repeats"]
    assert rep["k"] == 3 and rep["cases"] == 8 and len(rep["per_case"]) == 8
    assert rep["pass_hat_k"] <= rep["pass_at_1"] <= rep["pass_at_k"]
    assert rep["flaky"], "failed calls on some repeats make some cases flaky"
    assert group["pass_rate_ci_method"] == "wilson-clustered"
    chrf = group["scores"]["chrf"]
    assert chrf["ci_method"] in ("bootstrap-clustered", None)
    assert group["scores"]["has-capital"]["ci_method"] == "wilson-clustered"
    assert "repeats ×3 · capitals@v2 · fake: pass@1" in text.stdout
    assert " flaky: " in text.stdout


def test_continuous_scores_that_happen_to_be_0_or_1_are_not_proportions():
    cases = list(range(10))
    assert mean_interval([1.0] * 10, cases, binary=False) == (1.0, 1.0, "bootstrap")
    assert mean_interval([1.0] * 10, cases)[2] == "wilson"  # unknown type: judged by values
