"""The response cache: answers stored in the store, keyed by everything that changes them.

The key covers the provider's identity (type, base_url, model, mode, and for the local model
its weights and server version), every effective generation param, the rendered request and
the repeat index — never the provider id or the prompt name, so two names for one endpoint, or
two prompt versions rendering the same text, share entries. Errors are never cached.

A run looks up all its keys in one query before any call (a fully cached run starts no
provider at all); the call service (``evalkit.run.calls``) writes fresh entries, which the
DuckDB backend commits in the same transaction as their results. Where entries are kept is
``evalkit.store.cache`` (the ``ResponseCache`` protocol and its backends).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from evalkit.errors import NotFoundError
from evalkit.records import canonical_json, content_hash, flatten
from evalkit.store.cache import DuckDBCache, ResponseCache, explain_row, hit_totals
from evalkit.store.db import Store
from evalkit.store.score_cache import DuckDBScoreCache, result_scores

__all__ = [
    "KeyMaker",
    "cache_key",
    "clear",
    "explain",
    "key_components",
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
    provider's identity and params is built once per distinct pair of objects (the runner
    shares one params mapping per provider and prompt version), not once per request.
    Equal to ``cache_key`` by construction (tested)."""

    def __init__(self) -> None:
        # (id(identity), id(params)) -> (identity, params, JSON middle); the objects are kept
        # so their ids cannot be reused by others while the maker lives.
        self._parts: dict[tuple[int, int], tuple[Any, Any, str]] = {}

    def components_and_key(
        self, identity: dict[str, Any], params: dict[str, Any], request_input: Any, repeat: int
    ) -> tuple[dict[str, Any], str]:
        components = key_components(identity, params, request_input, repeat)
        memo = (id(identity), id(params))
        found = self._parts.get(memo)
        if found is None:
            if len(self._parts) >= 4096:  # callers that build params per call (judges)
                self._parts.clear()
            middle = f'"params":{canonical_json(params)},"provider":{canonical_json(identity)}'
            found = self._parts[memo] = (identity, params, middle)
        text = f'{{"input":"{components["input"]}",{found[2]},"repeat":{int(repeat)}}}'
        return components, hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    fa, fb = flatten(a), flatten(b)
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


def explain(store: Store, result_id: str, cache: ResponseCache | None = None) -> dict[str, Any]:
    """Why a result hit or missed the cache: its key, and what differed from the nearest
    cached entry when there was none."""
    cache = cache or DuckDBCache(store)
    rows = explain_row(store, result_id)
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
    entry = cache.lookup([key]).get(key)
    out["now_cached"] = entry is not None
    out["scores"] = _explain_scores(store, row)
    if row["cache_hit"]:
        out["status"] = "hit"
        created = getattr(cache, "created_at", None)
        out["entry_created_at"] = created(key) if created and entry else None
        return out
    # A miss: compare with what the cache held when the call was made.
    out["status"] = "miss"
    best: tuple[int, str, list[str], Any] | None = None
    for other_key, other, created in cache.candidates(
        identity.get("model"), identity.get("type"), row["created_at"], key, 2000
    ):
        diff = _differences(components, other)
        if best is None or len(diff) < best[0]:
            best = (len(diff), other_key, diff, created)
    if best is not None:
        out["nearest"] = {"key": best[1], "differs_in": best[2], "created_at": best[3]}
    return out


def _explain_scores(store: Store, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Each score of the result: reused from the score cache or computed, and its key
    (scorer signature, case content hash, output) for scorers whose scores are reused."""
    from evalkit.registry import SCORERS
    from evalkit.score.batch import score_key

    out = []
    keys = []
    for score in result_scores(store, row["id"]):
        try:
            cacheable = bool(SCORERS.get(score["scorer_type"]).cacheable)
        except Exception:  # a scorer plugin not installed here
            cacheable = False
        key = score_key(score["signature"], row["case_hash"], (row["output"] or "").strip())
        out.append(
            {
                "scorer": score["scorer"],
                "signature": score["signature"],
                "status": "reused" if score["cache_hit"] else "scored",
                "cacheable": cacheable,
                "key": key if cacheable else None,
            }
        )
        keys.append(key)
    known = DuckDBScoreCache(store).lookup(keys)
    for entry in out:
        entry["now_cached"] = bool(entry["key"]) and entry["key"] in known
    return out


def stats(store: Store, cache: ResponseCache | None = None) -> dict[str, Any]:
    """Entries, size and cost of the cache; how often results were answered by it."""
    total = (cache or DuckDBCache(store)).stats()
    total["hits"] = hit_totals(store)
    return total


def clear(
    store: Store, older_than: timedelta | None = None, cache: ResponseCache | None = None
) -> int:
    """Delete entries (all, or those created more than ``older_than`` ago); return how many."""
    return (cache or DuckDBCache(store)).clear(older_than)
