"""How the DuckLake store reads the migrations and replacing writes (no DuckLake needed)."""

from __future__ import annotations

import duckdb

from evalkit.store.ducklake import lake_sql, merge_sql, parse_target, table_keys
from evalkit.store.migrations import MIGRATIONS


def test_keys_come_from_the_migrations():
    keys = table_keys()
    assert keys["results"] == ("id",)
    assert keys["baselines"] == ("name", "suite")
    assert keys["cases"] == ("suite", "id", "hash")
    assert keys["scores"] == ("result_id", "scorer")


def test_migrations_without_keys_still_build_the_same_tables():
    with duckdb.connect() as plain, duckdb.connect() as keyless:
        for _, _, sql in MIGRATIONS:
            plain.execute(sql)
            keyless.execute(lake_sql(sql))
        shape = "SELECT table_name, column_name, data_type FROM duckdb_columns() ORDER BY ALL"
        assert plain.execute(shape).fetchall() == keyless.execute(shape).fetchall()
        assert keyless.execute(
            "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
        ).fetchone() == (0,)


def test_insert_or_replace_becomes_a_merge_on_the_key():
    keys = table_keys()
    sql = merge_sql(
        "INSERT OR REPLACE INTO baselines (name, suite, run_id, set_at) VALUES (?, ?, ?, ?)", keys
    )
    assert sql is not None and sql.startswith("MERGE INTO baselines USING (VALUES (?, ?, ?, ?))")
    assert 'WHEN MATCHED THEN UPDATE SET "run_id" = s."run_id", "set_at" = s."set_at"' in sql
    ignore = merge_sql("INSERT OR IGNORE INTO cache (key, output) SELECT 'k', 'o'", keys)
    assert ignore is not None and "WHEN MATCHED" not in ignore
    assert merge_sql("INSERT INTO baselines VALUES (1)", keys) is None
    # the statement does on a keyless table what INSERT OR REPLACE does on a keyed one
    with duckdb.connect() as con:
        for _, _, migration in MIGRATIONS:
            con.execute(lake_sql(migration))
        for run in ("r1", "r2"):
            con.execute(sql, ["main", "s", run, None])
        assert con.execute("SELECT name, suite, run_id FROM baselines").fetchall() == [
            ("main", "s", "r2")
        ]


def test_locations(tmp_path):
    pg = parse_target("ducklake:postgres:host=db dbname=e password=secret", None, tmp_path)
    assert pg.is_postgres and pg.catalog == "postgres:host=db dbname=e password=secret"
    assert "secret" not in pg.shown
    local = parse_target("ducklake:lake/catalogue.ducklake", "/data", tmp_path)
    assert local.is_file and local.catalog == str(tmp_path / "lake/catalogue.ducklake")
    assert parse_target("ducklake:md:team", None, tmp_path).catalog == "md:team"
