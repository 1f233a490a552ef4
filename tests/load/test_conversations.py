"""Tools in prompt versions; history, turns and scripted tool results in cases and suites."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import InputError
from evalkit.load.prompts import PromptLibrary, load_prompt_file, render_messages
from evalkit.load.suites import load_suite
from evalkit.records import Case, content_hash
from evalkit.run.plan import make_plan

TOOLS = """
tools:
  - type: function
    function:
      name: get_weather
      description: Current weather in a city
      parameters: {type: object, properties: {city: {type: string}}, required: [city]}
"""


def test_tools_are_checked_and_kept_in_params(write):
    plain = load_prompt_file(
        write("prompts/w/v1.yaml", 'messages: [{role: user, content: "hi"}]\n')
    )
    tooled = load_prompt_file(
        write(
            "prompts/w/v2.yaml",
            'messages: [{role: user, content: "hi"}]\n' + TOOLS + "tool_choice: required\n",
        )
    )
    assert plain.tools == [] and "tools" not in plain.params
    assert [t["function"]["name"] for t in tooled.tools] == ["get_weather"]
    assert tooled.params["tool_choice"] == "required"
    assert tooled.hash != plain.hash  # the tools are part of the version
    # a version without tools hashes as it always did (messages + params)
    assert plain.hash == content_hash(
        {"messages": [{"role": "user", "content": "hi"}], "params": {}}
    )


@pytest.mark.parametrize(
    "extra, line, says",
    [
        ("tools: []\n", 2, "`tools` must be a non-empty list"),
        ("tools: [{type: function, function: {name: 'a b'}}]\n", 2, "'a b' is not a tool name"),
        ("tools: [{type: retrieval, function: {name: a}}]\n", 2, "must be one of 'function'"),
        (
            "tools:\n  - {type: function, function: {name: a}}\n"
            "  - {type: function, function: {name: a}}\n",
            4,
            "two tools are named 'a' (first at line 3)",
        ),
        (
            "tools:\n  - type: function\n    function:\n      name: a\n"
            "      parameters: {type: object, properties: {x: {type: strin}}}\n",
            6,
            "invalid JSON Schema in a tool's parameters at properties/x/type",
        ),
        (
            "tools: [{type: function, function: {name: a, parameters: {type: string}}}]\n",
            2,
            "must be an object schema",
        ),
        ("tool_choice: auto\n", 2, "`tool_choice` without `tools`"),
        (TOOLS + "tool_choice: requird\n", 9, "unknown tool_choice 'requird'"),
        (
            TOOLS + "tool_choice: {type: function, function: {name: get_wether}}\n",
            9,
            "tool_choice names 'get_wether', which is not in `tools`",
        ),
        ("params: {tools: []}\n", 2, "`tools` belongs at the top level"),
    ],
)
def test_bad_tools_name_file_and_line(write, extra, line, says):
    path = write("prompts/w/v1.yaml", 'messages: [{role: user, content: "hi"}]\n' + extra)
    with pytest.raises(InputError) as err:
        load_prompt_file(path)
    assert says in err.value.message
    assert err.value.line == line, err.value.message


def test_history_placeholder_inserts_a_var_of_messages(write):
    prompt = load_prompt_file(
        write(
            "prompts/h/v1.yaml",
            "messages:\n"
            "  - {role: system, content: Be brief.}\n"
            "  - {history: chat}\n"
            '  - {role: user, content: "{{ question }}"}\n',
        )
    )
    chat = [
        {"role": "user", "content": "Hi {{ not_a_template }}"},
        {"role": "assistant", "content": "Hello"},
    ]
    rendered = render_messages(prompt, {"chat": chat, "question": "Refund?"})
    assert [(m.role, m.content) for m in rendered] == [
        ("system", "Be brief."),
        ("user", "Hi {{ not_a_template }}"),  # a var's value is data, not a template
        ("assistant", "Hello"),
        ("user", "Refund?"),
    ]
    case = Case("c", "h", {"chat": "not a list", "question": "q"}, source="cases.jsonl", line=3)
    with pytest.raises(InputError) as err:
        render_messages(prompt, case.vars, case=case)
    assert "var 'chat' (the history h@v1 inserts) must be a list of messages" in err.value.message
    assert (err.value.path, err.value.line) == ("cases.jsonl", 3)


def test_at_most_one_history_placeholder(write):
    path = write("prompts/h/v1.yaml", "messages:\n  - {history: a}\n  - {history: b}\n")
    with pytest.raises(InputError, match="at most one `history:` placeholder") as err:
        load_prompt_file(path)
    assert err.value.line == 3


@pytest.fixture
def library(tmp_path: Path, write) -> PromptLibrary:
    write("prompts/chat/v1.yaml", "messages: [{role: system, content: You help.}]\n")
    write(
        "prompts/h/v1.yaml",
        'messages:\n  - {history: chat}\n  - {role: user, content: "{{ q }}"}\n',
    )
    return PromptLibrary([tmp_path / "prompts"])


def test_case_messages_turns_and_tool_results(write, library):
    path = write(
        "suites/s.yaml",
        """
        prompt: chat@v1
        max_steps: 3
        tool_results:
          - {name: get_weather, result: {temp_c: 18, city: "{{ city }}"}}
        cases:
          - id: two-turns
            vars: {order: A-17, city: Oslo}
            messages:
              - {role: user, content: "Earlier: {{ order }}"}
              - {role: assistant, content: Noted.}
            turns: ["Hi, I need help.", "My order {{ order }} is late."]
            tool_results:
              - {name: lookup_order, arguments: {order: "{{ order }}"}, result: shipped}
          - {id: plain, vars: {order: B-2, city: Rome}}
    """,
    )
    suite = load_suite(path, library)
    chat, plain = suite.cases
    assert [(m.role, m.content) for m in chat.messages] == [
        ("user", "Earlier: A-17"),
        ("assistant", "Noted."),
    ]
    assert chat.turns == ("Hi, I need help.", "My order A-17 is late.")
    assert [(t.name, t.arguments, t.result) for t in chat.tool_results] == [
        ("lookup_order", {"order": "A-17"}, "shipped"),
        ("get_weather", None, '{"temp_c": 18, "city": "Oslo"}'),  # the suite's, after
    ]
    assert chat.steps_per_turn == 3 and plain.steps_per_turn == 3
    assert plain.tool_results[0].result == '{"temp_c": 18, "city": "Rome"}'
    assert chat.conversation is not None and chat.conversation["max_steps"] == 3
    # the case's hash covers its script: change a turn, get another hash
    changed = write("suites/t.yaml", path.read_text().replace("is late", "is lost"))
    assert load_suite(changed, library).cases[0].hash != chat.hash
    # ... and the suite's tool results too
    other = write("suites/u.yaml", path.read_text().replace("temp_c: 18", "temp_c: 19"))
    assert load_suite(other, library).cases[1].hash != plain.hash


def test_a_plain_case_keeps_its_hash(write, library):
    suite = load_suite(
        write("suites/s.yaml", "prompt: chat@v1\ncases: [{id: a, vars: {x: 1}, reference: r}]\n"),
        library,
    )
    assert suite.cases[0].hash == content_hash({"vars": {"x": 1}, "reference": "r"})
    assert suite.cases[0].conversation is None


@pytest.mark.parametrize(
    "case, line, says",
    [
        (
            '{id: a, turns: ["My order {{ order }}"]}',
            3,
            "case 'a': UndefinedError: 'order' is undefined",
        ),
        ('{id: a, turns: ["{{ oops "]}', 3, "template syntax error"),
        ("{id: a, messages: [{role: robot, content: hi}]}", 3, "messages.role must be one of"),
        ("{id: a, tool_results: [{name: f}]}", 3, "missing required key 'result'"),
        ("{id: a, max_steps: 0}", 3, "max_steps must be ≥ 1"),
    ],
)
def test_bad_conversation_cases(write, library, case, line, says):
    path = write("suites/s.yaml", f"prompt: chat@v1\ncases:\n  - {case}\n")
    with pytest.raises(InputError) as err:
        load_suite(path, library)
    assert says in err.value.message
    assert err.value.line == line, err.value.message


def test_history_var_is_checked_when_planning(write, library):
    path = write(
        "suites/s.yaml",
        "prompt: h@v1\ncases:\n  - {id: ok, vars: {q: x, chat: []}}\n"
        "  - {id: bad, vars: {q: x, chat: [{role: user}]}}\n",
    )
    suite = load_suite(path, library)
    with pytest.raises(InputError) as err:
        make_plan(suite, "r", providers=["p"])
    assert "case 'bad': var 'chat' (the history h@v1 inserts) item 1 is not a message" in (
        err.value.message
    )
    assert err.value.line == 4
