"""The response cache behind one protocol: the store's own cache table (the default) or a shared
Redis (``cache: {backend: redis, url: ...}`` / ``EVALKIT_CACHE_URL``).

``ResponseCache`` is what a backend implements; ``open_response_cache(project)`` gives the
project's shared backend, or None when the cache lives in the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from evalkit.run.cache import CacheEntry

__all__ = ["CacheRow", "ResponseCache", "open_response_cache", "row_for"]


@dataclass(frozen=True, slots=True)
class CacheRow:
    """What is written: the entry, and what ``cache explain`` / ``cache stats`` need."""

    entry: CacheEntry
    provider_type: str | None
    model: str | None
    components: dict[str, Any]
    #: naive UTC
    created_at: datetime


class ResponseCache(Protocol):
    """A response cache shared by runners (bulk, synchronous calls)."""

    def lookup(self, keys: Sequence[str]) -> dict[str, CacheEntry]: ...
    def put(self, rows: Sequence[CacheRow]) -> None: ...
    def claim(self, key: str, ttl_s: float) -> bool: ...
    def wait_for(self, key: str, timeout_s: float) -> CacheEntry | None: ...
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


def row_for(result: Any, components: dict[str, Any]) -> CacheRow:
    """The cache row of a fresh, successful result."""
    from evalkit.store.db import utcnow

    return CacheRow(
        CacheEntry(
            result.cache_key,
            result.output or "",
            result.input_tokens,
            result.output_tokens,
            result.cached_input_tokens,
            result.latency_ms,
            result.ttft_ms,
            result.finish_reason,
            result.served_by,
            result.cost_usd,
        ),
        result.provider_type,
        result.model,
        components,
        utcnow(),
    )


def open_response_cache(project: Any) -> Any:
    """The project's shared response cache (Redis), or None: the cache is the store's."""
    url = project.cache_url() if hasattr(project, "cache_url") else None
    if not url:
        return None
    from evalkit.store.redis_cache import RedisCache

    return RedisCache(url, project.config.cache.prefix)
