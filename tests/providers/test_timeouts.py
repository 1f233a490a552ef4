"""A call's three deadlines — first token, idle, total — on both wire formats against the
loopback fake server: each expiry is its own error class, a slow but live answer is not cut,
an outer cancellation still propagates, and the adaptive first-token deadline learns."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from evalkit.errors import ProviderCallError
from evalkit.providers.anthropic import AnthropicOptions, AnthropicProvider
from evalkit.providers.base import ClientProvider, Request
from evalkit.providers.openai import OpenAIOptions, OpenAIProvider
from evalkit.providers.timeouts import FirstTokens
from evalkit.records import Generation, Message
from fakeserver import FakeServer

WIRES = ["openai", "anthropic"]


def make(wire: str, server: FakeServer, **options: Any) -> ClientProvider:
    if wire == "openai":
        opts = OpenAIOptions(
            type="openai", base_url=server.openai_base_url, model="fake-model", **options
        )
        return OpenAIProvider("fake", opts)
    opts = AnthropicOptions(
        type="anthropic", base_url=server.base_url, model="fake-claude", **options
    )
    return AnthropicProvider("claude", opts)


def call(provider: ClientProvider, n: int = 1) -> list[Generation | ProviderCallError]:
    async def go() -> list[Generation | ProviderCallError]:
        request = Request([Message("user", "Say hello")], provider.effective_params({}))
        out: list[Generation | ProviderCallError] = []
        try:
            for _ in range(n):
                try:
                    out.append(await provider.generate(request))
                except ProviderCallError as exc:
                    out.append(exc)
        finally:
            await provider.aclose()
        return out

    return asyncio.run(go())


@pytest.fixture(autouse=True)
def _keys(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")


@pytest.mark.parametrize("wire", WIRES)
def test_a_silent_server_is_a_first_token_timeout(wire):
    with FakeServer(faults={"hang": 1.0}) as server:
        (error,) = call(make(wire, server, first_token_timeout=0.3))
    assert isinstance(error, ProviderCallError) and error.retryable
    assert error.error_class == "first_token_timeout"
    assert "first_token_timeout 0.3 s" in error.message


@pytest.mark.parametrize("wire", WIRES)
def test_a_stream_that_stops_is_an_idle_timeout(wire):
    with FakeServer(faults={"stall": 1.0}, midstream_chunks=2) as server:
        (error,) = call(make(wire, server, first_token_timeout=5, idle_timeout=0.3))
    assert isinstance(error, ProviderCallError)
    assert error.error_class == "idle_timeout" and "idle_timeout 0.3 s" in error.message


@pytest.mark.parametrize("wire", WIRES)
def test_a_trickle_is_bounded_by_the_total_timeout(wire):
    """Each chunk comes within the idle deadline, but the whole answer would take 3 s."""
    answer = " ".join(["word"] * 30)
    with FakeServer(default_answer=answer, chunk_delay_ms=100) as server:
        (error,) = call(make(wire, server, timeout=1.0, idle_timeout=0.5))
    assert isinstance(error, ProviderCallError) and error.error_class == "timeout"


@pytest.mark.parametrize("wire", WIRES)
def test_without_streaming_only_the_total_timeout_applies(wire):
    with FakeServer(faults={"hang": 1.0}) as server:
        (error,) = call(make(wire, server, stream=False, timeout=0.5, first_token_timeout=0.1))
    assert isinstance(error, ProviderCallError) and error.error_class == "timeout"


@pytest.mark.parametrize("wire", WIRES)
def test_a_slow_but_steady_answer_is_not_cut(wire):
    with FakeServer(default_answer="one two three four", ttft_ms=400, chunk_delay_ms=150) as srv:
        (answer,) = call(make(wire, srv, first_token_timeout=1.0, idle_timeout=0.5, timeout=5))
    assert isinstance(answer, Generation) and answer.text == "one two three four"


def test_an_outer_cancellation_is_not_turned_into_a_timeout():
    """An interrupt cancels a call that a deadline watches: it propagates as a cancellation
    (the call is not stored as a failure), even if a deadline passes meanwhile."""

    async def go() -> None:
        with FakeServer(faults={"hang": 1.0}) as server:
            provider = make("openai", server, first_token_timeout=0.2)
            request = Request([Message("user", "hi")], provider.effective_params({}))
            task = asyncio.ensure_future(provider.generate(request))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await provider.aclose()

    asyncio.run(go())


def test_the_first_token_deadline_adapts_to_the_provider():
    tokens = FirstTokens(cold=60, floor=5, factor=4, warm=3, window=4)
    assert tokens.deadline() == 60  # nothing seen yet
    for seconds in (0.5, 1.0, 0.2):
        tokens.record(seconds)
    assert tokens.deadline() == 5  # 4 x 1.0 s is under the floor
    tokens.record(3.0)
    assert tokens.deadline() == 12  # 4 x the slowest
    for seconds in (0.1, 0.1, 0.1):  # the 1.0 and the 3.0 leave the window
        tokens.record(seconds)
    assert tokens.deadline() == 12  # 3.0 still in the last four
    tokens.record(0.1)
    assert tokens.deadline() == 5


def test_a_provider_learns_its_first_token_deadline(monkeypatch):
    """Until ten first tokens were seen the deadline is the cold one; then a hung call is cut
    at the floor, in a fraction of the cold wait."""
    monkeypatch.setattr(OpenAIProvider, "first_token_cold", 30.0)
    monkeypatch.setattr(OpenAIProvider, "first_token_floor", 0.5)
    with FakeServer(schedule=["ok"] * 10 + ["hang"]) as server:
        provider = make("openai", server)
        assert provider.deadlines().first_token == 30.0
        *answers, error = call(provider, 11)
    assert all(isinstance(a, Generation) for a in answers)
    assert isinstance(error, ProviderCallError) and error.error_class == "first_token_timeout"
    assert provider.deadlines().first_token < 30.0


def test_a_stall_check_extends_a_deadline_while_the_server_works():
    """A provider that can ask its server (the local one) is cut only when the server says
    why: a live server waits another round, a stalled one is cut with the reason."""
    checks: list[str | None] = [None] * 100  # "working", as often as asked

    async def stalled() -> str | None:
        return checks.pop(0)

    def go(ttft_ms: float) -> Generation | ProviderCallError:
        with FakeServer(default_answer="late", ttft_ms=ttft_ms) as server:
            provider = make("openai", server, first_token_timeout=0.2)
            provider.stalled = stalled
            return call(provider)[0]

    answer = go(700)
    assert isinstance(answer, Generation) and answer.text == "late"
    assert len(checks) < 100, "the deadline passed and the server was asked"
    checks[:] = [None, "the server processes nothing"]
    cut = go(60_000)
    assert isinstance(cut, ProviderCallError) and cut.error_class == "first_token_timeout"
    assert cut.message.endswith(": the server processes nothing")
