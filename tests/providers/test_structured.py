"""Structured outputs: a prompt's `response_format` is loaded (schema file checked, content in
the hash), sent as each provider's server understands it, stored with every result, and
shown on the `json_schema` metric of a comparison."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from evalkit.errors import InputError
from evalkit.load.prompts import load_prompt_file
from evalkit.providers.structured import as_anthropic, as_llama_json_schema, constraint
from fakeserver import FakeServer

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
CANONICAL = {
    "type": "json_schema",
    "json_schema": {"name": "person", "schema": SCHEMA, "strict": True},
}


def _put(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _prompt(root: Path, params: str) -> Path:
    (root / "evalkit.yaml").write_text("providers: {}\n")
    _put(root, "schemas/person.json", json.dumps(SCHEMA))
    return _put(
        root,
        "prompts/extract/v2.yaml",
        f"""
        messages: [{{role: user, content: "{{{{ sentence }}}}"}}]
        params:
          max_tokens: 40
          response_format: {params}
        """,
    )


@pytest.mark.parametrize(
    "params",
    [
        "{schema: schemas/person.json}",
        "{schema: ../../schemas/person.json, name: person}",
        '{type: json_schema, json_schema: {name: person, schema: "schemas/person.json"}}',
        "{name: person, schema: {type: object, properties: {name: {type: string}, "
        "age: {type: integer}}, required: [name, age], additionalProperties: false}}",
    ],
)
def test_every_spelling_loads_to_openais_form_with_the_schema_in_it(tmp_path, params):
    prompt = load_prompt_file(_prompt(tmp_path, params))
    assert prompt.params["response_format"] == CANONICAL


def test_the_schema_content_is_in_the_prompt_hash(tmp_path):
    path = _prompt(tmp_path, "{schema: schemas/person.json}")
    before = load_prompt_file(path).hash
    _put(tmp_path, "schemas/person.json", json.dumps({**SCHEMA, "required": ["name"]}))
    assert load_prompt_file(path).hash != before


def test_json_object_and_text(tmp_path):
    path = _prompt(tmp_path, "{type: json_object}")
    assert load_prompt_file(path).params["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(
    ("params", "line", "message"),
    [
        ("{schema: schemas/nope.json}", 4, "schema file 'schemas/nope.json' not found"),
        ("{schema: {type: objekt}}", 4, "invalid JSON Schema (inline) at type"),
        ("{schema: schemas/person.json, name: 'a b'}", 4, "response_format name 'a b'"),
        ("{schema: schemas/person.json, format: x}", 4, "response_format: unknown key 'format'"),
        ("{type: xml}", 4, "unknown response_format type 'xml'"),
        ("{name: x}", 4, "response_format needs a `schema`"),
        ("json", 4, "`response_format` must be a mapping"),
    ],
)
def test_bad_response_format_is_an_error_at_its_line(tmp_path, params, line, message):
    with pytest.raises(InputError) as info:
        load_prompt_file(_prompt(tmp_path, params))
    assert info.value.line == line and message in info.value.message
    assert info.value.path.endswith("prompts/extract/v2.yaml")


def test_wire_mappings():
    params = {"max_tokens": 9, "response_format": CANONICAL}
    assert as_llama_json_schema(params) == {"max_tokens": 9, "json_schema": SCHEMA}
    assert as_llama_json_schema({"response_format": {"type": "json_object"}}) == {
        "json_schema": {"type": "object"}
    }
    sent = as_anthropic(params, "claude", True)
    assert sent == {
        "max_tokens": 9,
        "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}},
    }
    with pytest.raises(InputError, match="cannot constrain answers to any JSON object"):
        as_anthropic({"response_format": {"type": "json_object"}}, "claude", True)
    with pytest.raises(InputError, match="cannot send output_config"):
        as_anthropic(params, "claude", False)
    for wire in (params, as_llama_json_schema(params), sent):
        found = constraint(wire)
        assert found is not None and found["kind"] == "json_schema" and found["schema"] == SCHEMA
    assert constraint({"max_tokens": 9}) is None


def _project(root: Path, base_url: str, response_format: str = "{schema: schemas/person.json}"):
    _put(
        root,
        "evalkit.yaml",
        f"""
        providers:
          chat: {{type: openai, base_url: "{base_url}/v1", model: m, stream: false}}
          comp: {{type: openai, base_url: "{base_url}/v1", model: m, mode: completion,
                 stream: false, structured_outputs: json_schema}}
          claude: {{type: anthropic, base_url: "{base_url}", model: c, stream: false}}
        """,
    )
    _put(root, "schemas/person.json", json.dumps(SCHEMA))
    _put(
        root,
        "prompts/extract/v1.yaml",
        """
        messages: [{role: user, content: "Extract as JSON: {{ sentence }}"}]
        params: {max_tokens: 40}
        """,
    )
    _put(
        root,
        "prompts/extract/v2.yaml",
        f"""
        parent: v1
        messages: [{{role: user, content: "Extract as JSON: {{{{ sentence }}}}"}}]
        params: {{max_tokens: 40, response_format: {response_format}}}
        """,
    )
    _put(
        root,
        "suites/extract.yaml",
        """
        name: extract
        prompt: [extract@v1, extract@v2]
        providers: [chat, comp, claude]
        cases:
          - {id: ada, vars: {sentence: "Ada is 36."}}
          - {id: bob, vars: {sentence: "Bob is 40."}}
        scorers:
          - {type: json_schema, schema: schemas/person.json}
        """,
    )


def test_each_provider_sends_the_constraint_its_way_and_stores_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with FakeServer(default_answer='{"name": "Ada", "age": 36}') as server:
        _project(tmp_path, server.base_url)
        result = CliRunner().invoke(app, ["run", "--json"])
        chat = server.log.bodies("chat")
        comp = server.log.bodies("completions")
        messages = server.log.bodies("messages")
    assert result.exit_code == 0, result.output
    assert [b.get("response_format") for b in chat].count(CANONICAL) == 2
    assert sum("response_format" in b for b in comp) == 0
    assert [b.get("json_schema") for b in comp].count(SCHEMA) == 2
    formats = [b.get("output_config", {}).get("format") for b in messages]
    assert formats.count({"type": "json_schema", "schema": SCHEMA}) == 2
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT provider, prompt, params, cache_key FROM results ORDER BY provider, prompt"
        ).fetchall()
    stored = {(p, v): json.loads(params) for p, v, params, _ in rows}
    assert "response_format" not in stored[("chat", "extract@v1")]
    assert stored[("chat", "extract@v2")]["response_format"] == CANONICAL
    assert stored[("comp", "extract@v2")]["json_schema"] == SCHEMA
    assert stored[("claude", "extract@v2")]["output_config"]["format"]["schema"] == SCHEMA
    keys = {(p, v): key for p, v, _, key in rows}
    assert keys[("chat", "extract@v1")] != keys[("chat", "extract@v2")]


def test_anthropic_refuses_json_object_before_the_run_naming_the_prompt(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    _project(tmp_path, "http://127.0.0.1:9", response_format="{type: json_object}")
    result = CliRunner().invoke(app, ["run", "-p", "claude"])
    assert result.exit_code == 2
    assert "prompts/extract/v2.yaml:3: extract@v2: provider 'claude' (anthropic) cannot" in (
        result.output
    )
    if Path(".evalkit/evalkit.duckdb").exists():  # nothing was recorded
        with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
            assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_the_comparison_says_which_side_was_constrained(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    answers = [("Ada is 36", '{"name": "Ada", "age": 36}'), ("Bob is 40", "Bob, 40")]
    with FakeServer(rules=answers) as server:
        _project(tmp_path, server.base_url)
        result = CliRunner().invoke(
            app,
            [
                "compare",
                "--prompt",
                "extract@v1",
                "--prompt",
                "extract@v2",
                "extract",
                "-p",
                "chat",
                "--json",
            ],
        )
        text = CliRunner().invoke(
            app,
            [
                "compare",
                "--prompt",
                "extract@v1",
                "--prompt",
                "extract@v2",
                "extract",
                "-p",
                "chat",
            ],
        )
    assert result.exit_code == 0, result.output
    (pairing,) = json.loads(result.stdout)["pairings"]
    metric = next(m for m in pairing["metrics"] if m["scorer"] == "json_schema")
    assert metric["constraints"]["baseline"] == {
        "kind": "none",
        "via": None,
        "schema_hash": None,
        "same_schema": None,
    }
    candidate = metric["constraints"]["candidate"]
    assert candidate["kind"] == "json_schema" and candidate["via"] == "response_format"
    assert candidate["same_schema"] is True
    note = (
        "json_schema: the baseline's answers were unconstrained, this run's constrained to "
        "the scorer's own schema (response_format)"
    )
    assert note in pairing["notes"]
    assert note in " ".join(text.output.split())


@pytest.mark.server
def test_llama_server_enforces_the_schema_only_through_json_schema(llama, tmp_path, monkeypatch):
    """On the real llama-server in completion mode: `response_format` is ignored without a
    word, so evalkit sends the schema as `json_schema`, which it enforces."""
    monkeypatch.chdir(tmp_path)
    url = f"{llama}/v1"
    _project(tmp_path, url)
    (tmp_path / "evalkit.yaml").write_text(
        "providers:\n"
        f'  plain: {{type: openai, base_url: "{url}", model: g, mode: completion, '
        "structured_outputs: response_format}\n"
        f'  grammar: {{type: openai, base_url: "{url}", model: g, mode: completion, '
        "structured_outputs: json_schema}\n"
    )
    suite = tmp_path / "suites/extract.yaml"
    suite.write_text(
        suite.read_text()
        .replace("prompt: [extract@v1, extract@v2]", "prompt: extract@v2")
        .replace("providers: [chat, comp, claude]", "providers: [plain, grammar]")
    )
    result = CliRunner().invoke(app, ["run", "--json"])
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["runs"]
    scores = {g["provider"]: g["scores"]["json_schema"]["mean"] for g in run["summary"]["groups"]}
    assert scores["grammar"] == 1.0
    assert scores["plain"] < 1.0  # the same request, unconstrained by llama.cpp
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        sent = dict(con.execute("SELECT DISTINCT provider, params FROM results").fetchall())
    assert json.loads(sent["plain"])["response_format"] == CANONICAL
    assert json.loads(sent["grammar"])["json_schema"] == SCHEMA
