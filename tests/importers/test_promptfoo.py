"""``evalkit import promptfoo``: each part of a promptfoo config (prompts, providers, tests,
vars, assertions) on small configs written here after the shapes promptfoo documents, what
is reported as not converted (with file and line), and the command's errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from evalkit import api
from evalkit.cli.main import app
from evalkit.errors import InputError
from evalkit.importers.promptfoo.convert import Plan, plan
from evalkit.importers.promptfoo.source import Findings, Where, nunjucks_to_jinja
from evalkit.importers.promptfoo.tests import assertion_from_string


@pytest.fixture(autouse=True)
def _in_tmp(in_tmp: Path) -> None:
    """Run in tmp_path, so messages show paths as a user in their project sees them."""


def put(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def config(root: Path, body: str) -> Path:
    return put(root, "promptfooconfig.yaml", body)


def dropped(result: Plan) -> list[tuple[str, str]]:
    return [(str(f.where), f.what) for f in result.findings.items if f.dropped]


def notes(result: Plan) -> list[str]:
    return [f"{f.what}: {f.why}" for f in result.findings.items if not f.dropped]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


# -- assertions written as strings (CSV cells) --------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Paris", {"type": "equals", "value": "Paris"}),
        ("contains: Paris", {"type": "contains", "value": "Paris"}),
        ("icontains-any: nairobi, NBO", {"type": "icontains-any", "value": ["nairobi", "NBO"]}),
        ("not-regex:^\\d+$", {"type": "not-regex", "value": "^\\d+$"}),
        ("similar(0.9):hello there", {"type": "similar", "value": "hello there", "threshold": 0.9}),
        ("similar:hello", {"type": "similar", "value": "hello", "threshold": 0.8}),
        ("grade: is polite", {"type": "llm-rubric", "value": "is polite"}),
        ("llm-rubric: is polite", {"type": "llm-rubric", "value": "is polite"}),
        ("fn:output.length < 5", {"type": "javascript", "value": "output.length < 5"}),
        ("file://checks.py:check", {"type": "python", "value": "checks.py:check"}),
        ("is-json", {"type": "is-json", "value": None}),
        ("latency(500)", {"type": "latency", "value": None, "threshold": 500.0}),
        ("contains-all:a,b", {"type": "contains-all", "value": ["a", "b"]}),
    ],
)
def test_assertion_from_string(text, expected):
    assert assertion_from_string(text) == expected


# -- templates ----------------------------------------------------------------------------------
def test_nunjucks_becomes_jinja(monkeypatch):
    findings = Findings()
    where = Where("p.yaml", 3)
    assert (
        nunjucks_to_jinja("{{ items | dump }}", where, "prompt", findings) == "{{ items | tojson }}"
    )
    assert nunjucks_to_jinja("{% for x in xs %}{{ x | upper }}{% endfor %}", where, "p", findings)
    monkeypatch.setenv("TOPIC", "bananas")
    assert nunjucks_to_jinja("About {{ env.TOPIC }}", where, "p", findings) == "About bananas"
    assert "resolved from the environment" in findings.items[-1].why
    assert nunjucks_to_jinja("{{ text | nl2br }}", where, "p", findings) is None
    assert "nl2br" in findings.items[-1].why and findings.items[-1].dropped
    assert nunjucks_to_jinja("{{ broken", where, "p", findings) is None
    assert "not valid Jinja2" in findings.items[-1].why


# -- prompts ------------------------------------------------------------------------------------
def test_prompt_forms(tmp_path):
    put(
        tmp_path,
        "chat.yaml",
        "- {role: system, content: Be brief.}\n- {role: user, content: '{{q}}'}\n",
    )
    put(
        tmp_path,
        "many.jsonl",
        '[{"role": "user", "content": "A {{q}}"}]\n[{"role": "user", "content": "B {{q}}"}]\n',
    )
    put(tmp_path, "glob/a.txt", "First {{q}}\n")
    put(tmp_path, "glob/b.txt", "Second {{q}}\n")
    put(tmp_path, "make.py", "def make(context): return 'x'\n")
    cfg = config(
        tmp_path,
        """
        prompts:
          - '[{"role": "system", "content": "JSON chat"}, {"role": "user", "content": "{{q}}"}]'
          - file://chat.yaml
          - file://many.jsonl
          - file://glob/*.txt
          - {raw: "Raw {{q}}", label: raw one}
          - file://make.py:make
          - file://make.py
        providers: [openai:gpt-4o-mini]
        tests: [{vars: {q: hi}}]
        """,
    )
    result = plan(cfg, "p")
    got = [[(m["role"], m["content"]) for m in p.messages] for p in result.prompts]
    assert got == [
        [("system", "JSON chat"), ("user", "{{q}}")],
        [("system", "Be brief."), ("user", "{{q}}")],
        [("user", "A {{q}}")],
        [("user", "B {{q}}")],
        [("user", "First {{q}}")],
        [("user", "Second {{q}}")],
        [("user", "Raw {{q}}")],
    ]
    assert result.prompts[6].label == "raw one"
    assert dropped(result) == [
        ("promptfooconfig.yaml:7", "prompt file://make.py:make"),
        ("promptfooconfig.yaml:8", "prompt file://make.py"),
    ]


def test_prompts_as_a_mapping_of_file_to_label(tmp_path):
    put(tmp_path, "a.txt", "A {{q}}")
    cfg = config(tmp_path, "prompts: {'file://a.txt': first}\nproviders: [openai:x]\n")
    (prompt,) = plan(cfg).prompts
    assert prompt.label == "first" and prompt.messages == [{"role": "user", "content": "A {{q}}"}]


def test_chat_content_that_is_not_text_is_reported(tmp_path):
    put(tmp_path, "vision.json", '[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]')
    cfg = config(tmp_path, "prompts: [file://vision.json, 'ok {{q}}']\nproviders: [openai:x]\n")
    result = plan(cfg)
    assert len(result.prompts) == 1
    assert dropped(result) == [("promptfooconfig.yaml:1", "prompt file://vision.json")]


# -- providers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("provider", "spec"),
    [
        ("openai:gpt-4o-mini", {"type": "openai", "model": "gpt-4o-mini"}),
        ("openai:chat:gpt-4o", {"type": "openai", "model": "gpt-4o"}),
        ("openai:responses:o4-mini", {"type": "openai", "model": "o4-mini"}),
        (
            "openai:completion:davinci-002",
            {"type": "openai", "model": "davinci-002", "mode": "completion"},
        ),
        (
            "anthropic:messages:claude-3-5-haiku-latest",
            {"type": "anthropic", "model": "claude-3-5-haiku-latest"},
        ),
        ("ollama:chat:llama3.2", {"type": "ollama", "model": "llama3.2"}),
        ("ollama:llama3.2", {"type": "ollama", "model": "llama3.2", "mode": "completion"}),
        ("google:gemini-2.0-flash", {"type": "gemini", "model": "gemini-2.0-flash"}),
        ("mistral:mistral-small-latest", {"type": "mistral", "model": "mistral-small-latest"}),
        (
            "togetherai:meta-llama/Llama-3-8b",
            {"type": "together", "model": "meta-llama/Llama-3-8b"},
        ),
        (
            "openrouter:openai/gpt-4o",
            {
                "type": "openai",
                "model": "openai/gpt-4o",
                "base_url": "https://openrouter.ai/api/v1",
                "api_key_env": "OPENROUTER_API_KEY",
            },
        ),
        (
            "azure:chat:my-deployment",
            {"type": "azure", "model": "my-deployment", "deployment": "my-deployment"},
        ),
    ],
)
def test_provider_ids(tmp_path, provider, spec):
    cfg = config(tmp_path, f"prompts: ['{{{{q}}}}']\nproviders: ['{provider}']\n")
    (converted,) = plan(cfg).providers
    assert converted.spec == spec


def test_provider_objects_and_their_config(tmp_path):
    put(tmp_path, "more.yaml", "id: anthropic:messages:claude-3-5-haiku-latest\nlabel: haiku\n")
    cfg = config(
        tmp_path,
        """
        prompts: ['{{q}}']
        providers:
          - id: openai:chat:my-model
            label: My vLLM
            config:
              apiBaseUrl: http://localhost:8000/v1
              apiKeyEnvar: VLLM_KEY
              apiKey: sk-secret-never-copied
              temperature: 0.2
              max_tokens: 64
              stop: ["\\n"]
              organization: org-1
              tools: [{type: function}]
              cost: 0.000002
            prompts: [only-this]
          - openai:chat:gpt-4o:
              config: {apiHost: api.example.com}
          - id: azure:chat:dep
            config: {apiHost: res.openai.azure.com, apiVersion: 2024-06-01}
          - file://more.yaml
          - bedrock:anthropic.claude-v2
          - exec:python run.py
          - echo
        """,
    )
    result = plan(cfg)
    specs = {p.id: p.spec for p in result.providers}
    assert specs["my-vllm"] == {
        "type": "openai",
        "model": "my-model",
        "base_url": "http://localhost:8000/v1",
        "api_key_env": "VLLM_KEY",
        "headers": {"OpenAI-Organization": "org-1"},
        "params": {"temperature": 0.2, "max_tokens": 64, "stop": ["\n"]},
    }
    assert specs["gpt-4o"]["base_url"] == "https://api.example.com/v1"
    assert specs["dep"] == {
        "type": "azure",
        "model": "dep",
        "deployment": "dep",
        "endpoint": "https://res.openai.azure.com",
        "api_version": "2024-06-01",
    }
    assert specs["haiku"] == {"type": "anthropic", "model": "claude-3-5-haiku-latest"}
    assert result.pricing == {"my-model": {"input": 2.0, "output": 2.0}}
    assert "sk-secret" not in json.dumps(specs)
    assert any("key is written in the config" in n for n in notes(result))
    assert dropped(result) == [
        ("promptfooconfig.yaml:3", "provider 'openai:chat:my-model': config.tools"),
        ("promptfooconfig.yaml:3", "provider 'openai:chat:my-model': prompts"),
        ("promptfooconfig.yaml:21", "provider 'bedrock:anthropic.claude-v2'"),
        ("promptfooconfig.yaml:22", "provider 'exec:python run.py'"),
        ("promptfooconfig.yaml:23", "provider 'echo'"),
    ]


# -- tests and vars -----------------------------------------------------------------------------
def test_csv_tests_with_special_columns(tmp_path):
    put(
        tmp_path,
        "tests.csv",
        """
        question,__expected1,__expected2,__description,__metadata:topic,__metadata:tags[],__config:__expected2:threshold,__prefix
        "What is 2+2?",equals: 4,similar: four,math,arithmetic,"easy,quick",0.6,
        "Capital of France?",icontains: paris,similar: Paris,geo,places,"a\\,b",0.7,Say:
        """,
    )
    cfg = config(
        tmp_path, "prompts: ['{{question}}']\nproviders: [openai:x]\ntests: file://tests.csv\n"
    )
    result = plan(cfg)
    cases = {c["id"]: c for s in result.suites for c in s.cases}
    assert set(cases) == {"math", "geo"}
    assert cases["math"]["metadata"]["topic"] == "arithmetic"
    assert cases["math"]["metadata"]["tags"] == ["easy", "quick"]
    assert cases["geo"]["metadata"]["tags"] == ["a,b"]
    assert cases["math"]["metadata"]["promptfoo"] == "tests.csv:2"
    scorers = {s.name: s.scorers for s in result.suites}
    similarity = [sc for specs in scorers.values() for sc in specs if sc["type"] == "similarity"]
    assert sorted(sc["threshold"] for sc in similarity) == [0.6, 0.7]
    assert dropped(result) == [("tests.csv:3", "test options.prefix")]


def test_test_files_var_files_lists_and_default_test(tmp_path):
    put(
        tmp_path,
        "tests/more.yaml",
        "- {vars: {topic: owls}, assert: [{type: icontains, value: owl}]}\n",
    )
    put(
        tmp_path,
        "tests/lines.jsonl",
        '{"vars": {"topic": "cats"}, "assert": [{"type": "icontains", "value": "cat"}]}\n',
    )
    put(tmp_path, "ctx.txt", "Some context\n")
    put(tmp_path, "profile.yaml", "name: Ada\n")
    put(
        tmp_path,
        "default.yaml",
        "vars: {tone: dry}\nassert: [{type: not-icontains, value: sorry}]\n",
    )
    cfg = config(
        tmp_path,
        """
        prompts: ['{{tone}} {{topic}} {{context}} {{profile.name}}']
        providers: [openai:x]
        defaultTest: file://default.yaml
        tests:
          - file://tests/*
          - vars: {topic: [dogs, fish], context: file://ctx.txt, profile: file://profile.yaml}
            assert: [{type: icontains, value: "{{topic}}"}]
          - vars: {topic: none}
            options: {disableDefaultAsserts: true}
            threshold: 0.5
        """,
    )
    result = plan(cfg)
    cases = [c for s in result.suites for c in s.cases]
    topics = sorted(c["vars"]["topic"] for c in cases)
    assert topics == ["cats", "dogs", "fish", "none", "owls"]
    dogs = next(c for c in cases if c["vars"]["topic"] == "dogs")
    assert dogs["vars"]["context"] == "Some context"  # trailing newline removed
    assert dogs["vars"]["profile"] == {"name": "Ada"}
    assert dogs["vars"]["tone"] == "dry"
    main = result.suites[0]
    assert [s["name"] for s in main.scorers] == ["not-icontains", "icontains"]
    # the templated value stays a template (the same for every case)
    assert any(s.get("value") == "{{topic}}" for s in main.scorers) or any(
        "expect_contains" in c["vars"] for c in main.cases
    )
    none = next(s for s in result.suites if s.cases[0]["vars"]["topic"] == "none")
    assert none.scorers == []  # disableDefaultAsserts: no assertion left
    assert ("promptfooconfig.yaml:10", "test threshold") in dropped(result)
    # vars the prompt needs but a test lacks become "" (promptfoo renders them empty)
    assert none.cases[0]["vars"]["context"] == ""
    assert any(n.startswith("var 'context'") for n in notes(result))


def test_refs_and_differing_values_become_vars(tmp_path):
    cfg = config(
        tmp_path,
        """
        prompts: ['{{q}}']
        providers: [openai:x]
        assertionTemplates:
          polite: {type: not-icontains, value: stupid}
        tests:
          - vars: {q: a}
            assert: [{$ref: '#/assertionTemplates/polite'}, {type: contains, value: alpha}]
          - vars: {q: b}
            assert: [{$ref: '#/assertionTemplates/polite'}, {type: contains, value: "{{q}}eta"}]
        """,
    )
    (suite,) = plan(cfg).suites
    assert suite.scorers == [
        {
            "type": "contains",
            "name": "not-icontains",
            "ignore_case": True,
            "negate": True,
            "value": "stupid",
        },
        {"type": "contains", "name": "contains", "value": "{{ expect_contains }}"},
    ]
    # a differing value is rendered with the case's own vars before it becomes a var
    assert [c["vars"]["expect_contains"] for c in suite.cases] == ["alpha", "beta"]


def test_tests_with_different_assertions_become_separate_suites(tmp_path):
    cfg = config(
        tmp_path,
        """
        prompts: ['{{q}}']
        providers: [openai:x]
        tests:
          - vars: {q: a}
            assert: [{type: equals, value: A}]
          - vars: {q: b}
            assert: [{type: equals, value: B}]
          - vars: {q: c}
            assert: [{type: regex, value: "^C"}]
        """,
    )
    result = plan(cfg, "abc")
    assert [(s.name, len(s.cases)) for s in result.suites] == [("abc", 2), ("abc-regex", 1)]
    assert any("became 2 suites" in n for n in notes(result))


def test_unsupported_assertions_are_reported_with_their_line(tmp_path):
    cfg = config(
        tmp_path,
        """
        prompts: ['{{q}}']
        providers: [openai:x]
        scenarios: [{config: [{vars: {q: x}}]}]
        tests:
          - vars: {q: a}
            assert:
              - type: javascript
                value: output.length > 3
              - type: factuality
                value: A
              - type: not-similar
                value: A
              - type: not-is-json
              - type: contains
                value: a
                transform: output.toUpperCase()
              - type: latency
        """,
    )
    result = plan(cfg)
    assert dropped(result) == [
        ("promptfooconfig.yaml:7", "assertion 'javascript'"),
        ("promptfooconfig.yaml:9", "assertion 'factuality'"),
        ("promptfooconfig.yaml:11", "assertion 'not-similar'"),
        ("promptfooconfig.yaml:13", "assertion 'not-is-json'"),
        ("promptfooconfig.yaml:14", "assertion 'contains'"),
        ("promptfooconfig.yaml:17", "assertion 'latency'"),
        ("promptfooconfig.yaml:3", "scenarios"),
    ]


def test_model_graded_assertions_use_the_grading_provider(tmp_path):
    cfg = config(
        tmp_path,
        """
        prompts: ['{{q}}']
        providers: [openai:gpt-4o-mini]
        defaultTest:
          options: {provider: openai:gpt-4o}
        tests:
          - vars: {q: a}
            assert:
              - {type: llm-rubric, value: is polite}
              - {type: llm-rubric, value: is short, threshold: 0.7}
              - {type: model-graded-closedqa, value: names a city, provider: openai:gpt-4o-mini}
        """,
    )
    result = plan(cfg)
    assert [p.id for p in result.graders] == ["gpt-4o"]
    (suite,) = result.suites
    judges = [s for s in suite.scorers if s["type"] == "judge"]
    assert [(j["provider"], j["scale"], j["threshold"]) for j in judges] == [
        ("gpt-4o", [0, 1], 1),
        ("gpt-4o", [0, 10], 0.7),
        ("gpt-4o-mini", [0, 1], 1),
    ]
    assert judges[2]["allow_self_judge"] is True  # it grades its own answers, as in promptfoo
    assert "allow_self_judge" not in judges[0]


# -- the command --------------------------------------------------------------------------------
def test_import_writes_a_project_that_loads_and_refuses_to_overwrite(tmp_path, monkeypatch):
    cfg = config(
        tmp_path / "pf",
        """
        description: Capital cities
        prompts: ["Capital of {{country}}?", "Q: capital of {{country}}\\nA:"]
        providers: [openai:gpt-4o-mini]
        tests:
          - vars: {country: France}
            assert: [{type: icontains, value: paris}]
        """,
    )
    monkeypatch.chdir(tmp_path)
    result = invoke("import", "promptfoo", str(cfg), "--out", "evals")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "prompt capital-cities@v1: Capital of {{country}}?" in out
    assert (
        "evalkit compare --prompt capital-cities@v1 --prompt capital-cities@v2 capital-cities"
        in out
    )
    evals = tmp_path / "evals"
    assert yaml.safe_load((evals / "evalkit.yaml").read_text())["providers"] == {
        "gpt-4o-mini": {"type": "openai", "model": "gpt-4o-mini"}
    }
    v2 = yaml.safe_load((evals / "prompts" / "capital-cities" / "v2.yaml").read_text())
    assert v2["messages"] == [{"role": "user", "content": "Q: capital of {{country}}\nA:"}]
    again = invoke("import", "promptfoo", str(cfg), "--out", "evals")
    assert again.exit_code == 2 and "would be overwritten" in again.stderr
    assert "--force" in again.stderr
    forced = invoke("import", "promptfoo", str(cfg), "--out", "evals", "--force", "--json")
    assert forced.exit_code == 0
    data = json.loads(forced.stdout)
    assert data["schema"] == "evalkit.import/1"
    assert data["suites"] == [
        {
            "name": "capital-cities",
            "path": "suites/capital-cities.yaml",
            "cases": 1,
            "scorers": ["icontains"],
        }
    ]


def test_import_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "export").mkdir()
    folder = invoke("import", "export")  # a folder is read as an `evalkit export`
    assert folder.exit_code == 2 and "not an evalkit export" in folder.stderr
    extra = invoke("import", "export", "x.yaml")
    assert extra.exit_code == 2 and "takes no second argument" in extra.stderr
    unknown = invoke("import", "langsmith", "x.yaml")
    assert unknown.exit_code == 2 and "unknown import source 'langsmith'" in unknown.stderr
    missing = invoke("import", "promptfoo")
    assert missing.exit_code == 2 and "needs the config file" in missing.stderr
    absent = invoke("import", "promptfoo", "nope.yaml")
    assert absent.exit_code == 2 and "promptfoo config not found" in absent.stderr
    cfg = config(tmp_path, "prompts: [file://gen.py]\nproviders: [openai:x]\n")
    put(tmp_path, "gen.py", "")
    with pytest.raises(InputError, match="no prompt could be converted"):
        api.import_promptfoo(cfg, out=tmp_path / "out")
    bad = config(tmp_path, "prompts: [file://missing.txt]\n")
    with pytest.raises(InputError, match="names no file") as exc:
        api.import_promptfoo(bad, out=tmp_path / "out")
    assert exc.value.line == 1


def test_prompt_config_becomes_params_and_csv_prompt_files(tmp_path):
    put(
        tmp_path,
        "prompts.csv",
        'prompt,label\n"To French: {{text}}",French\n"To German: {{text}}",German\n',
    )
    cfg = config(
        tmp_path,
        """
        prompts:
          - label: few-shot
            raw: "Q: {{q}}\\nA:"
            config: {temperature: 0, max_tokens: 16, stop: ["\\n"], style: terse}
          - file://prompts.csv
          - exec:./make-prompt.sh
        providers: [openai:x]
        """,
    )
    result = plan(cfg)
    assert [(p.label, p.params) for p in result.prompts] == [
        ("few-shot", {"temperature": 0, "max_tokens": 16, "stop": ["\n"]}),
        ("French", {}),
        ("German", {}),
    ]
    assert dropped(result) == [
        ("promptfooconfig.yaml:2", "prompt 'few-shot': config.style"),
        ("promptfooconfig.yaml:6", "prompt exec:./make-prompt.sh"),
    ]


def test_no_prompts_means_the_prompt_var_passed_through(tmp_path):
    cfg = config(tmp_path, "providers: [openai:x]\ntests: [{vars: {prompt: Hello}}]\n")
    (prompt,) = plan(cfg).prompts
    assert prompt.messages == [{"role": "user", "content": "{{ prompt }}"}]


def test_without_providers_the_suite_runs_on_the_local_model(tmp_path):
    cfg = config(tmp_path, "prompts: ['{{q}}']\ntests: [{vars: {q: hi}}]\n")
    result = plan(cfg)
    assert result.providers == []
    assert any(n.startswith("providers: none converted") for n in notes(result))
