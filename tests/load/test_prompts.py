from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import InputError, NotFoundError
from evalkit.load.prompts import PromptLibrary, load_prompt_file, parse_ref, render_messages
from evalkit.records import Case


def test_loads_version_with_name_version_hash(write):
    path = write(
        "prompts/qa/v2.yaml",
        """
        description: few-shot
        parent: v1
        messages:
          - {role: system, content: "Answer briefly."}
          - {role: user, content: "Q: {{ question }}\\nA:"}
        params: {temperature: 0, max_tokens: 8, stop: ["\\n"], top_k: 5}
    """,
    )
    prompt = load_prompt_file(path)
    assert (prompt.name, prompt.version, prompt.number, prompt.ref) == ("qa", "v2", 2, "qa@v2")
    assert prompt.parent == "v1" and prompt.description == "few-shot"
    assert prompt.params == {"temperature": 0, "max_tokens": 8, "stop": ["\n"], "top_k": 5}
    assert len(prompt.hash) == 16
    rendered = render_messages(prompt, {"question": "2+2?"})
    assert [m.content for m in rendered] == ["Answer briefly.", "Q: 2+2?\nA:"]


def test_hash_covers_templates_and_params_not_comments(write):
    a = load_prompt_file(write("a/p/v1.yaml", "messages: [{role: user, content: hi}]\n"))
    b = load_prompt_file(
        write("b/p/v1.yaml", "# a comment\nmessages: [{role: user, content: hi}]\n")
    )
    c = load_prompt_file(write("c/p/v1.yaml", "messages: [{role: user, content: hi!}]\n"))
    d = load_prompt_file(
        write("d/p/v1.yaml", "messages: [{role: user, content: hi}]\nparams: {temperature: 1}\n")
    )
    assert a.hash == b.hash
    assert len({a.hash, c.hash, d.hash}) == 3


def test_missing_variable_is_an_error_not_empty_text(write):
    prompt = load_prompt_file(
        write("prompts/p/v1.yaml", 'messages: [{role: user, content: "{{ missing }}"}]\n')
    )
    with pytest.raises(InputError, match=r"p/v1\.yaml:1: .*UndefinedError: 'missing'"):
        render_messages(prompt, {})


def test_sandbox_escapes_are_refused_when_the_file_loads(write):
    path = write(
        "prompts/p/v1.yaml", 'messages: [{role: user, content: "{{ x.__class__.__mro__ }}"}]\n'
    )
    with pytest.raises(InputError, match=r"p/v1\.yaml:1: .*`__\w+__`.*unsafe") as caught:
        load_prompt_file(path)
    assert caught.value.fix


def test_what_the_sandbox_stops_at_render_time_names_the_prompt_and_case(write):
    path = write(
        "prompts/p/v1.yaml",
        'messages:\n  - role: user\n    content: "{% for i in range(10**7) %}{% endfor %}"\n',
    )
    case = Case(id="c1", hash="h", vars={}, source="cases.jsonl", line=4)
    with pytest.raises(InputError, match=r"p/v1\.yaml:3: .*case 'c1' \(cases\.jsonl:4\).*range"):
        render_messages(load_prompt_file(path), {}, case=case)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (
            "messages: [{role: user, content: hi}]\nparams: {temperature: hot}\n",
            2,
            "params.temperature must be a number, got 'hot'",
        ),
        ("messages:\n  - role: robot\n    content: hi\n", 2, "messages.role"),
        ("messages: [{role: user, content: hi}]\nextra: 1\n", 2, "unknown key 'extra'"),
        ("description: x\n", 1, "missing required key 'messages'"),
        ("messages: [{role: user, content: hi}\n", 1, "invalid YAML: a [ list opened here"),
        ('messages:\n  - role: user\n    content: "{{ oops "\n', 3, "template syntax error"),
    ],
)
def test_bad_files_name_file_line_and_fix(write, text, line, fragment):
    path = write("prompts/p/v1.yaml", text)
    with pytest.raises(InputError) as info:
        load_prompt_file(path)
    err = info.value
    assert err.exit_code == 2
    assert err.line == line, err.render()
    assert fragment in err.message
    assert err.path is not None and err.path.endswith("prompts/p/v1.yaml")
    assert err.fix


def test_file_name_must_be_v_number(write):
    with pytest.raises(InputError, match=r"named v<N>\.yaml"):
        load_prompt_file(write("prompts/p/latest.yaml", "messages: []\n"))


def test_library_resolves_latest_and_reports_missing(tmp_path: Path, write):
    for n in (1, 2, 10):
        write(f"prompts/qa/v{n}.yaml", f"messages: [{{role: user, content: 'v{n}'}}]\n")
    library = PromptLibrary([tmp_path / "prompts"])
    assert library.get("qa@latest").version == "v10"
    assert library.get("qa").version == "v10"
    assert library.get("qa@v2").messages[0].content == "v2"
    assert library.names() == ["qa"]
    with pytest.raises(NotFoundError, match="qa@v3"):
        library.get("qa@v3")
    with pytest.raises(NotFoundError, match="'nope' not found"):
        library.get("nope@v1")


def test_parse_ref():
    assert parse_ref("summarize@v2") == ("summarize", "v2")
    assert parse_ref("summarize") == ("summarize", "latest")
    with pytest.raises(InputError):
        parse_ref("bad ref@@")


PLAIN_TEMPLATES = [
    "Q: {{ q }}\nA:",
    "{{q}}",
    "{{  q  }} and {{ n }} and {{\nq\n}}",
    "no variables at all\n",
    "{{ q }}{{ n }}{{ x }}\n\n",
    "unicode {{ q }} — ünïcode }} %} #}",
]
NOT_PLAIN = [
    "{{ q|upper }}",
    "{{ x.y }}",
    "{{- q }}",
    "{% if q %}yes{% endif %}",
    "{# note #}{{ q }}",
    "{{ true }} {{ q }}",
    "line\r\nbreak {{ q }}",
    "{{ q",
]
VALUES = {"q": "Paris?", "n": 42, "x": [1, "a", None], "f": 0.1, "b": True, "d": {"k": 1}}


@pytest.mark.parametrize("source", PLAIN_TEMPLATES)
def test_a_plain_template_renders_without_jinja_exactly_as_jinja(source):
    from evalkit.load.prompts import _compile, _jinja, _Plain

    assert isinstance(_compile(source), _Plain)
    for values in (VALUES, {**VALUES, "q": None}, {**VALUES, "q": 3.5, "n": False}):
        assert _compile(source).render(values) == _jinja(source).render(values)


@pytest.mark.parametrize("source", NOT_PLAIN)
def test_anything_more_than_variables_goes_to_jinja(source):
    from evalkit.load.prompts import _compile, _Plain

    try:
        compiled = _compile(source)
    except Exception:  # a syntax error is Jinja2's to report
        return
    assert not isinstance(compiled, _Plain)


def test_a_plain_template_missing_a_variable_fails_as_jinja_does():
    import jinja2

    from evalkit.load.prompts import _compile, template_problem, template_variables

    assert template_variables("{{ q }} {{n}}") == {"q", "n"}
    assert template_problem("{{ q }} {{n}}") is None
    with pytest.raises(jinja2.UndefinedError, match="'n' is undefined"):
        _compile("{{ q }} {{n}}").render({"q": "x"})
