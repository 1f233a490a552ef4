"""The response cache in Redis, shared by every runner that points at it.

``cache: {backend: redis, url: redis://host:6379/0}`` in evalkit.yaml, or
``EVALKIT_CACHE_URL=redis://...``. Keys are the DuckDB cache's (``run.cache.KeyMaker``), so a
run on another machine, or on another store, is answered by answers cached by any of them.

Layout (``P`` = ``<prefix>:cache``)::

    P:e:<key>        the entry (JSON: the answer, tokens, latency, cost, what the key is made of)
    P:all            sorted set key -> created_at (epoch s): age, clearing
    P:m:<model>      sorted set key -> created_at, per model; P:t:<type> per provider type:
                     the candidates ``cache explain`` compares a miss with
    P:stats          hash: entries, output characters, cost, per model; lookups, hits, saved
    P:claim:<key>    a call in flight (SET NX with a TTL): whoever sets it makes the call
    P:done:<key>     pub/sub channel: "put" when the answer is stored, "released" when the
                     claimed call failed

Entries and their statistics change together in one Lua script, so ``stats()`` stays exact
while many runners write. Waiting for a claimed key is pub/sub with a 1 s re-check (a claimer
that died is noticed when its claim expires): ``bench/redis_wait.py`` measured it against
20 ms polling.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from evalkit.errors import SetupError
from evalkit.store.cache import CacheEntry, CacheRow

__all__ = ["RedisCache"]

_FIELDS = (
    "output",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "latency_ms",
    "ttft_ms",
    "finish_reason",
    "served_by",
    "cost_usd",
)

# KEYS: entry, all, by model, by type, stats, claim, channel
# ARGV: key, entry JSON, created (epoch), chars, cost, group
_PUT = """
local old = redis.call('GET', KEYS[1])
if old then
  local o = cjson.decode(old)
  redis.call('HINCRBY', KEYS[5], 'entries', -1)
  redis.call('HINCRBY', KEYS[5], 'chars', -o._chars)
  redis.call('HINCRBYFLOAT', KEYS[5], 'cost', -o._cost)
  redis.call('HINCRBY', KEYS[5], 'n|' .. o._group, -1)
  redis.call('HINCRBYFLOAT', KEYS[5], 'c|' .. o._group, -o._cost)
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('HINCRBY', KEYS[5], 'entries', 1)
redis.call('HINCRBY', KEYS[5], 'chars', ARGV[4])
redis.call('HINCRBYFLOAT', KEYS[5], 'cost', ARGV[5])
redis.call('HINCRBY', KEYS[5], 'n|' .. ARGV[6], 1)
redis.call('HINCRBYFLOAT', KEYS[5], 'c|' .. ARGV[6], ARGV[5])
redis.call('DEL', KEYS[6])
redis.call('PUBLISH', KEYS[7], 'put')
return 1
"""

# KEYS: entry, all, stats; ARGV: key, prefix
_DELETE = """
local old = redis.call('GET', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not old then return 0 end
local o = cjson.decode(old)
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[2] .. ':m:' .. o._model, ARGV[1])
redis.call('ZREM', ARGV[2] .. ':t:' .. o._type, ARGV[1])
redis.call('HINCRBY', KEYS[3], 'entries', -1)
redis.call('HINCRBY', KEYS[3], 'chars', -o._chars)
redis.call('HINCRBYFLOAT', KEYS[3], 'cost', -o._cost)
redis.call('HINCRBY', KEYS[3], 'n|' .. o._group, -1)
redis.call('HINCRBYFLOAT', KEYS[3], 'c|' .. o._group, -o._cost)
return 1
"""

# KEYS: entry, claim; ARGV: token, ttl (ms). An answer stored since the caller's lookup is
# not claimed again: the caller then finds it through wait_for.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""

# KEYS: claim, channel; ARGV: token
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', KEYS[2], 'released')
  return 1
end
return 0
"""


def _epoch(value: datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp() if value.tzinfo is None else value.timestamp()


def _naive(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


#: How often a wait given a ``stop`` event looks at it (no command is sent to do so).
STOP_POLL_S = 0.1


class RedisCache:
    """A ``ResponseCache`` in Redis (see the module docstring)."""

    def __init__(self, url: str, prefix: str = "evalkit", *, recheck_s: float = 1.0) -> None:
        try:
            import redis
        except ImportError:
            raise SetupError(
                "the Redis response cache needs the redis client",
                fix="pip install 'evalkit[team]'",
            ) from None
        self.url = url
        self.p = f"{prefix}:cache"
        self.recheck_s = recheck_s
        # decode_responses: every reply is str (redis' own annotations cannot say so: Any)
        self.r: Any = redis.Redis.from_url(url, decode_responses=True, socket_timeout=30)
        try:
            self.r.ping()
        except redis.RedisError as exc:
            raise SetupError(
                f"cannot reach the Redis cache at {_shown(url)}: {exc}",
                fix="start it, fix `cache: {url: ...}` / EVALKIT_CACHE_URL, or drop them to "
                "cache in the store",
            ) from None
        self._put = self.r.register_script(_PUT)
        self._delete = self.r.register_script(_DELETE)
        self._release = self.r.register_script(_RELEASE)
        self._claim_script = self.r.register_script(_CLAIM)
        self._tokens: dict[str, str] = {}

    # -- names ---------------------------------------------------------------------------
    def _entry(self, key: str) -> str:
        return f"{self.p}:e:{key}"

    def _claim(self, key: str) -> str:
        return f"{self.p}:claim:{key}"

    def _channel(self, key: str) -> str:
        return f"{self.p}:done:{key}"

    @staticmethod
    def _decode(key: str, text: str | None) -> CacheEntry | None:
        if not text:
            return None
        data = json.loads(text)
        return CacheEntry(key, *(data.get(f) for f in _FIELDS))

    # -- the protocol ------------------------------------------------------------------------
    def lookup(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        """The cached entries among ``keys`` (MGET in chunks of 1,000)."""
        found: dict[str, CacheEntry] = {}
        saved = 0.0
        for start in range(0, len(keys), 1000):
            chunk = list(keys[start : start + 1000])
            for key, text in zip(chunk, self.r.mget([self._entry(k) for k in chunk]), strict=True):
                entry = self._decode(key, text)
                if entry is not None:
                    found[key] = entry
                    saved += entry.cost_usd or 0.0
        if keys:
            pipe = self.r.pipeline()
            pipe.hincrby(f"{self.p}:stats", "lookups", len(keys))
            pipe.hincrby(f"{self.p}:stats", "hits", len(found))
            pipe.hincrbyfloat(f"{self.p}:stats", "saved", saved)
            pipe.execute()
        return found

    def put(self, rows: Sequence[CacheRow]) -> None:
        """Store entries (replacing any with the same key) and wake whoever waits for them."""
        pipe = self.r.pipeline(transaction=False)
        for row in rows:
            entry = row.entry
            data = {f: getattr(entry, f) for f in _FIELDS}
            chars = len(entry.output or "")
            cost = float(entry.cost_usd or 0.0)
            group = f"{row.provider_type or ''}|{row.model or ''}"
            data.update(
                provider_type=row.provider_type,
                model=row.model,
                components=row.components,
                created_at=_epoch(row.created_at),
                _chars=chars,
                _cost=cost,
                _group=group,
                _model=row.model or "",
                _type=row.provider_type or "",
            )
            created = _epoch(row.created_at)
            self._put(
                keys=[
                    self._entry(entry.key),
                    f"{self.p}:all",
                    f"{self.p}:m:{row.model or ''}",
                    f"{self.p}:t:{row.provider_type or ''}",
                    f"{self.p}:stats",
                    self._claim(entry.key),
                    self._channel(entry.key),
                ],
                args=[entry.key, json.dumps(data, default=str), created, chars, cost, group],
                client=pipe,
            )
            self._tokens.pop(entry.key, None)
        pipe.execute()

    def claim(self, key: str, ttl_s: float) -> bool:
        """True: this caller makes the call (its claim lapses after ``ttl_s``). False: another
        caller has claimed it, or its answer is stored already (``wait_for`` returns it)."""
        token = secrets.token_hex(8)
        ttl = max(1, int(ttl_s * 1000))
        if self._claim_script(keys=[self._entry(key), self._claim(key)], args=[token, ttl]):
            self._tokens[key] = token
            return True
        return False

    def release(self, key: str) -> None:
        """The claimed call failed: let a waiter make it."""
        token = self._tokens.pop(key, None)
        if token is not None:
            self._release(keys=[self._claim(key), self._channel(key)], args=[token])

    def wait_for(
        self, key: str, timeout_s: float, stop: threading.Event | None = None
    ) -> CacheEntry | None:
        """Wait until another caller's claimed call is stored (its entry), or the claim is
        released or lapses, or ``timeout_s`` passes (None: make the call yourself), or
        ``stop`` is set (None, within ``STOP_POLL_S``: the caller is leaving).

        The entry and the claim are read after subscribing (an answer stored meanwhile is not
        missed), on every message and every ``recheck_s``; ``stop`` is looked at in between,
        without a command."""
        deadline = time.monotonic() + timeout_s
        pubsub = self.r.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self._channel(key))
            check = 0.0  # when to read the entry and the claim next
            while stop is None or not stop.is_set():
                now = time.monotonic()
                if now >= check:
                    entry = self._decode(key, self.r.get(self._entry(key)))
                    if entry is not None:
                        return entry
                    if not self.r.exists(self._claim(key)):
                        # stored between the two reads (a put removes the claim), or given up
                        return self._decode(key, self.r.get(self._entry(key)))
                    check = now + self.recheck_s
                left = deadline - now
                if left <= 0:
                    return None
                listen = min(left, check - now, STOP_POLL_S if stop is not None else left)
                message = pubsub.get_message(timeout=listen)
                if message and message.get("data") == "released":
                    return None
                if message:
                    check = 0.0  # an answer was stored: read it now
            return None
        finally:
            pubsub.close()

    def stats(self) -> dict[str, Any]:
        """Entries, size, cost per model; and the lookups this cache answered (``hits``:
        of all keys looked up, how many were found, and what their answers had cost)."""
        raw = self.r.hgetall(f"{self.p}:stats")
        oldest = self.r.zrange(f"{self.p}:all", 0, 0, withscores=True)
        newest = self.r.zrevrange(f"{self.p}:all", 0, 0, withscores=True)
        by_model = []
        for name, count in raw.items():
            if not name.startswith("n|") or int(count) <= 0:
                continue
            group = name[2:]
            provider_type, _, model = group.partition("|")
            by_model.append(
                {
                    "provider_type": provider_type or None,
                    "model": model or None,
                    "entries": int(count),
                    "cost_usd": round(float(raw.get(f"c|{group}", 0.0)), 12),
                }
            )
        by_model.sort(key=lambda row: -int(row["entries"] or 0))
        return {
            "entries": int(raw.get("entries", 0)),
            "output_chars": int(raw.get("chars", 0)),
            "oldest": _naive(oldest[0][1]) if oldest else None,
            "newest": _naive(newest[0][1]) if newest else None,
            "cost_usd": round(float(raw.get("cost", 0.0)), 12),
            "by_model": by_model,
            "hits": {
                "hits": int(raw.get("hits", 0)),
                "results": int(raw.get("lookups", 0)),
                "saved_usd": round(float(raw.get("saved", 0.0)), 12),
            },
            "backend": "redis",
            "url": _shown(self.url),
        }

    def clear(self, older_than: timedelta | None) -> int:
        """Delete entries (all, or those created more than ``older_than`` ago)."""
        cutoff = "+inf" if older_than is None else str(time.time() - older_than.total_seconds())
        removed = 0
        while True:
            keys = self.r.zrangebyscore(f"{self.p}:all", "-inf", cutoff, start=0, num=500)
            if not keys:
                break
            pipe = self.r.pipeline(transaction=False)
            for key in keys:
                self._delete(
                    keys=[self._entry(key), f"{self.p}:all", f"{self.p}:stats"],
                    args=[key, self.p],
                    client=pipe,
                )
            removed += sum(int(x) for x in pipe.execute())
        if older_than is None:
            self.r.hdel(f"{self.p}:stats", "lookups", "hits", "saved")
        return removed

    def candidates(
        self,
        model: str | None,
        provider_type: str | None,
        before: datetime,
        exclude_key: str,
        limit: int,
    ) -> list[tuple[str, dict[str, Any], datetime]]:
        """Entries of this model or provider type created before ``before``, newest first."""
        top = _epoch(before)
        scored: dict[str, float] = {}
        for index in (f"{self.p}:m:{model or ''}", f"{self.p}:t:{provider_type or ''}"):
            for key, score in self.r.zrevrangebyscore(
                index, top, "-inf", start=0, num=limit, withscores=True
            ):
                if key != exclude_key:
                    scored[key] = score
        keys = sorted(scored, key=lambda k: -scored[k])[:limit]
        out = []
        for key, text in zip(
            keys, self.r.mget([self._entry(k) for k in keys]) if keys else [], strict=True
        ):
            if text:
                data = json.loads(text)
                out.append((key, data.get("components") or {}, _naive(float(data["created_at"]))))
        return out

    def created_at(self, key: str) -> datetime | None:
        """When the entry of ``key`` was stored (naive UTC), or None."""
        score = self.r.zscore(f"{self.p}:all", key)
        return None if score is None else _naive(float(score))

    def close(self) -> None:
        self.r.close()


def _shown(url: str) -> str:
    """The URL without its password."""
    import re

    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
