"""One provider call with retries: the single path every model call takes.

The runner calls it for each work item; scorers that call a model (judges) call it too, so
both get the same retry policy (and, as it grows, the same cache and accounting).
"""

from __future__ import annotations

import asyncio
import collections
import random
from collections.abc import Callable
from dataclasses import dataclass

from evalkit.errors import ProviderCallError
from evalkit.providers.base import Provider, Request
from evalkit.records import Generation

__all__ = ["AdaptiveLimit", "CallOutcome", "RetryPolicy", "call_with_retries"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one call."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    #: Longest ``Retry-After`` honoured; a longer one is capped.
    max_retry_after: float = 60.0

    def delay(
        self,
        attempt: int,
        retry_after: float | None,
        rng: random.Random,
        error_class: str | None = None,
    ) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1).

        A first connection error is retried at once: it is most often a kept-alive
        connection the server closed as it was reused, and a fresh one just works.
        """
        if error_class == "connection" and attempt == 1:
            return 0.0
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)  # "equal jitter"


class AdaptiveLimit:
    """Calls in flight to one provider: at most ``maximum``, halved on each rate limit, and
    raised by one again after as many successes as the current limit (AIMD).

    The fast path (a free slot) takes no lock and creates no future.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.limit = maximum
        self.active = 0
        self.lowest = maximum
        self._successes = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> None:
        while self.active >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
        self.active += 1

    async def release(self, rate_limited: bool) -> None:
        self.active -= 1
        if rate_limited:
            self.limit = max(1, self.limit // 2)
            self.lowest = min(self.lowest, self.limit)
            self._successes = 0
        elif self.limit < self.maximum:
            self._successes += 1
            if self._successes >= self.limit:
                self.limit += 1
                self._successes = 0
        free = self.limit - self.active
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1


@dataclass
class CallOutcome:
    """A generation, or the error that ended the last attempt."""

    generation: Generation | None
    error: ProviderCallError | None
    attempts: int
    #: Answered by the response cache (no call was made).
    cache_hit: bool = False


async def call_with_retries(
    provider: Provider,
    request: Request,
    policy: RetryPolicy,
    rng: random.Random,
    *,
    stopped: Callable[[], bool] = lambda: False,
    on_retry: Callable[[ProviderCallError], None] | None = None,
    limit: AdaptiveLimit | None = None,
) -> CallOutcome:
    """Call ``provider`` until it answers, fails for good, or the attempts run out.

    ``stopped()`` true means the run is ending: no further retry is started. With ``limit``,
    each attempt holds one of the provider's slots (not the backoff in between), and rate
    limits shrink the number of slots.
    """
    attempt = 0
    while True:
        attempt += 1
        error: ProviderCallError | None = None
        if limit is not None:
            await limit.acquire()
        try:
            generation = await provider.generate(request)
        except ProviderCallError as exc:
            error = exc
        finally:
            if limit is not None:
                await limit.release(error is not None and error.error_class == "rate_limit")
        if error is None:
            return CallOutcome(generation, None, attempt)
        if error.retryable and attempt < policy.max_attempts and not stopped():
            if on_retry is not None:
                on_retry(error)
            await asyncio.sleep(policy.delay(attempt, error.retry_after, rng, error.error_class))
            continue
        return CallOutcome(None, error, attempt)
