"""The baselines table: a name per suite → a run."""

from __future__ import annotations

from typing import Any

from evalkit.store.db import Store, utcnow

__all__ = [
    "count_named",
    "delete_named",
    "list_named",
    "name_exists",
    "named_run",
    "previous_completed_run",
    "set_named",
]


def named_run(store: Store, name: str, suite: str) -> str | None:
    """The run ``name`` points at for ``suite``, if any."""
    row = store.fetchone("SELECT run_id FROM baselines WHERE name = ? AND suite = ?", [name, suite])
    return None if row is None else str(row[0])


def name_exists(store: Store, name: str) -> bool:
    """Whether ``name`` is set for any suite."""
    return store.fetchone("SELECT 1 FROM baselines WHERE name = ?", [name]) is not None


def set_named(store: Store, name: str, suite: str, run_id: str) -> None:
    store.execute(
        "INSERT OR REPLACE INTO baselines (name, suite, run_id, set_at) VALUES (?, ?, ?, ?)",
        [name, suite, run_id, utcnow()],
    )


def list_named(store: Store, suite: str | None = None) -> list[dict[str, Any]]:
    """Every baseline with its run's start, status, commit and pass rate."""
    sql = (
        "SELECT b.name, b.suite, b.run_id, b.set_at, r.started_at, r.status, r.git_commit, "
        "(SELECT avg(CASE WHEN passed THEN 1.0 WHEN NOT passed THEN 0.0 END) FROM results "
        " WHERE run_id = b.run_id) AS pass_rate "
        "FROM baselines b LEFT JOIN runs r ON r.id = b.run_id "
        + ("WHERE b.suite = ? " if suite else "")
        + "ORDER BY b.name, b.suite"
    )
    return store.records(sql, [suite] if suite else [])


def _where(name: str, suite: str | None) -> tuple[str, list[str]]:
    return "name = ?" + (" AND suite = ?" if suite else ""), [name] + ([suite] if suite else [])


def count_named(store: Store, name: str, suite: str | None = None) -> int:
    where, params = _where(name, suite)
    row = store.fetchone(f"SELECT count(*) FROM baselines WHERE {where}", params)
    return int(row[0]) if row else 0


def delete_named(store: Store, name: str, suite: str | None = None) -> None:
    where, params = _where(name, suite)
    store.execute(f"DELETE FROM baselines WHERE {where}", params)


def previous_completed_run(store: Store, suite: str, current: str) -> str | None:
    """The newest completed run of ``suite`` that started before ``current``."""
    row = store.fetchone(
        "SELECT id FROM runs WHERE suite = ? AND id <> ? AND status = 'completed' AND "
        "started_at <= (SELECT started_at FROM runs WHERE id = ?) "
        "ORDER BY started_at DESC, id DESC LIMIT 1",
        [suite, current, current],
    )
    return None if row is None else str(row[0])
