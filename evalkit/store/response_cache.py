"""The response cache behind one protocol: the store's own cache table (the default) or a shared
Redis (``cache: {backend: redis, url: ...}`` / ``EVALKIT_CACHE_URL``).

``ResponseCache`` is what a backend implements; ``open_response_cache(project)`` gives the
project's shared backend, or None when the cache lives in the store.
"""

from __future__ import annotations

from typing import Any

from evalkit.store.cache import CacheEntry, CacheRow, ResponseCache

__all__ = ["CacheEntry", "CacheRow", "ResponseCache", "open_response_cache"]


def open_response_cache(project: Any) -> Any:
    """The project's shared response cache (Redis), or None: the cache is the store's."""
    url = project.cache_url() if hasattr(project, "cache_url") else None
    if not url:
        return None
    from evalkit.store.redis_cache import RedisCache

    return RedisCache(url, project.config.cache.prefix)
