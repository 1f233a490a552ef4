"""run: execute a plan's calls concurrently, score them in batches and store them.

``prepare()`` renders every request, computes its cache key and looks all keys up in one
query; cached answers never reach a provider, so a fully cached run starts none.
``run()`` then sends the rest: per provider, workers pull items from a queue and call it
through ``call_with_retries`` (backoff with jitter, ``Retry-After``), holding one of the
provider's adaptive slots per attempt (halved on a rate limit, grown back on success). Every
item ends as a stored ``Result``: an answer, or an error with its class.

Completed results flow to one sink task, which scores them in batches (a scorer sees many
results at once, so embedding models and judges can batch) and writes each batch with its
scores and new cache entries in one transaction, in a worker thread, while calls continue. A
killed run loses at most the unwritten batch; ``--resume`` redoes only what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.errors import ProviderCallError
from evalkit.load.prompts import render_messages
from evalkit.providers.base import Provider, Request
from evalkit.providers.pool import ProviderPool
from evalkit.providers.pricing import Pricing
from evalkit.records import Generation, Result, Score, WorkItem
from evalkit.run import cache
from evalkit.run.calls import AdaptiveLimit, RetryPolicy, call_with_retries
from evalkit.run.plan import Plan
from evalkit.score.base import Outcome, ScoreInput, Scorer
from evalkit.store.db import Store
from evalkit.store.response_cache import row_for

__all__ = ["RetryPolicy", "RunStats", "Runner"]  # RetryPolicy re-exported for callers

#: A claimed call not answered within this long is anyone's again (the claimer died).
CLAIM_TTL_S = 300.0
#: Longest wait for another runner's claimed call before making it here.
WAIT_S = 600.0


@dataclass
class RunStats:
    planned: int = 0
    done: int = 0
    errors: int = 0
    retries: int = 0
    cache_hits: int = 0
    #: USD spent by this run's calls (cache hits cost nothing).
    spent_usd: float = 0.0
    error_classes: Counter[str] = field(default_factory=Counter)
    #: Stopped early: too many errors for the budget.
    aborted: bool = False
    #: Stopped early: the next call would have passed ``--max-cost``.
    over_cost: bool = False
    #: Lowest concurrency a provider was throttled to by rate limits.
    throttled_to: dict[str, int] = field(default_factory=dict)
    #: Seconds spent rendering requests and reading the cache, before any call.
    prepare_s: float = 0.0
    #: When calls began (``run()``); provider start-up is not part of the run's time.
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


#: Called after each finished item (for progress display).
OnResult = Callable[[Result, RunStats], None]


@dataclass
class _Pending:
    item: WorkItem
    request: Request
    result: Result
    #: Upper-bound cost estimate of the call (for --max-cost), or None if unknown.
    estimate: float | None = None


class Runner:
    """Runs one plan against a provider pool into a store."""

    def __init__(
        self,
        plan: Plan,
        pool: ProviderPool,
        store: Store,
        scorers: Sequence[Scorer],
        *,
        concurrency: dict[str, int],
        skip: set[str] | None = None,
        error_budget: float = 0.05,
        retry: RetryPolicy | None = None,
        on_result: OnResult | None = None,
        batch_size: int = 256,
        flush_seconds: float = 0.5,
        seed: int = 0,
        read_cache: bool = True,
        write_cache: bool = True,
        pricing: Pricing | None = None,
        max_cost: float | None = None,
        shared: Any = None,
    ) -> None:
        self.plan = plan
        #: A shared response cache (Redis) instead of the store's cache table: looked up
        #: before any call, a key claimed while its call is in flight, answers put at once.
        self.shared = shared
        self._waiting: Any = None
        self.pool = pool
        self.store = store
        self.scorers = list(scorers)
        self.concurrency = concurrency
        self.skip = skip or set()
        self.error_budget = error_budget
        self.retry = retry or RetryPolicy()
        self.on_result = on_result
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.rng = random.Random(seed)
        self.read_cache = read_cache
        self.write_cache = write_cache
        self.pricing = pricing or Pricing()
        self.max_cost = max_cost
        self.stats = RunStats()
        #: Finished results waiting to be scored and stored.
        self._done: list[Result] = []
        self._ready = asyncio.Event()
        self._closing = False
        self._stop = asyncio.Event()
        self._signatures = {s.name: (s.signature_hash(), s.signature()) for s in self.scorers}
        self._cases = {c.id: c for c in plan.cases}
        self._components: dict[str, dict[str, Any]] = {}
        self._hits: list[Result] = []
        self._pending: list[_Pending] = []
        self._prepared = False

    # -- prepare --------------------------------------------------------------------------
    def prepare(self) -> set[str]:
        """Render requests, key them, take what the cache holds; return the provider ids
        that still have calls to make."""
        if self._prepared:
            return {p.item.provider for p in self._pending}
        begun = time.monotonic()
        keys = cache.KeyMaker()
        identities: dict[str, dict[str, Any]] = {}
        todo = [item for item in self.plan.items if item.result_id not in self.skip]
        for item in todo:
            provider = self.pool.get(item.provider)
            if item.provider not in identities:
                identities[item.provider] = provider.identity()
            messages = render_messages(item.prompt, item.case.vars)
            request = Request(
                messages, provider.effective_params(item.prompt.params), item.prompt.params, item
            )
            result = self._result(item, provider, request)
            components, result.cache_key = keys.components_and_key(
                identities[item.provider], result.params, result.input, item.repeat
            )
            self._components[result.id] = components
            price = self.pricing.estimate(
                provider.type,
                provider.model,
                len(str(result.input)),
                request.params.get("max_tokens"),
            )
            self._pending.append(_Pending(item, request, result, price))
        wanted = [p.result.cache_key or "" for p in self._pending]
        found = (
            (self.shared.lookup(wanted) if self.shared else cache.lookup(self.store, wanted))
            if self.read_cache
            else {}
        )
        remaining = []
        for pending in self._pending:
            entry = found.get(pending.result.cache_key or "")
            if entry is None or not self.pool.get(pending.item.provider).needs_network:
                remaining.append(pending)
                continue
            self._hits.append(_from_cache(pending.result, entry))
        self._pending = remaining
        self.stats.planned = len(todo)
        self.stats.prepare_s = time.monotonic() - begun
        self._prepared = True
        return {p.item.provider for p in self._pending}

    def planned_calls(self) -> list[tuple[str, bool, float | None]]:
        """After ``prepare``: (provider id, answered by the cache, cost estimate) per call."""
        return [(r.provider, True, None) for r in self._hits] + [
            (p.item.provider, False, p.estimate) for p in self._pending
        ]

    def unpriced(self) -> list[str]:
        """Models with calls to make whose cost cannot be estimated."""
        return sorted({str(p.result.model) for p in self._pending if p.estimate is None})

    # -- calls ----------------------------------------------------------------------------
    def _result(self, item: WorkItem, provider: Provider, request: Request) -> Result:
        prompt = item.prompt
        return Result(
            id=item.result_id,
            run_id=self.plan.run_id,
            suite=item.suite,
            case_id=item.case.id,
            case_hash=item.case.hash,
            prompt=prompt.ref,
            prompt_name=prompt.name,
            prompt_version=prompt.version,
            prompt_hash=prompt.hash,
            provider=item.provider,
            provider_type=provider.type,
            model=provider.model,
            params=dict(request.params),
            repeat=item.repeat,
            input=provider.request_input(request),
            created_at=time.time(),
        )

    async def _call(self, pending: _Pending, provider: Provider, limit: AdaptiveLimit) -> Result:
        key = pending.result.cache_key
        if self.shared is None or not key or not (self.read_cache and self.write_cache):
            return await self._call_provider(pending, provider, limit)
        # Another runner may be making this very call: wait for its answer instead.
        loop = asyncio.get_running_loop()
        if self._waiting is None:
            from concurrent.futures import ThreadPoolExecutor

            self._waiting = ThreadPoolExecutor(max(4, sum(self.concurrency.values())))
        claimed = False
        for _ in range(3):  # wait, and claim again if the other call failed or lapsed
            claimed = await loop.run_in_executor(self._waiting, self.shared.claim, key, CLAIM_TTL_S)
            if claimed:
                break
            entry = await loop.run_in_executor(self._waiting, self.shared.wait_for, key, WAIT_S)
            if entry is not None:
                return _from_cache(pending.result, entry)
        result = await self._call_provider(pending, provider, limit)
        if result.error_class is None:
            row = row_for(result, self._components[result.id])
            await loop.run_in_executor(self._waiting, self.shared.put, [row])
        elif claimed:
            await loop.run_in_executor(self._waiting, self.shared.release, key)
        return result

    async def _call_provider(
        self, pending: _Pending, provider: Provider, limit: AdaptiveLimit
    ) -> Result:
        result = pending.result
        outcome = await call_with_retries(
            provider,
            pending.request,
            self.retry,
            self.rng,
            stopped=self._stop.is_set,
            on_retry=self._count_retry,
            limit=limit,
        )
        result.attempts = outcome.attempts
        result.created_at = time.time()
        if outcome.error is not None:
            result.error = outcome.error.message[:2000]
            result.error_class = outcome.error.error_class
            return result
        generation = outcome.generation
        assert generation is not None
        _fill(result, generation)
        served = self.pool.get(result.served_by or pending.item.provider)
        result.cost_usd = self.pricing.cost(served.type, served.model, generation)
        self.stats.spent_usd += result.cost_usd or 0.0
        return result

    def _count_retry(self, _: ProviderCallError) -> None:
        self.stats.retries += 1

    def _over_budget(self, pending: _Pending) -> bool:
        if self.max_cost is None:
            return False
        if self.stats.spent_usd + (pending.estimate or 0.0) > self.max_cost:
            self.stats.over_cost = True
            self._stop.set()
            return True
        return False

    async def _worker(
        self, queue: asyncio.Queue[_Pending], provider: Provider, limit: AdaptiveLimit
    ) -> None:
        while not self._stop.is_set():
            try:
                pending = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if self._over_budget(pending):
                return
            self._finished(await self._call(pending, provider, limit))

    def _finished(self, result: Result) -> None:
        stats = self.stats
        stats.done += 1
        if result.cache_hit:
            stats.cache_hits += 1
        if result.error_class:
            stats.errors += 1
            stats.error_classes[result.error_class] += 1
            # Stop early once the run can no longer meet its error budget.
            if stats.errors > self.error_budget * stats.planned:
                stats.aborted = True
                self._stop.set()
        self._done.append(result)
        if len(self._done) >= self.batch_size:
            self._ready.set()
        if self.on_result:
            self.on_result(result, stats)

    # -- scoring and storing --------------------------------------------------------------
    async def _score(self, results: list[Result]) -> list[Score]:
        answered = [r for r in results if r.error_class is None]
        inputs = [ScoreInput((r.output or "").strip(), self._cases[r.case_id], r) for r in answered]
        scores: list[Score] = []
        verdicts: dict[str, list[bool | None]] = {r.id: [] for r in answered}
        for scorer in self.scorers:
            try:
                outcomes = await scorer.score_batch(inputs) if inputs else []
            except Exception as exc:  # a broken (user) scorer must not lose the results
                outcomes = [
                    Outcome(None, None, f"scorer error: {type(exc).__name__}: {exc}")
                    for _ in inputs
                ]
            signature, signature_json = self._signatures[scorer.name]
            for item, outcome in zip(inputs, outcomes, strict=True):
                passed = (
                    outcome.passed if outcome.passed is not None else scorer.decide(outcome.value)
                )
                if scorer.decides:
                    verdicts[item.result.id].append(passed)
                scores.append(
                    Score(
                        result_id=item.result.id,
                        run_id=self.plan.run_id,
                        scorer=scorer.name,
                        scorer_type=scorer.type,
                        signature=signature,
                        signature_json=signature_json,
                        value=outcome.value,
                        passed=passed,
                        threshold=scorer.threshold,
                        detail=outcome.detail,
                    )
                )
        for result in results:
            if result.error_class is not None:
                result.passed = False
                continue
            marks = verdicts[result.id]
            if not marks:
                result.passed = None
            elif any(m is False for m in marks):
                result.passed = False
            elif any(m is None for m in marks):
                result.passed = None
            else:
                result.passed = True
        return scores

    async def _drain(self) -> None:
        """Score and store finished results in batches, as they come.

        Wakes when a batch is full or every ``flush_seconds``; scores the batch, then writes
        it in a worker thread while the next batch is scored (one write in flight at most).
        """
        writing: asyncio.Future[None] | None = None
        while True:
            closing = self._closing
            if not closing and len(self._done) < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ready.wait(), self.flush_seconds)
            self._ready.clear()
            batch, self._done = self._done, []
            if batch:
                scores = await self._score(batch)
                shared = self.shared is not None  # a shared cache got its rows at once
                rows = (
                    cache.rows_for(batch, self._components)
                    if self.write_cache and not shared
                    else []
                )
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(
                    asyncio.to_thread(
                        self.store.write_batch, batch, scores, rows, replace=bool(self.skip)
                    )
                )
            if closing and not self._done:
                if writing is not None:
                    await writing
                return

    def _drain_ended(self, task: asyncio.Future[None]) -> None:
        """If results can no longer be stored, make no more (paid) calls."""
        if not task.cancelled() and task.exception() is not None:
            self._stop.set()

    # -- the run --------------------------------------------------------------------------
    async def run(self) -> RunStats:
        self.prepare()
        self.stats.started = time.monotonic()
        drain = asyncio.ensure_future(self._drain())
        drain.add_done_callback(self._drain_ended)
        workers: list[asyncio.Task[None]] = []
        try:
            for result in self._hits:
                self._finished(result)
            queues: dict[str, asyncio.Queue[_Pending]] = {}
            for pending in self._pending:
                queues.setdefault(pending.item.provider, asyncio.Queue()).put_nowait(pending)
            limits: dict[str, AdaptiveLimit] = {}
            for provider_id, queue in queues.items():
                most = self.concurrency.get(provider_id, 4)
                provider = await self.pool.start(provider_id, most)
                limits[provider_id] = limit = AdaptiveLimit(most)
                workers += [
                    asyncio.ensure_future(self._worker(queue, provider, limit))
                    for _ in range(min(most, queue.qsize()))
                ]
            if workers:
                await asyncio.gather(*workers)
            self.stats.throttled_to = {
                pid: lim.lowest for pid, lim in limits.items() if lim.lowest < lim.maximum
            }
        finally:
            for task in workers:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*workers, return_exceptions=True)
            # Store whatever finished, even when interrupted.
            self._closing = True
            self._ready.set()
            await asyncio.shield(drain)
            if self._waiting is not None:
                self._waiting.shutdown(wait=False, cancel_futures=True)
        return self.stats


def _fill(result: Result, generation: Generation) -> None:
    """Copy an answer onto its result."""
    result.output = generation.text
    result.latency_ms = generation.latency_ms
    result.ttft_ms = generation.ttft_ms
    result.input_tokens = generation.input_tokens
    result.output_tokens = generation.output_tokens
    result.cached_input_tokens = generation.cached_input_tokens
    result.finish_reason = generation.finish_reason
    result.served_by = generation.served_by or result.provider


def _from_cache(result: Result, entry: cache.CacheEntry) -> Result:
    """A result answered by the cache: the stored answer and what it cost to produce."""
    _fill(result, entry.generation())
    result.cost_usd = entry.cost_usd
    result.cache_hit = True
    result.attempts = 0
    return result
