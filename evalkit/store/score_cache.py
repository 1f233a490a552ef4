"""The score cache table: reusable scores keyed by scorer signature, case and output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalkit.records import ScoreCacheRow
from evalkit.store.db import Store, utcnow

__all__ = ["DuckDBScoreCache", "result_scores", "score_cache_tuples"]


class DuckDBScoreCache:
    """``ScoreCache`` over the run's own store; fresh rows are written with result batches."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def lookup(self, keys: Sequence[str]) -> dict[str, ScoreCacheRow]:
        found: dict[str, ScoreCacheRow] = {}
        for start in range(0, len(keys), 50_000):
            chunk = list(keys[start : start + 50_000])
            rows = self.store.fetchall(
                "SELECT key, scorer_type, signature, value, detail FROM score_cache "
                "WHERE key IN (SELECT unnest(?::VARCHAR[]))",
                [chunk],
            )
            for row in rows:
                found[row[0]] = ScoreCacheRow(*row)
        return found


def score_cache_tuples(rows: Sequence[ScoreCacheRow]) -> list[tuple[Any, ...]]:
    """Rows in ``SCORE_CACHE_COLUMNS`` order."""
    now = utcnow()
    return [(r.key, r.scorer_type, r.signature, r.value, r.detail, now) for r in rows]


def result_scores(store: Store, result_id: str) -> list[dict[str, Any]]:
    """Each score of a result: scorer, type, signature, and whether it was reused."""
    return store.records(
        "SELECT scorer, scorer_type, signature, cache_hit FROM scores WHERE result_id = ? "
        "ORDER BY rowid",
        [result_id],
    )
