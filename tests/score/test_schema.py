"""json_schema: valid/invalid outputs, fenced JSON, and schema errors found at load time."""

from __future__ import annotations

import json

import pytest

from evalkit.errors import InputError
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import load_suite
from evalkit.score.schema import extract_json
from scoring import make_scorer, score

PERSON = {
    "type": "object",
    "required": ["name", "age"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("output", "passed", "detail"),
    [
        ('{"name": "Ada", "age": 36}', True, None),
        ('{"name": "Ada", "age": "36"}', False, "$.age: '36' is not of type 'integer'"),
        ('{"name": "Ada"}', False, "$: 'age' is a required property"),
        (
            '{"name": "Ada", "age": 36, "tags": ["x", 3]}',
            False,
            "$.tags[1]: 3 is not of type 'string'",
        ),
        ('{"name": "Ada", "age": -1}', False, "$.age: -1 is less than the minimum of 0"),
        (
            '{"name": "Ada", "age": 3, "x": 1}',
            False,
            "$: Additional properties are not allowed ('x' was unexpected)",
        ),
    ],
)
def test_validation_names_the_failing_path(output, passed, detail):
    outcome, decided = score(make_scorer(type="json_schema", schema=PERSON), output)
    assert decided is passed
    assert outcome.value == (1.0 if passed else 0.0)
    assert outcome.detail == detail


def test_several_errors_are_counted():
    outcome, _ = score(make_scorer(type="json_schema", schema=PERSON), '{"age": "x", "y": 1}')
    assert outcome.detail.endswith("(and 2 more)")


def test_invalid_json_is_a_clear_fail():
    outcome, passed = score(make_scorer(type="json_schema", schema=PERSON), "{name: Ada}")
    assert passed is False
    assert outcome.detail.startswith(
        "invalid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"
    )
    fenced = 'Here you go:\n```json\n{"name": "Ada", "age": 36}\n```'
    outcome, passed = score(make_scorer(type="json_schema", schema=PERSON), fenced)
    assert passed is False and "set `extract: fenced`" in outcome.detail


@pytest.mark.parametrize(
    ("text", "mode", "value", "problem"),
    [
        ('Sure!\n```json\n{"a": 1}\n```\nDone.', "fenced", {"a": 1}, None),
        ("```\n[1, 2]\n```", "fenced", [1, 2], None),
        ('{"a": 1}', "fenced", None, "no ```json fenced block in the output"),
        ('The answer is {"a": [1, 2]} as requested.', "auto", {"a": [1, 2]}, None),
        ('```json\n{"a": 2}\n```', "auto", {"a": 2}, None),
        ("no json here", "auto", None, "no JSON object or array in the output"),
    ],
)
def test_extract(text, mode, value, problem):
    got, why = extract_json(text, mode)
    assert got == value
    assert why == problem


def test_formats_checked_on_request():
    schema = {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}
    out = '{"email": "not-an-email"}'
    assert score(make_scorer(type="json_schema", schema=schema), out)[1] is True
    outcome, passed = score(make_scorer(type="json_schema", schema=schema, check_formats=True), out)
    assert passed is False and outcome.detail == "$.email: 'not-an-email' is not a 'email'"


def test_signature_has_schema_hash_and_jsonschema_version():
    a = make_scorer(type="json_schema", schema=PERSON)
    b = make_scorer(type="json_schema", schema={**PERSON, "required": ["name"]})
    assert a.signature()["schema_hash"] != b.signature()["schema_hash"]
    assert a.signature()["libs"]["jsonschema"]
    json.dumps(a.signature())  # storable


# -- suites: files and load-time errors ------------------------------------------------------
def _project(write, scorer_line, schema_file=None, schema_text=None):
    write("evalkit.yaml", "providers: {gemma: {type: local}}\n")
    write("prompts/p/v1.yaml", 'messages: [{role: user, content: "{{ q }}"}]\n')
    if schema_file:
        write(schema_file, schema_text)
    return write(
        "suites/s.yaml",
        f"""
        name: s
        prompt: p@v1
        cases: [{{id: a, vars: {{q: hi}}}}]
        scorers:
          - {scorer_line}
    """,
    )


def test_schema_file_relative_to_project_root(write, tmp_path):
    suite_path = _project(
        write,
        "{type: json_schema, schema: schemas/person.json}",
        "schemas/person.json",
        json.dumps(PERSON, indent=2),
    )
    suite = load_suite(suite_path, PromptLibrary([tmp_path / "prompts"]))
    options = suite.scorers[0].options
    assert options._schema == PERSON and options._source == "schemas/person.json"


def test_missing_schema_file_is_a_file_line_error(write, tmp_path, in_tmp):
    suite_path = _project(write, "{type: json_schema, schema: schemas/nope.json}")
    with pytest.raises(InputError) as info:
        load_suite(suite_path, PromptLibrary([tmp_path / "prompts"]))
    assert info.value.message == "suites/s.yaml:5: schema file 'schemas/nope.json' not found"
    assert "relative to the suite file or the project root" in info.value.fix


def test_bad_json_in_schema_file_names_its_line(write, tmp_path, in_tmp):
    suite_path = _project(
        write,
        "{type: json_schema, schema: person.json}",
        "suites/person.json",
        '{\n  "type": "object",\n  "required": ["a",]\n}\n',
    )
    with pytest.raises(InputError) as info:
        load_suite(suite_path, PromptLibrary([tmp_path / "prompts"]))
    assert info.value.path == "suites/person.json" and info.value.line == 3
    assert "invalid JSON" in info.value.message


def test_invalid_schema_names_the_keyword_line(write, tmp_path, in_tmp):
    suite_path = _project(
        write,
        "{type: json_schema, schema: person.yaml}",
        "suites/person.yaml",
        "type: object\nproperties:\n  age:\n    type: integr\n",
    )
    with pytest.raises(InputError) as info:
        load_suite(suite_path, PromptLibrary([tmp_path / "prompts"]))
    assert info.value.path == "suites/person.yaml" and info.value.line == 4
    assert "invalid JSON Schema at properties/age/type" in info.value.message


def test_invalid_inline_schema_points_into_the_suite(write, tmp_path, in_tmp):
    suite_path = _project(write, "{type: json_schema, schema: {type: object, minProperties: -1}}")
    with pytest.raises(InputError) as info:
        load_suite(suite_path, PromptLibrary([tmp_path / "prompts"]))
    assert info.value.path == "suites/s.yaml" and info.value.line == 5
    assert "minProperties" in info.value.message
