"""The ``anthropic`` provider against the loopback fake Messages server (real SDK)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from evalkit.errors import ProviderCallError
from evalkit.providers.anthropic import AnthropicOptions, AnthropicProvider
from evalkit.providers.base import Request
from evalkit.records import Message
from fakeserver import FakeServer

MESSAGES = [
    Message("system", "Answer with the city only."),
    Message("user", "Capital of Peru?"),
    Message("assistant", "Lima"),
    Message("user", "Capital of Chile?"),
]


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(rules=[("Chile", "Santiago de Chile")], ttft_ms=30, latency_ms=0) as srv:
        yield srv


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake")


def _generate(server: FakeServer, stream: bool = True, **params):
    provider = AnthropicProvider(
        "claude",
        AnthropicOptions(
            type="anthropic",
            model="fake-claude",
            base_url=server.base_url,
            stream=stream,
            timeout=10,
        ),
    )

    async def go():
        try:
            request = Request(MESSAGES, provider.effective_params(params))
            return request, await provider.generate(request)
        finally:
            await provider.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("stream", [True, False])
def test_generation_tokens_and_wire_format(server, stream):
    request, result = _generate(server, stream=stream, max_tokens=16, stop=["\n"], seed=3)
    assert result.text == "Santiago de Chile"
    assert result.output_tokens == 3 and result.input_tokens and result.input_tokens > 3
    assert result.finish_reason == "end_turn" and result.model == "fake-claude"
    assert (result.ttft_ms is not None) is stream
    if stream:
        assert result.ttft_ms >= 30 and result.latency_ms >= result.ttft_ms
    (record,) = server.requests
    body = record.body
    assert body["system"] == "Answer with the city only."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["stop_sequences"] == ["\n"] and body["max_tokens"] == 16
    assert "seed" not in body and "stop" not in body
    # the key travels in a header (x-api-key, or a bearer token in newer SDKs), from the env
    assert "sk-ant-fake" in (
        record.headers.get("x-api-key", "") + record.headers.get("authorization", "")
    )
    # what is stored as params is exactly what was sent
    assert set(request.params) <= set(body)


@pytest.mark.parametrize(
    ("fault", "error_class", "retryable"),
    [
        ("429", "rate_limit", True),
        ("529", "server_error", True),
        ("500", "server_error", True),
        ("400", "bad_request", False),
        ("401", "auth", False),
        ("malformed", "malformed", True),
        ("reset", "connection", True),
    ],
)
def test_errors_are_classified(server, fault, error_class, retryable):
    server.configure(schedule=[fault], retry_after=7)
    with pytest.raises(ProviderCallError) as info:
        _generate(server, stream=False)
    assert info.value.error_class == error_class
    assert info.value.retryable is retryable
    if fault == "429":
        assert info.value.retry_after == 7


def test_missing_key_is_a_setup_error(server, monkeypatch):
    from evalkit.errors import SetupError

    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(SetupError, match=r"\$ANTHROPIC_API_KEY"):
        _generate(server)
