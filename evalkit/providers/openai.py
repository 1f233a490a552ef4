"""``openai``: the OpenAI API and any OpenAI-compatible server (vLLM, Ollama, llama.cpp, TGI).

Uses the official SDK's async client (imported when the provider starts, never at import of
evalkit). ``mode: chat`` calls ``/chat/completions``; ``mode: completion`` renders the messages
into one prompt for ``/completions`` (base models). Streaming (the default) measures time to
first token; usage comes from the final chunk (``stream_options.include_usage``).

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

#: Params sent as named arguments; anything else goes to ``extra_body`` (e.g. top_k for vLLM).
_KNOWN = {
    "temperature",
    "max_tokens",
    "seed",
    "stop",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "n",
    "user",
    "response_format",
    "max_completion_tokens",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
}
#: Named arguments of chat completions that the SDK's text completions do not take: in
#: completion mode they go in ``extra_body``, for the server to honour (vLLM) or not.
_CHAT_ONLY = {"response_format", "max_completion_tokens"}


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
        import openai

        return openai.AsyncOpenAI(
            api_key=self.api_key(),
            base_url=self.base_url,
            timeout=self._total,
            max_retries=0,
            default_headers=self.options.headers or None,  # type: ignore[attr-defined]
            http_client=self.http_client(),
        )

    def http_client(self) -> Any:
        """The SDK's own HTTP client defaults, with this provider's keep-alive expiry."""
        import httpx2
        import openai

        expiry = self.options.keepalive_expiry  # type: ignore[attr-defined]
        return openai.DefaultAsyncHttpx2Client(
            limits=httpx2.Limits(
                max_connections=1000,
                max_keepalive_connections=100 if expiry else 0,
                keepalive_expiry=expiry or None,
            )
        )

    def effective_params(self, prompt_params: Mapping[str, Any]) -> dict[str, Any]:
        """The params sent: a ``response_format`` goes as this server understands it."""
        params = super().effective_params(prompt_params)
        how = self.options.structured_outputs  # type: ignore[attr-defined]
        if how == "json_schema" or (how == "auto" and self.type == "llamacpp"):
            from evalkit.providers.structured import as_llama_json_schema

            return as_llama_json_schema(params)
        return params

    def _arguments(self, params: Mapping[str, Any]) -> dict[str, Any]:
        known = _KNOWN - _CHAT_ONLY if self.mode == "completion" else _KNOWN
        args = {k: v for k, v in params.items() if k in known}
        extra = {k: v for k, v in params.items() if k not in known}
        if extra:
            args["extra_body"] = extra
        return args

    async def generate(self, request: Request) -> Generation:
        if self._client is None:
            await self.start(1)
        args = self._arguments(request.params)
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
            self._client.chat.completions,
            {"messages": messages, **args},
            watch,
            whole=lambda c: c.message.content if c.message else None,
            piece=lambda c: c.delta.content if c.delta else None,
            chat=True,
        )

    async def _complete(self, prompt: str, args: dict[str, Any], watch: CallDeadline) -> Generation:
        return await self._create(
            self._client.completions,
            {"prompt": prompt, **args},
            watch,
            whole=lambda c: c.text,
            piece=lambda c: c.text,
        )

    async def _create(
        self,
        endpoint: Any,
        args: dict[str, Any],
        watch: CallDeadline,
        whole: Callable[[Any], str | None],
        piece: Callable[[Any], str | None],
        chat: bool = False,
    ) -> Generation:
        """One chat or text completion; ``whole``/``piece`` read a choice's text from a
        response / a stream chunk; ``chat`` also reads tool calls. ``watch`` hears of every
        chunk (first-token and idle deadlines)."""
        clock = Stopwatch()
        if not self.options.stream:
            response = await endpoint.create(model=self.model, **args)
            if not response.choices:
                raise ProviderCallError("empty", "response has no choices", retryable=True)
            choice = response.choices[0]
            text = whole(choice)
            calls = _message_calls(choice.message) if chat else ()
            if text is None and not calls:
                raise ProviderCallError("empty", "response has no content", retryable=True)
            generation = _generation(
                text or "", response.usage, clock, None, choice.finish_reason, response.model
            )
            generation.tool_calls = calls
            return generation
        stream = await endpoint.create(
            model=self.model, stream=True, stream_options={"include_usage": True}, **args
        )
        parts: list[str] = []
        usage = finish = served = None
        got_choice = False
        deltas = _CallDeltas()
        try:
            async for chunk in stream:
                watch.tick()
                served = served or getattr(chunk, "model", None)
                if getattr(chunk, "usage", None) is not None:
                    usage = chunk.usage
                for choice in chunk.choices or ():
                    got_choice = True
                    text = piece(choice)
                    if text:
                        clock.mark_first()
                        parts.append(text)
                    if chat and deltas.add(getattr(choice.delta, "tool_calls", None)):
                        clock.mark_first()
                    finish = choice.finish_reason or finish
        except BaseException:  # a deadline, an interrupt, a broken stream: drop the connection
            with contextlib.suppress(Exception):
                await stream.close()
            raise
        if not got_choice:
            raise ProviderCallError("empty", "stream carried no choices", retryable=True)
        generation = _generation("".join(parts), usage, clock, clock.ttft_ms, finish, served)
        generation.tool_calls = deltas.calls()
        return generation


def _message_calls(message: Any) -> tuple[ToolCall, ...]:
    """The function calls of a (non-streamed) chat message."""
    calls = []
    for call in getattr(message, "tool_calls", None) or ():
        function = getattr(call, "function", None)
        if function is None:  # a custom (non-function) tool call: not evalkit's format
            continue
        calls.append(ToolCall(call.id or "", function.name, parse_arguments(function.arguments)))
    return tuple(calls)


class _CallDeltas:
    """Tool calls assembled from a stream's deltas (by index: an id and name first, then
    the arguments' JSON text in pieces)."""

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}

    def add(self, deltas: Any) -> bool:
        """Take one chunk's tool call deltas; True if it carried any."""
        for delta in deltas or ():
            slot = self._calls.setdefault(int(getattr(delta, "index", 0) or 0), ["", "", ""])
            if getattr(delta, "id", None):
                slot[0] = delta.id
            function = getattr(delta, "function", None)
            if function is not None:
                slot[1] += getattr(function, "name", None) or ""
                slot[2] += getattr(function, "arguments", None) or ""
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
    details = getattr(usage, "prompt_tokens_details", None)
    return Generation(
        text=text,
        input_tokens=getattr(usage, "prompt_tokens", None) if usage is not None else None,
        output_tokens=getattr(usage, "completion_tokens", None) if usage is not None else None,
        cached_input_tokens=getattr(details, "cached_tokens", None),
        latency_ms=watch.total_ms(),
        ttft_ms=ttft,
        finish_reason=finish,
        model=served,
    )
