"""The shared response cache on a real redis-server (started here): the backend itself, a run
on another store making no call, two concurrent runs making each call once, a run waiting for
another's calls while that one waits for its own, and a run that leaves giving its waits up."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from evalkit.config import Project
from evalkit.providers.base import Request
from evalkit.providers.pool import ProviderPool
from evalkit.records import Message
from evalkit.run.calls import CallService
from evalkit.store.cache import CacheEntry, CacheRow
from evalkit.store.redis_cache import RedisCache
from fakeserver import FakeServer
from scaleproject import write_numbers_project
from services import redis_server

pytestmark = pytest.mark.team


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def cache(redis_url: str, request: pytest.FixtureRequest) -> RedisCache:
    return RedisCache(redis_url, prefix=f"t-{request.node.name}")


def _row(key: str, model: str = "m", cost: float | None = 0.5, age_s: float = 0) -> CacheRow:
    entry = CacheEntry(key, f"answer {key}", 3, 4, None, 12.5, 2.0, "stop", "p", cost)
    created = datetime.utcnow() - timedelta(seconds=age_s)
    return CacheRow(entry, "openai", model, {"input": key, "params": {"t": 0}}, created)


def test_backend_put_lookup_stats_clear_candidates(cache: RedisCache):
    cache.put([_row("a", age_s=7200), _row("b"), _row("c", model="other", cost=None)])
    cache.put([_row("b")])  # replacing an entry does not count it twice
    found = cache.lookup(["a", "b", "zz"])
    assert set(found) == {"a", "b"} and found["a"].output == "answer a"
    assert found["a"].latency_ms == 12.5 and found["a"].cost_usd == 0.5
    stats = cache.stats()
    assert stats["entries"] == 3 and stats["output_chars"] == 3 * len("answer a")
    assert stats["cost_usd"] == 1.0
    assert {(r["model"], r["entries"]) for r in stats["by_model"]} == {("m", 2), ("other", 1)}
    assert stats["hits"] == {"hits": 2, "results": 3, "saved_usd": 1.0}
    near = cache.candidates("m", "openai", datetime.utcnow(), "b", 10)
    assert near[0][0] == "c" and "b" not in [k for k, _, _ in near]
    assert near[-1][1] == {"input": "a", "params": {"t": 0}}
    assert cache.clear(timedelta(hours=1)) == 1
    assert set(cache.lookup(["a", "b", "c"])) == {"b", "c"}
    assert cache.clear(None) == 2
    after = cache.stats()
    assert after["entries"] == 0 and after["by_model"] == [] and after["cost_usd"] == 0


def test_claims_wait_release(cache: RedisCache, redis_url: str):
    other = RedisCache(redis_url, prefix=cache.p.rsplit(":", 1)[0])
    assert cache.claim("k", 30) is True
    assert other.claim("k", 30) is False, "one caller makes the call"
    got: list[CacheEntry | None] = []
    waiter = threading.Thread(target=lambda: got.append(other.wait_for("k", 20)))
    waiter.start()
    time.sleep(0.3)
    cache.put([_row("k")])  # the answer arrives: the waiter has it
    waiter.join(10)
    assert got and got[0] is not None and got[0].output == "answer k"
    # a failed call is released: the waiter gets None and may call itself
    assert cache.claim("j", 30) is True
    got.clear()
    waiter = threading.Thread(target=lambda: got.append(other.wait_for("j", 20)))
    waiter.start()
    time.sleep(0.3)
    cache.release("j")
    waiter.join(10)
    assert got == [None] and other.claim("j", 30) is True
    # a claimer that died: its claim lapses and the waiter stops waiting
    assert cache.claim("gone", 0.3) is True
    got.clear()
    # an hour's wait: only the lapsed claim can end it (the join is a hang guard)
    waiter = threading.Thread(target=lambda: got.append(other.wait_for("gone", 3600)))
    waiter.start()
    waiter.join(120)
    assert not waiter.is_alive() and got == [None]
    assert other.claim("gone", 30) is True, "the lapsed claim is free to take"


def _project(root: Path, base_url: str, redis_url: str, prefix: str) -> None:
    write_numbers_project(
        root,
        base_url,
        extra_config=f"cache: {{backend: redis, url: '{redis_url}', prefix: {prefix}}}\n",
    )


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_run_on_another_store_makes_no_call(in_tmp: Path, redis_url: str):
    with FakeServer() as server:
        _project(in_tmp, server.base_url, redis_url, "other-store")
        first = invoke("run", "--db", "a.duckdb", "--json")
        assert first.exit_code == 0, first.output
        assert len(server.requests) == 80
        server.reset_log()
        second = invoke("run", "--db", "b.duckdb", "--json")
        assert second.exit_code == 0, second.output
        assert server.requests == [], "answered from the shared cache"
        (run,) = json.loads(second.stdout)["runs"]
        assert run["summary"]["run"]["cache_hits"] == 80
        stats = json.loads(invoke("cache", "stats", "--json").stdout)
        assert stats["entries"] == 80 and stats["backend"] == "redis"
        # explain reads the shared entries
        prompt = Path("prompts/numbers/v1.yaml")
        prompt.write_text(prompt.read_text().replace("max_tokens: 16", "max_tokens: 17"))
        third = invoke(
            "run", "--db", "b.duckdb", "--prompt", "numbers@v1", "--limit", "1", "--json"
        )
        (miss,) = json.loads(third.stdout)["runs"]
        result_id = json.loads(
            invoke(
                "query",
                f"SELECT id FROM results WHERE run_id = '{miss['run_id']}'",
                "--db",
                "b.duckdb",
                "--json",
            ).stdout
        )["rows"][0]["id"]
        explained = json.loads(
            invoke("cache", "explain", result_id, "--db", "b.duckdb", "--json").stdout
        )
        assert explained["status"] == "miss" and explained["now_cached"]
        assert "params.max_tokens" in explained["nearest"]["differs_in"]


def test_two_concurrent_runs_make_each_call_once(in_tmp: Path, redis_url: str):
    with FakeServer(latency_ms=40) as server:
        _project(in_tmp, server.base_url, redis_url, "concurrent")
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from evalkit.cli.main import main; main()",
                    "run",
                    "--db",
                    f"{name}.duckdb",
                    "--json",
                ],
                cwd=in_tmp,
                env=dict(os.environ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("one", "two")
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        for proc, (_, err) in zip(procs, outs, strict=True):
            assert proc.returncode == 0, err
        runs = [json.loads(out)["runs"][0] for out, _ in outs]
        prompts = [r.body["messages"][0]["content"] for r in server.requests]
        assert len(prompts) == len(set(prompts)) == 80, "each call made once"
        hits = sorted(r["summary"]["run"]["cache_hits"] for r in runs)
        assert sum(hits) == 80, hits  # what one run called, the other was handed
        assert all(r["summary"]["results"] == 80 for r in runs)
        outputs = []
        for name in ("one", "two"):
            data = json.loads(
                invoke(
                    "query",
                    "SELECT case_id, prompt, output FROM results ORDER BY ALL",
                    "--db",
                    f"{name}.duckdb",
                    "--json",
                ).stdout
            )
            outputs.append(data["rows"])
        assert outputs[0] == outputs[1]


def test_waits_for_another_runs_calls_leave_this_runs_own_calls_going(in_tmp: Path, redis_url: str):
    """Another run has claimed four calls and stores their answers only once it has the fifth,
    which this run claims. This run waits for those four (as many waits as its cache threads)
    and must still claim, make and store the fifth: waits that took every thread left the
    claim and the put queued behind them, and each run waited for the other until ``wait_s``."""
    with FakeServer() as server:
        _project(in_tmp, server.base_url, redis_url, "waits")

        async def go() -> list[str]:
            # No time limit here: a deadlock lasts until the other run's claims lapse (300 s),
            # then this run makes those calls itself, and the assertions below fail.
            service = CallService(cache=RedisCache(redis_url, "waits"))
            service.set_concurrency("fake", 1)  # the fewest cache threads: four
            async with ProviderPool(Project.discover(in_tmp)) as pool:
                provider = await pool.start("fake", 1)
                requests = [
                    Request(
                        [Message("user", f"v1: number n{i}")],
                        provider.effective_params({"max_tokens": 16}),
                    )
                    for i in range(5)
                ]
                keys = [service.key(provider, request, 0) for request in requests]
                other = RedisCache(redis_url, "waits")
                assert all(other.claim(key, 300) for _, key in keys[:4])

                ended = threading.Event()

                def the_other_run() -> None:
                    # its four answers arrive once this run has stored the fifth
                    while not other.lookup([keys[4][1]]):
                        if ended.wait(0.01):
                            return
                    other.put(
                        [
                            CacheRow(
                                CacheEntry(
                                    key, f"theirs {i}", 1, 1, None, 5.0, None, "stop", "fake", None
                                ),
                                "openai",
                                "fake-model",
                                components,
                                datetime.utcnow(),
                            )
                            for i, (components, key) in enumerate(keys[:4])
                        ]
                    )

                other_run = threading.Thread(target=the_other_run)
                other_run.start()
                calls = [
                    service.call(provider, request, key=key, read_cache=False)
                    for request, key in zip(requests, keys, strict=True)
                ]
                try:
                    outcomes = await asyncio.gather(*calls)
                finally:
                    ended.set()
                    other_run.join()
                    service.close()
            return [o.generation.text for o in outcomes if o.generation is not None]

        texts = asyncio.run(go())
        assert texts[:4] == [f"theirs {i}" for i in range(4)], "handed the other run's answers"
        assert len(texts) == 5 and len(server.requests) == 1, "this run made only its own call"
        assert server.requests[0].body["messages"][0]["content"] == "v1: number n4"


def test_a_run_that_leaves_gives_up_its_waits(in_tmp: Path, redis_url: str):
    """A run interrupted while it waits for a call another run claimed gives the wait up when
    its call service closes: the waiting thread ends (the interpreter's exit joins it) while
    the other run's claim still holds, not once it lapses; and no call is made for it."""
    with FakeServer() as server:
        _project(in_tmp, server.base_url, redis_url, "leaving")

        async def go() -> tuple[list[threading.Thread], RedisCache, str]:
            service = CallService(cache=RedisCache(redis_url, "leaving"))
            async with ProviderPool(Project.discover(in_tmp)) as pool:
                provider = await pool.start("fake", 1)
                request = Request(
                    [Message("user", "v1: number n1")],
                    provider.effective_params({"max_tokens": 16}),
                )
                key = service.key(provider, request, 0)
                other = RedisCache(redis_url, "leaving")
                assert other.claim(key[1], 300)
                call = asyncio.ensure_future(
                    service.call(provider, request, key=key, read_cache=False)
                )
                channel = other._channel(key[1])
                while not other.r.pubsub_numsub(channel)[0][1]:  # until the wait listens
                    await asyncio.sleep(0.01)
                call.cancel()  # the run is interrupted
                service.close()
            waits = [t for t in threading.enumerate() if t.name.startswith("evalkit-cache-wait")]
            return waits, other, key[1]

        waits, other, key = asyncio.run(go())
        assert waits
        for thread in waits:
            thread.join()
        # the wait ended because the run left: the other run's claim still holds (it lapses
        # after 300 s, which would also have ended the wait) and no answer is stored
        assert other.r.exists(other._claim(key)) and other.lookup([key]) == {}
        assert server.requests == []
