"""`evalkit runs | query | prompts | init` through CliRunner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from fakeserver import FakeServer
from projects import RULES, write_project


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(rules=RULES) as srv:
        yield srv


@pytest.fixture
def project(in_tmp: Path, server: FakeServer) -> Path:
    return write_project(in_tmp, server.base_url)


@pytest.fixture
def ran(project: Path) -> str:
    result = invoke("run", "--json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["runs"][0]["run_id"])


def test_runs_list_and_show(ran):
    result = invoke("runs", "list")
    assert result.exit_code == 0 and ran in result.stdout and "completed" in result.stdout
    listed = json.loads(invoke("runs", "list", "--json").stdout)
    assert listed["runs"][0]["id"] == ran and listed["runs"][0]["results"] == 16
    for ref in ("last", ran, ran[:15]):
        shown = invoke("runs", "show", ref)
        assert shown.exit_code == 0, shown.output
        assert f"run {ran}" in shown.stdout and "capitals@v2" in shown.stdout
    data = json.loads(invoke("runs", "show", "last", "--json").stdout)
    assert data["id"] == ran and data["providers"][0]["provider"] == "fake"
    assert {g["prompt"] for g in data["summary"]["groups"]} == {"capitals@v1", "capitals@v2"}


def test_runs_show_unknown_is_exit_2(ran):
    result = invoke("runs", "show", "nope")
    assert result.exit_code == 2 and "no run or baseline 'nope'" in result.stderr


def test_query_is_read_only(ran):
    result = invoke(
        "query", "SELECT prompt, count(*) AS n FROM results GROUP BY 1 ORDER BY 1", "--json"
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["rows"] == [
        {"prompt": "capitals@v1", "n": 8},
        {"prompt": "capitals@v2", "n": 8},
    ]
    result = invoke("query", "DELETE FROM results")
    assert result.exit_code == 2 and "query failed" in result.stderr
    assert "read-only" in result.stderr.lower()
    csv_out = invoke("query", "SELECT count(*) AS n FROM scores", "--csv").stdout
    assert csv_out.splitlines() == ["n", "48"]


def test_query_without_store_is_a_clear_error(project):
    result = invoke("query", "SELECT 1", "--db", "nowhere.duckdb")
    assert result.exit_code == 2 and "nowhere.duckdb: no store here" in result.stderr


def test_prompts_list_show_diff(project):
    listed = invoke("prompts", "list")
    assert listed.exit_code == 0
    assert "capitals@v1" in listed.stdout and "asks nicely" in listed.stdout
    shown = invoke("prompts", "show", "capitals@latest")
    assert shown.exit_code == 0 and shown.stdout.startswith("# capitals@v2 · hash ")
    diff = invoke("prompts", "diff", "capitals@v1", "capitals@v2")
    assert diff.exit_code == 0
    assert "-description: zero-shot" in diff.stdout and "+parent: v1" in diff.stdout
    assert invoke("prompts", "show", "capitals@v7").exit_code == 2


def test_init_creates_a_project_that_loads(in_tmp):
    result = invoke("init", "proj")
    assert result.exit_code == 0
    assert {p.name for p in Path("proj").rglob("*.yaml")} == {
        "evalkit.yaml",
        "v1.yaml",
        "capitals.yaml",
    }
    from evalkit.config import Project
    from evalkit.load.prompts import PromptLibrary
    from evalkit.load.suites import load_suite

    project = Project.discover(Path("proj"))
    suite = load_suite(Path("proj/suites/capitals.yaml"), PromptLibrary([project.prompts_dir]))
    assert len(suite.cases) == 7
    again = invoke("init", "proj")
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_version_and_help():
    assert invoke("--version").stdout.startswith("evalkit ")
    assert "run" in invoke("--help").stdout
