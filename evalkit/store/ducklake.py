"""The team store: the same tables on DuckLake (a catalogue in PostgreSQL or a DuckDB file,
data in Parquet files under a shared folder), so many runners and developers write runs to
one history at the same time.

Locations (``db:`` in evalkit.yaml, ``--db``, ``EVALKIT_DB``)::

    ducklake:postgres:host=db.internal dbname=evalkit user=ci     (many writers)
    ducklake:/shared/evalkit.ducklake                             (one writer at a time)

with the data folder from ``data_path:`` in evalkit.yaml or ``EVALKIT_DATA_PATH``.

What differs from a DuckDB file, and how this class keeps the ``Store`` contract:

- **No primary keys, unique constraints or indexes.** Migrations run with their key clauses
  removed; the keys are read off the same migrations applied to an in-memory DuckDB, and every
  replacing write (``INSERT OR REPLACE``, ``insert_columns(replace=True)``, a resumed run's
  results, cache entries) becomes delete-then-insert (``MERGE`` for SQL text) on those keys.
  Plain inserts of rows a table already holds by key are skipped. Two writers inserting the
  same new key at the same instant both succeed, so the small tables (prompt versions, cases,
  baselines, ...) are settled right after each write: duplicates are removed, keeping the
  newest; ``compact()`` does the same for every table.
- **Optimistic concurrency.** Each commit is a snapshot; DuckLake retries commits that do not
  conflict (appends), and reports real conflicts (two creates of one table, two deletes from one
  file). Every write here is one transaction that is retried as a whole on a conflict, so
  concurrent migrations, run updates and baseline moves settle by themselves.
- **Each commit writes Parquet files.** Writes come in the runner's batches (one transaction
  per batch of results, scores and cache entries); ``compact()`` (``evalkit store compact``,
  and automatically when a writer closes a store with many small files) merges them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import random
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from evalkit.errors import SetupError, StoreError
from evalkit.records import Result, Score
from evalkit.store.db import (
    CACHE_COLUMNS,
    QUIET,
    RESULT_COLUMNS,
    SCORE_CACHE_COLUMNS,
    SCORE_COLUMNS,
    JSONMemo,
    Store,
    _insert_sql,
    _result_row,
    _score_row,
    insert_batch,
    last_per_key,
    utcnow,
)
from evalkit.store.lake_sql import (
    _UPSERT,
    DuckLakeTarget,
    lake_sql,
    merge_sql,
    parse_target,
    table_keys,
)
from evalkit.store.migrations import MIGRATIONS

__all__ = ["DuckLakeStore", "DuckLakeTarget", "open_ducklake", "table_keys"]

#: The catalogue's name inside the DuckDB connection (``USE``d, so SQL names tables plainly).
LAKE = "lake"
#: Data files below this many rows count as "small" for automatic compaction.
SMALL_FILE_ROWS = 10_000
#: A writer closing a store with more small files than this compacts it.
AUTO_COMPACT_FILES = 400
#: Whole-transaction retries on a DuckLake conflict (each after a jittered, growing pause).
RETRIES = 12

#: Small tables kept unique by key right after each write (see ``DuckLakeStore.settle``);
#: the big ones (results, scores, cache) have keys no two writers make at once, or (cache)
#: where a rare duplicate only counts twice until ``evalkit store compact``.
SETTLED = frozenset({"runs", "run_providers", "prompt_versions", "cases", "baselines"})

#: Statements run as they are (reads, and transaction control).
_DIRECT = frozenset(
    (
        "SELECT",
        "WITH",
        "FROM",
        "VALUES",
        "TABLE",
        "PRAGMA",
        "DESCRIBE",
        "SHOW",
        "SUMMARIZE",
        "EXPLAIN",
        "SET",
        "RESET",
        "BEGIN",
        "START",
        "COMMIT",
        "ROLLBACK",
        "END",
        "ABORT",
    )
)


def _is_conflict(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "conflict" in text or "failed to commit ducklake transaction" in text


def extension_directory() -> str | None:
    """The ``extensions`` folder of the ``duckdb-ext-*`` packages when they match the
    installed DuckDB (they are built for one DuckDB version), else None."""
    import duckdb

    spec = importlib.util.find_spec("duckdb_ext")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        base = Path(folder) / "extensions"
        if (base / f"v{duckdb.__version__}").is_dir():
            return str(base)
    return None


class DuckLakeStore(Store):
    """A ``Store`` on DuckLake: same methods, same SQL for readers."""

    kind = "ducklake"

    def __init__(self, target: DuckLakeTarget, *, read_only: bool = False) -> None:
        self.target = target
        self.keys = table_keys()
        self._explicit = False  # inside a BEGIN ... COMMIT given through execute()
        self._wrote = False
        super().__init__(Path(), read_only=read_only)  # path is replaced in _connect
        # A fresh run's results are plain appends; everything that replaces goes through
        # _replace (delete by key, then insert).
        self._result_sql = {r: _insert_sql("results", RESULT_COLUMNS, False) for r in (False, True)}
        self._score_sql = {r: _insert_sql("scores", SCORE_COLUMNS, False) for r in (False, True)}
        self._cache_sql = _insert_sql("cache", CACHE_COLUMNS, False)
        self._score_cache_sql = _insert_sql("score_cache", SCORE_CACHE_COLUMNS, False)

    # -- opening --------------------------------------------------------------------------
    def _connect(self) -> Any:
        import duckdb

        target = self.target
        self.path = target.shown
        con = duckdb.connect()
        con.execute(QUIET)
        folder = extension_directory()
        try:
            if folder is not None:
                con.execute(f"SET extension_directory = '{folder}'")
            con.execute("LOAD ducklake")
            if target.is_postgres:
                con.execute("LOAD postgres")
        except duckdb.Error as exc:
            con.close()
            raise SetupError(
                f"the DuckLake store {target.shown} needs DuckDB's ducklake"
                f"{' and postgres' if target.is_postgres else ''} extensions, which are not "
                f"installed for DuckDB {duckdb.__version__} ({str(exc).splitlines()[0]})",
                fix="pip install 'evalkit[team]' (DuckDB 1.4.4 with the duckdb-ext-ducklake and "
                "duckdb-ext-postgres packages), or let DuckDB download them: "
                "INSTALL ducklake; INSTALL postgres",
            ) from None
        options = []
        if target.data_path:
            if "://" not in target.data_path and not self.read_only:
                Path(target.data_path).mkdir(parents=True, exist_ok=True)
            options.append(f"DATA_PATH '{_quote(target.data_path)}'")
        if self.read_only:
            options.append("READ_ONLY")
        if target.is_file and not self.read_only:
            Path(target.catalog).parent.mkdir(parents=True, exist_ok=True)
        if target.is_file and self.read_only and not Path(target.catalog).exists():
            con.close()
            raise StoreError(
                f"no store at {target.shown}", fix="run `evalkit run` first, or check --db"
            )
        attach = f"ATTACH 'ducklake:{_quote(target.catalog)}' AS {LAKE}" + (
            f" ({', '.join(options)})" if options else ""
        )
        for attempt in range(RETRIES):
            try:
                con.execute(attach)
                break
            except duckdb.Error as exc:
                text = str(exc)
                if "data_path" in text.lower() and not target.data_path:
                    con.close()
                    raise SetupError(
                        f"the DuckLake store {target.shown} is new and needs a data folder",
                        fix="set `data_path:` in evalkit.yaml or EVALKIT_DATA_PATH "
                        "(a folder every writer can reach)",
                    ) from None
                if "does not match existing data path" in text:
                    con.close()
                    kept = re.search(r'existing data path in the catalog "([^"]*)"', text)
                    raise SetupError(
                        f"the DuckLake store {target.shown} keeps its data in "
                        f"{kept.group(1) if kept else 'another folder'}, not in "
                        f"{target.data_path}",
                        fix="set `data_path:` / EVALKIT_DATA_PATH to that folder, or leave "
                        "both unset for an existing store",
                    ) from None
                # Several writers creating one new catalogue at once: one wins, the others
                # find it made on the next try.
                racing = "initialize" in text.lower() or "duplicate key" in text.lower()
                if racing and attempt + 1 < RETRIES:
                    _pause(attempt)
                    continue
                con.close()
                lock = "lock" in text.lower()
                raise StoreError(
                    f"cannot open the store {target.shown}: {text.splitlines()[0]}",
                    fix=(
                        "a DuckDB catalogue file takes one writer at a time: use "
                        "ducklake:postgres:... for concurrent writers"
                        if lock
                        else "check the connection string, the server and the data folder"
                    ),
                ) from None
        con.execute(f"USE {LAKE}")
        return con

    def migrate(self) -> list[int]:
        """Apply pending migrations (their SQL without key constraints); concurrent writers
        migrating at once conflict, and the losers find the work done on their retry."""
        import duckdb

        applied: list[int] = []
        for attempt in range(RETRIES):
            try:
                with self._lock:
                    self.con.execute(
                        "CREATE TABLE IF NOT EXISTS schema_migrations "
                        "(version INTEGER, name VARCHAR, applied_at TIMESTAMP)"
                    )
                    done = {
                        r[0]
                        for r in self.con.execute(
                            "SELECT version FROM schema_migrations"
                        ).fetchall()
                    }
                    for number, name, sql in MIGRATIONS:
                        if number in done:
                            continue
                        self.con.execute("BEGIN TRANSACTION")
                        try:
                            # Another writer may have applied it since `done` was read.
                            if self.con.execute(
                                "SELECT 1 FROM schema_migrations WHERE version = ?", [number]
                            ).fetchone():
                                self.con.execute("COMMIT")
                                continue
                            self.con.execute(lake_sql(sql))
                            self.con.execute(
                                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                                [number, name, utcnow()],
                            )
                            self.con.execute("COMMIT")
                        except Exception:
                            _rollback(self.con)
                            raise
                        applied.append(number)
                    newest = max(n for n, _, _ in MIGRATIONS)
                    if done and max(done) > newest:
                        raise StoreError(
                            f"the store {self.path} was written by a newer evalkit "
                            f"(schema {max(done)})",
                            fix="upgrade evalkit, or use another --db",
                        )
                    return applied
            except duckdb.Error as exc:
                # A conflict, or a catalogue changed by a racing migration under this one.
                racing = _is_conflict(exc) or "already exists" in str(exc)
                if racing and attempt + 1 < RETRIES:
                    _pause(attempt)
                    continue
                raise StoreError(f"migrating the store {self.path} failed: {exc}") from exc
        return applied

    def close(self) -> None:
        with self._lock:
            if self._wrote and not self.read_only:
                from evalkit.store.lake_maintenance import compact, small_files

                # Compaction is housekeeping: a conflict with another writer is no failure.
                with contextlib.suppress(Exception):
                    if small_files(self) > AUTO_COMPACT_FILES:
                        compact(self)
            self.con.close()

    # -- transactions ---------------------------------------------------------------------
    def transaction(self, work: Any) -> Any:
        """Run ``work()`` in one transaction, retried whole on a DuckLake conflict."""
        import duckdb

        for attempt in range(RETRIES):
            with self._lock:
                self.con.execute("BEGIN TRANSACTION")
                try:
                    out = work()
                    self.con.execute("COMMIT")
                    self._wrote = True
                    return out
                except duckdb.Error as exc:
                    _rollback(self.con)
                    if _is_conflict(exc) and attempt + 1 < RETRIES:
                        pass
                    else:
                        raise
            _pause(attempt)
        raise AssertionError("unreachable")

    # -- generic --------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """As ``Store.execute``; a write outside an explicit transaction is one transaction,
        retried on a conflict, and ``INSERT OR REPLACE/IGNORE`` becomes a ``MERGE`` on the
        table's key. Reads (and statements inside BEGIN ... COMMIT) run as they are."""
        match = re.match(r"[\s(]*([A-Za-z]+)", sql)
        word = match.group(1).upper() if match else ""
        if word in ("BEGIN", "START"):
            self._explicit = True
        elif word in ("COMMIT", "ROLLBACK", "END", "ABORT"):
            self._explicit = False
        statement = merge_sql(sql, self.keys) or sql
        if self.read_only or self._explicit or word in _DIRECT:
            with self._lock:
                return self.con.execute(statement, params or [])
        out = self.transaction(lambda: self.con.execute(statement, params or []))
        upsert = _UPSERT.match(sql)
        if upsert and upsert.group(2).lower() in SETTLED:
            self.settle(upsert.group(2).lower())
        return out

    def settle(self, table: str) -> int:
        """Remove rows of ``table`` that repeat a key — two writers inserting one new key at
        the same instant both succeed in DuckLake — keeping the newest; returns how many.
        Writers settling at once pick the same rows: one deletes, the other conflicts, retries
        and finds nothing left to do."""
        key = self.keys.get(table)
        if not key:
            return 0
        cols = ", ".join(f'"{k}"' for k in key)
        dup = self.fetchone(f"SELECT count(*) - count(DISTINCT ({cols})) FROM {table}")
        if not dup or not dup[0]:
            return 0

        def work() -> int:
            row = self.con.execute(
                f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM (SELECT rowid, "
                f"row_number() OVER (PARTITION BY {cols} ORDER BY rowid DESC) AS n "
                f"FROM {table}) WHERE n > 1)"
            ).fetchone()
            return int(row[0]) if row and row[0] else 0

        removed: int = self.transaction(work)
        return removed

    def insert_columns(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[tuple[Any, ...]],
        *,
        replace: bool = True,
    ) -> None:
        """Insert many rows in one statement; ``replace`` replaces rows with the same key,
        otherwise rows whose key is already stored are left out."""
        if not rows:
            return
        self.transaction(lambda: self._put(table, columns, rows, replace))
        if table in SETTLED:
            self.settle(table)

    def _put(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[tuple[Any, ...]],
        replace: bool,
    ) -> None:
        """Delete-then-insert (``replace``) or insert-if-new on the table's key; inside a
        transaction."""
        key = self.keys.get(table)
        names = [name for name, _ in columns]
        if key is None or not all(k in names for k in key):
            insert_batch(self.con, _insert_sql(table, columns, False), rows)
            return
        unique = last_per_key(columns, key, rows)
        kinds = dict(columns)
        key_lists = [[k[j] for k in unique] for j in range(len(key))]
        # Only touch what exists: a DELETE that matches nothing would still be recorded.
        match = " AND ".join(f't."{k}" IS NOT DISTINCT FROM n."{k}"' for k in key)
        keys_sql = ", ".join(f'unnest(?::{kinds[k]}[]) AS "{k}"' for k in key)
        existing = {
            tuple(r)
            for r in self.con.execute(
                f"SELECT {', '.join(f't.{chr(34)}{k}{chr(34)}' for k in key)} FROM {table} t "
                f"JOIN (SELECT {keys_sql}) n ON {match}",
                key_lists,
            ).fetchall()
        }
        if existing and replace:
            gone = [[k[j] for k in existing] for j in range(len(key))]
            self.con.execute(
                f"DELETE FROM {table} t USING (SELECT {keys_sql}) n WHERE {match}", gone
            )
        fresh = [row for k, row in unique.items() if replace or k not in existing]
        if fresh:
            insert_batch(self.con, _insert_sql(table, columns, False), fresh)

    # -- run writes -----------------------------------------------------------------------
    def write_batch(
        self,
        results: Iterable[Result],
        scores: Iterable[Score],
        cache_rows: Sequence[tuple[Any, ...]] = (),
        *,
        replace: bool = False,
        score_cache_rows: Sequence[tuple[Any, ...]] = (),
    ) -> None:
        """Results, their scores, new cache and score-cache entries in one transaction
        (retried whole on a conflict); ``replace`` as for the DuckDB store."""
        params: JSONMemo = {}  # one JSON text per params mapping
        result_rows = [_result_row(r, params) for r in results]
        signatures: JSONMemo = {}
        score_rows = [_score_row(s, signatures) for s in scores]
        if not result_rows and not score_rows and not cache_rows and not score_cache_rows:
            return

        def work() -> None:
            if result_rows:
                if replace:
                    ids = [row[0] for row in result_rows]
                    old = self.con.execute(
                        "SELECT count(*) FROM scores WHERE result_id IN (SELECT unnest(?))", [ids]
                    ).fetchone()
                    if old and old[0]:
                        self.con.execute(
                            "DELETE FROM scores WHERE result_id IN (SELECT unnest(?))", [ids]
                        )
                    self._put("results", RESULT_COLUMNS, result_rows, True)
                else:
                    insert_batch(self.con, self._result_sql[False], result_rows)
            if score_rows:
                if replace:
                    self._put("scores", SCORE_COLUMNS, score_rows, True)
                else:
                    insert_batch(self.con, self._score_sql[False], score_rows)
            if cache_rows:
                self._put("cache", CACHE_COLUMNS, cache_rows, True)
            if score_cache_rows:
                self._put("score_cache", SCORE_CACHE_COLUMNS, score_cache_rows, True)

        try:
            self.transaction(work)
        except Exception as exc:
            raise StoreError(f"writing results to {self.path} failed: {exc}") from exc


def open_ducklake(project: Any, db: Any = None, *, read_only: bool = False) -> DuckLakeStore:
    """The project's DuckLake store (``db`` / ``EVALKIT_DB`` / ``db:`` say ``ducklake:...``)."""
    import os

    location = str(project.db_location(db))
    typed = bool(db) or bool(os.environ.get("EVALKIT_DB"))
    base = Path.cwd() if typed else project.root
    target = parse_target(location, project.data_path(), base)
    return DuckLakeStore(target, read_only=read_only)


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _rollback(con: Any) -> None:
    # A failed commit has already ended the transaction: nothing to roll back then.
    with contextlib.suppress(Exception):
        con.execute("ROLLBACK")


def _pause(attempt: int) -> None:
    time.sleep(min(2.0, 0.05 * 1.7**attempt) * random.uniform(0.5, 1.5))
