"""The ``openai`` provider against a real llama-server on loopback (no hosted API)."""

from __future__ import annotations

import asyncio

import pytest

from evalkit.errors import ProviderCallError
from evalkit.providers.base import Request
from evalkit.providers.openai import OpenAIOptions, OpenAIProvider
from evalkit.records import Message

FEW_SHOT = [
    Message(
        "user", "Q: What is the capital of France?\nA: Paris\nQ: What is the capital of Italy?\nA:"
    )
]


def _provider(base_url: str, **options) -> OpenAIProvider:
    opts = OpenAIOptions(
        type="openai", model="gemma", base_url=base_url + "/v1", mode="completion", **options
    )
    return OpenAIProvider("llama", opts)


async def _generate(provider: OpenAIProvider, messages, **params):
    try:
        return await provider.generate(Request(messages, provider.effective_params(params)))
    finally:
        await provider.aclose()


def test_streaming_completion_measures_ttft_tokens_and_is_reproducible(llama):
    params = {"max_tokens": 8, "stop": ["\n"]}
    first = asyncio.run(_generate(_provider(llama), FEW_SHOT, **params))
    second = asyncio.run(_generate(_provider(llama), FEW_SHOT, **params))
    assert first.text.strip() == "Rome"
    assert first.text == second.text
    assert first.ttft_ms is not None and 0 < first.ttft_ms <= first.latency_ms
    assert first.input_tokens and first.input_tokens > 10
    assert first.output_tokens and 1 <= first.output_tokens <= 8
    assert first.finish_reason == "stop"


def test_non_streaming_completion(llama):
    result = asyncio.run(
        _generate(_provider(llama, stream=False), FEW_SHOT, max_tokens=8, stop=["\n"])
    )
    assert result.text.strip() == "Rome" and result.ttft_ms is None
    assert result.output_tokens and result.latency_ms and result.latency_ms > 0


def test_params_reach_the_server(llama):
    result = asyncio.run(_generate(_provider(llama), FEW_SHOT, max_tokens=1))
    assert result.output_tokens == 1 and result.finish_reason == "length"


def test_chat_mode_speaks_the_chat_wire_format(llama):
    """The base model answers chat requests poorly, but the wire format must work."""
    opts = OpenAIOptions(type="openai", model="gemma", base_url=llama + "/v1", mode="chat")
    result = asyncio.run(
        _generate(
            OpenAIProvider("llama", opts),
            [Message("system", "Be brief."), Message("user", "Hi")],
            max_tokens=4,
        )
    )
    assert isinstance(result.text, str) and result.output_tokens is not None
    assert 1 <= result.output_tokens <= 4


def test_connection_refused_is_classified():
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = _provider(f"http://127.0.0.1:{port}", timeout=5)
    with pytest.raises(ProviderCallError) as info:
        asyncio.run(_generate(provider, FEW_SHOT))
    assert info.value.error_class == "connection" and info.value.retryable


def test_no_key_needed_for_a_local_base_url_but_required_for_openai():
    from evalkit.errors import SetupError

    local = OpenAIProvider(
        "x", OpenAIOptions(type="openai", model="m", base_url="http://127.0.0.1:1/v1")
    )
    assert local.api_key() == "no-key"
    hosted = OpenAIProvider("gpt", OpenAIOptions(type="openai", model="gpt-4o-mini"))
    with pytest.raises(SetupError, match=r"\$OPENAI_API_KEY"):
        hosted.api_key()
