"""Conversations and agent loops end to end (the fake server answers, by rule): every request
through the call path, stored as a transcript, cached request by request, replayed, shown,
and compared across prompt versions like any other suite."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from fakeserver import FakeServer

RULES = [
    ("temp_c", "It is mild in the city."),
    ("is late", "Sorry: order A-17 ships today."),
    ("need help", "Sure, how can I help?"),
]
TOOL_RULES = [
    {"match": "in Paris", "calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
    {"match": "in Rome", "calls": [{"name": "get_weather", "arguments": {"city": "rome"}}]},
    {"match": "in Lima", "calls": [{"name": "get_time", "arguments": {"zone": "Lima"}}]},
    {"match": "in Oslo", "calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
    # the Oslo forecast asks again: an agent that loops
    {"match": "Oslo", "after_tool": True, "calls": [{"name": "get_weather", "arguments": {}}]},
]


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def rows(sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def put(name: str, text: str) -> None:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def write_project(base_url: str) -> None:
    put(
        "evalkit.yaml",
        f"""
        providers:
          fake: {{type: openai, base_url: "{base_url}/v1", model: fake-model}}
          claude: {{type: anthropic, base_url: "{base_url}", model: fake-claude, stream: false}}
          base: {{type: openai, base_url: "{base_url}/v1", model: fake-model, mode: completion}}
        defaults: {{provider: fake, concurrency: 2}}
        """,
    )
    put("prompts/support/v1.yaml", "messages: [{role: system, content: You help.}]\n")
    put(
        "prompts/support/v2.yaml",
        "parent: v1\nmessages: [{role: system, content: You help kindly.}]\n",
    )
    put(
        "suites/chat.yaml",
        """
        name: chat
        prompt: [support@v1, support@v2]
        cases:
          - id: two-turns
            vars: {order: A-17}
            turns: ["Hi, I need help.", "My order {{ order }} is late."]
          - id: history
            vars: {order: B-2}
            messages:
              - {role: user, content: "Order {{ order }}?"}
              - {role: assistant, content: "Yes?"}
            turns: ["It is late, I need help."]
        scorers:
          - {type: contains, value: A-17}
          - {type: contains, value: help, turn: 1, name: first-turn}
        """,
    )
    tools = """
        tools:
          - type: function
            function:
              name: get_weather
              parameters: {type: object, properties: {city: {type: string}}, required: [city]}
          - {type: function, function: {name: get_time}}
        """
    put(
        "prompts/weather/v1.yaml",
        'messages: [{role: user, content: "What is the weather in {{ city }}?"}]\n'
        + textwrap.dedent(tools),
    )
    put(
        "prompts/weather/v2.yaml",
        'parent: v1\nmessages: [{role: user, content: "Weather in {{ city }}, please."}]\n'
        + textwrap.dedent(tools),
    )
    put(
        "suites/weather.yaml",
        """
        name: weather
        prompt: [weather@v1, weather@v2]
        max_steps: 3
        cases:
          - {id: paris, vars: {city: Paris}}
          - {id: rome, vars: {city: Rome}}
          - {id: lima, vars: {city: Lima}}
          - id: oslo
            vars: {city: Oslo}
            tool_results: [{name: get_weather, result: "Oslo: {temp_c: 3}"}]
        tool_results:
          - {name: get_weather, arguments: {city: Paris}, result: {temp_c: 18}}
          - {name: get_weather, result: "unknown city"}
        scorers:
          - {type: tool_call, name: get_weather, arguments: {city: "{{ city }}"}}
          - {type: contains, value: mild}
        """,
    )


@pytest.fixture
def project(in_tmp):
    with FakeServer(rules=RULES, tool_rules=TOOL_RULES) as server:
        write_project(server.base_url)
        yield server


def transcript(case_id: str, prompt: str, provider: str = "fake", run: str = "") -> Any:
    where = f"AND run_id = '{run}'" if run else ""
    (row,) = rows(
        f"SELECT transcript FROM results WHERE case_id = '{case_id}' AND prompt = '{prompt}' "
        f"AND provider = '{provider}' {where} ORDER BY created_at DESC LIMIT 1"
    )
    return json.loads(row[0])


def test_a_two_turn_conversation_is_played_stored_and_cached(project):
    result = invoke("run", "chat", "--json")
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["runs"]
    group = run["summary"]["groups"][0]
    assert (group["results"], group["passed"], group["retries"]) == (2, 1, 0)
    # one request per turn, in order, each with the whole conversation before it
    bodies = [r.body for r in project.requests]
    assert len(bodies) == 6  # two-turns: 2 requests, history: 1, for each prompt version
    second = next(b for b in bodies if "My order" in b["messages"][-1]["content"])
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][2]["content"] == "Sure, how can I help?"
    steps = transcript("two-turns", "support@v1")
    assert [(s["turn"], s["step"], s["output"]) for s in steps] == [
        (1, 1, "Sure, how can I help?"),
        (2, 2, "Sorry: order A-17 ships today."),
    ]
    assert steps[0]["messages"][0] == {"role": "system", "content": "You help."}
    assert steps[1]["messages"] == [{"role": "user", "content": "My order A-17 is late."}]
    ((output, inp, tokens_in, tokens_out, key),) = rows(
        "SELECT output, input, input_tokens, output_tokens, cache_key FROM results "
        "WHERE case_id = 'two-turns' AND prompt = 'support@v1'"
    )
    assert output == "Sorry: order A-17 ships today."
    assert len(json.loads(inp)) == 4  # the last request: the whole conversation
    assert tokens_in == sum(s["input_tokens"] for s in steps)
    assert tokens_out == sum(s["output_tokens"] for s in steps)
    assert key == steps[-1]["cache_key"] != steps[0]["cache_key"]
    # the history comes after the prompt's messages, the turn after it
    history = next(b for b in bodies if b["messages"][1]["content"] == "Order B-2?")
    assert [m["content"] for m in history["messages"]][1:] == [
        "Order B-2?",
        "Yes?",
        "It is late, I need help.",
    ]
    # scorers: the last reply by default; turn 1 where asked
    scores = dict(
        rows(
            "SELECT s.scorer, s.passed FROM scores s JOIN results r ON r.id = s.result_id "
            "WHERE r.case_id = 'two-turns' AND r.prompt = 'support@v1'"
        )
    )
    assert scores == {"contains": True, "first-turn": True}
    # the case's conversation is stored with it
    ((conversation,),) = rows("SELECT conversation FROM cases WHERE id = 'two-turns'")
    assert json.loads(conversation)["turns"][1] == "My order A-17 is late."

    # again: every request from the cache, request by request; no provider is called
    project.reset_log()
    again = invoke("run", "chat", "--json")
    assert again.exit_code == 0, again.output
    assert project.requests == []
    (run2,) = json.loads(again.stdout)["runs"]
    assert run2["summary"]["groups"][0]["cache_hits"] == 2
    assert run2["summary"]["run"]["calls_by_purpose"] == {"run": 6}
    cached = transcript("two-turns", "support@v1", run=run2["run_id"])
    assert [s["cache_hit"] for s in cached] == [True, True]
    assert [s["output"] for s in cached] == [s["output"] for s in steps]


def test_an_agent_loop_with_scripted_tool_results(project, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    result = invoke("run", "weather", "-p", "fake", "-p", "claude", "--json")
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["runs"]
    for provider in ("fake", "claude"):
        paris = transcript("paris", "weather@v1", provider)
        assert [(s["step"], s["output"]) for s in paris] == [
            (1, ""),
            (2, "It is mild in the city."),
        ]
        assert paris[0]["tool_calls"] == [
            {"id": "call_1_1", "name": "get_weather", "arguments": {"city": "Paris"}}
        ]
        assert paris[1]["messages"] == [
            {
                "role": "tool",
                "content": '{"temp_c": 18}',
                "tool_call_id": "call_1_1",
                "name": "get_weather",
            }
        ]
    # the calls beside the text
    ((calls,),) = rows(
        "SELECT tool_calls FROM results WHERE case_id = 'paris' AND prompt = 'weather@v1' "
        "AND provider = 'fake'"
    )
    assert json.loads(calls) == [
        {
            "id": "call_1_1",
            "name": "get_weather",
            "arguments": {"city": "Paris"},
            "turn": 1,
            "step": 1,
        }
    ]
    # a call the script does not answer ends the loop, and says so
    (lima,) = transcript("lima", "weather@v1")
    assert lima["stopped"] == 'no scripted result for get_time({"zone": "Lima"})'
    # an agent that keeps calling stops at max_steps
    oslo = transcript("oslo", "weather@v1")
    assert len(oslo) == 3 and oslo[-1]["stopped"].startswith("max_steps (3) reached")
    # tool_call scores the calls made; the wrong argument is named
    details = dict(
        rows(
            "SELECT r.case_id, s.detail FROM scores s JOIN results r ON r.id = s.result_id "
            "WHERE s.scorer = 'tool_call' AND r.prompt = 'weather@v1' AND r.provider = 'fake'"
        )
    )
    assert details["paris"] is None
    assert details["rome"] == "get_weather: city='rome', expected 'Rome'"
    assert details["lima"] == "expected get_weather, called get_time"
    groups = {(g["prompt"], g["provider"]): g for g in run["summary"]["groups"]}
    assert groups[("weather@v1", "fake")]["scores"]["tool_call"]["passed"] == 2  # paris, oslo
    # the trajectories are in evalkit.run/1
    shown = {(t["case_id"], t["prompt"], t["provider"]): t for t in run["transcripts"]}
    assert len(shown) == 16
    assert shown[("rome", "weather@v1", "fake")]["failures"] == [
        "contains: missing 'mild'",
        "tool_call: get_weather: city='rome', expected 'Rome'",
    ]


def test_runs_show_prints_the_trajectory(project):
    assert invoke("run", "weather").exit_code == 0
    text = invoke("runs", "show", "last", "--case", "paris").output
    assert "paris · weather@v1 · fake · passed · 1 turn, 2 requests, 1 tool call" in text
    assert '→ get_weather({"city": "Paris"})' in text
    assert '← get_weather: {"temp_c": 18}' in text
    assert "assistant: It is mild in the city." in text
    assert "rome ·" not in text
    run_text = invoke("run", "weather").output  # the run's report shows what did not pass
    assert "✗ tool_call: expected get_weather, called get_time" in run_text
    data = json.loads(invoke("runs", "show", "last", "--json").stdout)
    assert len(data["transcripts"]) == 8
    assert invoke("runs", "show", "last", "--transcripts", "0").output.count("→") == 0


def test_replay_plays_a_stored_conversation_back(project, monkeypatch):
    assert invoke("run", "chat", "weather").exit_code == 0
    live = {r[0]: r[1] for r in rows("SELECT suite, id FROM runs")}
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    project.reset_log()
    for suite, run_id in live.items():
        result = invoke("run", suite, "--replay", run_id, "--json")
        assert result.exit_code == 0, result.output
        replay = json.loads(result.stdout)["runs"][0]["run_id"]
        same = rows(
            f"""SELECT count(*) FROM results a JOIN results b
                USING (case_id, prompt, provider, repeat)
                WHERE a.run_id = '{run_id}' AND b.run_id = '{replay}'
                AND a.output = b.output AND a.tool_calls IS NOT DISTINCT FROM b.tool_calls
                AND json_array_length(a.transcript) = json_array_length(b.transcript)"""
        )
        assert same == [(4 if suite == "chat" else 8,)]
    assert project.requests == []


def test_compared_across_prompt_versions_like_any_suite(project):
    result = invoke(
        "compare", "--prompt", "weather@v1", "--prompt", "weather@v2", "weather", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (pairing,) = data["pairings"]
    metrics = {m["metric"]: m for m in pairing["metrics"]}
    assert {"pass rate", "tool_call", "contains"} <= set(metrics)
    assert pairing["cases"]["compared"] == 4


def test_a_failed_request_ends_the_conversation(project):
    put(
        "suites/broken.yaml",
        """
        name: broken
        prompt: support@v1
        cases:
          - {id: c, turns: ["I need help.", "Then this: [[fault:400]]"]}
        scorers: [{type: contains, value: x}]
        """,
    )
    result = invoke("run", "broken", "--json")
    (run,) = json.loads(result.stdout)["runs"]
    assert run["summary"]["errors"][0]["error_class"] == "bad_request"
    steps = transcript("c", "support@v1")
    assert steps[0]["output"] == "Sure, how can I help?"
    assert steps[1]["error_class"] == "bad_request" and "output" not in steps[1]
    ((error_class, output),) = rows("SELECT error_class, output FROM results")
    assert (error_class, output) == ("bad_request", None)


def test_tools_need_a_chat_mode_provider(project):
    result = invoke("run", "weather", "-p", "base")
    assert result.exit_code == 2
    assert "weather@v1 declares tools, and provider 'base' runs in completion mode" in (
        result.stderr
    )


def test_the_html_report_shows_each_exchange_request_by_request(project, in_tmp):
    """In Chromium: a case's detail lists the agent loop's requests, its tool calls and the
    scripted results."""
    from playwright.sync_api import sync_playwright

    report = in_tmp / "r.html"
    result = invoke("run", "weather", "--prompt", "weather@v1", "--report", str(report))
    assert result.exit_code in (0, 1), result.output
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(report.as_uri())
            page.wait_for_selector("#cases tr.case")
            page.click('#cases tr.case[data-case="paris"]')
            detail = page.locator("#cases tr.detail-row details.exchange").first
            text = detail.inner_text()
            assert "the exchange, request by request (2)" in text
            assert "turn 1 · request 1" in text and "turn 1 · request 2" in text
            assert '→ tool call get_weather({"city": "Paris"})' in text
            assert 'tool result: {"temp_c": 18}' in text
            assert "It is mild in the city." in text
            assert errors == []
        finally:
            browser.close()
