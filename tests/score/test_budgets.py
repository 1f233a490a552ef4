"""latency / cost / tokens: a result's measurements against a maximum."""

from __future__ import annotations

import asyncio

from evalkit.score.base import ScoreInput
from scoring import case, make_scorer, result


def _score(scorer, **fields):
    (outcome,) = asyncio.run(scorer.score_batch([ScoreInput("x", case(), result("x", **fields))]))
    passed = outcome.passed if outcome.passed is not None else scorer.decide(outcome.value)
    return outcome, passed


def test_latency_is_a_maximum():
    scorer = make_scorer(type="latency", threshold=1000)
    assert _score(scorer, latency_ms=999.5) == (_score(scorer, latency_ms=999.5)[0], True)
    outcome, passed = _score(scorer, latency_ms=1500.0)
    assert outcome.value == 1500.0 and passed is False
    ttft = make_scorer(type="latency", measure="ttft", threshold=100)
    assert _score(ttft, latency_ms=5000.0, ttft_ms=80.0)[1] is True
    outcome, passed = _score(ttft, latency_ms=5000.0)
    assert passed is None and "time to first token" in outcome.detail


def test_cost_unknown_is_undecided_not_a_pass():
    scorer = make_scorer(type="cost", threshold=0.01)
    assert _score(scorer, cost_usd=0.0)[1] is True
    assert _score(scorer, cost_usd=0.02)[1] is False
    outcome, passed = _score(scorer)
    assert outcome.value is None and passed is None


def test_tokens_counts():
    fields = {"input_tokens": 30, "output_tokens": 12}
    assert _score(make_scorer(type="tokens"), **fields)[0].value == 12
    assert _score(make_scorer(type="tokens", count="input"), **fields)[0].value == 30
    outcome, passed = _score(make_scorer(type="tokens", count="total", threshold=40), **fields)
    assert outcome.value == 42 and passed is False
    assert _score(make_scorer(type="tokens", count="total"), output_tokens=3)[0].value is None


def test_without_threshold_no_pass_fail():
    scorer = make_scorer(type="latency")
    assert not scorer.decides
    assert _score(scorer, latency_ms=10.0) == (_score(scorer, latency_ms=10.0)[0], None)
