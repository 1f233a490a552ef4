"""The call service: the one path every model call takes.

The runner's calls, every judge call, pairwise "answer B" generations, fallback chain members
and ``evalkit providers check`` all go through ``CallService.call``, which does, in order:

1. **cache**: answer from the response cache when the key is there (no request, no cost);
2. **budget**: refuse a call that could take the run's spend past ``--max-cost`` (the
   estimate of every call in flight is reserved from its first request until it ends);
3. **attempts**: hold one of the provider's adaptive slots per attempt (not during the backoff),
   retry retryable errors with capped exponential backoff and jitter, honouring
   ``Retry-After``; a fallback chain tries each member with that member's own attempts, in
   order, and is never retried again as a whole;
4. **accounting**: cost from the price table (by the provider that served), tokens, retries by
   error class, requests per provider and per purpose;
5. **cache write**: a fresh answer becomes a ``CacheRow`` (the runner commits the rows with its
   result batch when the cache lives in the same store);
6. **tracing**: every observer receives one ``CallEvent`` per call, with its attempts.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from evalkit.errors import ProviderCallError
from evalkit.providers.base import Provider, Request
from evalkit.providers.pricing import Pricing
from evalkit.records import CallOutcome, Generation
from evalkit.run.cache import KeyMaker
from evalkit.store.cache import CacheEntry, CacheRow, ResponseCache
from evalkit.store.db import utcnow

__all__ = [
    "AdaptiveLimit",
    "Attempt",
    "CallEvent",
    "CallObserver",
    "CallService",
    "CallTally",
    "RetryPolicy",
]


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
    """Calls in flight to one provider, adapted to its rate limits (AIMD with a floor).

    * A rate limit halves the limit — once per round of calls: a 429 answering a call sent
      before the last cut was decided at the old limit and says nothing about the new one
      (without this rule a 10% share of 429s halves the limit faster than successes can grow
      it back, and the run sits at one call in flight).
    * The limit never falls below ``floor`` (half the maximum, at least 1): each rate-limited
      call already waits its own ``Retry-After`` before it is retried, so the floor's calls
      cannot hammer a server, and random 429s cannot collapse the run.
    * Successes raise the limit by one per half of its value (twice as fast as a classic
      additive increase), back up to ``maximum``.

    ``bench/faults.py`` measures it against the plain AIMD it replaced under a fault storm.
    The fast path (a free slot) takes no lock and creates no future.
    """

    def __init__(self, maximum: int, floor: int | None = None) -> None:
        self.maximum = maximum
        self.floor = max(1, maximum // 2) if floor is None else max(1, min(floor, maximum))
        self.limit = maximum
        self.active = 0
        self.lowest = maximum
        #: Cuts made so far; a call carries the count at its start (see ``release``).
        self.cuts = 0
        self._successes = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> int:
        """Wait for a slot; returns the number of cuts so far (hand it to ``release``)."""
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
        return self.cuts

    def release(self, rate_limited: bool, cuts: int | None = None) -> None:
        """Free a slot; ``rate_limited`` if the call got a 429, ``cuts`` as ``acquire`` gave
        it (None: count the 429 whenever it was sent)."""
        self.active -= 1
        if rate_limited:
            fresh = cuts is None or cuts == self.cuts
            if fresh and self.limit > self.floor:
                self.limit = max(self.floor, self.limit // 2)
                self.lowest = min(self.lowest, self.limit)
                self.cuts += 1
                self._successes = 0
        elif self.limit < self.maximum:
            self._successes += 1
            if self._successes * 2 >= self.limit:
                self.limit += 1
                self._successes = 0
        free = self.limit - self.active
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request: which provider got it, how it ended, how long it took."""

    provider: str
    error_class: str | None
    latency_ms: float
    #: When the request was sent (epoch seconds).
    started: float | None = None


@dataclass
class CallEvent:
    """What an observer (a tracer) sees of one call through the service."""

    #: ``run`` (a planned work item), ``judge``, ``pairwise`` (a judge's answer B), ``check``.
    purpose: str
    provider: str
    provider_type: str
    model: str | None
    #: Wall-clock start and end (epoch seconds).
    started: float
    ended: float
    outcome: CallOutcome
    attempts: list[Attempt]
    #: Context of the call (case id, prompt ref, repeat, scorer name...), for attributes.
    context: dict[str, Any] = field(default_factory=dict)
    #: The request (messages and effective params).
    request: Request | None = None
    #: ``chat`` or ``completion`` (the provider's mode).
    mode: str = "chat"


class CallObserver(Protocol):
    """Receives every call's ``CallEvent`` (e.g. an OpenTelemetry exporter)."""

    def on_call(self, event: CallEvent) -> None: ...


@dataclass
class CallTally:
    """What the service did, for the run summary and tests."""

    #: Requests sent, per provider id that received them.
    requests: Counter[str] = field(default_factory=Counter)
    #: Calls per purpose (run, judge, pairwise, check), cached or not.
    calls: Counter[str] = field(default_factory=Counter)
    #: Calls answered by the response cache, per purpose.
    cache_hits: Counter[str] = field(default_factory=Counter)
    #: Retried attempts by the error class that caused them.
    retries: Counter[str] = field(default_factory=Counter)
    #: USD spent, per purpose (cache hits cost nothing).
    spent: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def spent_usd(self) -> float:
        return float(sum(self.spent.values()))

    @property
    def retried(self) -> int:
        return sum(self.retries.values())


_UNSET: Any = object()


@dataclass(slots=True)
class _Budget:
    """A call's upper-bound cost, reserved against ``--max-cost`` from its first request."""

    needed: float
    held: bool = False


class CallService:
    """Every model call of one invocation (see the module docstring)."""

    def __init__(
        self,
        *,
        cache: ResponseCache | None = None,
        read_cache: bool = True,
        write_cache: bool = True,
        pricing: Pricing | None = None,
        retry: RetryPolicy | None = None,
        max_cost: float | None = None,
        observers: Sequence[CallObserver] = (),
        seed: int = 0,
        claim_ttl_s: float = 300.0,
        wait_s: float = 600.0,
    ) -> None:
        self.cache = cache
        self.read_cache = read_cache and cache is not None
        self.write_cache = write_cache and cache is not None
        self.pricing = pricing or Pricing()
        self.retry = retry or RetryPolicy()
        self.max_cost = max_cost
        self.observers = list(observers)
        self.rng = random.Random(seed)
        self.claim_ttl_s = claim_ttl_s
        #: Longest wait for another process's claimed call before making it here.
        self.wait_s = wait_s
        #: Claims matter only for a cache shared between processes (not the run's own store).
        self._claims = cache is not None and not getattr(cache, "in_store_batches", False)
        #: A shared cache's blocking calls get threads of their own, so they never hold up the
        #: store's writes in the default executor: (quick, waits). Waits for another process's
        #: claimed calls (minutes, at most ``wait_s``) have their own pool, so that they never
        #: take the threads this process's claims, lookups and puts need (the other process may
        #: be waiting for those puts: sharing one pool let two runs wait for each other).
        self._pools: tuple[Any, Any] | None = None
        #: Set by ``close``: waits still in progress give up (an interrupted run leaves
        #: promptly instead of waiting, at exit, for calls it no longer needs).
        self._leaving = threading.Event()
        self.tally = CallTally()
        #: Set once a call was refused for ``max_cost``: the run stops making calls.
        self.over_cost = False
        self._reserved = 0.0
        self._limits: dict[str, AdaptiveLimit] = {}
        self._identities: dict[str, dict[str, Any]] = {}
        self._keys = KeyMaker()
        self._fresh: list[CacheRow] = []
        self.on_retry: Callable[[ProviderCallError], None] | None = None

    # -- set-up ---------------------------------------------------------------------------
    def set_concurrency(self, provider_id: str, maximum: int) -> AdaptiveLimit:
        """The adaptive limit of a provider's calls in flight (made once, on first use)."""
        limit = self._limits.get(provider_id)
        if limit is None:
            limit = self._limits[provider_id] = AdaptiveLimit(maximum)
        return limit

    def limit(self, provider_id: str) -> AdaptiveLimit:
        return self._limits.get(provider_id) or self.set_concurrency(provider_id, 4)

    def throttled(self) -> dict[str, int]:
        """Providers whose limit rate limits pushed below its maximum: the lowest it reached."""
        return {pid: lim.lowest for pid, lim in self._limits.items() if lim.lowest < lim.maximum}

    def identity(self, provider: Provider) -> dict[str, Any]:
        if provider.id not in self._identities:
            self._identities[provider.id] = provider.identity()
        return self._identities[provider.id]

    def key(self, provider: Provider, request: Request, repeat: int) -> tuple[dict[str, Any], str]:
        """(components, key) of a request in the response cache."""
        return self._keys.components_and_key(
            self.identity(provider),
            request.params,  # type: ignore[arg-type]  # read only
            provider.request_input(request),
            repeat,
        )

    # -- the cache ------------------------------------------------------------------------
    async def _shared(self, fn: Callable[..., Any], *args: Any, wait: bool = False) -> Any:
        """Run a blocking cache call off the event loop (a shared cache: on its own threads;
        ``wait``: a wait for another process's call, on the pool of waits)."""
        if not self._claims:
            return await asyncio.to_thread(fn, *args)
        if self._pools is None:
            from concurrent.futures import ThreadPoolExecutor

            most = sum(limit.maximum for limit in self._limits.values()) or 4
            self._pools = (
                ThreadPoolExecutor(4, thread_name_prefix="evalkit-cache"),
                ThreadPoolExecutor(max(4, most), thread_name_prefix="evalkit-cache-wait"),
            )
        pool = self._pools[1] if wait else self._pools[0]
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def close(self) -> None:
        """Let go of the shared cache's threads (waits in progress give up within 0.1 s)."""
        self._leaving.set()
        if self._pools is not None:
            for pool in self._pools:
                pool.shutdown(wait=False, cancel_futures=True)
            self._pools = None

    def lookup(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        """Bulk lookup (the runner's prepare step); nothing when reading is off."""
        if not self.read_cache or self.cache is None or not keys:
            return {}
        return self.cache.lookup(keys)

    def count_hits(self, purpose: str, hits: int) -> None:
        """Calls answered by a bulk lookup (the runner's prepare step) count as calls too."""
        self.tally.calls[purpose] += hits
        self.tally.cache_hits[purpose] += hits

    def take_fresh_rows(self) -> list[CacheRow]:
        """Cache rows of fresh answers not yet written (the runner writes them with its
        result batch when the cache is the store's own table)."""
        rows, self._fresh = self._fresh, []
        return rows

    def flush(self) -> None:
        """Write pending fresh rows through the cache itself (when nothing batches them)."""
        rows = self.take_fresh_rows()
        if rows and self.cache is not None:
            self.cache.put(rows)

    def _remember(
        self,
        key: str,
        components: dict[str, Any],
        provider: Provider,
        generation: Generation,
        cost: float | None,
    ) -> None:
        if not self.write_cache:
            return
        entry = CacheEntry(
            key,
            generation.text,
            generation.input_tokens,
            generation.output_tokens,
            generation.cached_input_tokens,
            generation.latency_ms,
            generation.ttft_ms,
            generation.finish_reason,
            generation.served_by or provider.id,
            cost,
            tuple(call.as_dict() for call in generation.tool_calls),
        )
        self._fresh.append(CacheRow(entry, provider.type, provider.model, components, utcnow()))

    # -- the budget -----------------------------------------------------------------------
    def estimate(self, provider: Provider, request: Request) -> float | None:
        """Upper-bound USD of one call before it is made (None when unpriced)."""
        return self.pricing.estimate(
            provider.type,
            provider.model,
            len(str(provider.request_input(request))),
            request.params.get("max_tokens"),
        )

    def _reserve(self, budget: _Budget) -> bool:
        """Reserve a call's estimate as its first request is about to be sent (a call that
        waits for a slot or sleeps before a retry has spent nothing yet)."""
        assert self.max_cost is not None
        if self.tally.spent_usd + self._reserved + budget.needed > self.max_cost:
            self.over_cost = True
            return False
        self._reserved += budget.needed
        budget.held = True
        return True

    # -- calls ----------------------------------------------------------------------------
    async def call(
        self,
        provider: Provider,
        request: Request,
        *,
        repeat: int = 0,
        purpose: str = "run",
        key: tuple[dict[str, Any], str] | None = None,
        read_cache: bool = True,
        stopped: Callable[[], bool] = lambda: False,
        context: dict[str, Any] | None = None,
        estimate: Any = _UNSET,
    ) -> CallOutcome:
        """One call, through the cache, the budget, the attempts and the accounting.

        ``key`` is the precomputed (components, key) when the caller already has it;
        ``read_cache=False`` skips the lookup (the runner looked it up in bulk already);
        ``stopped()`` true means the run is ending: no further attempt is started;
        ``estimate`` is the call's precomputed upper-bound cost (else computed when needed).
        """
        began = time.time()
        self.tally.calls[purpose] += 1
        components, cache_key = key or self.key(provider, request, repeat)
        if read_cache and self.read_cache and self.cache is not None:
            entry = (await self._shared(self.cache.lookup, [cache_key])).get(cache_key)
            if entry is not None:
                return self._hit(provider, entry, purpose, began, context, request)
        claimed = False
        if self._claims and self.read_cache and self.write_cache and self.cache is not None:
            # Another process sharing the cache may be making this very call: wait for its
            # answer; claim again if that call failed or its claim lapsed (its process died).
            for _ in range(3):
                claimed = await self._shared(self.cache.claim, cache_key, self.claim_ttl_s)
                if claimed:
                    break
                entry = await self._shared(
                    self.cache.wait_for, cache_key, self.wait_s, self._leaving, wait=True
                )
                if entry is not None:
                    return self._hit(provider, entry, purpose, began, context, request)
        budget: _Budget | None = None
        if self.max_cost is not None:
            if estimate is _UNSET:
                estimate = self.estimate(provider, request)
            budget = _Budget(estimate or 0.0)
        attempts: list[Attempt] = []
        try:
            outcome = await self._attempts(provider, request, stopped, attempts, budget)
        finally:
            if budget is not None and budget.held:
                self._reserved -= budget.needed
        if outcome.refused:
            if claimed and self.cache is not None:
                await self._shared(self.cache.release, cache_key)
            self._emit(purpose, provider, began, outcome, [], context, request)
            return outcome
        if outcome.generation is not None:
            served = self._served(provider, outcome.served_by)
            outcome.cost_usd = self.pricing.cost(served.type, served.model, outcome.generation)
            self.tally.spent[purpose] += outcome.cost_usd or 0.0
            self._remember(cache_key, components, provider, outcome.generation, outcome.cost_usd)
            if self._claims:  # a shared cache: others may be waiting for this answer now
                await self._shared(self.flush)
        elif claimed and self.cache is not None:
            await self._shared(self.cache.release, cache_key)
        self._emit(purpose, provider, began, outcome, attempts, context, request)
        return outcome

    def _hit(
        self,
        provider: Provider,
        entry: CacheEntry,
        purpose: str,
        began: float,
        context: dict[str, Any] | None,
        request: Request,
    ) -> CallOutcome:
        self.tally.cache_hits[purpose] += 1
        generation = entry.generation()
        outcome = CallOutcome(
            generation,
            None,
            0,
            cache_hit=True,
            cost_usd=entry.cost_usd,
            served_by=generation.served_by or provider.id,
        )
        self._emit(purpose, provider, began, outcome, [], context, request)
        return outcome

    def _served(self, provider: Provider, served_by: str | None) -> Provider:
        for member, _ in provider.chain() or ():
            if member.id == served_by:
                return member
        return provider

    async def _attempts(
        self,
        provider: Provider,
        request: Request,
        stopped: Callable[[], bool],
        attempts: list[Attempt],
        budget: _Budget | None,
    ) -> CallOutcome:
        chain = provider.chain()
        if not chain:
            return await self._retrying(provider, request, self.retry, stopped, attempts, budget)
        failures: list[str] = []
        last: CallOutcome | None = None
        for member, member_attempts in chain:
            member_request = dataclasses.replace(
                request, params=member.effective_params(request.prompt_params)
            )
            policy = RetryPolicy(
                max_attempts=member_attempts,
                base_delay=self.retry.base_delay,
                max_delay=self.retry.max_delay,
                max_retry_after=self.retry.max_retry_after,
            )
            last = await self._retrying(member, member_request, policy, stopped, attempts, budget)
            if last.refused:
                return last
            if last.generation is not None:
                last.generation.served_by = member.id
                last.served_by = member.id
                last.attempts = len(attempts)
                return last
            assert last.error is not None
            failures.append(f"{member.id}: {last.error.error_class}")
            if stopped():
                break
        assert last is not None and last.error is not None
        error = last.error
        last.error = ProviderCallError(
            error.error_class,
            f"every provider of the chain failed ({', '.join(failures)})",
            retryable=error.retryable,
            retry_after=error.retry_after,
            status=error.status,
        )
        last.attempts = len(attempts)
        return last

    async def _retrying(
        self,
        provider: Provider,
        request: Request,
        policy: RetryPolicy,
        stopped: Callable[[], bool],
        attempts: list[Attempt],
        budget: _Budget | None,
    ) -> CallOutcome:
        limit = self.limit(provider.id)
        attempt = 0
        while True:
            attempt += 1
            error: ProviderCallError | None = None
            generation: Generation | None = None
            cuts = await limit.acquire()
            if attempt == 1 and not attempts and stopped():  # the run ended while it waited
                limit.release(False, cuts)
                return CallOutcome(None, None, 0, refused="stopped")
            if budget is not None and not budget.held and not self._reserve(budget):
                limit.release(False, cuts)
                return CallOutcome(None, None, 0, refused="max_cost")
            sent = time.time()
            begun = time.perf_counter()
            self.tally.requests[provider.id] += 1
            try:
                generation = await provider.generate(request)
            except ProviderCallError as exc:
                error = exc
            finally:
                limit.release(error is not None and error.error_class == "rate_limit", cuts)
            attempts.append(
                Attempt(
                    provider.id,
                    error.error_class if error else None,
                    (time.perf_counter() - begun) * 1000,
                    sent,
                )
            )
            if error is None:
                return CallOutcome(generation, None, attempt, served_by=provider.id)
            if error.retryable and attempt < policy.max_attempts and not stopped():
                self.tally.retries[error.error_class] += 1
                if self.on_retry is not None:
                    self.on_retry(error)
                await asyncio.sleep(
                    policy.delay(attempt, error.retry_after, self.rng, error.error_class)
                )
                continue
            return CallOutcome(None, error, attempt, served_by=provider.id)

    def _emit(
        self,
        purpose: str,
        provider: Provider,
        began: float,
        outcome: CallOutcome,
        attempts: list[Attempt],
        context: dict[str, Any] | None,
        request: Request | None = None,
    ) -> None:
        if not self.observers:
            return
        event = CallEvent(
            purpose,
            provider.id,
            provider.type,
            provider.model,
            began,
            time.time(),
            outcome,
            attempts,
            context or {},
            request,
            provider.mode,
        )
        for observer in self.observers:
            observer.on_call(event)
