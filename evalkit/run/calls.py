"""One provider call with retries: the single path every model call takes.

The runner calls it for each work item; scorers that call a model (judges) call it too, so
both get the same retry policy (and, as it grows, the same cache and accounting).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

from evalkit.errors import ProviderCallError
from evalkit.providers.base import Provider, Request
from evalkit.records import Generation

__all__ = ["CallOutcome", "RetryPolicy", "call_with_retries"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one call."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    #: Longest ``Retry-After`` honoured; a longer one is capped.
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)  # "equal jitter"


@dataclass
class CallOutcome:
    """A generation, or the error that ended the last attempt."""

    generation: Generation | None
    error: ProviderCallError | None
    attempts: int


async def call_with_retries(
    provider: Provider,
    request: Request,
    policy: RetryPolicy,
    rng: random.Random,
    *,
    stopped: Callable[[], bool] = lambda: False,
    on_retry: Callable[[ProviderCallError], None] | None = None,
) -> CallOutcome:
    """Call ``provider`` until it answers, fails for good, or the attempts run out.

    ``stopped()`` true means the run is ending: no further retry is started.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return CallOutcome(await provider.generate(request), None, attempt)
        except ProviderCallError as exc:
            if exc.retryable and attempt < policy.max_attempts and not stopped():
                if on_retry is not None:
                    on_retry(exc)
                await asyncio.sleep(policy.delay(attempt, exc.retry_after, rng))
                continue
            return CallOutcome(None, exc, attempt)
