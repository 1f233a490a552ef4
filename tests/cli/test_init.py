"""`evalkit init`: the scaffold loads, renders the prompt a base model needs, and its answers
on the local model are what the suite claims (not just exit 0)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from evalkit.config import Project
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import load_suite
from evalkit.scaffold import scaffold_files

CAPITALS = {
    "japan": "Tokyo",
    "italy": "Rome",
    "egypt": "Cairo",
    "peru": "Lima",
    "norway": "Oslo",
    "spain": "Madrid",
    "australia": "Canberra",
}


def _init(folder: str = "proj") -> Path:
    result = CliRunner().invoke(app, ["init", folder])
    assert result.exit_code == 0, result.output
    return Path(folder)


def test_init_writes_the_scaffold_and_never_overwrites(in_tmp):
    root = _init()
    assert (
        {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
        == set(scaffold_files())
        == {"evalkit.yaml", "prompts/capitals/v1.yaml", "suites/capitals.yaml"}
    )
    (root / "suites/capitals.yaml").write_text("name: mine\n")
    again = CliRunner().invoke(app, ["init", "proj"])
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert (root / "suites/capitals.yaml").read_text() == "name: mine\n", "nothing overwritten"
    quiet = CliRunner().invoke(app, ["init", "other", "--quiet"])
    assert quiet.exit_code == 0 and quiet.stdout == ""
    assert (Path("other") / "evalkit.yaml").is_file()


def test_the_scaffold_prompt_gives_a_base_model_real_newlines(in_tmp):
    root = _init()
    project = Project.discover(root)
    suite = load_suite(root / "suites/capitals.yaml", PromptLibrary([project.prompts_dir]))
    assert [c.id for c in suite.cases] == list(CAPITALS)
    (prompt,) = suite.prompts
    assert prompt.params["stop"] == ["\n"], "a real newline, or the stop never fires"
    text = "\n".join(m.content for m in prompt.messages)
    assert "\\n" not in text, "a literal backslash-n reaches the model"
    last = prompt.messages[-1].content
    assert last.endswith("?\nA:") and "{{ country }}" in last
    # the worked examples are not among the cases
    shots = " ".join(m.content for m in prompt.messages[:-1])
    assert not any(country.capitalize() in shots for country in CAPITALS)
    assert {s.type for s in suite.scorers} == {"contains", "max_length"}


@pytest.mark.server
def test_the_scaffold_runs_on_the_local_model_and_its_answers_are_short_and_right(
    in_tmp, monkeypatch
):
    monkeypatch.chdir(_init())
    result = CliRunner().invoke(app, ["run", "--json"])
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["runs"]
    (group,) = run["summary"]["groups"]
    assert group["results"] == len(CAPITALS) and group["errors"] == 0
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT case_id, output, finish_reason, input_tokens, output_tokens, passed, input "
            "FROM results"
        ).fetchall()
    answers = {r[0]: r for r in rows}
    assert set(answers) == set(CAPITALS)
    for case_id, output, finish, tokens_in, tokens_out, passed, rendered in rows:
        # every answer ended at its newline (the stop sequence), not at max_tokens
        assert finish == "stop", (case_id, output, finish)
        assert 1 <= tokens_out <= 4, (case_id, output, tokens_out)
        prompt = json.loads(rendered)  # completion mode: the one text the model continued
        assert prompt.endswith("?\nA:") and "\\n" not in prompt and tokens_in > 30
        assert "\n" not in output.strip() and len(output.split()) <= 2
        if case_id != "australia":  # the hard case: whatever the model says, it is one name
            assert output.strip() == CAPITALS[case_id] and passed, (case_id, output)
    passed = sum(1 for r in rows if r[5])
    assert group["passed"] == passed >= 6
    assert group["pass_rate"] >= 0.7 and run["gates"][0]["passed"] is True
