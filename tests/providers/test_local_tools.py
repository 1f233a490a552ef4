"""Tools on the llama-server request path, with the bundled Gemma 3 270M.

Its GGUF has no chat template: llama-server falls back to ChatML and drops the tools without a
word, so a run with tools on it is refused before any call. Given a chat template that takes
tools (``--chat-template-file``), the tools reach the prompt; the base model still answers in
text, never with a call the server can parse.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from evalkit.providers.base import Request
from evalkit.providers.local import LocalOptions, LocalProvider
from evalkit.records import Message

pytestmark = pytest.mark.server

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
QUESTION = [Message("user", "What is the weather in Paris?")]

#: A minimal Gemma-style chat template that renders the tools into the prompt.
TEMPLATE = """{%- if tools -%}
{{- '<start_of_turn>user\\nYou may call: ' + (tools | tojson) + '<end_of_turn>\\n' -}}
{%- endif -%}
{%- for message in messages -%}
{{- '<start_of_turn>' + ('model' if message.role == 'assistant' else 'user') + '\\n'
    + (message.content or '') + '<end_of_turn>\\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}
"""


def ask(local: LocalProvider, with_tools: bool):
    params = local.effective_params({"max_tokens": 4, **({"tools": TOOLS} if with_tools else {})})
    return local.generate(Request(QUESTION, params))


def test_the_bundled_model_drops_tools_and_a_run_is_refused(llama):
    # the session's server (same binary, model, threads, context and slots): shared
    local = LocalProvider(
        "gemma",
        LocalOptions(type="local", mode="chat", ctx_size=1024, slots=4, threads=os.cpu_count()),
    )

    async def go():
        await local.start(1)
        try:
            problem = await local.tools_problem()
            plain = await ask(local, with_tools=False)
            tooled = await ask(local, with_tools=True)
            return problem, plain, tooled
        finally:
            await local.aclose()

    problem, plain, tooled = asyncio.run(go())
    assert problem is not None and "does not take tools" in problem
    # the request with tools is accepted, and the prompt is the same without them
    assert tooled.input_tokens == plain.input_tokens
    assert tooled.tool_calls == ()


def test_a_tool_capable_template_puts_tools_in_the_prompt(local_model, tmp_path: Path):
    template = tmp_path / "tools.jinja"
    template.write_text(TEMPLATE)
    local = LocalProvider(
        "gemma-tools",
        LocalOptions(
            type="local",
            mode="chat",
            ctx_size=512,
            server_args=["--chat-template-file", str(template)],
        ),
    )

    async def go():
        await local.start(1)
        try:
            problem = await local.tools_problem()
            plain = await ask(local, with_tools=False)
            tooled = await ask(local, with_tools=True)
            return problem, plain, tooled
        finally:
            await local.aclose()

    problem, plain, tooled = asyncio.run(go())
    assert problem is None
    assert tooled.input_tokens > plain.input_tokens  # the tools are in the prompt now
    # Gemma 3 270M is a base model: it continues the text; no call is parsed from it
    assert tooled.tool_calls == ()
