"""The bundled project (evalkit.yaml, prompts/, suites/) loads, and runs on the local model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from evalkit.config import Project
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import discover_suites, load_suite
from evalkit.providers.pool import provider_specs
from evalkit.run.plan import make_plan

ROOT = Path(__file__).resolve().parents[1]


def test_every_bundled_suite_loads_and_plans():
    project = Project.discover(ROOT)
    assert project.root == ROOT
    library = PromptLibrary([project.prompts_dir])
    suites = [
        load_suite(p, library, provider_specs(project)) for p in discover_suites(project.suites_dir)
    ]
    assert {s.name for s in suites} >= {"capitals", "translate"}
    for suite in suites:
        assert len(suite.prompts) >= 2, "each example compares two prompt versions"
        assert len(suite.cases) >= 20
        plan = make_plan(suite, "r", providers=["gemma"])
        assert plan.size == len(suite.cases) * len(suite.prompts)
        # versions link to their parents
        for prompt in suite.prompts[1:]:
            assert prompt.parent == suite.prompts[0].version


def test_bundled_suites_run_end_to_end_on_the_local_model(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    db = tmp_path / "examples.duckdb"
    result = CliRunner().invoke(app, ["run", "--limit", "3", "--json", "--db", str(db)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["suite"] for r in data["runs"]] == ["capitals", "extract", "translate"]
    for run in data["runs"]:
        assert run["status"] == "completed"
        groups = run["summary"]["groups"]
        assert len(groups) == 2 and all(g["results"] == 3 and g["errors"] == 0 for g in groups)
        assert all(g["provider"] == "gemma" for g in groups)
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        (count,) = con.execute("SELECT count(*) FROM results WHERE output IS NOT NULL").fetchone()
        models = con.execute("SELECT DISTINCT model FROM results").fetchall()
    assert count == 18 and models == [("gemma-3-270m-q4_k_m",)]


@pytest.mark.parametrize("suite", ["capitals", "translate"])
def test_example_cases_do_not_repeat_few_shot_examples(suite):
    project = Project.discover(ROOT)
    library = PromptLibrary([project.prompts_dir])
    loaded = load_suite(project.suites_dir / f"{suite}.yaml", library)
    shots = " ".join(m.content for p in loaded.prompts for m in p.messages if "{{" not in m.content)
    for case in loaded.cases:
        for value in case.vars.values():
            assert str(value) not in shots, f"case {case.id} repeats a few-shot example"
