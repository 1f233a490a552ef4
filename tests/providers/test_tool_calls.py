"""Tools through the OpenAI and Anthropic adapters, against the loopback fake server (which
answers with tool calls by rule), streamed and not; and the tool mapping of each format."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from evalkit.providers.anthropic import AnthropicOptions, AnthropicProvider
from evalkit.providers.base import Provider, Request
from evalkit.providers.openai import OpenAIOptions, OpenAIProvider
from evalkit.records import Message, ToolCall
from fakeserver import FakeServer

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
    {"type": "function", "function": {"name": "get_time"}},
]
TOOL_RULES = [
    {
        "match": "weather in Paris",
        "calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
    },
    {
        "match": "Paris and the time",
        "text": "Checking both.",
        "calls": [
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "get_time", "arguments": {}},
        ],
    },
    {"match": "ask the time", "calls": [{"name": "get_time"}]},
    {"match": "18", "after_tool": True, "calls": [{"name": "get_time"}]},
    {"match": "undeclared", "calls": [{"name": "delete_everything"}]},
]
RULES = [("temp_c", "It is 18 degrees."), ("12:00", "It is noon.")]


def provider(kind: str, server: FakeServer, stream: bool) -> Provider:
    if kind == "openai":
        return OpenAIProvider(
            "gpt",
            OpenAIOptions(
                type="openai", base_url=server.openai_base_url, model="fake-model", stream=stream
            ),
        )
    return AnthropicProvider(
        "claude",
        AnthropicOptions(
            type="anthropic", base_url=server.base_url, model="fake-claude", stream=stream
        ),
    )


def generate(p: Provider, messages: list[Message], **prompt_params: Any):
    async def go():
        try:
            return await p.generate(Request(messages, p.effective_params(prompt_params)))
        finally:
            await p.aclose()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def server():
    with FakeServer(tool_rules=TOOL_RULES, rules=RULES) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")


KINDS = [("openai", False), ("openai", True), ("anthropic", False), ("anthropic", True)]


@pytest.mark.parametrize("kind, stream", KINDS)
def test_a_tool_call_comes_back_parsed(server, kind, stream):
    gen = generate(
        provider(kind, server, stream),
        [Message("user", "What is the weather in Paris?")],
        tools=TOOLS,
    )
    assert gen.text == ""
    assert [(c.name, c.arguments) for c in gen.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert gen.tool_calls[0].id  # the server's id (the run renumbers it)
    assert gen.finish_reason == ("tool_calls" if kind == "openai" else "tool_use")
    assert gen.output_tokens == 2  # the fake counts the arguments' words
    if stream:
        assert gen.ttft_ms is not None  # the first call delta is the first token


@pytest.mark.parametrize("kind, stream", KINDS)
def test_parallel_calls_with_text(server, kind, stream):
    gen = generate(
        provider(kind, server, stream),
        [Message("user", "Weather in Paris and the time?")],
        tools=TOOLS,
    )
    assert gen.text == "Checking both."
    assert [(c.name, c.arguments) for c in gen.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {}),
    ]


@pytest.mark.parametrize("kind, stream", KINDS)
def test_tool_results_are_sent_back_in_each_format(server, kind, stream):
    server.reset_log()
    call = ToolCall("call_1_1", "get_weather", {"city": "Paris"})
    messages = [
        Message("system", "Be brief."),
        Message("user", "What is the weather in Paris?"),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", '{"temp_c": 12}', tool_call_id="call_1_1", name="get_weather"),
    ]
    gen = generate(provider(kind, server, stream), messages, tools=TOOLS)
    assert gen.text == "It is 18 degrees." and gen.tool_calls == ()
    body = server.requests[-1].body
    if kind == "openai":
        assert body["messages"][2] == {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        }
        assert body["messages"][3] == {
            "role": "tool",
            "content": '{"temp_c": 12}',
            "tool_call_id": "call_1_1",
            "name": "get_weather",
        }
        assert body["tools"] == TOOLS
    else:
        assert body["system"] == "Be brief."
        assert body["messages"][1] == {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "call_1_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        }
        assert body["messages"][2] == {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1_1", "content": '{"temp_c": 12}'}
            ],
        }
        assert body["tools"] == [
            {
                "name": "get_weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                "description": "Current weather in a city",
            },
            {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
        ]


def test_anthropic_tool_choice_and_parallel_mapping():
    claude = AnthropicProvider("c", AnthropicOptions(type="anthropic", model="m"))
    assert claude.effective_params({"tools": TOOLS, "tool_choice": "required"})["tool_choice"] == {
        "type": "any"
    }
    named = {"type": "function", "function": {"name": "get_time"}}
    assert claude.effective_params({"tools": TOOLS, "tool_choice": named})["tool_choice"] == {
        "type": "tool",
        "name": "get_time",
    }
    params = claude.effective_params({"tools": TOOLS, "parallel_tool_calls": False})
    assert params["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert "parallel_tool_calls" not in params  # stored params are exactly those sent


def test_openai_sends_tools_as_named_arguments(server):
    server.reset_log()
    generate(
        provider("openai", server, False),
        [Message("user", "ask the time")],
        tools=TOOLS,
        tool_choice="required",
        parallel_tool_calls=False,
    )
    body = server.requests[-1].body
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is False


def test_fake_server_tool_rules(server):
    # after a tool result only after_tool rules apply, matched on the result's text
    gen = generate(
        provider("openai", server, False),
        [
            Message("user", "What is the weather in Paris?"),
            Message("assistant", "", tool_calls=(ToolCall("a", "get_weather", {}),)),
            Message("tool", "18 degrees", tool_call_id="a"),
        ],
        tools=TOOLS,
    )
    assert [c.name for c in gen.tool_calls] == ["get_time"]
    # a rule whose tool the request did not declare does not fire; nor any without tools
    undeclared = generate(
        provider("openai", server, False), [Message("user", "undeclared")], tools=TOOLS
    )
    assert undeclared.tool_calls == () and undeclared.text.startswith("echo: ")
    plain = generate(provider("openai", server, False), [Message("user", "weather in Paris")])
    assert plain.tool_calls == ()


def test_fake_server_process_takes_tool_rules(tmp_path):
    from fakeserver import FakeServerProcess

    with FakeServerProcess(tool_rules=TOOL_RULES[:1]) as proc:
        srv = type("S", (), {"openai_base_url": proc.openai_base_url})
        gen = generate(
            OpenAIProvider(
                "gpt",
                OpenAIOptions(type="openai", base_url=srv.openai_base_url, model="fake-model"),
            ),
            [Message("user", "weather in Paris")],
            tools=TOOLS,
        )
    assert [c.name for c in gen.tool_calls] == ["get_weather"]
    assert json.dumps(gen.tool_calls[0].arguments) == '{"city": "Paris"}'
