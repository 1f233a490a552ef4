"""Repeat statistics, and the intervals of a run summary (the methods: tests/stats/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from evalkit.run.uncertainty import repeat_statistics
from fakeserver import FakeServer
from projects import RULES, write_project


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
    ids = ["d", "c", "b", "a"]  # any order: per-case rows come back sorted by id
    rep = repeat_statistics(
        ids,
        [sum(c == i for c, _ in rows) for i in ids],
        [sum(c == i and m is True for c, m in rows) for i in ids],
        [sum(c == i and m is False for c, m in rows) for i in ids],
        3,
    )
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
