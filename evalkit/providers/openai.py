"""``openai``: the OpenAI API and any OpenAI-compatible server (vLLM, Ollama, llama.cpp, TGI).

Speaks the wire format itself (``evalkit.providers.wire``: JSON over the SDK's own HTTP
transport, imported when the provider starts) rather than through the official SDK.
``mode: chat`` calls ``/chat/completions``; ``mode: completion`` renders the messages into one
prompt for ``/completions`` (base models). Every prompt param is sent as given (``top_k`` for
vLLM as well as ``temperature``). Streaming (the default) measures time to first token; usage
comes from the final chunk (``stream_options.include_usage``).

Tools (a prompt version's ``tools:``) are sent as they are declared (OpenAI's function format,
which llama.cpp's server also takes); the calls the model makes come back as ``ToolCall``s,
from the message or assembled from a stream's deltas.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from evalkit.errors import ProviderCallError, SetupError
from evalkit.providers.base import (
    ClientProvider,
    ProviderOptions,
    Request,
    Stopwatch,
    classify_sdk_error,
    completion_text,
)
from evalkit.providers.timeouts import CallDeadline
from evalkit.records import Generation, ToolCall, parse_arguments

__all__ = ["OpenAIOptions", "OpenAIProvider"]


class OpenAIOptions(ProviderOptions):
    model: str | None = None
    #: Server root including ``/v1``; default: the OpenAI API.
    base_url: str | None = None
    #: Environment variable holding the key (never the key itself).
    api_key_env: str = "OPENAI_API_KEY"
    #: Extra HTTP headers (not secrets: these are stored in the config hash).
    headers: dict[str, str] = Field(default_factory=dict)
    #: Whether a missing key is an error (default: only without ``base_url``).
    require_key: bool | None = None
    #: Seconds an idle connection is kept for reuse; 0 opens a new connection per request
    #: (for servers that drop kept-alive connections, see the ``local`` provider).
    keepalive_expiry: float = Field(default=5.0, ge=0)
    #: How a prompt's ``response_format`` is sent: as ``response_format`` (OpenAI, vLLM,
    #: llama.cpp chat), as llama.cpp's ``json_schema`` field (llama.cpp, needed in completion
    #: mode, where it ignores ``response_format``), or ``auto``: ``json_schema`` for the
    #: ``llamacpp`` preset, else ``response_format``.
    structured_outputs: Literal["auto", "response_format", "json_schema"] = "auto"


class OpenAIProvider(ClientProvider):
    """Chat or text completions over the OpenAI wire format."""

    type = "openai"
    Options: ClassVar[builtins.type[ProviderOptions]] = OpenAIOptions
    examples: ClassVar[dict[str, str]] = {
        "model": "model: gpt-4o-mini",
        "base_url": 'base_url: "http://localhost:8000/v1"',
    }

    def api_key(self) -> str:
        env = self.options.api_key_env  # type: ignore[attr-defined]
        key = os.environ.get(env)
        if key:
            return key
        required = self.options.require_key  # type: ignore[attr-defined]
        if not required and (self.base_url or required is False):
            # Local servers (llama.cpp, vLLM, Ollama) usually need no key.
            return "no-key"
        raise SetupError(
            f"provider '{self.id}' needs an API key in ${env}",
            fix=f"export {env}=... (keys are read from the environment, never from files)",
        )

    async def start(self, concurrency: int) -> None:
        if self._client is not None:
            return
        if not self.model:
            raise SetupError(
                f"provider '{self.id}' has no `model`",
                fix="add `model:` to its entry in evalkit.yaml, e.g. `model: gpt-4o-mini`",
            )
        self._client = self.make_client()

    def make_client(self) -> Any:
        from evalkit.providers.wire import JSONClient

        return JSONClient(
            self.base_url or "https://api.openai.com/v1",
            self.request_headers(),
            self._total,
            self.options.keepalive_expiry,  # type: ignore[attr-defined]
        )

    def request_headers(self) -> dict[str, str]:
        """Every request's headers: the key as a bearer token, then the configured ones."""
        return {
            "Authorization": f"Bearer {self.api_key()}",
            **(self.options.headers or {}),  # type: ignore[attr-defined]
        }

    def effective_params(self, prompt_params: Mapping[str, Any]) -> dict[str, Any]:
        """The params sent: a ``response_format`` goes as this server understands it."""
        params = super().effective_params(prompt_params)
        how = self.options.structured_outputs  # type: ignore[attr-defined]
        if how == "json_schema" or (how == "auto" and self.type == "llamacpp"):
            from evalkit.providers.structured import as_llama_json_schema

            return as_llama_json_schema(params)
        return params

    async def generate(self, request: Request) -> Generation:
        if self._client is None:
            await self.start(1)
        args = dict(request.params)
        try:
            async with self.deadline() as watch:
                if self.mode == "completion":
                    prompt = completion_text(request.messages, self.options.completion_template)
                    return await self._complete(prompt, args, watch)
                messages = [m.as_dict() for m in request.messages]
                return await self._chat(messages, args, watch)
        except ProviderCallError:
            raise
        except Exception as exc:  # every SDK/transport failure becomes an error class
            raise classify_sdk_error(exc) from exc

    async def _chat(
        self, messages: list[dict[str, Any]], args: dict[str, Any], watch: CallDeadline
    ) -> Generation:
        return await self._create(
            "/chat/completions",
            {"messages": messages, **args},
            watch,
            whole=lambda c: (c.get("message") or {}).get("content"),
            piece=lambda c: (c.get("delta") or {}).get("content"),
            chat=True,
        )

    async def _complete(self, prompt: str, args: dict[str, Any], watch: CallDeadline) -> Generation:
        return await self._create(
            "/completions",
            {"prompt": prompt, **args},
            watch,
            whole=lambda c: c.get("text"),
            piece=lambda c: c.get("text"),
        )

    async def _create(
        self,
        path: str,
        args: dict[str, Any],
        watch: CallDeadline,
        whole: Callable[[dict[str, Any]], str | None],
        piece: Callable[[dict[str, Any]], str | None],
        chat: bool = False,
    ) -> Generation:
        """One chat or text completion; ``whole``/``piece`` read a choice's text from a
        response / a stream chunk; ``chat`` also reads tool calls. ``watch`` hears of every
        chunk (first-token and idle deadlines)."""
        clock = Stopwatch()
        body = {"model": self.model, **args}
        if not self.options.stream:
            response = await self._client.post(path, body)
            choices = response.get("choices")
            if not choices or not isinstance(choices, list):
                raise ProviderCallError("empty", "response has no choices", retryable=True)
            choice = _mapping(choices[0])
            text = whole(choice)
            calls = _message_calls(choice.get("message")) if chat else ()
            if text is None and not calls:
                raise ProviderCallError("empty", "response has no content", retryable=True)
            generation = _generation(
                text or "",
                response.get("usage"),
                clock,
                None,
                choice.get("finish_reason"),
                response.get("model"),
            )
            generation.tool_calls = calls
            return generation
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        parts: list[str] = []
        usage = finish = served = None
        got_choice = False
        deltas = _CallDeltas()
        async with contextlib.aclosing(self._client.events(path, body)) as chunks:
            async for chunk in chunks:
                watch.tick()
                served = served or chunk.get("model")
                if chunk.get("usage") is not None:
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or ():
                    choice = _mapping(choice)
                    got_choice = True
                    text = piece(choice)
                    if text:
                        clock.mark_first()
                        parts.append(text)
                    if chat and deltas.add((choice.get("delta") or {}).get("tool_calls")):
                        clock.mark_first()
                    finish = choice.get("finish_reason") or finish
        if not got_choice:
            raise ProviderCallError("empty", "stream carried no choices", retryable=True)
        generation = _generation("".join(parts), usage, clock, clock.ttft_ms, finish, served)
        generation.tool_calls = deltas.calls()
        return generation


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProviderCallError(
            "malformed", f"a choice is not an object: {value!r:.200}", retryable=True
        )
    return value


def _message_calls(message: Any) -> tuple[ToolCall, ...]:
    """The function calls of a (non-streamed) chat message."""
    calls = []
    for call in (message or {}).get("tool_calls") or ():
        function = call.get("function")
        if not function:  # a custom (non-function) tool call: not evalkit's format
            continue
        calls.append(
            ToolCall(
                call.get("id") or "",
                function.get("name") or "",
                parse_arguments(function.get("arguments")),
            )
        )
    return tuple(calls)


class _CallDeltas:
    """Tool calls assembled from a stream's deltas (by index: an id and name first, then
    the arguments' JSON text in pieces)."""

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}

    def add(self, deltas: Any) -> bool:
        """Take one chunk's tool call deltas; True if it carried any."""
        for delta in deltas or ():
            slot = self._calls.setdefault(int(delta.get("index") or 0), ["", "", ""])
            if delta.get("id"):
                slot[0] = delta["id"]
            function = delta.get("function")
            if function:
                slot[1] += function.get("name") or ""
                slot[2] += function.get("arguments") or ""
        return bool(deltas)

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(call_id, name, parse_arguments(arguments))
            for _, (call_id, name, arguments) in sorted(self._calls.items())
        )


def _generation(
    text: str,
    usage: Any,
    watch: Stopwatch,
    ttft: float | None,
    finish: str | None,
    served: str | None,
) -> Generation:
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details") or {}
    return Generation(
        text=text,
        input_tokens=usage.get("prompt_tokens"),
        output_tokens=usage.get("completion_tokens"),
        cached_input_tokens=details.get("cached_tokens") if isinstance(details, dict) else None,
        latency_ms=watch.total_ms(),
        ttft_ms=ttft,
        finish_reason=finish,
        model=served,
    )
