"""``evalkit query``: a user's read-only SQL over the store."""

from __future__ import annotations

from typing import Any

from evalkit.errors import InputError
from evalkit.store.db import Store

__all__ = ["TABLES", "read_query"]

#: The tables users query (their key columns are part of the contract; see docs/store.md).
TABLES = (
    "runs",
    "results",
    "scores",
    "cases",
    "prompt_versions",
    "run_providers",
    "baselines",
    "cache",
    "score_cache",
)


def read_query(store: Store, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of ``sql``; a failing query is an input error naming the tables."""
    import duckdb

    try:
        cursor = store.execute(sql)
    except duckdb.Error as exc:
        text, *rest = str(exc).splitlines() or [""]
        hints = [h for h in rest if h.startswith(("Did you mean", "Candidate bindings"))]
        raise InputError(
            f"query failed: {text}",
            fix=(hints[0].replace('"', "'") + " " if hints else "")
            + "tables: "
            + ", ".join(TABLES),
        ) from None
    if cursor.description is None:
        return [], []
    return [d[0] for d in cursor.description], cursor.fetchall()
