"""The DuckDB store: opening, migrating and batched, transactional writes.

DuckDB lets one process write (or many read). A run writes results and their scores together,
in batches, each batch one transaction: a killed run loses at most the batch not yet written,
and ``--resume`` re-plans the missing results (result ids are deterministic, so nothing is
stored twice). Rows are inserted column-wise (one NumPy object array per column, scanned and
cast by DuckDB: ``insert_batch``), which is ~100× faster than ``executemany``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalkit.errors import InputError, NotFoundError, StoreError
from evalkit.records import Result, Score
from evalkit.store.migrations import MIGRATIONS, UNINDEXED_KEYS

__all__ = [
    "CACHE_COLUMNS",
    "RESULT_COLUMNS",
    "SCORE_CACHE_COLUMNS",
    "SCORE_COLUMNS",
    "Store",
    "open_store",
    "utcnow",
]


#: ``EVALKIT_STORE_HOLD=1``: a run holds the store file from start to end (no reads while it
#: writes; saves one open and close of the file per batch).
HOLD_ENV = "EVALKIT_STORE_HOLD"


def utcnow() -> datetime:
    """Now, as a naive UTC timestamp (DuckDB TIMESTAMP)."""
    return datetime.now(UTC).replace(tzinfo=None)


#: The encoder of stored JSON columns (``json.dumps`` with options builds one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def _json(value: Any) -> str | None:
    return None if value is None else _ENCODER.encode(value)


#: results columns and their DuckDB types, in insert order.
RESULT_COLUMNS: list[tuple[str, str]] = [
    ("id", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("suite", "VARCHAR"),
    ("case_id", "VARCHAR"),
    ("case_hash", "VARCHAR"),
    ("prompt", "VARCHAR"),
    ("prompt_name", "VARCHAR"),
    ("prompt_version", "VARCHAR"),
    ("prompt_hash", "VARCHAR"),
    ("provider", "VARCHAR"),
    ("provider_type", "VARCHAR"),
    ("model", "VARCHAR"),
    ("params", "JSON"),
    ("repeat", "INTEGER"),
    ("input", "JSON"),
    ("output", "VARCHAR"),
    ("error", "VARCHAR"),
    ("error_class", "VARCHAR"),
    ("latency_ms", "DOUBLE"),
    ("ttft_ms", "DOUBLE"),
    ("input_tokens", "INTEGER"),
    ("output_tokens", "INTEGER"),
    ("cost_usd", "DOUBLE"),
    ("cache_hit", "BOOLEAN"),
    ("served_by", "VARCHAR"),
    ("attempts", "INTEGER"),
    ("finish_reason", "VARCHAR"),
    ("passed", "BOOLEAN"),
    ("created_at", "TIMESTAMP"),
    ("cache_key", "VARCHAR"),
    ("cached_input_tokens", "INTEGER"),
    ("score", "DOUBLE"),
    ("tool_calls", "JSON"),
    ("transcript", "JSON"),
]
SCORE_COLUMNS: list[tuple[str, str]] = [
    ("result_id", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("scorer", "VARCHAR"),
    ("scorer_type", "VARCHAR"),
    ("signature", "VARCHAR"),
    ("signature_json", "JSON"),
    ("value", "DOUBLE"),
    ("passed", "BOOLEAN"),
    ("threshold", "DOUBLE"),
    ("detail", "VARCHAR"),
    ("cache_hit", "BOOLEAN"),
]


#: cache columns (migration 2), in insert order.
CACHE_COLUMNS: list[tuple[str, str]] = [
    ("key", "VARCHAR"),
    ("provider_type", "VARCHAR"),
    ("model", "VARCHAR"),
    ("components", "JSON"),
    ("output", "VARCHAR"),
    ("input_tokens", "INTEGER"),
    ("output_tokens", "INTEGER"),
    ("cached_input_tokens", "INTEGER"),
    ("latency_ms", "DOUBLE"),
    ("ttft_ms", "DOUBLE"),
    ("finish_reason", "VARCHAR"),
    ("served_by", "VARCHAR"),
    ("cost_usd", "DOUBLE"),
    ("created_at", "TIMESTAMP"),
    ("tool_calls", "JSON"),
]


#: score_cache columns (migration 4), in insert order.
SCORE_CACHE_COLUMNS: list[tuple[str, str]] = [
    ("key", "VARCHAR"),
    ("scorer_type", "VARCHAR"),
    ("signature", "VARCHAR"),
    ("value", "DOUBLE"),
    ("detail", "VARCHAR"),
    ("created_at", "TIMESTAMP"),
]


def _timestamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None) if epoch else utcnow()


#: JSON texts of objects many rows share, by ``id`` (each kept with its object, so that its id
#: cannot be reused by another while the memo lives).
JSONMemo = dict[int, tuple[Any, str | None]]


def _shared_json(value: Any, memo: JSONMemo | None) -> str | None:
    if memo is None:
        return _json(value)
    found = memo.get(id(value))
    if found is None:
        found = memo[id(value)] = (value, _json(value))
    return found[1]


def _result_row(r: Result, params: JSONMemo | None = None) -> tuple[Any, ...]:
    """A result as a row of ``RESULT_COLUMNS``; ``params``: a memo for a batch whose results
    share their params mappings (one per provider and prompt version)."""
    params_json = _shared_json(r.params, params)
    return (
        r.id,
        r.run_id,
        r.suite,
        r.case_id,
        r.case_hash,
        r.prompt,
        r.prompt_name,
        r.prompt_version,
        r.prompt_hash,
        r.provider,
        r.provider_type,
        r.model,
        params_json,
        r.repeat,
        _json(r.input),
        r.output,
        r.error,
        r.error_class,
        r.latency_ms,
        r.ttft_ms,
        r.input_tokens,
        r.output_tokens,
        r.cost_usd,
        r.cache_hit,
        r.served_by,
        r.attempts,
        r.finish_reason,
        r.passed,
        _timestamp(r.created_at),
        r.cache_key,
        r.cached_input_tokens,
        r.score,
        _json(r.tool_calls),
        _json(r.transcript),
    )


def _score_row(s: Score, signatures: JSONMemo | None = None) -> tuple[Any, ...]:
    """A score as a row of ``SCORE_COLUMNS``; ``signatures``: a memo for a batch (one
    signature per scorer)."""
    signature_json = _shared_json(s.signature_json, signatures)
    return (
        s.result_id,
        s.run_id,
        s.scorer,
        s.scorer_type,
        s.signature,
        signature_json,
        s.value,
        s.passed,
        s.threshold,
        s.detail,
        s.cache_hit,
    )


#: The name rows to insert are scanned under (``insert_batch``).
_BATCH = "evalkit_batch"


def _insert_sql(table: str, columns: Sequence[tuple[str, str]], replace: bool = True) -> str:
    """An insert of ``insert_batch``'s batch into ``table`` (column i is ``c<i>``)."""
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    selects = ", ".join(f'"c{i}"::{kind}' for i, (_, kind) in enumerate(columns))
    names = ", ".join(f'"{name}"' for name, _ in columns)
    return f"{verb} INTO {table} ({names}) SELECT {selects} FROM {_BATCH}"


def write_rows(
    con: Any,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[tuple[Any, ...]],
    replace: bool,
) -> None:
    """Insert ``rows``; with ``replace``, a row replaces the stored one with its key.

    Tables with a primary key do that themselves (``INSERT OR REPLACE``); for the tables whose
    key evalkit keeps unique itself (``UNINDEXED_KEYS``: no index) the rows of the batch with
    a stored key are deleted first, and of rows sharing a key only the last is kept.
    """
    key = UNINDEXED_KEYS.get(table)
    if key is None or not replace:
        insert_batch(con, _insert_sql(table, columns, replace and key is None), rows)
        return
    names = [name for name, _ in columns]
    match = " AND ".join(f't."{k}" = b."c{names.index(k)}"' for k in key)
    insert_batch(
        con,
        _insert_sql(table, columns, False),
        list(last_per_key(columns, key, rows).values()),
        first=f"DELETE FROM {table} t USING {_BATCH} b WHERE {match}",
    )


def last_per_key(
    columns: Sequence[tuple[str, str]], key: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """``{key values: row}``, the last row of each key winning (as with INSERT OR REPLACE)."""
    names = [name for name, _ in columns]
    at = [names.index(k) for k in key]
    return {tuple(row[i] for i in at): row for row in rows}


def insert_batch(
    con: Any, sql: str, rows: Sequence[tuple[Any, ...]], first: str | None = None
) -> None:
    """Run an ``_insert_sql`` statement over ``rows`` (tuples in its column order).

    The rows go to DuckDB as one NumPy object array per column, which it scans and casts to
    the column types: about four times faster than the same values as list parameters
    (``unnest(?::T[])``: 2,000 results took 86 ms that way, half a cached re-run's writing).
    ``first``: a statement run over the same batch before the insert.
    """
    import numpy as np

    batch = {
        f"c{i}": np.fromiter(column, dtype=object, count=len(rows))
        for i, column in enumerate(zip(*rows, strict=True))
    }
    con.register(_BATCH, batch)
    try:
        if first is not None:  # a statement over the same batch before the insert
            con.execute(first)
        con.execute(sql)
    finally:
        con.unregister(_BATCH)


#: Block size of new stores. DuckDB's default (256 KiB) makes every table and index cost whole
#: quarter-megabytes; 16 KiB blocks keep a store small (~0.7 KiB per result with its scores
#: and cache entry) at no measurable cost at evalkit's sizes.
BLOCK_SIZE = 16384


#: Storage format of new stores: DuckDB 1.4's, which every DuckDB since reads and writes, so a
#: store moves between the default install (newest DuckDB) and the team extra (DuckDB 1.4.4 LTS,
#: the line the DuckLake extension packages are built for). ``bench/store.py`` compares its
#: speed with DuckDB's own format (within the noise of a shared machine; see README).
STORAGE_VERSION = "v1.4.0"


#: DuckDB draws a progress bar on stdout for slow queries: never in evalkit's output.
QUIET = "SET enable_progress_bar = false"


def _create(path: Path) -> None:
    import duckdb

    with duckdb.connect() as con:
        try:
            con.execute(
                f"ATTACH '{path}' AS fresh (BLOCK_SIZE {BLOCK_SIZE}, "
                f"STORAGE_VERSION '{STORAGE_VERSION}')"
            )
        except duckdb.Error:  # a DuckDB older than 1.4 writes its own format
            con.execute(f"ATTACH '{path}' AS fresh (BLOCK_SIZE {BLOCK_SIZE})")
        con.execute("DETACH fresh")


#: DuckDB's allocator keeps up to 128 MiB of freed memory per task by default; evalkit's
#: queries and batches are small, so hand memory back early (measured: −8 MiB peak RSS on a
#: 2,000-case summary, no measurable time).
_CONFIG: dict[str, str] = {
    "allocator_flush_threshold": "1MB",
    "allocator_bulk_deallocation_flush_threshold": "1MB",
}


#: Bytes 8-11 of every DuckDB database file.
_MAGIC = b"DUCK"


def check_store_path(path: Path, *, read_only: bool, origin: str = "--db") -> None:
    """A store path that cannot be an evalkit store is an input error (exit 2) naming it and
    where it came from (``origin``: ``--db``, ``EVALKIT_DB``, evalkit.yaml's ``db:``), before
    DuckDB is asked: a folder, a file under a file, a file that is not a DuckDB database, or
    (for a read) no file at all. Nothing is created or changed here."""
    from evalkit.errors import display_path

    shown = display_path(path)
    if path.is_dir():
        raise InputError(
            "is a folder, not a store file",
            path=shown,
            fix=f"give {origin} a file, e.g. {shown.rstrip('/')}/evalkit.duckdb",
        )
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise InputError(
                f"cannot hold a store: {display_path(parent)} is a file, not a folder",
                path=shown,
                fix=f"give {origin} a path in a folder",
            )
    if not path.exists():
        if read_only:
            raise NotFoundError(
                "no store here",
                path=shown,
                fix="run `evalkit run` first, or point --db / EVALKIT_DB at a store",
            )
        return
    try:
        with path.open("rb") as file:
            header = file.read(12)
    except OSError as exc:
        raise InputError(
            f"cannot read the store: {exc.strerror or exc}",
            path=shown,
            fix="check the file's permissions",
        ) from None
    if header[8:12] != _MAGIC:
        what = "is empty" if not header else "is not a DuckDB database"
        raise InputError(
            f"{what}, so it cannot be an evalkit store",
            path=shown,
            fix=f"point {origin} at an evalkit store or a new file name (this file is left "
            "as it is)",
        )


class Store:
    """One open DuckDB store. Thread-safe for the run's writer thread and the main thread."""

    #: What kind of store this is (``duckdb``; ``ducklake`` for the team store).
    kind = "duckdb"

    def __init__(self, path: Path, *, read_only: bool = False, origin: str = "--db") -> None:
        #: Where the store is, for messages (a DuckDB file's path, or a DuckLake location).
        self.path: Path | str = path
        self.read_only = read_only
        self.origin = origin
        self._lock = threading.RLock()
        #: The writer's lock file beside a DuckDB store (``store/sharing.py``).
        self._writer: Any = None
        self._con: Any = None
        self.con = self._connect()
        if not read_only:
            self.migrate()

    @property
    def con(self) -> Any:
        """The DuckDB connection, opened again if ``release`` closed it."""
        if self._con is None:
            with self._lock:
                if self._con is None:
                    self._con = self._open(Path(self.path))
        return self._con

    @con.setter
    def con(self, value: Any) -> None:
        self._con = value

    def release(self) -> None:
        """Close the DuckDB file until the next statement, so other processes can read it
        (a run calls this after each batch). The writer's lock is kept. No-op for other
        kinds of store and inside a transaction."""
        if self.kind != "duckdb" or self._con is None or os.environ.get(HOLD_ENV) == "1":
            return
        with self._lock:
            if self._con is not None and not self._in_transaction:
                self._con.close()
                self._con = None

    def release_if_wanted(self) -> None:
        """``release`` if a reader waits for the file (``store/sharing.py``)."""
        from evalkit.store.sharing import is_wanted

        if self.kind == "duckdb" and self._con is not None and is_wanted(str(self.path)):
            self.release()

    #: Inside ``transaction`` / ``write_batch`` (``release`` must not close the file).
    _in_transaction = False

    def _open(self, path: Path) -> Any:
        """A DuckDB connection to ``path``, retried while another process has it open."""
        import duckdb

        from evalkit.store.sharing import ask_for, retry_open

        def connect() -> Any:
            return duckdb.connect(str(path), read_only=self.read_only)

        ask = (lambda: ask_for(str(path))) if self.read_only else None
        try:
            con = retry_open(connect, str(path), ask)
            con.execute(QUIET)
        except duckdb.Error as exc:
            raise self._open_error(path, exc) from exc
        for name, value in _CONFIG.items():
            with contextlib.suppress(duckdb.Error):  # settings an older DuckDB lacks
                con.execute(f"SET {name} = '{value}'")
        return con

    def _connect(self) -> Any:
        """Open the DuckDB file (created with its schema when it is new). A writer first
        takes the store's writer lock, waiting up to ``--wait`` seconds for another one."""
        import duckdb

        from evalkit.store.sharing import WriterLock

        path = Path(self.path)
        check_store_path(path, read_only=self.read_only, origin=self.origin)
        try:
            if not self.read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._writer = WriterLock(path)
                self._writer.acquire(str(path))
                if not path.exists():
                    _create(path)
            con = self._open(path)
            try:
                self._check_evalkit(con)
            except duckdb.Error as exc:
                raise self._open_error(path, exc) from exc
            return con
        except BaseException:
            if self._writer is not None:
                self._writer.release()
                self._writer = None
            raise

    def _open_error(self, path: Path, exc: Exception) -> StoreError:
        """The message for a DuckDB file that would not open."""
        import duckdb

        from evalkit.store.sharing import WriterLock, _describe, is_lock_conflict

        text = str(exc)
        if isinstance(exc, duckdb.IOException):
            if is_lock_conflict(exc) or "lock" in text.lower():
                holder = _describe(WriterLock(path).holder())
                return StoreError(
                    f"the store {path} is in use by {holder}",
                    fix="wait for the other evalkit command to finish, give a longer "
                    "--wait SECONDS, or use another --db",
                )
            if "newer version of DuckDB" in text or "version number" in text:
                return StoreError(
                    f"the store {path} was written by a newer DuckDB than this one "
                    f"({duckdb.__version__})",
                    fix="open it with the DuckDB that wrote it, or move its runs over with "
                    "`evalkit export RUN... --parquet DIR` there and `evalkit import DIR` here",
                )
        return StoreError(f"cannot open the store {path}: {text}")

    # -- lifecycle ------------------------------------------------------------------------
    def _check_evalkit(self, con: Any) -> None:
        """Refuse a DuckDB database that is not an evalkit store (never add tables to it)."""
        from evalkit.errors import display_path

        tables = {
            row[0]
            for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        if "schema_migrations" in tables or (not tables and not self.read_only):
            return
        con.close()
        origin = self.origin
        listed = ", ".join(sorted(tables)[:5]) if tables else "none"
        raise InputError(
            f"is a DuckDB database but not an evalkit store (its tables: {listed})",
            path=display_path(Path(self.path)),
            fix=f"point {origin} at an evalkit store or a new file name",
        )

    def migrate(self) -> list[int]:
        """Apply pending migrations; return the numbers applied."""
        with self._lock:
            self.con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
            )
            done = {
                row[0]
                for row in self.con.execute("SELECT version FROM schema_migrations").fetchall()
            }
            applied = []
            for number, name, sql in MIGRATIONS:
                if number in done:
                    continue
                self.con.execute("BEGIN TRANSACTION")
                try:
                    self.con.execute(sql)
                    self.con.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)", [number, name, utcnow()]
                    )
                    self.con.execute("COMMIT")
                except Exception as exc:
                    self.con.execute("ROLLBACK")
                    raise StoreError(f"migration {number} ({name}) failed: {exc}") from exc
                applied.append(number)
            newest = max(n for n, _, _ in MIGRATIONS)
            if done and max(done) > newest:
                raise StoreError(
                    f"the store {self.path} was written by a newer evalkit (schema {max(done)})",
                    fix="upgrade evalkit, or use another --db",
                )
            return applied

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
            if self._writer is not None:
                self._writer.release()
                self._writer = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- generic --------------------------------------------------------------------------
    def transaction(self, work: Any) -> Any:
        """Run ``work()`` (which uses ``self.con``) in one transaction; roll back on error.
        (A DuckLake store also retries it whole on a write conflict.)"""
        with self._lock:
            self.con.execute("BEGIN TRANSACTION")
            self._in_transaction = True
            try:
                out = work()
                self.con.execute("COMMIT")
                return out
            except Exception:
                self.con.execute("ROLLBACK")
                raise
            finally:
                self._in_transaction = False

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        with self._lock:
            return self.con.execute(sql, params or [])

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.con.execute(sql, params or []).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        with self._lock:
            return self.con.execute(sql, params or []).fetchone()

    def records(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        with self._lock:
            cursor = self.con.execute(sql, params or [])
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def fetchnumpy(self, sql: str, params: Sequence[Any] | None = None) -> dict[str, Any]:
        """The result as ``{column: numpy array}`` (no Python object per row)."""
        with self._lock:
            return dict(self.con.execute(sql, params or []).fetchnumpy())

    def insert_columns(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[tuple[Any, ...]],
        *,
        replace: bool = True,
    ) -> None:
        """Insert many rows in one statement (column-wise)."""
        if not rows:
            return
        with self._lock:
            write_rows(self.con, table, columns, rows, replace)

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
        """Results, their scores, new response cache entries (``CACHE_COLUMNS``) and new score
        cache entries (``SCORE_CACHE_COLUMNS``), in one transaction.

        ``replace``: results may already be stored (a resumed run redoing failed calls);
        their old scores are dropped first. A fresh run's result ids are new, so it skips
        that scan.
        """
        params: JSONMemo = {}  # one JSON text per params mapping, not per result
        result_rows = [_result_row(r, params) for r in results]
        signatures: JSONMemo = {}  # one JSON text per scorer, not per score
        score_rows = [_score_row(s, signatures) for s in scores]
        if not result_rows and not score_rows and not cache_rows and not score_cache_rows:
            return
        with self._lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                if result_rows:
                    if replace:
                        self.con.execute(
                            "DELETE FROM scores WHERE result_id IN (SELECT unnest(?))",
                            [[row[0] for row in result_rows]],
                        )
                    write_rows(self.con, "results", RESULT_COLUMNS, result_rows, replace)
                if score_rows:
                    write_rows(self.con, "scores", SCORE_COLUMNS, score_rows, replace)
                if cache_rows:
                    write_rows(self.con, "cache", CACHE_COLUMNS, cache_rows, True)
                if score_cache_rows:
                    write_rows(self.con, "score_cache", SCORE_CACHE_COLUMNS, score_cache_rows, True)
                self.con.execute("COMMIT")
            except Exception as exc:
                self.con.execute("ROLLBACK")
                raise StoreError(f"writing results to {self.path} failed: {exc}") from exc


def open_store(project: Any, db: str | Path | None = None, *, read_only: bool = False) -> Store:
    """The project's store (``--db`` > ``EVALKIT_DB`` > evalkit.yaml > the default path): a
    DuckDB file, or a DuckLake store for ``ducklake:...`` locations."""
    location = project.db_location(db) if hasattr(project, "db_location") else project.db_path(db)
    if isinstance(location, str) and location.startswith("ducklake:"):
        from evalkit.store.ducklake import open_ducklake

        return open_ducklake(project, db, read_only=read_only)
    return Store(Path(location), read_only=read_only, origin=project.db_origin(db))
