"""Housekeeping of a DuckLake store: each commit writes Parquet files, so small files pile up,
and racing writers can store one new key twice. ``compact`` (``evalkit store compact``, and a
writer closing a store with many small files) merges, dedupes, expires and cleans."""

from __future__ import annotations

from typing import Any

from evalkit.errors import StoreError
from evalkit.store.db import Store
from evalkit.store.ducklake import (
    LAKE,
    RETRIES,
    SMALL_FILE_ROWS,
    DuckLakeStore,
    _is_conflict,
    _pause,
)

__all__ = ["compact", "dedupe", "small_files"]


def small_files(store: Store) -> int:
    """Data files of the store's tables with fewer than ``SMALL_FILE_ROWS`` rows."""
    row = store.fetchone(
        f"SELECT count(*) FROM __ducklake_metadata_{LAKE}.ducklake_data_file "
        "WHERE end_snapshot IS NULL AND record_count < ?",
        [SMALL_FILE_ROWS],
    )
    return int(row[0]) if row else 0


def compact(store: Store, *, keep_days: float = 7.0) -> dict[str, Any]:
    """Merge small Parquet files, rewrite files with many deleted rows, drop rows duplicated
    on a key by racing writers, expire snapshots older than ``keep_days`` (time travel is kept
    that long) and delete the files no snapshot needs any more. Returns what it did."""
    import duckdb

    if not isinstance(store, DuckLakeStore):
        raise StoreError(
            f"{store.path} is a DuckDB file, which needs no compaction",
            fix="`evalkit store compact` is for DuckLake stores (ducklake:...)",
        )
    before = small_files(store)
    removed = dedupe(store)
    steps = [
        f"ducklake_merge_adjacent_files('{LAKE}')",
        f"ducklake_rewrite_data_files('{LAKE}')",
        f"ducklake_merge_adjacent_files('{LAKE}')",
    ]
    if keep_days >= 0:
        steps += [
            f"ducklake_expire_snapshots('{LAKE}', older_than => now() - "
            f"INTERVAL '{float(keep_days) * 86400:.0f} seconds')",
            f"ducklake_cleanup_old_files('{LAKE}', older_than => now() - "
            f"INTERVAL '{float(keep_days) * 86400:.0f} seconds')",
        ]
    for step in steps:
        for attempt in range(RETRIES):
            try:
                with store._lock:
                    # counted, not fetched: the functions return time zone-aware timestamps
                    store.con.execute(f"SELECT count(*) FROM {step}").fetchall()
                break
            except duckdb.Error as exc:
                if _is_conflict(exc) and attempt + 1 < RETRIES:
                    _pause(attempt)
                    continue
                raise StoreError(f"compacting {store.path} failed: {exc}") from exc
    return {
        "small_files_before": before,
        "small_files_after": small_files(store),
        "duplicates_removed": removed,
    }


def dedupe(store: DuckLakeStore) -> int:
    """Remove rows that repeat a key (two writers inserting one new key at the same instant),
    keeping one; returns how many were removed."""
    removed = 0
    tables = {
        r[0]
        for r in store.fetchall(
            f"SELECT table_name FROM duckdb_tables() WHERE database_name = '{LAKE}'"
        )
    }
    for table in store.keys:
        if table in tables:
            removed += store.settle(table)
    return removed
