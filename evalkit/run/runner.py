"""run (execute): a plan's calls, made concurrently, scored in batches and stored.

``prepare()`` renders every request, computes its cache key and looks the keys up in bulk
(a query per chunk of keys); cached answers never reach a provider, so a fully cached run starts
none. It keeps only each item's key and cost estimate (and, for the cache hits of the last chunk
it looked up, their answers and requests): requests and results are made again when they are
needed, so memory does not grow with the suite. A conversation
(``evalkit.run.conversation``) keeps its exchange and is walked through the cache request by
request, one query per depth, so a fully cached conversation starts no provider either.
``run()`` first stores the cached answers (looked up again, chunk by chunk, except the kept
ones: a suite within one chunk is rendered and looked up once), then sends the rest: per
provider, workers pull items from a queue and make each call through the call service
(``evalkit.run.calls``: retries, adaptive slots, spend, ``--max-cost``). Every item ends as a
stored ``Result``: an answer, or an error with its class.

Finished results flow to one sink task, which scores them in batches (``evalkit.score.batch``:
a scorer sees many results at once, so embedding models and judges can batch) and writes each
batch with its scores and new cache entries in one transaction, in a worker thread, while calls
continue (closing the file after it when a reader waits: ``evalkit.store.sharing``). Results
waiting to be stored are bounded (a few batches): producers wait while the sink catches up. A
killed run loses at most the unwritten batch; ``--resume`` redoes only what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.load.prompts import render_messages
from evalkit.providers.base import Provider, Request
from evalkit.providers.pool import ProviderPool
from evalkit.records import CallOutcome, Generation, Result, Score, WorkItem
from evalkit.run.calls import CallService
from evalkit.run.conversation import Conversation, is_scripted
from evalkit.run.plan import Plan
from evalkit.score.batch import BatchScorer
from evalkit.store.cache import CacheEntry, cache_row_tuple
from evalkit.store.db import Store
from evalkit.store.score_cache import score_cache_tuples

__all__ = ["BATCH_SIZE", "LOOKUP_CHUNK", "SPARE_WORKERS", "RunStats", "Runner"]

#: Workers per provider beyond its calls in flight. A call that waits before a retry (a 429's
#: ``Retry-After``, a backoff) keeps its worker but frees its slot; without spare workers
#: each such wait left a slot idle, and a fault storm (10% of 429s with ``Retry-After: 1``)
#: ran at a fraction of its concurrency. The slots (``run.calls.AdaptiveLimit``) still bound
#: the requests in flight.
SPARE_WORKERS = 64


@dataclass
class RunStats:
    """How the execution went (the calls' own tallies are on the call service)."""

    planned: int = 0
    done: int = 0
    errors: int = 0
    #: Results answered by the response cache.
    cache_hits: int = 0
    #: Retried attempts of the run's calls (judges' included), when the run ended.
    retries: int = 0
    error_classes: Counter[str] = field(default_factory=Counter)
    #: Stopped early: too many errors for the budget.
    aborted: bool = False
    #: Stopped early: the next call could have passed ``--max-cost``.
    over_cost: bool = False
    #: Seconds spent rendering requests and reading the cache, before any call.
    prepare_s: float = 0.0
    #: When calls began (``run()``); provider start-up is not part of the run's time.
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started


#: Called after each finished item (for progress display).
OnResult = Callable[[Result, RunStats], None]
#: Called with each scored batch and its scores (for tracing).
OnScored = Callable[[Sequence[Result], Sequence[Score]], None]


#: Results stored per batch (each batch one transaction).
BATCH_SIZE = 256

#: Keys looked up in the cache per query (prepare, and again when the hits are stored).
LOOKUP_CHUNK = 2000


@dataclass(slots=True)
class _Pending:
    """A planned call, kept small: a single request and its result are rendered again when it
    runs; a conversation keeps its exchange, its next request and its result."""

    item: WorkItem
    #: Its (next) request's response cache key.
    key: str
    #: Upper-bound cost estimate of the call (for --max-cost and --dry-run), or None.
    estimate: float | None = None
    #: A scripted item's exchange (``request`` and ``full_key`` are its next request's).
    conversation: Conversation | None = None
    request: Request | None = None
    result: Result | None = None
    full_key: tuple[dict[str, Any], str] | None = None
    #: A single call's cached answer, kept from prepare's lookup (its last chunk only).
    entry: CacheEntry | None = None


class Runner:
    """Runs one plan against a provider pool into a store, through one call service."""

    def __init__(
        self,
        plan: Plan,
        pool: ProviderPool,
        store: Store,
        scoring: BatchScorer,
        calls: CallService,
        *,
        concurrency: dict[str, int],
        skip: set[str] | None = None,
        error_budget: float = 0.05,
        on_result: OnResult | None = None,
        on_scored: OnScored | None = None,
        batch_size: int | None = None,
        flush_seconds: float = 0.5,
    ) -> None:
        self.plan = plan
        self.pool = pool
        self.store = store
        self.scoring = scoring
        self.calls = calls
        self.concurrency = concurrency
        self.skip = skip or set()
        self.error_budget = error_budget
        self.on_result = on_result
        self.on_scored = on_scored
        self.batch_size = batch_size or BATCH_SIZE
        self.flush_seconds = flush_seconds
        self.stats = RunStats()
        #: True once a second interrupt asked to stop without storing the batch in hand.
        self.stop_now: Callable[[], bool] = lambda: False
        #: Finished results waiting to be scored and stored.
        self._done: list[Result] = []
        self._ready = asyncio.Event()
        self._closing = False
        self._stop = asyncio.Event()
        #: Single calls the cache answers (their answers are read again when stored, but for
        #: the last chunk's, kept in ``_kept`` with their requests).
        self._hits: list[_Pending] = []
        self._kept: list[_Pending] = []
        #: Conversations the cache answers whole (filled results).
        self._answered: list[Result] = []
        self._pending: list[_Pending] = []
        self._prepared = False
        #: Set by the sink each time it takes a batch (producers wait on it when it lags).
        self._taken = asyncio.Event()
        #: Effective params per (provider, prompt version), shared by their items.
        self._params: dict[tuple[str, str], dict[str, Any]] = {}

    # -- prepare --------------------------------------------------------------------------
    def prepare(self) -> set[str]:
        """Render requests, key them, look the keys up in the cache (in chunks); return the
        provider ids that still have calls to make."""
        if self._prepared:
            return {p.item.provider for p in self._pending}
        begun = time.monotonic()
        chunk: list[_Pending] = []
        exchanges: list[_Pending] = []
        planned = 0
        for item in self.plan.items:
            if item.result_id in self.skip:
                continue
            planned += 1
            provider = self.pool.get(item.provider)
            if is_scripted(item):
                exchanges.append(self._start_exchange(item, provider))
                continue
            request = self._request(item, provider)
            key = self.calls.key(provider, request, item.repeat)[1]
            estimate = self._estimate(provider, request, provider.request_input(request))
            chunk.append(_Pending(item, key, estimate, request=request))
            if len(chunk) >= LOOKUP_CHUNK:
                self._sort(chunk)
                chunk = []
        self._sort(chunk)
        walked = self._walk(exchanges)
        self.calls.count_hits("run", len(self._hits) + walked)
        self.stats.planned = planned
        self.stats.prepare_s = time.monotonic() - begun
        self._prepared = True
        return {p.item.provider for p in self._pending}

    def _estimate(self, provider: Provider, request: Request, sent: Any) -> float | None:
        """A call's cost estimate from what it sends (``provider.request_input``)."""
        estimate = self.calls.pricing.estimate(
            provider.type, provider.model, len(str(sent)), request.params.get("max_tokens")
        )
        if estimate is not None and request.item is not None and request.item.case.turns:
            estimate *= len(request.item.case.turns)  # at least one request per turn
        return estimate

    def _sort(self, chunk: list[_Pending]) -> None:
        """Split a chunk of planned calls into cache hits and calls to make. The hits of this
        chunk keep their answers and requests, and those of the chunk before let go of theirs
        (memory stays bounded by one chunk)."""
        if not chunk:
            return
        for kept in self._kept:
            kept.entry = kept.request = None
        self._kept = []
        found = self.calls.lookup([p.key for p in chunk])
        for pending in chunk:
            entry = found.get(pending.key)
            if entry is not None and self.pool.get(pending.item.provider).needs_network:
                pending.entry = entry
                self._hits.append(pending)
                self._kept.append(pending)
            else:
                pending.request = None  # rendered again when it is called
                self._pending.append(pending)

    def _messages(self, item: WorkItem, provider: Provider) -> tuple[list[Any], dict[str, Any]]:
        """An item's rendered messages (its prompt for its case, then the case's history) and
        the provider's effective params for its prompt version."""
        shared = self._params.get((item.provider, item.prompt.ref))
        if shared is None:
            shared = provider.effective_params(item.prompt.params)
            self._params[(item.provider, item.prompt.ref)] = shared
        messages = render_messages(item.prompt, item.case.template_vars, case=item.case)
        messages += item.case.messages
        return messages, shared

    def _request(self, item: WorkItem, provider: Provider) -> Request:
        """A single item's request."""
        messages, shared = self._messages(item, provider)
        return Request(messages, shared, item.prompt.params, item)

    def _render(
        self, item: WorkItem, provider: Provider, request: Request | None = None
    ) -> tuple[Request, Result]:
        """A single item's request (``request``, when kept from prepare) and its unanswered
        result."""
        request = request or self._request(item, provider)
        return request, self._result(item, provider, request)

    def _start_exchange(self, item: WorkItem, provider: Provider) -> _Pending:
        """A scripted item (turns, tools): its exchange and first request."""
        messages, shared = self._messages(item, provider)
        conversation = Conversation.start(item, provider, shared, messages)
        request = conversation.request()
        assert request is not None
        result = self._result(item, provider, request)
        key = self.calls.key(provider, request, item.repeat)
        result.cache_key = key[1]
        estimate = self._estimate(provider, request, result.input)
        return _Pending(item, key[1], estimate, conversation, request, result, key)

    def _walk(self, pending: list[_Pending]) -> int:
        """Answer what the cache holds of the exchanges (one query per depth): an exchange the
        cache answers whole is done; the others wait from their first uncached request.
        Returns the requests the cache answered."""
        hits = 0
        while pending:
            found = self.calls.lookup([p.key for p in pending])
            deeper = []
            for item in pending:
                entry = found.get(item.key)
                conversation = item.conversation
                if entry is None or not self.pool.get(item.item.provider).needs_network:
                    self._pending.append(item)
                    continue
                assert conversation is not None and item.result is not None
                hits += 1
                outcome = CallOutcome(
                    entry.generation(),
                    None,
                    0,
                    cache_hit=True,
                    cost_usd=entry.cost_usd,
                    served_by=entry.served_by,
                )
                conversation.take(outcome, item.key)
                request = conversation.request()
                if request is None:
                    self._answered.append(conversation.fill(item.result))
                    continue
                item.request = request
                item.full_key = self.calls.key(conversation.provider, request, item.item.repeat)
                item.key = item.full_key[1]
                deeper.append(item)
            pending = deeper
        return hits

    def planned_calls(self) -> list[tuple[str, bool, float | None]]:
        """After ``prepare``: (provider id, answered by the cache, cost estimate) per call."""
        return (
            [(h.item.provider, True, None) for h in self._hits]
            + [(r.provider, True, None) for r in self._answered]
            + [(p.item.provider, False, p.estimate) for p in self._pending]
        )

    def unpriced(self) -> list[str]:
        """Models with calls to make whose cost cannot be estimated."""
        return sorted(
            {str(self.pool.get(p.item.provider).model) for p in self._pending if p.estimate is None}
        )

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
            params=request.params,  # type: ignore[arg-type]  # shared, never mutated
            repeat=item.repeat,
            input=provider.request_input(request),
            created_at=time.time(),
        )

    # -- calls ----------------------------------------------------------------------------
    async def _converse(self, pending: _Pending, provider: Provider) -> Result | None:
        """A scripted item's requests, in order, each through the call service."""
        conversation, item, result = pending.conversation, pending.item, pending.result
        assert conversation is not None and result is not None
        request: Request | None = pending.request
        key: tuple[dict[str, Any], str] | None = pending.full_key
        first = True
        while request is not None:
            key = key or self.calls.key(provider, request, item.repeat)
            outcome = await self.calls.call(
                provider,
                request,
                repeat=item.repeat,
                purpose="run",
                key=key,
                read_cache=not first,  # the first was looked up by prepare()
                stopped=self._stop.is_set,
                context={
                    "case_id": item.case.id,
                    "prompt": item.prompt.ref,
                    "repeat": item.repeat,
                    "step": request.step,
                },
            )
            if outcome.refused:
                self.stats.over_cost = True
                self._stop.set()
                return None
            conversation.take(outcome, key[1])
            request, key, first = conversation.request(), None, False
        result.created_at = time.time()
        return conversation.fill(result)

    async def _call(self, pending: _Pending, provider: Provider) -> Result | None:
        if pending.conversation is not None:
            return await self._converse(pending, provider)
        item = pending.item
        request, result = self._render(item, provider)
        key = self.calls.key(provider, request, item.repeat)
        result.cache_key = key[1]
        outcome = await self.calls.call(
            provider,
            request,
            repeat=item.repeat,
            purpose="run",
            key=key,
            read_cache=False,  # looked up in bulk by prepare()
            estimate=pending.estimate,
            stopped=self._stop.is_set,
            context={"case_id": item.case.id, "prompt": item.prompt.ref, "repeat": item.repeat},
        )
        if outcome.refused:  # --max-cost, or the run stopped: the item stays unanswered
            if outcome.refused == "max_cost":
                self.stats.over_cost = True
            self._stop.set()
            return None
        return _fill(result, outcome)

    async def _worker(self, queue: asyncio.Queue[_Pending], provider: Provider) -> None:
        while not self._stop.is_set():
            if self.calls.over_cost:  # a judge's call was refused: the budget is spent
                self.stats.over_cost = True
                return
            try:
                pending = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            result = await self._call(pending, provider)
            if result is None:
                return
            self._finished(result)
            await self._room()

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

    async def _room(self) -> None:
        """Wait while more than a few batches of results wait to be stored (memory stays
        bounded however fast the answers come)."""
        while len(self._done) >= 4 * self.batch_size and not (self._closing or self._stop.is_set()):
            self._taken.clear()
            self._ready.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._taken.wait(), self.flush_seconds)

    async def _store_hits(self) -> None:
        """Store the answers the cache holds, a chunk at a time (looked up again, so they are
        never all in memory, but for those prepare kept); one gone since ``prepare`` becomes a
        call to make."""
        answered, self._answered = self._answered, []
        for result in answered:
            self._finished(result)
            await self._room()
        hits, self._hits = self._hits, []
        for start in range(0, len(hits), LOOKUP_CHUNK):
            if self._stop.is_set():
                return
            chunk = hits[start : start + LOOKUP_CHUNK]
            missing = [h.key for h in chunk if h.entry is None]
            found = await asyncio.to_thread(self.calls.lookup, missing) if missing else {}
            for pending in chunk:
                entry, request = pending.entry or found.get(pending.key), pending.request
                pending.entry = pending.request = None
                if entry is None:
                    self._pending.append(pending)
                    continue
                provider = self.pool.get(pending.item.provider)
                result = self._render(pending.item, provider, request)[1]
                result.cache_key = pending.key
                self._finished(_from_cache(result, entry))
                await self._room()

    # -- scoring and storing --------------------------------------------------------------
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
            self._taken.set()
            if not batch and (writing is None or writing.done()):
                # Nothing to write now: let a waiting reader in meanwhile.
                await asyncio.to_thread(self.store.release_if_wanted)
            if batch:
                scores = await self.scoring.score(batch)
                if self.on_scored is not None:
                    self.on_scored(batch, scores)
                cache_rows = [cache_row_tuple(r) for r in self.calls.take_fresh_rows()]
                score_rows = score_cache_tuples(self.scoring.fresh)
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(
                    asyncio.to_thread(self._write, batch, scores, cache_rows, score_rows)
                )
            if closing and not self._done:
                if writing is not None:
                    await writing
                return

    def _write(
        self,
        batch: list[Result],
        scores: list[Any],
        cache_rows: list[tuple[Any, ...]],
        score_rows: list[tuple[Any, ...]],
    ) -> None:
        """Store one batch, then let go of the store file until the next if a reader waits
        for it (so other processes can read it while the run goes on)."""
        self.store.write_batch(
            batch, scores, cache_rows, replace=bool(self.skip), score_cache_rows=score_rows
        )
        self.store.release_if_wanted()

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
            await self._store_hits()
            queues: dict[str, asyncio.Queue[_Pending]] = {}
            for pending in self._pending:
                queues.setdefault(pending.item.provider, asyncio.Queue()).put_nowait(pending)
            self._pending = []  # the queues hold them now: each is freed once stored
            for provider_id, queue in queues.items():
                most = self.concurrency.get(provider_id, 4)
                provider = await self.pool.start(provider_id, most)
                workers += [
                    asyncio.ensure_future(self._worker(queue, provider))
                    for _ in range(min(most + SPARE_WORKERS, queue.qsize()))
                ]
            if workers:
                await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*workers, return_exceptions=True)
            # Store whatever finished, even when interrupted.
            self._closing = True
            self._ready.set()
            await self._finish_drain(drain)
            self.stats.ended = time.monotonic()
            self.stats.retries = self.calls.tally.retried
        return self.stats

    async def _finish_drain(self, drain: asyncio.Future[None]) -> None:
        """Wait until the finished results are scored and stored, through an interrupt.

        An interrupt (a cancellation) waits too, then propagates; only a second one
        (``stop_now()``) abandons the batch being scored — a judge may be grading it — and
        keeps its answers in the response cache, so that ``--resume`` pays for none twice.
        """
        interrupted = False
        while not drain.done():
            if self.stop_now():
                drain.cancel()
                with contextlib.suppress(Exception):
                    self.calls.flush()
                raise asyncio.CancelledError
            try:
                await asyncio.shield(drain)
            except asyncio.CancelledError:
                interrupted = True
        if interrupted:
            raise asyncio.CancelledError
        drain.result()  # a failed write is the run's error


def _fill(result: Result, outcome: CallOutcome) -> Result:
    """Copy a call's outcome onto its result."""
    result.attempts = outcome.attempts
    result.created_at = time.time()
    if outcome.error is not None:
        result.error = outcome.error.message[:2000]
        result.error_class = outcome.error.error_class
        return result
    generation = outcome.generation
    assert generation is not None
    _copy(result, generation)
    result.cost_usd = outcome.cost_usd
    result.cache_hit = outcome.cache_hit
    return result


def _copy(result: Result, generation: Generation) -> None:
    result.output = generation.text
    result.latency_ms = generation.latency_ms
    result.ttft_ms = generation.ttft_ms
    result.input_tokens = generation.input_tokens
    result.output_tokens = generation.output_tokens
    result.cached_input_tokens = generation.cached_input_tokens
    result.finish_reason = generation.finish_reason
    result.served_by = generation.served_by or result.provider


def _from_cache(result: Result, entry: CacheEntry) -> Result:
    """A result answered by the cache: the stored answer and what it cost to produce."""
    _copy(result, entry.generation())
    result.cost_usd = entry.cost_usd
    result.cache_hit = True
    result.attempts = 0
    return result
