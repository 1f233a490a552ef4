"""run: execute a plan's calls concurrently, score them in batches and store them.

Per provider, ``concurrency`` workers pull work items from a queue and call the provider,
retrying what may succeed on a second try (rate limits honouring ``Retry-After``, 5xx,
timeouts, resets, malformed bodies) with capped exponential backoff and jitter. Every item
ends as a stored ``Result``: an answer, or an error with its class.

Completed results flow to one sink task, which scores them in batches (a scorer sees many
results at once, so embedding models and judges can batch) and writes each batch with its
scores in one transaction, in a worker thread, while calls continue. A killed run loses at
most the unwritten batch; ``--resume`` redoes only what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from evalkit.errors import ProviderCallError
from evalkit.load.prompts import render_messages
from evalkit.providers.base import Provider, Request
from evalkit.providers.pool import ProviderPool
from evalkit.records import Result, Score, WorkItem
from evalkit.run.calls import RetryPolicy, call_with_retries
from evalkit.run.plan import Plan
from evalkit.score.base import Outcome, ScoreInput, Scorer
from evalkit.store.db import Store

__all__ = ["RetryPolicy", "RunStats", "Runner"]  # RetryPolicy re-exported for callers


@dataclass
class RunStats:
    planned: int = 0
    done: int = 0
    errors: int = 0
    retries: int = 0
    error_classes: Counter[str] = field(default_factory=Counter)
    aborted: bool = False
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


_TICK = object()

#: Called after each finished item (for progress display).
OnResult = Callable[[Result, RunStats], None]


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
    ) -> None:
        self.plan = plan
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
        self.stats = RunStats()
        self._sink: asyncio.Queue[Result | None] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._signatures = {s.name: (s.signature_hash(), s.signature()) for s in self.scorers}

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

    async def _call(self, item: WorkItem, provider: Provider) -> Result:
        messages = render_messages(item.prompt, item.case.vars)
        request = Request(messages, provider.effective_params(item.prompt.params))
        result = self._result(item, provider, request)
        outcome = await call_with_retries(
            provider, request, self.retry, self.rng, stopped=self._stop.is_set,
            on_retry=self._count_retry,
        )
        result.attempts = outcome.attempts
        if outcome.error is not None:
            result.error = outcome.error.message[:2000]
            result.error_class = outcome.error.error_class
            return result
        generation = outcome.generation
        assert generation is not None
        result.output = generation.text
        result.latency_ms = generation.latency_ms
        result.ttft_ms = generation.ttft_ms
        result.input_tokens = generation.input_tokens
        result.output_tokens = generation.output_tokens
        result.finish_reason = generation.finish_reason
        result.served_by = item.provider
        if provider.type == "local":
            result.cost_usd = 0.0
        return result

    def _count_retry(self, _: ProviderCallError) -> None:
        self.stats.retries += 1

    async def _worker(self, queue: asyncio.Queue[WorkItem], provider: Provider) -> None:
        while not self._stop.is_set():
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            result = await self._call(item, provider)
            self._finished(result)

    def _finished(self, result: Result) -> None:
        stats = self.stats
        stats.done += 1
        if result.error_class:
            stats.errors += 1
            stats.error_classes[result.error_class] += 1
            # Stop early once the run can no longer meet its error budget.
            if stats.errors > self.error_budget * stats.planned:
                stats.aborted = True
                self._stop.set()
        self._sink.put_nowait(result)
        if self.on_result:
            self.on_result(result, stats)

    # -- scoring and storing --------------------------------------------------------------
    async def _score(self, results: list[Result]) -> list[Score]:
        answered = [r for r in results if r.error_class is None]
        cases = {c.id: c for c in self.plan.cases}
        inputs = [ScoreInput((r.output or "").strip(), cases[r.case_id], r) for r in answered]
        scores: list[Score] = []
        verdicts: dict[str, list[bool | None]] = {r.id: [] for r in answered}
        for scorer in self.scorers:
            try:
                outcomes = await scorer.score_batch(inputs) if inputs else []
            except Exception as exc:  # a broken (user) scorer must not lose the results
                outcomes = [Outcome(None, None, f"scorer error: {type(exc).__name__}: {exc}")
                            for _ in inputs]
            signature, signature_json = self._signatures[scorer.name]
            for item, outcome in zip(inputs, outcomes, strict=True):
                passed = outcome.passed if outcome.passed is not None else scorer.decide(
                    outcome.value)
                if scorer.decides:
                    verdicts[item.result.id].append(passed)
                scores.append(Score(
                    result_id=item.result.id, run_id=self.plan.run_id, scorer=scorer.name,
                    scorer_type=scorer.type, signature=signature,
                    signature_json=signature_json, value=outcome.value, passed=passed,
                    threshold=scorer.threshold, detail=outcome.detail,
                ))
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

    async def _flush(self, batch: list[Result]) -> None:
        if not batch:
            return
        scores = await self._score(batch)
        await asyncio.to_thread(self.store.write_batch, batch, scores)

    async def _drain(self) -> None:
        batch: list[Result] = []
        last = time.monotonic()
        while True:
            try:
                result: Result | object | None = await asyncio.wait_for(
                    self._sink.get(), self.flush_seconds
                )
            except TimeoutError:
                result = _TICK
            if result is None:
                await self._flush(batch)
                return
            if isinstance(result, Result):
                batch.append(result)
            if len(batch) >= self.batch_size or (
                batch and time.monotonic() - last >= self.flush_seconds
            ):
                current, batch = batch, []
                await self._flush(current)
                last = time.monotonic()

    # -- the run --------------------------------------------------------------------------
    async def run(self) -> RunStats:
        todo = [item for item in self.plan.items if item.result_id not in self.skip]
        self.stats.planned = len(todo)
        queues: dict[str, asyncio.Queue[WorkItem]] = {}
        for item in todo:
            queues.setdefault(item.provider, asyncio.Queue()).put_nowait(item)
        drain = asyncio.ensure_future(self._drain())
        workers: list[asyncio.Task[None]] = []
        try:
            for provider_id, queue in queues.items():
                limit = self.concurrency.get(provider_id, 4)
                provider = await self.pool.start(provider_id, limit)
                workers += [asyncio.ensure_future(self._worker(queue, provider))
                            for _ in range(min(limit, queue.qsize()))]
            if workers:
                await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*workers, return_exceptions=True)
            # Store whatever finished, even when interrupted.
            self._sink.put_nowait(None)
            await asyncio.shield(drain)
        return self.stats
