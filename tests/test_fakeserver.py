"""Drive tests/fakeserver.py with the real openai and anthropic SDKs (no network)."""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

try:  # tests/ on sys.path (conftest.py puts it there; pytest's rootdir-relative import too)
    from fakeserver import (
        FakeServer,
        FakeServerProcess,
        FaultPlanner,
        fake_server_fixture,
        parse_faults,
    )
except ImportError:  # pragma: no cover - imported as a package module instead
    from tests.fakeserver import (  # type: ignore[no-redef]
        FakeServer,
        FakeServerProcess,
        FaultPlanner,
        fake_server_fixture,
        parse_faults,
    )

server = fake_server_fixture()

USER = [{"role": "user", "content": "Say hi to the fake"}]
SHORT_TIMEOUT = 0.3
Server = FakeServer | FakeServerProcess


def oai(srv: Server, **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(
        base_url=srv.openai_base_url, api_key=kwargs.pop("api_key", "sk-test"), **kwargs
    )


def aoai(srv: Server, **kwargs: Any) -> openai.AsyncOpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(
        base_url=srv.openai_base_url, api_key=kwargs.pop("api_key", "sk-test"), **kwargs
    )


def ant(srv: Server, **kwargs: Any) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)
    return anthropic.Anthropic(
        base_url=srv.base_url, api_key=kwargs.pop("api_key", "ak-test"), **kwargs
    )


def aant(srv: Server, **kwargs: Any) -> anthropic.AsyncAnthropic:
    kwargs.setdefault("max_retries", 0)
    return anthropic.AsyncAnthropic(
        base_url=srv.base_url, api_key=kwargs.pop("api_key", "ak-test"), **kwargs
    )


def first_text(message: Any) -> str:
    """Text of the first content block of an Anthropic message."""
    return str(message.content[0].text)


# ----------------------------------------------------------------------------- OpenAI


def test_chat_completion_shape_and_request_log(server: FakeServer) -> None:
    with oai(server, api_key="sk-test-123") as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-fake",
            messages=[{"role": "system", "content": "be brief"}, *USER],
            temperature=0.2,
            seed=42,
            stop=["\n\n"],
            max_tokens=64,
        )
    completion = raw.parse()
    assert raw.headers["x-request-id"].startswith("req_fake_")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-fake"
    assert completion.id.startswith("chatcmpl-")
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: Say hi to the fake"
    assert choice.finish_reason == "stop"
    assert choice.logprobs is None
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 7  # "be brief" + "Say hi to the fake"
    assert completion.usage.completion_tokens == 6
    assert completion.usage.total_tokens == 13

    (record,) = server.requests
    assert record.route == "chat" and record.method == "POST" and record.status == 200
    assert record.body["temperature"] == 0.2
    assert record.body["seed"] == 42
    assert record.body["stop"] == ["\n\n"]
    assert record.body["max_tokens"] == 64
    assert record.headers["authorization"] == "Bearer sk-test-123"
    assert record.fault == "ok"
    assert server.stats()["routes"] == {"chat": 1}


def test_completions_json_and_stream(server: FakeServer) -> None:
    with oai(server) as client:
        done = client.completions.create(
            model="davinci-fake", prompt="once upon a time", max_tokens=50
        )
        assert done.object == "text_completion"
        assert done.choices[0].text == "echo: once upon a time"
        assert done.choices[0].finish_reason == "stop"
        assert done.usage is not None and done.usage.prompt_tokens == 4

        chunks = list(
            client.completions.create(
                model="davinci-fake",
                prompt="once upon a time",
                max_tokens=50,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == "echo: once upon a time"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5


def test_chat_stream_with_include_usage() -> None:
    async def run(srv: FakeServer) -> tuple[list[Any], list[Any]]:
        async with aoai(srv) as client:
            with_usage = [
                c
                async for c in await client.chat.completions.create(
                    model="m",
                    messages=USER,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            ]
            without = [
                c
                async for c in await client.chat.completions.create(
                    model="m", messages=USER, stream=True
                )
            ]
            return with_usage, without

    with FakeServer() as srv:
        chunks, plain = asyncio.run(run(srv))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "echo: Say hi to the fake"
    finishing = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishing == ["stop"]
    *body, last = chunks
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens == 6
    assert all(c.usage is None for c in body)
    assert all(c.choices for c in plain) and all(c.usage is None for c in plain)


def test_chat_stream_helper_accumulates(server: FakeServer) -> None:
    with oai(server) as client, client.chat.completions.stream(model="m", messages=USER) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "echo: Say hi to the fake"


def test_models_routes(server: FakeServer) -> None:
    with oai(server) as client:
        assert [m.id for m in client.models.list()] == ["fake-model", "fake-claude"]
        assert client.models.retrieve("fake-model").owned_by == "fakeserver"
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("nope")
    with ant(server) as client:
        assert [m.id for m in client.models.list()] == ["fake-model", "fake-claude"]


def test_n_choices_and_limits(server: FakeServer) -> None:
    with oai(server) as client:
        two = client.chat.completions.create(model="m", messages=USER, n=2)
        assert [c.index for c in two.choices] == [0, 1]
        cut = client.chat.completions.create(model="m", messages=USER, max_completion_tokens=2)
        assert cut.choices[0].message.content == "echo: Say"
        assert cut.choices[0].finish_reason == "length"
        stopped = client.chat.completions.create(model="m", messages=USER, stop="to")
        assert stopped.choices[0].message.content == "echo: Say hi "
        assert stopped.choices[0].finish_reason == "stop"


# ----------------------------------------------------------------------------- Anthropic


def test_anthropic_messages_non_streaming() -> None:
    async def run(srv: FakeServer) -> anthropic.types.Message:
        async with aant(srv, api_key="ak-secret") as client:
            return await client.messages.create(
                model="claude-fake",
                max_tokens=100,
                system="be brief",
                messages=USER,
                stop_sequences=["###"],
                # anthropic 2.x dropped `temperature` from create(); it travels in extra_body
                extra_body={"temperature": 0.0},
            )

    with FakeServer() as srv:
        msg = asyncio.run(run(srv))
        record = srv.requests[0]
    assert msg.type == "message" and msg.role == "assistant" and msg.model == "claude-fake"
    assert msg.id.startswith("msg_")
    assert [b.type for b in msg.content] == ["text"]
    assert first_text(msg) == "echo: Say hi to the fake"
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.usage.input_tokens == 7 and msg.usage.output_tokens == 6
    assert record.route == "messages"
    assert record.body["system"] == "be brief" and record.body["stop_sequences"] == ["###"]
    assert record.body["temperature"] == 0.0 and record.body["max_tokens"] == 100
    assert "anthropic-version" in record.headers
    # anthropic>=2 sends the API key as a bearer token; older SDKs used x-api-key.
    assert "ak-secret" in (
        record.headers.get("x-api-key"),
        record.headers.get("authorization", "")[7:],
    )


def test_anthropic_streaming_event_sequence(server: FakeServer) -> None:
    with ant(server) as client:
        events = list(client.messages.create(model="c", max_tokens=50, messages=USER, stream=True))
        with client.messages.stream(model="c", max_tokens=50, messages=USER) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
    types = [e.type for e in events]
    # `ping` is consumed by the SDK; every other event reaches the caller.
    assert types[:2] == ["message_start", "content_block_start"]
    assert set(types[2:-3]) == {"content_block_delta"} and len(types[2:-3]) == 6
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[-2].usage.output_tokens == 6
    assert text == "echo: Say hi to the fake"
    assert first_text(final) == text
    assert final.usage.input_tokens == 5 and final.usage.output_tokens == 6
    assert final.stop_reason == "end_turn"


def test_anthropic_raw_wire_format(server: FakeServer) -> None:
    body = {"model": "c", "max_tokens": 20, "messages": USER, "stream": True}
    resp = httpx.post(server.base_url + "/v1/messages", json=body)
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["request-id"].startswith("req_fake_")
    blocks = [b for b in resp.text.split("\n\n") if b]
    names = [b.split("\n")[0] for b in blocks]
    assert names[:3] == ["event: message_start", "event: content_block_start", "event: ping"]
    assert names[-1] == "event: message_stop"
    for block in blocks:
        event_line, data_line = block.split("\n")
        assert json.loads(data_line.removeprefix("data: "))["type"] == event_line.removeprefix(
            "event: "
        )


def test_anthropic_limits_and_count_tokens(server: FakeServer) -> None:
    with ant(server) as client:
        cut = client.messages.create(model="c", max_tokens=2, messages=USER)
        assert cut.stop_reason == "max_tokens" and first_text(cut) == "echo: Say"
        stopped = client.messages.create(
            model="c", max_tokens=50, messages=USER, stop_sequences=["hi"]
        )
        assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "hi"
        assert client.messages.count_tokens(model="c", messages=USER).input_tokens == 5
        with pytest.raises(anthropic.BadRequestError):
            client.post("/v1/messages", body={"model": "c", "messages": USER}, cast_to=object)


# ----------------------------------------------------------------------------- answers


def test_rules_in_process(server: FakeServer) -> None:
    server.configure(
        rules={"capital of France": "Paris", "France": "not reached"}, default_answer="n/a"
    )
    with oai(server) as client:
        hit = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "What is the capital of France?"}]
        )
        miss = client.chat.completions.create(model="m", messages=USER)
    assert hit.choices[0].message.content == "Paris"
    assert miss.choices[0].message.content == "n/a"


def test_rules_file_and_answer_fn(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"match": "2+2", "answer": "4"}], "default": "dunno"}))
    with FakeServer(rules=str(rules)) as srv, ant(srv) as client:
        ask = [{"role": "user", "content": "what is 2+2"}]
        assert first_text(client.messages.create(model="c", max_tokens=9, messages=ask)) == "4"
        assert first_text(client.messages.create(model="c", max_tokens=9, messages=USER)) == "dunno"
    with (
        FakeServer(answer_fn=lambda route, body, prompt: f"{route}:{len(prompt)}") as srv,
        oai(srv) as c,
    ):
        assert (
            c.chat.completions.create(model="m", messages=USER).choices[0].message.content
            == "chat:18"
        )


# ----------------------------------------------------------------------------- faults


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_openai_5xx(server: FakeServer, status: int) -> None:
    server.configure(schedule=[str(status)])
    with oai(server) as client, pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert info.value.status_code == status
    assert info.value.body["type"] == "server_error"
    assert server.requests[0].fault == str(status)


def test_openai_429_has_retry_after(server: FakeServer) -> None:
    server.configure(faults={"429": 1.0}, retry_after=3)
    with oai(server) as client, pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert info.value.response.headers["retry-after"] == "3"
    assert info.value.body == {
        "message": "Rate limit reached for requests (fake)",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (503, anthropic.ServiceUnavailableError),
        (529, anthropic.OverloadedError),
    ],
)
def test_anthropic_status_errors(server: FakeServer, status: int, error: type[Exception]) -> None:
    server.configure(fail_first_n=1, fail_first_kind=str(status))
    with ant(server) as client, pytest.raises(error) as info:
        client.messages.create(model="c", max_tokens=10, messages=USER)
    exc = info.value
    assert isinstance(exc, anthropic.APIStatusError) and exc.status_code == status
    assert exc.body["type"] == "error"
    assert set(exc.body["error"]) == {"type", "message"}
    assert exc.request_id == server.requests[0].request_id
    if status == 429:
        assert exc.response.headers["retry-after"] == "1"
        assert exc.body["error"]["type"] == "rate_limit_error"


def test_reset_is_a_connection_error(server: FakeServer) -> None:
    server.configure(schedule_cycle=True, schedule=["reset"])
    with oai(server) as client, pytest.raises(openai.APIConnectionError) as info:
        client.chat.completions.create(model="m", messages=USER)
    assert not isinstance(info.value, openai.APITimeoutError)
    with ant(server) as client, pytest.raises(anthropic.APIConnectionError) as ainfo:
        client.messages.create(model="c", max_tokens=5, messages=USER)
    assert not isinstance(ainfo.value, anthropic.APITimeoutError)


def test_hang_times_out(server: FakeServer) -> None:
    server.configure(faults={"hang": 1.0})
    with oai(server, timeout=SHORT_TIMEOUT) as client, pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=USER)
    with ant(server, timeout=SHORT_TIMEOUT) as client, pytest.raises(anthropic.APITimeoutError):
        client.messages.create(model="c", max_tokens=5, messages=USER)
    assert server.log.faults() == ["hang", "hang"]


def test_malformed_body_fails_to_parse(server: FakeServer) -> None:
    server.configure(faults={"malformed": 1.0})
    with oai(server) as client:
        with pytest.raises(json.JSONDecodeError):
            client.chat.completions.create(model="m", messages=USER)
        with pytest.raises(json.JSONDecodeError):
            list(client.chat.completions.create(model="m", messages=USER, stream=True))
    with ant(server) as client, pytest.raises(json.JSONDecodeError):
        client.messages.create(model="c", max_tokens=5, messages=USER)


def test_empty_and_blank(server: FakeServer) -> None:
    with oai(server) as client:
        server.configure(schedule=["empty", "empty", "blank"])
        assert client.chat.completions.create(model="m", messages=USER).choices == []
        assert list(client.chat.completions.create(model="m", messages=USER, stream=True)) == []
        blank = client.chat.completions.create(model="m", messages=USER)
        assert blank.choices[0].message.content == "" and blank.usage.completion_tokens == 0
    with ant(server) as client:
        server.configure(schedule=["empty", "blank"])
        assert client.messages.create(model="c", max_tokens=5, messages=USER).content == []
        assert first_text(client.messages.create(model="c", max_tokens=5, messages=USER)) == ""


def test_midstream_abort(server: FakeServer) -> None:
    server.configure(faults={"midstream": 1.0}, midstream_chunks=2)
    received: list[str] = []
    with oai(server) as client, pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model="m", messages=USER, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert received == ["", "echo: ", "Say "]
    with oai(server) as client, pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=USER)  # half a JSON body
    events: list[str] = []
    # The anthropic SDK does not wrap transport errors raised while iterating a stream.
    with (
        ant(server) as client,
        pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)),
    ):
        for event in client.messages.create(model="c", max_tokens=50, messages=USER, stream=True):
            events.append(event.type)
    assert events == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
    ]


def test_stall_midstream_times_out(server: FakeServer) -> None:
    server.configure(faults={"stall": 1.0})
    received = 0
    with oai(server, timeout=SHORT_TIMEOUT) as client, pytest.raises(openai.APITimeoutError):
        for _ in client.chat.completions.create(model="m", messages=USER, stream=True):
            received += 1
    assert received == 3


def test_in_band_stream_errors(server: FakeServer) -> None:
    server.configure(faults={"stream_error": 1.0})
    with oai(server) as client, pytest.raises(openai.APIError) as info:
        list(client.chat.completions.create(model="m", messages=USER, stream=True))
    assert "mid-stream" in info.value.message
    with ant(server) as client, pytest.raises(anthropic.APIStatusError) as ainfo:
        list(client.messages.create(model="c", max_tokens=50, messages=USER, stream=True))
    assert ainfo.value.body["error"]["type"] == "overloaded_error"


# ----------------------------------------------------------------------------- fault selection


def _outcomes(srv: FakeServer, n: int) -> list[str]:
    out: list[str] = []
    with oai(srv) as client:
        for i in range(n):
            try:
                client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": f"q{i}"}]
                )
                out.append("ok")
            except openai.APIStatusError as exc:
                out.append(str(exc.status_code))
    return out


def test_seeded_fault_sequence_is_deterministic() -> None:
    faults = {"429": 0.2, "500": 0.1, "503": 0.1}
    with FakeServer(seed=7, faults=faults) as a:
        first = _outcomes(a, 40)
        assert a.log.faults() == first
        a.reset()
        assert _outcomes(a, 40) == first
    with FakeServer(seed=7, faults=dict(reversed(faults.items()))) as b:
        assert _outcomes(b, 40) == first
    with FakeServer(seed=8, faults=faults) as c:
        assert _outcomes(c, 40) != first
    assert FaultPlanner.preview(40, seed=7, faults=faults) == first
    assert {"429", "500", "503", "ok"} == set(first)


def test_schedule_lets_sdk_retries_succeed(server: FakeServer) -> None:
    server.configure(
        schedule=["429", "500", "ok"], retry_after=0.01, retry_after_statuses=(429, 500)
    )
    with oai(server, max_retries=2) as client:
        done = client.chat.completions.create(model="m", messages=USER)
    assert done.choices[0].message.content == "echo: Say hi to the fake"
    assert server.log.faults() == ["429", "500", "ok"]
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "1", "2"]
    assert [r.fault_index for r in server.requests] == [0, 1, 2]
    assert server.stats()["faults"] == {"429": 1, "500": 1, "ok": 1}


def test_fail_first_n_then_ok_and_schedule_cycle(server: FakeServer) -> None:
    server.configure(fail_first_n=2, fail_first_kind="503")
    assert _outcomes(server, 4) == ["503", "503", "ok", "ok"]
    server.configure(schedule=["ok", "502"], schedule_cycle=True, fail_first_n=0)
    assert _outcomes(server, 5) == ["ok", "502", "ok", "502", "ok"]


def test_fault_by_content_ignores_arrival_order() -> None:
    prompts = [f"question number {i}" for i in range(24)]

    async def run(srv: FakeServer, order: list[str]) -> dict[str, str]:
        async with aoai(srv) as client:

            async def one(p: str) -> tuple[str, str]:
                try:
                    await client.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": p}]
                    )
                    return p, "ok"
                except openai.APIStatusError as exc:
                    return p, str(exc.status_code)

            return dict(await asyncio.gather(*(one(p) for p in order)))

    shuffled = prompts[:]
    random.Random(1).shuffle(shuffled)
    config: dict[str, Any] = {"seed": 3, "faults": {"500": 0.3}, "fault_by": "content"}
    with FakeServer(**config) as a:
        forward = asyncio.run(run(a, prompts))
    with FakeServer(**config) as b:
        backward = asyncio.run(run(b, shuffled))
    assert forward == backward
    assert set(forward.values()) == {"ok", "500"}

    # schedule in content mode: each distinct prompt fails once, then succeeds on retry
    with FakeServer(fault_by="content", schedule=["429"], retry_after=0.01) as c:
        results = asyncio.run(run(c, prompts[:5]))
        assert set(results.values()) == {"429"}
        assert set(asyncio.run(run(c, prompts[:5])).values()) == {"ok"}


def test_header_and_prompt_marker_overrides(server: FakeServer) -> None:
    server.configure(faults={"500": 1.0})
    with oai(server) as client:
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(
                model="m", messages=USER, extra_headers={"X-Fake-Fault": "502"}
            )
        assert info.value.status_code == 502
        ok = client.chat.completions.create(
            model="m", messages=USER, extra_headers={"X-Fake-Fault": "ok"}
        )
        assert ok.choices[0].message.content
        server.configure(faults={})
        marked = [{"role": "user", "content": "flaky [[fault:429*1]] prompt"}]
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=marked)
        assert client.chat.completions.create(model="m", messages=marked).choices
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(
                model="m", messages=USER, extra_headers={"X-Fake-Fault": "boom"}
            )
    # header/marker decisions do not consume the planner's sequence
    assert [r.fault_index for r in server.requests] == [None, None, None, 0, None]
    assert server.log.faults() == ["502", "ok", "429", "ok", "invalid"]


def test_api_key_enforced(server: FakeServer) -> None:
    server.configure(api_key="secret")
    with oai(server, api_key="wrong") as client, pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="m", messages=USER)
    with oai(server, api_key="secret") as client:
        assert client.chat.completions.create(model="m", messages=USER).choices
    with ant(server, api_key="secret") as client:
        assert client.messages.create(model="c", max_tokens=5, messages=USER).content
    assert server.stats()["faults"] == {"auth": 1, "ok": 2}


def test_latency_settings_and_keep_alive(server: FakeServer) -> None:
    server.configure(latency_ms=2, ttft_ms=2, chunk_delay_ms=1, chunk_words=2)

    async def run() -> list[list[Any]]:
        streams = []
        async with aoai(server) as client:
            for _ in range(3):
                await client.chat.completions.create(model="m", messages=USER)
                stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
                streams.append([c async for c in stream])
        return streams

    for chunks in asyncio.run(run()):
        content = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert content == "echo: Say hi to the fake"
        assert len(chunks) == 1 + 3 + 1  # role, three 2-word chunks, finish
    # One connection for JSON and chunked SSE answers alike. (The *sync* openai Stream stops
    # reading at [DONE] without draining the body, so httpcore drops that connection.)
    assert server.stats()["connections"] == 1
    assert server.stats()["total"] == 6
    with ant(server) as client:
        for _ in range(3):
            list(client.messages.create(model="c", max_tokens=9, messages=USER, stream=True))
    assert server.stats()["connections"] == 2


def test_configure_validation_and_reset(server: FakeServer) -> None:
    with pytest.raises(TypeError):
        server.configure(no_such_setting=1)
    with pytest.raises(ValueError):
        server.configure(faults={"teapot": 0.5})
    with pytest.raises(ValueError):
        server.configure(faults={"429": 0.7, "500": 0.7})
    assert parse_faults("429=0.1, 500=0.05,reset=0.01") == {"429": 0.1, "500": 0.05, "reset": 0.01}
    _outcomes(server, 2)
    server.reset_log()
    assert server.requests == [] and server.stats()["total"] == 0
    resp = httpx.get(server.base_url + "/nope")
    assert resp.status_code == 404 and "error" in resp.json()
    assert server.requests[0].route == "unknown"


def test_separate_process_mode(tmp_path: Path) -> None:
    with FakeServerProcess(
        seed=3, faults={"429": 1.0}, rules={"ping": "pong"}, retry_after=5
    ) as proc:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", proc.base_url)
        with openai.OpenAI(base_url=proc.openai_base_url, api_key="k", max_retries=0) as client:
            with pytest.raises(openai.RateLimitError) as info:
                client.chat.completions.create(model="m", messages=USER)
            assert info.value.response.headers["retry-after"] == "5"
            proc.configure(faults={})
            answer = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "ping"}], temperature=0.5
            )
            assert answer.choices[0].message.content == "pong"
        assert proc.stats()["faults"] == {"429": 1, "ok": 1}
        assert proc.requests[-1]["body"]["temperature"] == 0.5
        proc.reset()
        assert proc.stats()["total"] == 0


@pytest.fixture
def cli_rules(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"hello": "world"}))
    yield path


def test_process_cli_flags(cli_rules: Path) -> None:
    args = ["--seed", "1", "--schedule", "503,ok", "--rules", str(cli_rules), "--latency-ms", "0"]
    with FakeServerProcess(*args) as proc, ant(proc) as client:
        with pytest.raises(anthropic.ServiceUnavailableError):
            client.messages.create(model="c", max_tokens=5, messages=USER)
        ask = [{"role": "user", "content": "hello"}]
        assert first_text(client.messages.create(model="c", max_tokens=5, messages=ask)) == "world"
