"""Adaptive concurrency under rate limits; prices, cost, --max-cost and --dry-run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from evalkit.errors import InputError
from evalkit.providers.pricing import PRICES, Price, Pricing
from evalkit.records import Generation
from evalkit.run.calls import AdaptiveLimit
from fakeserver import FakeServer
from projects import RULES, write_project

PRICED = """
pricing:
  fake-model: {input: 1000, output: 2000, cached_input: 100}
"""


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def rows(sql: str) -> list[tuple]:
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def test_adaptive_limit_halves_once_per_round_down_to_its_floor_and_grows_back():
    async def scenario():
        limit = AdaptiveLimit(8, floor=1)
        # four calls sent together, all rate limited: one cut, not four — the other three
        # were sent at the old limit and say nothing about the new one
        sent = [await limit.acquire() for _ in range(4)]
        for cuts in sent:
            limit.release(rate_limited=True, cuts=cuts)
        assert limit.limit == 4 and limit.cuts == 1
        # calls sent after a cut do cut again
        for _ in range(2):
            limit.release(rate_limited=True, cuts=await limit.acquire())
        assert limit.limit == 1 and limit.lowest == 1
        grown = []
        for _ in range(12):
            limit.release(rate_limited=False, cuts=await limit.acquire())
            grown.append(limit.limit)
        # +1 per half the limit in successes: twice as fast as one per limit
        assert grown[:6] == [2, 3, 3, 4, 4, 5] and max(grown) <= 8
        # the limit is enforced: with limit 1, a second acquire waits
        limit.limit = 1
        await limit.acquire()
        waiter = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        limit.release(rate_limited=False)
        await asyncio.wait_for(waiter, 1)

    asyncio.run(scenario())


def test_adaptive_limit_keeps_a_floor_of_half_its_maximum():
    """Random 429s (a tenth of the answers, whatever the load) cannot collapse the run to one
    call in flight: the default floor is half the maximum."""

    async def scenario():
        limit = AdaptiveLimit(8)
        for i in range(200):
            cuts = await limit.acquire()
            limit.release(rate_limited=i % 10 == 0, cuts=cuts)
            assert limit.limit >= 4
        assert limit.floor == 4 and limit.lowest == 4
        assert AdaptiveLimit(1).floor == 1 and AdaptiveLimit(5).floor == 2

    asyncio.run(scenario())


def test_rate_limits_throttle_then_every_case_is_answered(in_tmp):
    # fault_by="content": each prompt's n-th attempt meets the same fault whatever the timing
    with FakeServer(
        rules=RULES, seed=7, faults={"429": 0.35}, retry_after=0.01, fault_by="content"
    ) as server:
        write_project(in_tmp, server.base_url)
        config = Path("evalkit.yaml")
        config.write_text(
            config.read_text().replace("concurrency: 4}", "concurrency: 4, error_budget: 0.5}")
        )
        result = invoke("run", "-j", "8", "--json")
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["runs"]
    throttled = run["summary"]["run"]["throttled_to"]
    assert throttled["fake"] < 8
    assert rows("SELECT count(*), count(error_class) FROM results") == [(16, 0)]
    assert rows("SELECT sum(attempts - 1) FROM results")[0][0] == len(
        [r for r in server.requests if r.fault == "429"]
    )


def test_prices_match_by_prefix_and_overrides_win():
    pricing = Pricing({"gpt-4o-mini": {"input": 1, "output": 2}})
    assert pricing.price("gpt-4o-mini-2024-07-18") == Price(1, 2, None)
    assert pricing.price("gpt-4o-2024-08-06") == PRICES["gpt-4o"]
    assert pricing.price("claude-3-5-haiku-latest") == PRICES["claude-3-5-haiku"]
    assert pricing.price("openai/gpt-4.1-mini") == PRICES["gpt-4.1-mini"]
    assert pricing.price("my-model") is None
    gen = Generation("x", input_tokens=1000, output_tokens=100, cached_input_tokens=400)
    price = PRICES["gpt-4o"]
    expected = (600 * price.input + 400 * price.cached_input + 100 * price.output) / 1e6
    assert Pricing().cost("openai", "gpt-4o", gen) == pytest.approx(expected)
    assert Pricing().cost("local", "anything", gen) == 0.0
    assert Pricing().cost("openai", "my-model", gen) is None
    with pytest.raises(InputError, match="needs `input` and `output`"):
        Pricing({"m": {"input": 1}})


def test_cost_per_result_run_and_cost_gate(in_tmp):
    with FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url, gates="{cost_usd: 0.01}", extra_config=PRICED)
        result = invoke("run", "--json")
    assert result.exit_code == 1, "the run cost more than its cost gate"
    (run,) = json.loads(result.stdout)["runs"]
    tokens = rows("SELECT sum(input_tokens), sum(output_tokens), sum(cost_usd) FROM results")[0]
    assert tokens[2] == pytest.approx((tokens[0] * 1000 + tokens[1] * 2000) / 1e6)
    assert run["summary"]["cost_usd"] == pytest.approx(tokens[2])
    assert run["summary"]["run"]["spent_usd"] == pytest.approx(tokens[2])
    (gate,) = run["gates"]
    assert gate["gate"] == "cost_usd" and gate["passed"] is False


def test_max_cost_stops_cleanly_and_keeps_what_was_stored(in_tmp):
    with FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url, extra_config=PRICED)
        # each call is estimated at <= (chars/4 * 1000 + 8 * 2000) / 1e6 ~ 0.02 USD
        result = invoke("run", "--max-cost", "0.1", "-j", "1")
        calls = len(server.requests)
    assert result.exit_code == 3, result.output
    assert "stopped before a call that could pass --max-cost $0.1" in result.stdout
    stored, spent = rows("SELECT count(*), sum(cost_usd) FROM results")[0]
    assert 0 < stored == calls < 16 and spent <= 0.1
    assert rows("SELECT status FROM runs") == [("incomplete",)]


def test_max_cost_needs_prices(in_tmp):
    with FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url)
        result = invoke("run", "--max-cost", "1")
    assert result.exit_code == 2 and "there is none for fake-model" in result.stderr


def test_dry_run_plans_prices_and_calls_nothing(in_tmp):
    with FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url, extra_config=PRICED)
        assert invoke("run", "--prompt", "capitals@v1").exit_code == 0
        server.reset_log()
        result = invoke("run", "--dry-run")
        assert server.requests == []
    assert result.exit_code == 0, result.output
    assert "dry run: nothing was called or stored" in result.stdout
    data = json.loads(invoke("run", "--dry-run", "--json").stdout)
    (row,) = data["runs"][0]["summary"]["dry_run"]
    assert (row["planned"], row["cached"], row["to_call"]) == (16, 8, 8)
    assert row["estimate_usd"] > 0 and row["unpriced"] == 0
    assert rows("SELECT count(*) FROM runs") == [(1,)]
