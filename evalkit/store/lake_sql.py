"""What the DuckLake store changes in SQL: locations, keys and upserts.

DuckLake has no primary keys. The keys are those the numbered migrations declare (read off
the migrations applied to an in-memory DuckDB); migrations run without their key clauses;
``INSERT OR REPLACE/IGNORE`` text becomes a ``MERGE`` on the key.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import SetupError
from evalkit.store.migrations import FILE_ONLY, MIGRATIONS, UNINDEXED_KEYS

__all__ = ["DuckLakeTarget", "lake_sql", "merge_sql", "parse_target", "table_keys"]

_KEYS: dict[str, tuple[str, ...]] | None = None
_KEYS_LOCK = threading.Lock()


@dataclass(frozen=True)
class DuckLakeTarget:
    """Where a DuckLake store is: the catalogue (``postgres:<conninfo>`` or a file path) and
    the data folder."""

    catalog: str
    data_path: str | None

    @property
    def is_postgres(self) -> bool:
        return self.catalog.startswith("postgres:")

    @property
    def is_file(self) -> bool:
        """A DuckDB catalogue file (not a database server)."""
        return not re.match(r"^(postgres|md|sqlite|mysql):", self.catalog)

    @property
    def shown(self) -> str:
        """For messages: the location with any password masked."""
        text = re.sub(r"(password\s*=\s*)\S+", r"\1***", self.catalog)
        text = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)
        return f"ducklake:{text}"


def parse_target(location: str, data_path: str | None, base: Path) -> DuckLakeTarget:
    """``ducklake:postgres:<conninfo>`` or ``ducklake:<catalogue file>`` (relative to
    ``base``)."""
    rest = location[len("ducklake:") :].strip()
    if not rest:
        raise SetupError(
            "the store location 'ducklake:' names no catalogue",
            fix="e.g. db: 'ducklake:postgres:host=127.0.0.1 dbname=evalkit' or "
            "db: 'ducklake:.evalkit/catalogue.ducklake'",
        )
    if rest.startswith("postgres:") or rest.startswith("postgresql:"):
        conninfo = rest.split(":", 1)[1].strip()
        return DuckLakeTarget(f"postgres:{conninfo}", data_path)
    if re.match(r"^(md|sqlite|mysql):", rest):  # other catalogues DuckLake knows, as given
        return DuckLakeTarget(rest, data_path)
    path = Path(rest).expanduser()
    if not path.is_absolute():
        path = base / path
    return DuckLakeTarget(str(path), data_path)


def table_keys() -> dict[str, tuple[str, ...]]:
    """Each table's key: its primary key as the migrations declare it (applied to an
    in-memory DuckDB once per process), or the one evalkit keeps unique itself
    (``UNINDEXED_KEYS``): what DuckLake cannot enforce, replacing writes use."""
    global _KEYS
    with _KEYS_LOCK:
        if _KEYS is None:
            import duckdb

            with duckdb.connect() as con:
                con.execute(
                    "CREATE TABLE schema_migrations "
                    "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
                )
                for _, _, sql in MIGRATIONS:
                    con.execute(sql)
                rows = con.execute(
                    "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
                    "WHERE constraint_type = 'PRIMARY KEY'"
                ).fetchall()
            _KEYS = {**UNINDEXED_KEYS, **{str(table): tuple(columns) for table, columns in rows}}
        return dict(_KEYS)


_COLUMN_KEY = re.compile(r"\s+PRIMARY\s+KEY\b", re.IGNORECASE)
_TABLE_KEY = re.compile(r",\s*PRIMARY\s+KEY\s*\([^)]*\)", re.IGNORECASE)


def lake_sql(sql: str) -> str:
    """A migration's SQL for DuckLake: the same, without key constraints (nothing for one that
    only changes how a DuckDB file stores its tables)."""
    if sql.startswith(FILE_ONLY):
        return "SELECT 1"
    return _COLUMN_KEY.sub("", _TABLE_KEY.sub("", sql))


_UPSERT = re.compile(
    r"^\s*INSERT\s+OR\s+(REPLACE|IGNORE)\s+INTO\s+(\w+)\s*\(([^)]*)\)\s*(.*)$",
    re.IGNORECASE | re.DOTALL,
)


def merge_sql(sql: str, keys: dict[str, tuple[str, ...]]) -> str | None:
    """``INSERT OR REPLACE|IGNORE INTO t (cols) VALUES/SELECT ...`` as a ``MERGE`` on ``t``'s
    key; None when ``sql`` is not such a statement."""
    match = _UPSERT.match(sql)
    if not match:
        return None
    verb, table, names, source = match.groups()
    key = keys.get(table.lower())
    if not key:
        return None
    columns = [c.strip().strip('"') for c in names.split(",")]
    quoted = ", ".join(f'"{c}"' for c in columns)
    body = source.strip().rstrip(";")
    using = f"({body})" if body.upper().startswith(("VALUES", "SELECT", "WITH")) else body
    on = " AND ".join(f'{table}."{k}" IS NOT DISTINCT FROM s."{k}"' for k in key)
    out = f"MERGE INTO {table} USING {using} AS s({quoted}) ON {on} "
    if verb.upper() == "REPLACE":
        updates = ", ".join(f'"{c}" = s."{c}"' for c in columns if c not in key)
        if updates:
            out += f"WHEN MATCHED THEN UPDATE SET {updates} "
    values = ", ".join(f's."{c}"' for c in columns)
    return out + f"WHEN NOT MATCHED THEN INSERT ({quoted}) VALUES ({values})"
