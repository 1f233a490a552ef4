"""A promptfoo config converted by ``evalkit import promptfoo`` runs with ``evalkit run``
against the loopback fake server, and every test passes or fails exactly as promptfoo's
assertion semantics say it should for the crafted answers below.

The config is written here after the shapes promptfoo documents (inline prompts, a text file
with two prompts, a chat JSON prompt; OpenAI-compatible providers with ``apiBaseUrl`` and a
price; ``defaultTest``; inline tests, a CSV with ``__expected`` columns, var files, var
lists and var composition; a grading provider).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalkit import api
from evalkit.cli.main import app
from evalkit.config import Project
from fakeserver import FakeServer

#: (marker in the prompt, answer). The judge rules come first (first match wins).
RULES = [
    ("RUBRIC-PASS", '{"score": 1, "rationale": "meets it"}'),
    ("RUBRIC-FAIL", '{"score": 0, "rationale": "does not"}'),
    ("CLOSEDQA-PASS", '{"score": 1, "rationale": "yes"}'),
    ("Briefly. Question 02:", "Madrid"),  # v2 fixes case 02
    ("Question 01:", "Paris"),
    ("Question 02:", "madrid"),
    ("Question 03:", "madrid"),
    ("Question 04:", "Edo period"),
    ("Question 05:", "red and green"),
    ("Question 06:", "Sorry, no"),
    ("Question 07:", "Sorry, no"),
    ("Question 08:", "in 1984"),
    ("Question 09:", "none"),
    ("Question 10:", "The end"),
    ("Question 11:", "the end"),
    ("Question 12:", '{"name": "x"}'),
    ("Question 13:", '{"id": 1}'),
    ("Question 14:", 'Here: {"a": 1} ok'),
    ("Question 15:", '{"a": 1}'),
    ("Question 16:", '{"a": 2}'),
    ("Question 17:", "As an AI, I cannot"),
    ("Question 18:", "the cat sat on the mat"),
    ("Question 19:", "dogs run fast"),
    ("Question 20:", "Paris"),
    ("Question 21:", "Paris"),
    ("Question 22:", "Lima"),
    ("Question 23:", "Nairobi!"),
    ("Question 24:", "Santiago de Chile"),
    ("Question 25: What is 2+2?", "4"),
    ("Question 26: Capital of Rome", "Rome"),
    ("Question 26: Capital of Oslo", "Oslo"),
    ("Question 27: Summarise: The quick brown fox", "fox"),
]

#: case id -> does it pass (on every prompt version, unless a version is named)
EXPECTED = {
    "equals-exact": True,  # 01 Paris == Paris
    "equals-is-case-sensitive": False,  # 02 madrid != Madrid (v2 answers Madrid)
    "icontains": True,  # 03
    "contains-any": True,  # 04 Edo
    "contains-all": False,  # 05 no blue
    "not-contains-is-case-sensitive": True,  # 06 'Sorry' is not 'sorry'
    "not-icontains": False,  # 07
    "regex-named-group": True,  # 08
    "not-regex": True,  # 09
    "starts-with": True,  # 10
    "starts-with-is-case-sensitive": False,  # 11
    "is-json-with-schema": True,  # 12
    "is-json-schema-fails": False,  # 13
    "contains-json": True,  # 14
    "equals-object": True,  # 15
    "equals-object-differs": False,  # 16
    "default-test-not-icontains": False,  # 17 "As an AI"
    "bleu-identical": True,  # 18
    "bleu-unrelated": False,  # 19
    "llm-rubric-pass": True,  # 20
    "llm-rubric-fail": False,  # 21
    "peru": True,  # 22 csv contains: Lima
    "kenya": True,  # 23 csv icontains-any
    "chile": False,  # 24 csv bare value = equals
    "var-composition": True,  # 25
    "closedqa": True,  # 27
}


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(rules=RULES) as srv:
        yield srv


def write_config(root: Path, base_url: str) -> Path:
    def put(name: str, text: str) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")

    put("prompts/brief.txt", "Briefly. Question {{id}}: {{question}}\n---\nQ{{id}}\n")
    put(
        "prompts/chat.json",
        '[{"role": "system", "content": "Be brief."},'
        ' {"role": "user", "content": "Question {{ id }}: {{ question }}"}]',
    )
    put("context.txt", "The quick brown fox\n")
    put(
        "tests.csv",
        """
        id,question,__expected,__description
        22,Capital of Peru?,contains: Lima,peru
        23,Capital of Kenya?,"icontains-any: nairobi, NBO",kenya
        24,Capital of Chile?,Santiago,chile
        """,
    )
    put(
        "promptfooconfig.yaml",
        f"""
        description: Semantics check
        prompts:
          - "Question {{{{id}}}}: {{{{question}}}}"
          - file://prompts/brief.txt
          - file://prompts/chat.json
        providers:
          - id: openai:chat:fake-model
            label: fake
            config:
              apiBaseUrl: {base_url}/v1
              temperature: 0
              max_tokens: 32
              cost: 0.000001
        defaultTest:
          options:
            provider:
              id: openai:chat:fake-grader
              label: grader
              config: {{apiBaseUrl: "{base_url}/v1"}}
          assert:
            - type: not-icontains
              value: as an ai
            - type: latency
              threshold: 60000
            - type: cost
              threshold: 0.01
        tests:
          - description: equals exact
            vars: {{id: "01", question: "Capital of France?"}}
            assert: [{{type: equals, value: Paris}}]
          - description: equals is case sensitive
            vars: {{id: "02", question: "Capital of Spain?"}}
            assert: [{{type: equals, value: Madrid}}]
          - description: icontains
            vars: {{id: "03", question: "Capital of Spain?"}}
            assert: [{{type: icontains, value: MADRID}}]
          - description: contains any
            vars: {{id: "04", question: "Old name of Tokyo?"}}
            assert: [{{type: contains-any, value: [Tokyo, Edo]}}]
          - description: contains all
            vars: {{id: "05", question: "Colours?"}}
            assert: [{{type: contains-all, value: "red, blue"}}]
          - description: not contains is case sensitive
            vars: {{id: "06", question: "Help?"}}
            assert: [{{type: not-contains, value: sorry}}]
          - description: not icontains
            vars: {{id: "07", question: "Help?"}}
            assert: [{{type: not-icontains, value: sorry}}]
          - description: regex named group
            vars: {{id: "08", question: "When?"}}
            assert: [{{type: regex, value: '(?<year>\\d{{4}})'}}]
          - description: not regex
            vars: {{id: "09", question: "Number?"}}
            assert: [{{type: not-regex, value: '\\d'}}]
          - description: starts with
            vars: {{id: "10", question: "Last words?"}}
            assert: [{{type: starts-with, value: The}}]
          - description: starts with is case sensitive
            vars: {{id: "11", question: "Last words?"}}
            assert: [{{type: starts-with, value: The}}]
          - description: is-json with schema
            vars: {{id: "12", question: JSON please}}
            assert:
              - type: is-json
                value: {{type: object, required: [name]}}
          - description: is-json schema fails
            vars: {{id: "13", question: JSON please}}
            assert:
              - type: is-json
                value: {{type: object, required: [name]}}
          - description: contains-json
            vars: {{id: "14", question: Some JSON}}
            assert: [{{type: contains-json}}]
          - description: equals object
            vars: {{id: "15", question: Object}}
            assert: [{{type: equals, value: {{a: 1}}}}]
          - description: equals object differs
            vars: {{id: "16", question: Object}}
            assert: [{{type: equals, value: {{a: 1}}}}]
          - description: default test not-icontains
            vars: {{id: "17", question: "Who are you?"}}
          - description: bleu identical
            vars: {{id: "18", question: "Cat?"}}
            assert: [{{type: bleu, value: the cat sat on the mat}}]
          - description: bleu unrelated
            vars: {{id: "19", question: "Cat?"}}
            assert: [{{type: bleu, value: the cat sat on the mat}}]
          - description: llm-rubric pass
            vars: {{id: "20", question: "Capital of France?"}}
            assert: [{{type: llm-rubric, value: "RUBRIC-PASS names the capital"}}]
          - description: llm-rubric fail
            vars: {{id: "21", question: "Capital of France?"}}
            assert: [{{type: llm-rubric, value: "RUBRIC-FAIL names another city"}}]
          - description: a javascript check
            vars: {{id: "01", question: "Capital of France?"}}
            assert: [{{type: javascript, value: "output.length < 10"}}]
          - file://tests.csv
          - description: var composition
            vars: {{id: "25", question: "What is {{{{thing}}}}?", thing: "2+2"}}
            assert: [{{type: equals, value: "4"}}]
          - description: var list
            vars: {{id: "26", question: "Capital of {{{{city}}}}", city: [Rome, Oslo]}}
            assert: [{{type: icontains, value: "{{{{city}}}}"}}]
          - description: closedqa
            vars: {{id: "27", question: "Summarise: {{{{context}}}}", context: file://context.txt}}
            assert: [{{type: model-graded-closedqa, value: CLOSEDQA-PASS mentions the fox}}]
        """,
    )
    return root / "promptfooconfig.yaml"


def test_converted_config_runs_and_agrees_with_promptfoo_semantics(tmp_path, server, monkeypatch):
    config = write_config(tmp_path / "pf", server.base_url)
    out = tmp_path / "evals"
    result = CliRunner().invoke(
        app, ["import", "promptfoo", str(config), "--out", str(out), "--name", "qa"]
    )
    assert result.exit_code == 0, result.output
    assert "not converted (1):" in result.stdout
    assert (
        "promptfooconfig.yaml:88: assertion 'javascript': assertions written as code"
        in (result.stdout.replace("\n", " "))
        or "assertion 'javascript'" in result.stdout
    )
    assert (out / "prompts" / "qa" / "v4.yaml").is_file()  # inline, 2 from the file, chat

    monkeypatch.chdir(out)
    run = CliRunner().invoke(app, ["run", "--json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert all(r["status"] == "completed" for r in data["runs"])

    df = api.results(project=Project.discover(out))
    assert set(df["prompt"]) == {"qa@v1", "qa@v2", "qa@v3", "qa@v4"}
    # promptfoo's `---` second prompt (Q{{id}}) gets echoed answers: leave it out here
    checked = df[df["prompt"].isin(["qa@v1", "qa@v4"])]
    got = {
        (row.case_id, row.prompt): bool(row.passed)
        for row in checked.itertuples()
        if row.case_id in EXPECTED
    }
    assert len(got) == 2 * len(EXPECTED)
    wrong = {k: v for k, v in got.items() if v != EXPECTED[k[0]]}
    assert wrong == {}
    # the var list expanded into one case per value, both pass
    lists = checked[checked["vars"].str.contains('"id": "26"')]
    assert len(lists) == 4 and lists["passed"].all()
    # v2 ("Briefly. ...") fixes case 02: a flip the comparison reports
    v2 = df[(df["prompt"] == "qa@v2") & (df["case_id"] == "equals-is-case-sensitive")]
    assert v2["passed"].tolist() == [True]
    # the judge was the grading provider, not the provider under test
    scores = api.scores(wide=False, project=Project.discover(out))
    rubric = scores[scores["scorer"] == "llm-rubric"]
    assert len(rubric) and rubric["detail"].str.contains("meets it|does not").all()


def test_compare_two_converted_prompt_versions(tmp_path, server, monkeypatch):
    config = write_config(tmp_path / "pf", server.base_url)
    out = tmp_path / "evals"
    api.import_promptfoo(config, out=out, name="qa")
    monkeypatch.chdir(out)
    result = CliRunner().invoke(
        app, ["compare", "--prompt", "qa@v1", "--prompt", "qa@v2", "qa", "--json"]
    )
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.stdout)
    (pairing,) = data["pairings"]
    assert pairing["baseline"]["prompt"] == "qa@v1" and pairing["candidate"]["prompt"] == "qa@v2"
    gained = [f["case_id"] for f in pairing["flips"]["fail_to_pass"]]
    assert gained == ["equals-is-case-sensitive"]


def test_similar_runs_on_the_local_embedding_model(tmp_path, monkeypatch):
    rules = [("Question 1:", "A cat was sitting on the mat."), ("Question 2:", "Stocks fell.")]
    with FakeServer(rules=rules) as srv:
        cfg = tmp_path / "pf" / "promptfooconfig.yaml"
        cfg.parent.mkdir()
        cfg.write_text(
            textwrap.dedent(
                f"""
                prompts: ["Question {{{{n}}}}: describe the picture"]
                providers:
                  - id: openai:chat:fake-model
                    config: {{apiBaseUrl: "{srv.base_url}/v1"}}
                tests:
                  - description: paraphrase
                    vars: {{n: 1}}
                    assert: [{{type: similar, value: The cat sat on the mat., threshold: 0.7}}]
                  - description: unrelated
                    vars: {{n: 2}}
                    assert: [{{type: similar, value: The cat sat on the mat., threshold: 0.7}}]
                  - description: any of several
                    vars: {{n: 2}}
                    assert:
                      - type: similar
                        value: [The cat sat on the mat., Share prices dropped.]
                        threshold: 0.5
                """
            ),
            encoding="utf-8",
        )
        out = tmp_path / "evals"
        api.import_promptfoo(cfg, out=out, name="sim")
        monkeypatch.chdir(out)
        api.evaluate()
        df = api.scores(wide=False, project=Project.discover(out))
    by_case = {row.case_id: row for row in df.itertuples()}
    assert by_case["paraphrase"].passed and by_case["paraphrase"].value > 0.7
    assert not by_case["unrelated"].passed and by_case["unrelated"].value < 0.3
    assert by_case["any-of-several"].passed  # the closest of the values counts
