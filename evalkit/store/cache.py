"""The response cache's records, its backend protocol, and the DuckDB backend.

The call service (``evalkit.run.calls``) looks answers up before calling and writes fresh ones
after; it sees only the ``ResponseCache`` protocol, so the cache can live in the run's own store
(``DuckDBCache``, the default: new entries are written in the same transaction as the results
that produced them) or elsewhere (e.g. a shared Redis for parallel CI jobs).

Keys are made in ``evalkit.run.cache`` (everything that changes an answer); this module only
stores and finds them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from evalkit.records import Generation, ToolCall
from evalkit.store.db import CACHE_COLUMNS, Store, utcnow

if TYPE_CHECKING:
    import threading

__all__ = [
    "CacheEntry",
    "CacheRow",
    "DuckDBCache",
    "ResponseCache",
    "cache_row_tuple",
    "explain_row",
]


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A cached answer, as the call that produced it returned it."""

    key: str
    output: str
    input_tokens: int | None
    output_tokens: int | None
    cached_input_tokens: int | None
    latency_ms: float | None
    ttft_ms: float | None
    finish_reason: str | None
    served_by: str | None
    cost_usd: float | None
    #: The tool calls of the answer (``ToolCall.as_dict`` each), if it made any.
    tool_calls: tuple[dict[str, Any], ...] = ()

    def generation(self) -> Generation:
        return Generation(
            text=self.output,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached_input_tokens=self.cached_input_tokens,
            latency_ms=self.latency_ms,
            ttft_ms=self.ttft_ms,
            finish_reason=self.finish_reason,
            served_by=self.served_by,
            tool_calls=tuple(ToolCall.from_dict(c) for c in self.tool_calls),
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> CacheEntry:
        """An entry from a ``_LOOKUP`` row (its last column: the tool calls as JSON text)."""
        (key, output, tokens_in, tokens_out, cached, latency, ttft, finish, served, cost) = row[:10]
        calls = json.loads(row[10]) if row[10] else []
        return cls(
            key,
            output,
            tokens_in,
            tokens_out,
            cached,
            latency,
            ttft,
            finish,
            served,
            cost,
            tuple(calls),
        )


@dataclass(frozen=True, slots=True)
class CacheRow:
    """What is written for a fresh answer: the entry and what ``cache explain``/``stats`` need."""

    entry: CacheEntry
    provider_type: str | None
    model: str | None
    #: What the key is made of (the rendered input as a hash).
    components: dict[str, Any]
    #: Naive UTC.
    created_at: datetime


class ResponseCache(Protocol):
    """Where answers are cached. Lookups are bulk and synchronous (the call service runs them
    in a worker thread); ``claim``/``wait_for``/``release`` let concurrent processes sharing a
    cache make each call once (``wait_for`` gives up, with None, once ``stop`` is set)."""

    def lookup(self, keys: Sequence[str]) -> dict[str, CacheEntry]: ...
    def put(self, rows: Sequence[CacheRow]) -> None: ...
    def claim(self, key: str, ttl_s: float) -> bool: ...
    def wait_for(
        self, key: str, timeout_s: float, stop: threading.Event | None = None
    ) -> CacheEntry | None: ...
    def release(self, key: str) -> None: ...
    def stats(self) -> dict[str, Any]: ...
    def clear(self, older_than: timedelta | None) -> int: ...
    def candidates(
        self,
        model: str | None,
        provider_type: str | None,
        before: datetime,
        exclude_key: str,
        limit: int,
    ) -> list[tuple[str, dict[str, Any], datetime]]: ...


def cache_row_tuple(row: CacheRow) -> tuple[Any, ...]:
    """A ``CacheRow`` in ``CACHE_COLUMNS`` order."""
    e = row.entry
    return (
        e.key,
        row.provider_type,
        row.model,
        json.dumps(row.components, sort_keys=True, default=str),
        e.output,
        e.input_tokens,
        e.output_tokens,
        e.cached_input_tokens,
        e.latency_ms,
        e.ttft_ms,
        e.finish_reason,
        e.served_by,
        e.cost_usd,
        row.created_at,
        json.dumps(list(e.tool_calls), ensure_ascii=False) if e.tool_calls else None,
    )


_LOOKUP = (
    "SELECT key, output, input_tokens, output_tokens, cached_input_tokens, latency_ms, "
    "ttft_ms, finish_reason, served_by, cost_usd, tool_calls FROM cache "
    "WHERE key IN (SELECT unnest(?::VARCHAR[]))"
)


class DuckDBCache:
    """The cache table of a run's own store. One process writes a DuckDB store at a time, so
    a claim always succeeds; fresh rows are handed to the store's batch writer
    (``in_store_batches``) so they commit with their results."""

    #: Fresh rows go into the run's result batches (one transaction), not through ``put``.
    in_store_batches = True

    def __init__(self, store: Store) -> None:
        self.store = store

    def lookup(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        found: dict[str, CacheEntry] = {}
        for start in range(0, len(keys), 50_000):
            chunk = list(keys[start : start + 50_000])
            for row in self.store.fetchall(_LOOKUP, [chunk]):
                found[row[0]] = CacheEntry.from_row(row)
        return found

    def put(self, rows: Sequence[CacheRow]) -> None:
        self.store.insert_columns("cache", CACHE_COLUMNS, [cache_row_tuple(r) for r in rows])

    def claim(self, key: str, ttl_s: float) -> bool:
        return True

    def wait_for(
        self, key: str, timeout_s: float, stop: threading.Event | None = None
    ) -> CacheEntry | None:
        return self.lookup([key]).get(key)

    def release(self, key: str) -> None:
        return None

    def stats(self) -> dict[str, Any]:
        store = self.store
        total = store.records(
            "SELECT count(*) AS entries, coalesce(sum(length(output)), 0) AS output_chars, "
            "min(created_at) AS oldest, max(created_at) AS newest, "
            "coalesce(sum(cost_usd), 0) AS cost_usd FROM cache"
        )[0]
        total["by_model"] = store.records(
            "SELECT provider_type, model, count(*) AS entries, "
            "coalesce(sum(cost_usd), 0) AS cost_usd "
            "FROM cache GROUP BY ALL ORDER BY entries DESC"
        )
        return total

    def clear(self, older_than: timedelta | None) -> int:
        if older_than is None:
            (count,) = self.store.fetchone("SELECT count(*) FROM cache") or (0,)
            self.store.execute("DELETE FROM cache")
            return int(count)
        cutoff = utcnow() - older_than
        (count,) = self.store.fetchone(
            "SELECT count(*) FROM cache WHERE created_at < ?", [cutoff]
        ) or (0,)
        self.store.execute("DELETE FROM cache WHERE created_at < ?", [cutoff])
        return int(count)

    def candidates(
        self,
        model: str | None,
        provider_type: str | None,
        before: datetime,
        exclude_key: str,
        limit: int,
    ) -> list[tuple[str, dict[str, Any], datetime]]:
        rows = self.store.fetchall(
            "SELECT key, components, created_at FROM cache WHERE (model = ? OR provider_type = ?)"
            " AND key <> ? AND created_at <= ? ORDER BY created_at DESC LIMIT ?",
            [model, provider_type, exclude_key, before, limit],
        )
        return [(key, json.loads(components), created) for key, components, created in rows]

    def created_at(self, key: str) -> datetime | None:
        row = self.store.fetchone("SELECT created_at FROM cache WHERE key = ?", [key])
        return row[0] if row else None


def explain_row(store: Store, result_id: str) -> list[dict[str, Any]]:
    """The result(s) whose id is or starts with ``result_id``, with what a cache key is made
    of (params, rendered input, repeat, the provider's recorded identity)."""
    return store.records(
        "SELECT r.id, r.run_id, r.case_id, r.case_hash, r.output, r.prompt, r.provider, "
        "r.params, r.input, r.repeat, r.cache_key, r.cache_hit, r.created_at, p.identity "
        "FROM results r "
        "LEFT JOIN run_providers p ON p.run_id = r.run_id AND p.provider = r.provider "
        "WHERE r.id = ? OR r.id LIKE ?",
        [result_id, result_id + "%"],
    )


def hit_totals(store: Store) -> dict[str, Any]:
    """How often results were answered by the cache, and what that saved."""
    return store.records(
        "SELECT count(*) FILTER (WHERE cache_hit) AS hits, count(*) AS results, "
        "coalesce(sum(cost_usd) FILTER (WHERE cache_hit), 0) AS saved_usd FROM results"
    )[0]
