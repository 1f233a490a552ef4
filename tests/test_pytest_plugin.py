"""The pytest plugin, run by ``pytester`` on small projects: suites as tests against the
loopback fake server (and, once, the bundled suite on the local model), the gates, baseline
and --fail-on semantics of ``evalkit run``, replay, the ``evalkit`` fixture, and that
without ``--evalkit`` the plugin does nothing and imports nothing heavy."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

# pytester's in-process runs restore sys.modules afterwards; compiled extensions (DuckDB's
# above all) cannot be imported twice in one process, so load what evalkit uses up front.
import duckdb  # noqa: F401
import numpy  # noqa: F401
import pandas  # noqa: F401
import pytest
import scipy.stats  # noqa: F401

import evalkit.compare.service
import evalkit.run.runner
import evalkit.testing  # noqa: F401
from evalkit import api
from evalkit.config import Project
from fakeserver import FakeServer
from projects import RULES, write_project

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(rules=RULES) as srv:
        yield srv


@pytest.fixture
def project(pytester: pytest.Pytester, server: FakeServer) -> Path:
    return write_project(pytester.path, server.base_url)


def test_a_suite_is_one_test_that_passes_when_evalkit_run_would_exit_0(pytester, project):
    result = pytester.runpytest("--evalkit", "suites/")
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "suites/capitals.yaml ." in out
    # the summary section at the end: each group's pass rate and the gate
    assert "evalkit" in out
    assert "capitals@v1 · fake: pass rate 0.75 (6 passed, 2 failed, 0 undecided)" in out
    assert "capitals@v2 · fake: pass rate 1.00 (8 passed, 0 failed, 0 undecided)" in out
    assert "gate pass_rate ≥ 0.5: pass" in out
    run = api.runs(project=Project.discover(project))
    assert len(run) == 1 and run["status"].iloc[0] == "completed"


def test_a_failed_gate_fails_the_suite_with_the_failing_cases_in_the_report(
    pytester, project, server
):
    write_project(project, server.base_url, gates="{pass_rate: 0.9}")
    result = pytester.runpytest("--evalkit", "suites/capitals.yaml")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "gate pass_rate ≥ 0.9: FAIL (capitals@v1 · fake: 0.75)" in out
    assert "peru [capitals@v1 · fake]" in out
    assert "output: 'Quito'" in out
    assert "has-capital failed (value 0.0): missing 'Lima'" in out
    assert "kenya [capitals@v1 · fake]" in out
    assert "Traceback" not in out and "def runtest" not in out


def test_per_case_items_fail_for_failing_cases_and_a_gates_item_carries_the_exit_code(
    pytester, project
):
    result = pytester.runpytest("--evalkit", "--evalkit-per-case", "suites/", "-v")
    result.assert_outcomes(passed=15, failed=2)
    out = result.stdout.str()
    assert "suites/capitals.yaml::peru[capitals@v1-fake] FAILED" in out
    assert "suites/capitals.yaml::peru[capitals@v2-fake] PASSED" in out
    assert "suites/capitals.yaml::[gates] PASSED" in out
    assert "output: 'Lagos'" in out  # kenya on v1
    # only one run was made for the 17 items
    assert len(api.runs(project=Project.discover(project))) == 1


def test_per_case_with_a_baseline_marks_known_failures_xfail(pytester, project):
    pytester.runpytest("--evalkit", "suites/").assert_outcomes(passed=1)
    api.set_baseline("main", ["last"], project=Project.discover(project))
    result = pytester.runpytest(
        "--evalkit", "--evalkit-per-case", "--evalkit-baseline", "main", "suites/", "-rx"
    )
    result.assert_outcomes(passed=15, xfailed=2)
    assert "known failure: it also failed in the baseline" in result.stdout.str()


def test_baseline_and_fail_on_have_the_semantics_of_evalkit_run(pytester, project, server):
    pytester.runpytest("--evalkit", "suites/").assert_outcomes(passed=1)
    api.set_baseline("main", ["last"], project=Project.discover(project))
    # v2 now gets Kenya wrong: one case flips pass -> fail (not significant on 8 cases)
    server.configure(rules=[("v2: Kenya", "Mombasa"), *RULES])
    args = ["--evalkit", "--evalkit-baseline", "main", "--evalkit-no-cache", "suites/"]
    pytester.runpytest(*args).assert_outcomes(passed=1)  # default: regression
    result = pytester.runpytest(*args, "--evalkit-fail-on", "any")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "verdict against the baseline" in out
    assert "exit 1: " in out and "kenya [capitals@v2 · fake]" in out
    pytester.runpytest(*args, "--evalkit-fail-on", "threshold").assert_outcomes(passed=1)


def test_replay_needs_no_server(pytester, project, server):
    pytester.runpytest("--evalkit", "suites/").assert_outcomes(passed=1)
    calls = len(server.requests)
    server.stop()
    result = pytester.runpytest("--evalkit", "--evalkit-replay", "last", "suites/")
    result.assert_outcomes(passed=1)
    assert len(server.requests) == calls
    runs = api.runs(project=Project.discover(project))
    assert len(runs) == 2 and (runs["status"] == "completed").all()


def test_an_input_error_is_reported_as_evalkit_reports_it(pytester, project):
    (project / "suites" / "capitals.yaml").write_text(
        textwrap.dedent(
            """
            name: capitals
            prompt: capitals@v1
            cases: capitals.jsonl
            scorers:
              - {type: bleu, threshold: high}
            """
        ).lstrip(),
        encoding="utf-8",
    )
    result = pytester.runpytest("--evalkit", "suites/")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "suites/capitals.yaml:5" in out and "threshold" in out
    assert "Traceback" not in out


def test_the_evalkit_fixture_runs_a_suite_to_assert_on(pytester, project):
    pytester.makepyfile(
        test_quality="""
        def test_v2_is_good_enough(evalkit):
            run = evalkit.run("suites/capitals.yaml", prompt="capitals@v2")
            assert run.pass_rate >= 0.8
            assert run.ok and run.status == "completed" and run.failures == []
            assert run.score("chrf") == 100.0
            assert len(run.to_pandas()) == 8

        def test_v1_is_not(evalkit):
            run = evalkit.run("capitals", prompt="capitals@v1")
            assert run.pass_rate >= 0.9, run.explain()

        def test_two_versions_compared(evalkit):
            table = evalkit.compare("capitals", ["capitals@v1", "capitals@v2"]).to_pandas()
            pass_rate = table[table["metric"] == "pass rate"].iloc[0]
            assert pass_rate["change"] == 0.25
        """
    )
    result = pytester.runpytest("test_quality.py")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "assert 0.75 >= 0.9" in out
    assert "peru [capitals@v1 · fake]" in out and "output: 'Quito'" in out


def test_without_the_flag_the_plugin_collects_nothing_and_imports_nothing_heavy(pytester, project):
    pytester.makeconftest(
        """
        import json, sys

        def pytest_sessionfinish(session):
            watched = ("duckdb", "pandas", "numpy", "yaml", "rich", "openai", "anthropic",
                       "jinja2", "pydantic", "evalkit.api", "evalkit.testing")
            with open("modules.json", "w") as f:
                json.dump({"heavy": [m for m in watched if m in sys.modules],
                           "plugin": "evalkit.pytest_plugin" in sys.modules}, f)
        """
    )
    pytester.makepyfile(test_plain="def test_nothing():\n    assert True\n")
    result = pytester.runpytest_subprocess("suites/", "test_plain.py")
    result.assert_outcomes(passed=1)
    seen = json.loads((pytester.path / "modules.json").read_text())
    assert seen == {"heavy": [], "plugin": True}


@pytest.mark.server
def test_the_bundled_suite_on_the_local_model(pytester, tmp_path):
    result = pytester.runpytest(
        "--evalkit",
        "--evalkit-per-case",
        "--evalkit-limit",
        "3",
        "--evalkit-db",
        str(tmp_path / "local.duckdb"),
        str(ROOT / "suites" / "capitals.yaml"),
        "-v",
    )
    out = result.stdout.str()
    # 3 cases × 2 versions + the gates item; the model gets some wrong, that is data
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 7, out
    assert "capitals.yaml::[gates] PASSED" in out
    assert "capitals@v2 · gemma: pass rate" in out
