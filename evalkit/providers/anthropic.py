"""``anthropic``: the Anthropic Messages API through the official SDK's async client.

System turns become the ``system`` parameter and ``stop`` becomes ``stop_sequences``; a
prompt's ``response_format`` (a JSON schema) becomes ``output_config.format`` (see
``evalkit.providers.structured``). Params the
installed SDK's ``messages.create`` does not take (``seed`` always; ``temperature``/``top_p`` in
SDK releases whose API no longer accepts them) are dropped before the call, and the params
stored on each result are exactly those sent. Streaming (the default) measures time to first
token from the first text delta.
"""

from __future__ import annotations

import builtins
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
from evalkit.records import Generation

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
            timeout=self.options.timeout,
            max_retries=0,
            default_headers=self.options.headers or None,  # type: ignore[attr-defined]
        )

    def _arguments(self, request: Request) -> dict[str, Any]:
        args = dict(request.params)
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        if system:
            args["system"] = system
        args["messages"] = [
            {"role": m.role, "content": m.content} for m in request.messages if m.role != "system"
        ]
        return args

    async def generate(self, request: Request) -> Generation:
        if self._client is None:
            await self.start(1)
        args = self._arguments(request)
        watch = Stopwatch()
        try:
            if not self.options.stream:
                message = await self._client.messages.create(model=self.model, **args)
                texts = [b.text for b in message.content or () if getattr(b, "type", "") == "text"]
                if message.content is None:
                    raise ProviderCallError("empty", "response has no content", retryable=True)
                usage = message.usage
                return Generation(
                    text="".join(texts),
                    input_tokens=_input_tokens(usage),
                    cached_input_tokens=getattr(usage, "cache_read_input_tokens", None),
                    output_tokens=getattr(usage, "output_tokens", None),
                    latency_ms=watch.total_ms(),
                    finish_reason=message.stop_reason,
                    model=message.model,
                )
            return await self._stream(args, watch)
        except ProviderCallError:
            raise
        except Exception as exc:
            raise classify_sdk_error(exc) from exc

    async def _stream(self, args: dict[str, Any], watch: Stopwatch) -> Generation:
        stream = await self._client.messages.create(model=self.model, stream=True, **args)
        parts: list[str] = []
        input_tokens = output_tokens = cached = None
        finish = served = None
        started = False
        async for event in stream:
            kind = getattr(event, "type", "")
            if kind == "message_start":
                started = True
                served = event.message.model
                input_tokens = _input_tokens(event.message.usage)
                cached = getattr(event.message.usage, "cache_read_input_tokens", None)
            elif kind == "content_block_delta":
                text = getattr(event.delta, "text", None)
                if text:
                    watch.mark_first()
                    parts.append(text)
            elif kind == "message_delta":
                finish = getattr(event.delta, "stop_reason", None) or finish
                usage = getattr(event, "usage", None)
                if usage is not None and getattr(usage, "output_tokens", None) is not None:
                    output_tokens = usage.output_tokens
            elif kind == "error":
                raise ProviderCallError("server_error", f"stream error: {event}", retryable=True)
        if not started:
            raise ProviderCallError("empty", "stream carried no message", retryable=True)
        return Generation(
            text="".join(parts),
            input_tokens=input_tokens,
            cached_input_tokens=cached,
            output_tokens=output_tokens,
            latency_ms=watch.total_ms(),
            ttft_ms=watch.ttft_ms,
            finish_reason=finish,
            model=served,
        )


def _input_tokens(usage: Any) -> int | None:
    """All input tokens: Anthropic counts cache reads and writes apart from ``input_tokens``."""
    base = getattr(usage, "input_tokens", None)
    if base is None:
        return None
    extra = (getattr(usage, "cache_read_input_tokens", None) or 0) + (
        getattr(usage, "cache_creation_input_tokens", None) or 0
    )
    return int(base) + int(extra)
