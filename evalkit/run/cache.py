"""The response cache: answers stored in the store, keyed by everything that changes them.

The key covers the provider's identity (type, base_url, model, mode, and for the local model
its weights and server version), every effective generation param, the rendered request and
the repeat index — never the provider id or the prompt name, so two names for one endpoint, or
two prompt versions rendering the same text, share entries. Errors are never cached.

A run looks up all its keys in one query before any call (a fully cached run starts no
provider at all), and writes new entries in the same transaction as their results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from evalkit.errors import NotFoundError
from evalkit.records import Generation, Result, canonical_json, content_hash, flatten
from evalkit.store.db import Store, utcnow

__all__ = [
    "CacheEntry",
    "CallCache",
    "KeyMaker",
    "cache_key",
    "clear",
    "entry_row",
    "explain",
    "key_components",
    "lookup",
    "rows_for",
    "stats",
]


def key_components(
    identity: dict[str, Any], params: dict[str, Any], request_input: Any, repeat: int
) -> dict[str, Any]:
    """What a cache key is made of (the rendered input as a hash)."""
    return {
        "provider": identity,
        "params": params,
        "input": content_hash(request_input, 32),
        "repeat": repeat,
    }


def cache_key(components: dict[str, Any]) -> str:
    return content_hash(components, 32)


class KeyMaker:
    """``cache_key(key_components(...))`` for many requests, fast: the canonical JSON of a
    provider's identity and params is built once per distinct pair, not once per request.
    Equal to ``cache_key`` by construction (tested)."""

    def __init__(self) -> None:
        self._parts: dict[tuple[int, str], str] = {}

    def components_and_key(
        self, identity: dict[str, Any], params: dict[str, Any], request_input: Any, repeat: int
    ) -> tuple[dict[str, Any], str]:
        components = key_components(identity, params, request_input, repeat)
        memo = (id(identity), canonical_json(params))
        middle = self._parts.get(memo)
        if middle is None:
            middle = self._parts[memo] = f'"params":{memo[1]},"provider":{canonical_json(identity)}'
        text = f'{{"input":"{components["input"]}",{middle},"repeat":{int(repeat)}}}'
        return components, hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class CacheEntry:
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

    def generation(self) -> Generation:
        """The stored answer as the call that produced it returned it."""
        return Generation(
            text=self.output,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached_input_tokens=self.cached_input_tokens,
            latency_ms=self.latency_ms,
            ttft_ms=self.ttft_ms,
            finish_reason=self.finish_reason,
            served_by=self.served_by,
        )


def entry_row(result: Result, components: dict[str, Any]) -> tuple[Any, ...]:
    """The cache row for a fresh, successful result."""
    return (
        result.cache_key,
        result.provider_type,
        result.model,
        json.dumps(components, sort_keys=True, default=str),
        result.output,
        result.input_tokens,
        result.output_tokens,
        result.cached_input_tokens,
        result.latency_ms,
        result.ttft_ms,
        result.finish_reason,
        result.served_by,
        result.cost_usd,
        utcnow(),
    )


def lookup(store: Store, keys: Sequence[str]) -> dict[str, CacheEntry]:
    """The cached entries among ``keys``, in one query per 50,000 keys."""
    found: dict[str, CacheEntry] = {}
    for start in range(0, len(keys), 50_000):
        chunk = list(keys[start : start + 50_000])
        rows = store.fetchall(
            "SELECT key, output, input_tokens, output_tokens, cached_input_tokens, latency_ms, "
            "ttft_ms, finish_reason, served_by, cost_usd FROM cache "
            "WHERE key IN (SELECT unnest(?::VARCHAR[]))",
            [chunk],
        )
        for row in rows:
            found[row[0]] = CacheEntry(*row)
    return found


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    fa, fb = flatten(a), flatten(b)
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


def explain(store: Store, result_id: str, backend: Any = None) -> dict[str, Any]:
    """Why a result hit or missed the cache: its key, and what differed from the nearest
    cached entry when there was none. ``backend``: a shared cache (Redis) holding the
    entries instead of the store."""
    rows = store.records(
        "SELECT r.id, r.run_id, r.case_id, r.prompt, r.provider, r.params, r.input, r.repeat, "
        "r.cache_key, r.cache_hit, r.created_at, p.identity FROM results r "
        "LEFT JOIN run_providers p ON p.run_id = r.run_id AND p.provider = r.provider "
        "WHERE r.id = ? OR r.id LIKE ?",
        [result_id, result_id + "%"],
    )
    if len(rows) != 1:
        raise NotFoundError(
            f"{'no' if not rows else 'more than one'} result '{result_id}'",
            fix='give a result id from `evalkit query "SELECT id, case_id FROM results"`',
        )
    row = rows[0]
    identity = json.loads(row["identity"]) if row["identity"] else {}
    components = key_components(
        identity,
        json.loads(row["params"] or "{}"),
        json.loads(row["input"]) if row["input"] else None,
        row["repeat"],
    )
    key = cache_key(components)
    out: dict[str, Any] = {
        "result": row["id"],
        "run_id": row["run_id"],
        "case_id": row["case_id"],
        "prompt": row["prompt"],
        "provider": row["provider"],
        "key": key,
        "cache_hit": bool(row["cache_hit"]),
        "components": components,
    }
    if backend is not None:
        found = backend.lookup([key]).get(key)
        created_at = getattr(backend, "created_at", lambda _: None)
        entry = (created_at(key),) if found is not None else None
    else:
        entry = store.fetchone("SELECT created_at FROM cache WHERE key = ?", [key])
    out["now_cached"] = entry is not None
    if row["cache_hit"]:
        out["status"] = "hit"
        out["entry_created_at"] = entry[0] if entry else None
        return out
    # A miss: compare with what the cache held when the call was made.
    out["status"] = "miss"
    if backend is not None:
        candidates: list[Any] = backend.candidates(
            identity.get("model"), identity.get("type"), row["created_at"], key, 2000
        )
    else:
        candidates = store.fetchall(
            "SELECT key, components, created_at FROM cache WHERE (model = ? OR provider_type = ?) "
            "AND key <> ? AND created_at <= ? ORDER BY created_at DESC LIMIT 2000",
            [identity.get("model"), identity.get("type"), key, row["created_at"]],
        )
    best: tuple[int, str, list[str], Any] | None = None
    for other_key, other_components, created in candidates:
        if isinstance(other_components, str):
            other_components = json.loads(other_components)
        diff = _differences(components, other_components)
        if best is None or len(diff) < best[0]:
            best = (len(diff), other_key, diff, created)
    if best is not None:
        out["nearest"] = {"key": best[1], "differs_in": best[2], "created_at": best[3]}
    return out


def stats(store: Store) -> dict[str, Any]:
    total = store.records(
        "SELECT count(*) AS entries, coalesce(sum(length(output)), 0) AS output_chars, "
        "min(created_at) AS oldest, max(created_at) AS newest, "
        "coalesce(sum(cost_usd), 0) AS cost_usd FROM cache"
    )[0]
    total["by_model"] = store.records(
        "SELECT provider_type, model, count(*) AS entries, coalesce(sum(cost_usd), 0) AS cost_usd "
        "FROM cache GROUP BY ALL ORDER BY entries DESC"
    )
    total["hits"] = store.records(
        "SELECT count(*) FILTER (WHERE cache_hit) AS hits, count(*) AS results, "
        "coalesce(sum(cost_usd) FILTER (WHERE cache_hit), 0) AS saved_usd FROM results"
    )[0]
    return total


def clear(store: Store, older_than: timedelta | None = None) -> int:
    """Delete entries (all, or those created more than ``older_than`` ago); return how many."""
    if older_than is None:
        (count,) = store.fetchone("SELECT count(*) FROM cache") or (0,)
        store.execute("DELETE FROM cache")
        return int(count)
    cutoff = utcnow() - older_than
    (count,) = store.fetchone("SELECT count(*) FROM cache WHERE created_at < ?", [cutoff]) or (0,)
    store.execute("DELETE FROM cache WHERE created_at < ?", [cutoff])
    return int(count)


def rows_for(
    results: Iterable[Result], components: dict[str, dict[str, Any]]
) -> list[tuple[Any, ...]]:
    """Cache rows for the fresh, successful results among ``results``."""
    return [
        entry_row(r, components[r.id])
        for r in results
        if r.error_class is None and not r.cache_hit and r.cache_key and r.id in components
    ]


class CallCache:
    """The response cache for calls made outside a run's plan — judges, pairwise answers —
    so they are cached exactly like the run's own calls (same key, same table)."""

    def __init__(
        self, store: Store, *, read: bool = True, write: bool = True, pricing: Any = None
    ) -> None:
        self.store = store
        self.read = read
        self.write = write
        self.pricing = pricing
        self._identities: dict[str, dict[str, Any]] = {}

    async def call(
        self, provider: Any, request: Any, policy: Any, rng: Any, repeat: int = 0
    ) -> Any:
        """``call_with_retries`` behind the cache: a hit makes no call."""
        import asyncio

        from evalkit.run.calls import CallOutcome, call_with_retries

        if provider.id not in self._identities:
            self._identities[provider.id] = provider.identity()
        request_input = provider.request_input(request)
        components = key_components(
            self._identities[provider.id], dict(request.params), request_input, repeat
        )
        key = cache_key(components)
        if self.read:
            entry = (await asyncio.to_thread(lookup, self.store, [key])).get(key)
            if entry is not None:
                return CallOutcome(entry.generation(), None, 0, cache_hit=True)
        outcome = await call_with_retries(provider, request, policy, rng)
        answered = outcome.generation
        if answered is not None and self.write:
            generation = answered
            cost = (
                self.pricing.cost(provider.type, provider.model, generation)
                if self.pricing is not None
                else None
            )
            row = (
                key,
                provider.type,
                provider.model,
                json.dumps(components, sort_keys=True, default=str),
                generation.text,
                generation.input_tokens,
                generation.output_tokens,
                generation.cached_input_tokens,
                generation.latency_ms,
                generation.ttft_ms,
                generation.finish_reason,
                generation.served_by or provider.id,
                cost,
                utcnow(),
            )
            from evalkit.store.db import CACHE_COLUMNS

            await asyncio.to_thread(self.store.insert_columns, "cache", CACHE_COLUMNS, [row])
        return outcome
