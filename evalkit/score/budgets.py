"""``latency``, ``cost`` and ``tokens``: a result's own measurements as scores.

Lower is better: ``threshold`` is a maximum (a case passes when its call took at most
``threshold`` ms, cost at most ``threshold`` USD, used at most ``threshold`` tokens). A
measurement the provider did not report (no cost for an unknown price, no token usage) is
undecided, never a pass: a budget that cannot be checked is not met silently.

Suite-level budgets (the p95 latency of a whole prompt version, the run's total cost) are
``gates``; these scorers are the per-case view of the same numbers.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from evalkit.score.base import Outcome, PerItemScorer, ScoreInput, ScorerOptions

__all__ = ["Cost", "Latency", "Tokens"]


class LatencyOptions(ScorerOptions):
    #: Maximum milliseconds.
    threshold: float | None = Field(default=None, gt=0)
    #: ``total`` call time (default) or time to first token (``ttft``; streaming only).
    measure: Literal["total", "ttft"] = "total"


class CostOptions(ScorerOptions):
    #: Maximum USD per call.
    threshold: float | None = Field(default=None, ge=0)


class TokensOptions(ScorerOptions):
    #: Maximum tokens per call.
    threshold: float | None = Field(default=None, ge=0)
    #: Which tokens count: ``output`` (default), ``input`` or ``total``.
    count: Literal["output", "input", "total"] = "output"


class _Measure(PerItemScorer):
    higher_is_better = False

    def missing(self, what: str) -> Outcome:
        return Outcome(None, None, f"the provider reported no {what} for this call")


class Latency(_Measure):
    """Milliseconds the call took (or to its first token)."""

    type = "latency"
    Options = LatencyOptions
    examples: ClassVar[dict[str, str]] = {
        "threshold": "threshold: 2000   # ms",
        "measure": "measure: ttft",
    }

    def score_one(self, item: ScoreInput) -> Outcome:
        result = item.result
        value = result.ttft_ms if self.options.measure == "ttft" else result.latency_ms
        if value is None:
            return self.missing(
                "time to first token" if self.options.measure == "ttft" else "latency"
            )
        return Outcome(float(value))


class Cost(_Measure):
    """USD the call cost (as the run computed it from the provider's usage and prices)."""

    type = "cost"
    Options = CostOptions
    examples: ClassVar[dict[str, str]] = {"threshold": "threshold: 0.002   # USD per call"}

    def score_one(self, item: ScoreInput) -> Outcome:
        if item.result.cost_usd is None:
            return self.missing("cost (unknown price or usage)")
        return Outcome(float(item.result.cost_usd))


class Tokens(_Measure):
    """Tokens the call used: output (default), input or total."""

    type = "tokens"
    Options = TokensOptions
    examples: ClassVar[dict[str, str]] = {"threshold": "threshold: 256", "count": "count: total"}

    def score_one(self, item: ScoreInput) -> Outcome:
        result = item.result
        parts = {
            "output": [result.output_tokens],
            "input": [result.input_tokens],
            "total": [result.input_tokens, result.output_tokens],
        }[self.options.count]
        if any(p is None for p in parts):
            return self.missing(f"{self.options.count} token count")
        return Outcome(float(sum(p for p in parts if p is not None)))
