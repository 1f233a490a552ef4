"""Token prices and the cost of a call.

The built-in table holds list prices in USD per 1M tokens (input, output, cached input) for
common OpenAI and Anthropic models, as published by the vendors and known on ``PRICES_TAKEN``.
Prices change: override or add models under ``pricing:`` in evalkit.yaml::

    pricing:
      gpt-4o-mini: {input: 0.15, output: 0.60, cached_input: 0.075}
      my-vllm-model: {input: 0, output: 0}

A model name matches its own entry or, failing that, the longest entry it starts with
(``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini``). A model with no price has no cost (``None``),
never a guessed one; the local model costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evalkit.errors import InputError
from evalkit.records import Generation

__all__ = ["PRICES", "PRICES_TAKEN", "Price", "Pricing"]

#: When the built-in table was taken from the vendors' price pages.
PRICES_TAKEN = "2025-10-01"


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens."""

    input: float
    output: float
    cached_input: float | None = None


PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "o3": Price(2.00, 8.00, 0.50),
    "o3-mini": Price(1.10, 4.40, 0.55),
    "o4-mini": Price(1.10, 4.40, 0.275),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    # Anthropic (cached input = cache reads)
    "claude-opus-4-1": Price(15.00, 75.00, 1.50),
    "claude-opus-4": Price(15.00, 75.00, 1.50),
    "claude-sonnet-4-5": Price(3.00, 15.00, 0.30),
    "claude-sonnet-4": Price(3.00, 15.00, 0.30),
    "claude-3-7-sonnet": Price(3.00, 15.00, 0.30),
    "claude-3-5-sonnet": Price(3.00, 15.00, 0.30),
    "claude-haiku-4-5": Price(1.00, 5.00, 0.10),
    "claude-3-5-haiku": Price(0.80, 4.00, 0.08),
    "claude-3-haiku": Price(0.25, 1.25, 0.03),
}


def _parse(model: str, spec: Any) -> Price:
    if not isinstance(spec, Mapping) or "input" not in spec or "output" not in spec:
        raise InputError(
            f"pricing for '{model}' needs `input` and `output` (USD per 1M tokens)",
            fix=f"e.g. `{model}: {{input: 0.15, output: 0.60, cached_input: 0.075}}`",
        )
    try:
        return Price(
            float(spec["input"]),
            float(spec["output"]),
            float(spec["cached_input"]) if spec.get("cached_input") is not None else None,
        )
    except (TypeError, ValueError):
        raise InputError(
            f"pricing for '{model}' must be numbers",
            fix="prices are USD per 1M tokens, e.g. `input: 0.15`",
        ) from None


class Pricing:
    """The built-in prices with the project's overrides on top."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self.table = dict(PRICES)
        self._matched: dict[str, Price | None] = {}
        for model, spec in (overrides or {}).items():
            self.table[model] = _parse(model, spec)

    def price(self, model: str | None) -> Price | None:
        if not model:
            return None
        if model in self.table:
            return self.table[model]
        if model not in self._matched:
            name = model.split("/")[-1]  # "openai/gpt-4o" style names
            matches = [k for k in self.table if name.startswith(k)]
            self._matched[model] = self.table[max(matches, key=len)] if matches else None
        return self._matched[model]

    def cost(self, provider_type: str, model: str | None, generation: Generation) -> float | None:
        """USD for one call, or None when the price (or the token counts) are unknown."""
        if provider_type == "local":
            return 0.0
        price = self.price(model)
        if price is None or generation.input_tokens is None or generation.output_tokens is None:
            return None
        cached = generation.cached_input_tokens or 0
        cached_price = price.cached_input if price.cached_input is not None else price.input
        return (
            (generation.input_tokens - cached) * price.input
            + cached * cached_price
            + generation.output_tokens * price.output
        ) / 1_000_000

    def estimate(
        self, provider_type: str, model: str | None, input_chars: int, max_tokens: int | None
    ) -> float | None:
        """An upper-bound estimate before the call: ~4 characters per input token and the full
        ``max_tokens`` of output."""
        if provider_type == "local":
            return 0.0
        price = self.price(model)
        if price is None:
            return None
        return (input_chars / 4 * price.input + (max_tokens or 0) * price.output) / 1_000_000
