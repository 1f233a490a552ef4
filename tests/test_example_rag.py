"""The example project examples/rag/: retrieval-grounded answers judged for faithfulness (the
fake server as answering model and as judge: Gemma 3 270M cannot judge), citations and
structured outputs (on the real local model)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from evalkit.config import Project
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import discover_suites, load_suite
from evalkit.providers.pool import provider_specs
from evalkit.run.plan import make_plan
from fakeserver import FakeServer
from grounding import grounded_verdict

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rag"


def test_the_example_suites_load_and_plan():
    project = Project.discover(EXAMPLE)
    library = PromptLibrary([project.prompts_dir])
    suites = {
        s.name: s
        for s in (
            load_suite(p, library, provider_specs(project))
            for p in discover_suites(project.suites_dir)
        )
    }
    assert set(suites) == {"faithfulness", "citations", "structured"}
    for suite in suites.values():
        assert len(suite.prompts) == 2 and len(suite.cases) >= 12
        assert make_plan(suite, "r", providers=["gemma"]).size == 2 * len(suite.cases)
    assert all(c.context for c in suites["faithfulness"].cases)
    v1, v2 = suites["structured"].prompts
    assert "response_format" not in v1.params
    assert v2.params["response_format"]["json_schema"]["schema"]["required"] == [
        "name",
        "age",
        "city",
    ]
    assert (project.config.defaults.judge, "judge") == ("judge", "judge")


def _answer(prompt: str) -> str | None:
    """The fake model under test: answers from the passage that shares words with the
    question; answer@v1 adds a claim no passage supports, answer@v2 cites its passage."""
    verdict = grounded_verdict(prompt)
    if verdict is not None or not prompt.rstrip().endswith("Answer:"):
        return verdict
    block = prompt.rsplit("Passages:\n", 1)[1]
    question = re.findall(r"Question: (.*)", block)[-1]
    asked = set(re.findall(r"[a-z]{4,}", question.lower()))
    passages = re.findall(r"^\[([^\]]+)\] (.*)$", block, re.MULTILINE)
    pid, text = max(
        passages, key=lambda p: len(asked & set(re.findall(r"[a-z]{4,}", p[1].lower())))
    )
    if "cite the passage" in prompt:
        return f"{text[:-1]} [{pid}]."
    return f"{text} It is famous worldwide."


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A copy of the example whose `gemma` and `judge` are the loopback fake server."""
    root = tmp_path / "rag"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".evalkit"))
    monkeypatch.chdir(root)
    with FakeServer(answer_fn=lambda route, body, prompt: _answer(prompt)) as server:
        url = f"{server.base_url}/v1"
        (root / "evalkit.yaml").write_text(
            "providers:\n"
            f'  gemma: {{type: openai, base_url: "{url}", model: answerer, mode: completion}}\n'
            f'  judge: {{type: openai, base_url: "{url}", model: judge-model, mode: chat}}\n'
            "defaults: {judge: judge, concurrency: 4}\n"
        )
        yield root, server


def test_the_faithfulness_suite_end_to_end(project):
    root, server = project
    runner = CliRunner()
    result = runner.invoke(app, ["run", "faithfulness", "--json", "--report", "report.html"])
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["runs"]
    groups = {g["prompt"]: g for g in run["summary"]["groups"]}
    v1 = groups["answer@v1"]["scores"]["faithfulness"]["grounding"]
    v2 = groups["answer@v2"]["scores"]["faithfulness"]["grounding"]
    assert (v1["answers"], v1["with_unsupported"], v1["claims"], v1["unsupported"]) == (
        12,
        12,
        24,
        12,
    )
    assert (v2["answers"], v2["with_unsupported"], v2["unsupported"]) == (12, 0, 0)
    assert v1["examples"][0] == {
        "case_id": "bakery",
        "repeat": 0,
        "claims": ["It is famous worldwide."],
    }
    assert groups["answer@v1"]["scores"]["faithfulness"]["mean"] == 0.5
    assert groups["answer@v2"]["scores"]["faithfulness"]["mean"] == 1.0
    # context relevance does not depend on the answer: one judge call per case
    relevance = [
        b for b in server.log.bodies("chat") if "You judge retrieved passages" in json.dumps(b)
    ]
    assert len(relevance) == 12
    # every verdict is stored with its unsupported claims
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT r.prompt, json_extract(s.detail, '$.unsupported') FROM scores s "
            "JOIN results r ON r.id = s.result_id WHERE s.scorer = 'faithfulness'"
        ).fetchall()
        (context,) = con.execute("SELECT context FROM cases WHERE id = 'library'").fetchone()
    assert [p["id"] for p in json.loads(context)] == ["hist-1", "geo-2"]
    assert len(rows) == 24
    assert {u for p, u in rows if p == "answer@v1"} == {'["It is famous worldwide."]'}
    assert {u for p, u in rows if p == "answer@v2"} == {"[]"}
    # the terminal says so, and `runs show` again
    shown = " ".join(runner.invoke(app, ["runs", "show", "last"]).output.split())
    assert (
        "faithfulness (answer@v1 · gemma): 12 of 12 answers make claims their context does not "
        "support (12 of 24 claims)"
    ) in shown
    assert "bakery: “It is famous worldwide.”" in shown
    assert (
        "faithfulness (answer@v2 · gemma): no answer makes a claim its context does not "
        "support (12 answers, 12 claims)"
    ) in shown
    # the HTML report lists them
    html = (root / "report.html").read_text()
    assert "unsupported: It is famous worldwide." in html
    # and the two prompt versions compare like any other
    compared = runner.invoke(
        app, ["compare", "--prompt", "answer@v1", "--prompt", "answer@v2", "faithfulness", "--json"]
    )
    assert compared.exit_code == 0, compared.output
    (pairing,) = json.loads(compared.stdout)["pairings"]
    judge = next(m for m in pairing["metrics"] if m["scorer"] == "faithfulness")
    assert judge["metric"] == "faithfulness ≥ 1" and judge["verdict"] == "improved"
    text = runner.invoke(
        app, ["compare", "--prompt", "answer@v2", "--prompt", "answer@v1", "faithfulness"]
    )
    flat = " ".join(text.output.split())
    assert "faithfulness: 1 of 2 claims unsupported: “It is famous worldwide.”" in flat


@pytest.mark.server
def test_citations_and_structured_outputs_on_the_local_model(tmp_path, monkeypatch):
    root = tmp_path / "rag"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".evalkit"))
    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["run", "citations", "structured", "--limit", "3", "--json"])
    assert result.exit_code == 0, result.output
    citations, structured = json.loads(result.stdout)["runs"]
    groups = {g["prompt"]: g for g in structured["summary"]["groups"]}
    # the schema is enforced while generating: every constrained answer is valid
    assert groups["person@v2"]["scores"]["json_schema"]["mean"] == 1.0
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT prompt, params, output FROM results WHERE suite = 'structured'"
        ).fetchall()
    for prompt, params, output in rows:
        sent = json.loads(params)
        if prompt == "person@v2":  # llama.cpp's json_schema field, in completion mode
            assert sent["json_schema"]["required"] == ["name", "age", "city"]
            assert set(json.loads(output)) == {"name", "age", "city"}
        else:
            assert "json_schema" not in sent and "response_format" not in sent
    cited = {g["prompt"]: g for g in citations["summary"]["groups"]}
    assert cited["answer@v1"]["scores"]["citation"]["n"] == 3
