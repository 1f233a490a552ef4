"""``anthropic``: the Anthropic Messages API through the official SDK's async client.

System turns become the ``system`` parameter and ``stop`` becomes ``stop_sequences``; a
prompt's ``response_format`` (a JSON schema) becomes ``output_config.format`` (see
``evalkit.providers.structured``). Params the
installed SDK's ``messages.create`` does not take (``seed`` always; ``temperature``/``top_p`` in
SDK releases whose API no longer accepts them) are dropped before the call, and the params
stored on each result are exactly those sent. Streaming (the default) measures time to first
token from the first text delta.

Tools declared in OpenAI's function format become Anthropic tools (``input_schema``), and
``tool_choice`` maps (``required`` → ``any``, a named function → ``tool``); assistant turns
with tool calls become ``tool_use`` blocks and tool results ``tool_result`` blocks of a user
turn. The model's ``tool_use`` blocks come back as ``ToolCall``s (streamed: assembled from
``input_json_delta`` pieces).
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import inspect
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from evalkit.errors import ProviderCallError, SetupError
from evalkit.providers.base import (
    ClientProvider,
    ProviderOptions,
    Request,
    Stopwatch,
    classify_sdk_error,
)
from evalkit.providers.timeouts import CallDeadline
from evalkit.records import Generation, Message, ToolCall, parse_arguments

__all__ = ["AnthropicOptions", "AnthropicProvider"]

#: Arguments of ``messages.create`` that evalkit fills itself (not generation params).
_PLUMBING = {
    "self",
    "messages",
    "model",
    "stream",
    "system",
    "extra_headers",
    "extra_query",
    "extra_body",
    "timeout",
}


@functools.cache
def _sdk_params() -> frozenset[str]:
    """Generation params the installed SDK's ``messages.create`` accepts."""
    from anthropic.resources.messages import AsyncMessages

    return frozenset(inspect.signature(AsyncMessages.create).parameters) - _PLUMBING


class AnthropicOptions(ProviderOptions):
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "ANTHROPIC_API_KEY"
    headers: dict[str, str] = Field(default_factory=dict)


class AnthropicProvider(ClientProvider):
    """Claude models over the Messages API."""

    type = "anthropic"
    Options: ClassVar[builtins.type[ProviderOptions]] = AnthropicOptions
    examples: ClassVar[dict[str, str]] = {"model": "model: claude-3-5-haiku-latest"}

    def effective_params(self, prompt_params: Mapping[str, Any]) -> dict[str, Any]:
        params = super().effective_params(prompt_params)
        if "response_format" in params:
            from evalkit.providers.structured import as_anthropic

            params = as_anthropic(params, self.id, "output_config" in _sdk_params())
        if "stop" in params:
            stop = params.pop("stop")
            params["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if "tools" in params:
            params["tools"] = [_tool(t) for t in params["tools"]]
        parallel = params.pop("parallel_tool_calls", None)
        if "tool_choice" in params or parallel is False:
            params["tool_choice"] = _choice(params.get("tool_choice", "auto"), parallel)
        accepted = _sdk_params()
        return {k: v for k, v in params.items() if k in accepted}

    async def start(self, concurrency: int) -> None:
        if self._client is not None:
            return
        if not self.model:
            raise SetupError(
                f"provider '{self.id}' has no `model`",
                fix="add `model:` to its entry in evalkit.yaml, "
                "e.g. `model: claude-3-5-haiku-latest`",
            )
        env = self.options.api_key_env  # type: ignore[attr-defined]
        key = os.environ.get(env)
        if not key:
            raise SetupError(
                f"provider '{self.id}' needs an API key in ${env}",
                fix=f"export {env}=... (keys are read from the environment, never from files)",
            )
        import anthropic

        self._client = anthropic.AsyncAnthropic(
            api_key=key,
            base_url=self.base_url,
            timeout=self._total,
            max_retries=0,
            default_headers=self.options.headers or None,  # type: ignore[attr-defined]
        )

    def _arguments(self, request: Request) -> dict[str, Any]:
        args = dict(request.params)
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        if system:
            args["system"] = system
        args["messages"] = _messages([m for m in request.messages if m.role != "system"])
        return args

    async def generate(self, request: Request) -> Generation:
        if self._client is None:
            await self.start(1)
        args = self._arguments(request)
        clock = Stopwatch()
        try:
            async with self.deadline() as watch:
                if self.options.stream:
                    return await self._stream(args, clock, watch)
                message = await self._client.messages.create(model=self.model, **args)
            texts = [b.text for b in message.content or () if getattr(b, "type", "") == "text"]
            if message.content is None:
                raise ProviderCallError("empty", "response has no content", retryable=True)
            usage = message.usage
            return Generation(
                text="".join(texts),
                tool_calls=tuple(
                    ToolCall(b.id, b.name, b.input)
                    for b in message.content
                    if getattr(b, "type", "") == "tool_use"
                ),
                input_tokens=_input_tokens(usage),
                cached_input_tokens=getattr(usage, "cache_read_input_tokens", None),
                output_tokens=getattr(usage, "output_tokens", None),
                latency_ms=clock.total_ms(),
                finish_reason=message.stop_reason,
                model=message.model,
            )
        except ProviderCallError:
            raise
        except Exception as exc:
            raise classify_sdk_error(exc) from exc

    async def _stream(
        self, args: dict[str, Any], clock: Stopwatch, watch: CallDeadline
    ) -> Generation:
        stream = await self._client.messages.create(model=self.model, stream=True, **args)
        parts: list[str] = []
        input_tokens = output_tokens = cached = None
        finish = served = None
        started = False
        uses: dict[int, list[str]] = {}  # block index -> [id, name, partial JSON]
        try:
            async for event in stream:
                watch.tick()
                kind = getattr(event, "type", "")
                if kind == "message_start":
                    started = True
                    served = event.message.model
                    input_tokens = _input_tokens(event.message.usage)
                    cached = getattr(event.message.usage, "cache_read_input_tokens", None)
                elif kind == "content_block_start":
                    block = event.content_block
                    if getattr(block, "type", "") == "tool_use":
                        clock.mark_first()
                        uses[event.index] = [block.id, block.name, ""]
                elif kind == "content_block_delta":
                    text = getattr(event.delta, "text", None)
                    if text:
                        clock.mark_first()
                        parts.append(text)
                    partial = getattr(event.delta, "partial_json", None)
                    if partial and event.index in uses:
                        uses[event.index][2] += partial
                elif kind == "message_delta":
                    finish = getattr(event.delta, "stop_reason", None) or finish
                    usage = getattr(event, "usage", None)
                    if usage is not None and getattr(usage, "output_tokens", None) is not None:
                        output_tokens = usage.output_tokens
                elif kind == "error":
                    raise ProviderCallError(
                        "server_error", f"stream error: {event}", retryable=True
                    )
        except BaseException:  # a deadline, an interrupt, a broken stream: drop the connection
            with contextlib.suppress(Exception):
                await stream.close()
            raise
        if not started:
            raise ProviderCallError("empty", "stream carried no message", retryable=True)
        return Generation(
            text="".join(parts),
            input_tokens=input_tokens,
            cached_input_tokens=cached,
            output_tokens=output_tokens,
            latency_ms=clock.total_ms(),
            ttft_ms=clock.ttft_ms,
            finish_reason=finish,
            model=served,
            tool_calls=tuple(
                ToolCall(call_id, name, parse_arguments(text))
                for _, (call_id, name, text) in sorted(uses.items())
            ),
        )


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI function tool as an Anthropic tool."""
    function = tool.get("function", tool)
    out: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _choice(choice: Any, parallel: Any) -> dict[str, Any]:
    """OpenAI's ``tool_choice`` as Anthropic's (``parallel_tool_calls: false`` included)."""
    if isinstance(choice, dict):
        out: dict[str, Any] = {"type": "tool", "name": choice["function"]["name"]}
    else:
        out = {"type": {"required": "any"}.get(choice, choice)}
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages in the Messages API's shape: an assistant turn's calls as ``tool_use``
    blocks; consecutive tool results as ``tool_result`` blocks of one user turn."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
            last = out[-1] if out else None
            if last and last["role"] == "user" and isinstance(last["content"], list):
                last["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif m.tool_calls:
            blocks: list[dict[str, Any]] = []
            if m.content:
                blocks.append({"type": "text", "text": m.content})
            blocks += [
                {
                    "type": "tool_use",
                    "id": c.id,
                    "name": c.name,
                    "input": c.arguments if isinstance(c.arguments, dict) else {},
                }
                for c in m.tool_calls
            ]
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def _input_tokens(usage: Any) -> int | None:
    """All input tokens: Anthropic counts cache reads and writes apart from ``input_tokens``."""
    base = getattr(usage, "input_tokens", None)
    if base is None:
        return None
    extra = (getattr(usage, "cache_read_input_tokens", None) or 0) + (
        getattr(usage, "cache_creation_input_tokens", None) or 0
    )
    return int(base) + int(extra)
