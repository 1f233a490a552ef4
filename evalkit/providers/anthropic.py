"""``anthropic``: the Anthropic Messages API through the official SDK's async client.

System turns become the ``system`` parameter; ``stop`` becomes ``stop_sequences``; ``seed`` is
not supported by the API and is dropped (the stored params say what was sent). Streaming (the
default) measures time to first token from the first text delta.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from evalkit.errors import ProviderCallError, SetupError
from evalkit.providers.base import Provider, ProviderOptions, Request, Stopwatch, classify_sdk_error
from evalkit.records import Generation

__all__ = ["AnthropicOptions", "AnthropicProvider"]

_KNOWN = {"temperature", "max_tokens", "top_p", "top_k", "stop_sequences", "metadata"}
#: Params the Messages API does not accept; dropped rather than sent.
_UNSUPPORTED = {"seed", "frequency_penalty", "presence_penalty"}


class AnthropicOptions(ProviderOptions):
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "ANTHROPIC_API_KEY"
    headers: dict[str, str] = Field(default_factory=dict)


class AnthropicProvider(Provider):
    """Claude models over the Messages API."""

    type = "anthropic"
    Options: ClassVar[builtins.type[ProviderOptions]] = AnthropicOptions
    examples: ClassVar[dict[str, str]] = {"model": "model: claude-3-5-haiku-latest"}

    def __init__(self, provider_id: str, options: ProviderOptions) -> None:
        super().__init__(provider_id, options)
        self._client: Any = None

    @property
    def base_url(self) -> str | None:
        url: str | None = getattr(self.options, "base_url", None)
        return url

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "base_url": self.base_url}

    def effective_params(self, prompt_params: Mapping[str, Any]) -> dict[str, Any]:
        params = super().effective_params(prompt_params)
        for key in _UNSUPPORTED:
            params.pop(key, None)
        return params

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

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _arguments(self, request: Request) -> dict[str, Any]:
        params = dict(request.params)
        if "stop" in params:
            stop = params.pop("stop")
            params["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        args = {k: v for k, v in params.items() if k in _KNOWN}
        extra = {k: v for k, v in params.items() if k not in _KNOWN and k not in _UNSUPPORTED}
        if extra:
            args["extra_body"] = extra
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
                    input_tokens=getattr(usage, "input_tokens", None),
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
        input_tokens = output_tokens = None
        finish = served = None
        started = False
        async for event in stream:
            kind = getattr(event, "type", "")
            if kind == "message_start":
                started = True
                served = event.message.model
                input_tokens = getattr(event.message.usage, "input_tokens", None)
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
            output_tokens=output_tokens,
            latency_ms=watch.total_ms(),
            ttft_ms=watch.ttft_ms,
            finish_reason=finish,
            model=served,
        )
