from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from evalkit.errors import NotFoundError, StoreError
from evalkit.records import Result, Score
from evalkit.store import runs as store_runs
from evalkit.store.db import Store
from evalkit.store.migrations import MIGRATIONS


def _result(rid: str, run: str = "r1", **kw) -> Result:
    base = dict(
        id=rid,
        run_id=run,
        suite="s",
        case_id="c-" + rid,
        case_hash="h",
        prompt="p@v1",
        prompt_name="p",
        prompt_version="v1",
        prompt_hash="ph",
        provider="local",
        provider_type="local",
        model="m",
        params={"temperature": 0},
        repeat=0,
        input="Q: x\nA:",
        output="out",
        latency_ms=12.5,
        passed=True,
    )
    base.update(kw)
    return Result(**base)


def _score(rid: str, value: float, run: str = "r1") -> Score:
    return Score(
        result_id=rid,
        run_id=run,
        scorer="contains",
        scorer_type="contains",
        signature="sig",
        signature_json={"scorer": "contains"},
        value=value,
        passed=value >= 1,
        threshold=None,
        detail=None,
    )


def test_migrations_apply_once_and_are_recorded(tmp_path: Path):
    path = tmp_path / "db" / "e.duckdb"
    with Store(path) as store:
        rows = store.fetchall("SELECT version, name FROM schema_migrations ORDER BY version")
        assert rows == [(n, name) for n, name, _ in MIGRATIONS]
        assert store.migrate() == []  # nothing pending the second time
    with Store(path) as store:  # reopening does not re-run anything
        assert store.fetchone("SELECT count(*) FROM schema_migrations")[0] == len(MIGRATIONS)


def test_newer_schema_is_refused(tmp_path: Path):
    path = tmp_path / "e.duckdb"
    Store(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    con.close()
    with pytest.raises(StoreError, match="newer evalkit"):
        Store(path)


def test_shared_json_is_written_once_per_object_and_never_for_another(tmp_path: Path):
    shared = {"temperature": 0.5}
    with Store(tmp_path / "e.duckdb") as store:
        store.write_batch([_result(f"s{i}", params=shared) for i in range(3)], [])
        # Results made one at a time, each with its own params, gone once its row is built:
        # a memo by id alone would hand a later one an earlier one's JSON.
        store.write_batch((_result(f"g{i}", params={"seed": i}) for i in range(50)), [])
        rows = [
            (rid, json.loads(params))
            for rid, params in store.fetchall("SELECT id, params FROM results ORDER BY id")
        ]
    assert rows[:50] == sorted((f"g{i}", {"seed": i}) for i in range(50))
    assert rows[50:] == [(f"s{i}", {"temperature": 0.5}) for i in range(3)]


def test_write_batch_results_and_scores(tmp_path: Path):
    with Store(tmp_path / "e.duckdb") as store:
        store.write_batch(
            [_result(f"id{i}") for i in range(300)], [_score(f"id{i}", i % 2) for i in range(300)]
        )
        assert store.fetchone("SELECT count(*) FROM results")[0] == 300
        assert store.fetchone("SELECT count(*) FROM scores WHERE passed")[0] == 150
        row = store.records("SELECT params, input, latency_ms FROM results WHERE id='id7'")[0]
        assert row["params"] == '{"temperature": 0}' and row["input"] == '"Q: x\\nA:"'
        assert row["latency_ms"] == 12.5


def test_rewriting_a_result_replaces_it_and_its_scores(tmp_path: Path):
    """What --resume does with a failed call: the new attempt replaces the old row."""
    with Store(tmp_path / "e.duckdb") as store:
        store.write_batch(
            [_result("a", output=None, error="boom", error_class="server_error", passed=False)], []
        )
        store.write_batch([_result("b")], [_score("b", 1.0)])
        store.write_batch([_result("a")], [_score("a", 1.0)], replace=True)
        store.write_batch([_result("b", output="new")], [], replace=True)
        rows = store.fetchall("SELECT id, error_class, output FROM results ORDER BY id")
        assert rows == [("a", None, "out"), ("b", None, "new")]
        assert store.fetchall("SELECT result_id FROM scores ORDER BY 1") == [("a",)]


def test_a_failed_batch_writes_nothing(tmp_path: Path):
    with Store(tmp_path / "e.duckdb") as store:
        bad = _score("x", 1.0)
        bad.scorer = None  # type: ignore[assignment]  # NOT NULL violation
        with pytest.raises(StoreError):
            store.write_batch([_result("x")], [bad])
        assert store.fetchone("SELECT count(*) FROM results")[0] == 0


def test_resolve_run_last_prefix_and_baseline(tmp_path: Path):
    with Store(tmp_path / "e.duckdb") as store:
        for rid, suite in (("20260101-000000-aaaa", "s1"), ("20260102-000000-bbbb", "s2")):
            store_runs.insert_run(
                store, {"id": rid, "suite": suite, "started_at": f"{rid[:4]}-{rid[4:6]}-{rid[6:8]}"}
            )
        store.execute("INSERT INTO baselines VALUES ('main', '20260101-000000-aaaa', 's1', now())")
        assert store_runs.resolve_run(store, "last") == "20260102-000000-bbbb"
        assert store_runs.resolve_run(store, "latest", suite="s1") == "20260101-000000-aaaa"
        assert store_runs.resolve_run(store, "20260102") == "20260102-000000-bbbb"
        assert store_runs.resolve_run(store, "main") == "20260101-000000-aaaa"
        with pytest.raises(NotFoundError, match="ambiguous"):
            store_runs.resolve_run(store, "2026")
        with pytest.raises(NotFoundError):
            store_runs.resolve_run(store, "nope")
        with pytest.raises(NotFoundError):
            store_runs.resolve_run(store, "last", suite="s3")


def test_run_ids_sort_by_time():
    from datetime import UTC, datetime

    a = store_runs.new_run_id(datetime(2026, 1, 1, 9, 0, 0, 5000, tzinfo=UTC))
    b = store_runs.new_run_id(datetime(2026, 1, 1, 9, 0, 0, 6000, tzinfo=UTC))
    c = store_runs.new_run_id(datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC))
    assert a < b < c and a.startswith("20260101-090000-005") and len(a) == 22


def test_prompt_edited_in_place_is_reported(tmp_path: Path, write):
    from evalkit.load.prompts import load_prompt_file

    path = write("prompts/p/v1.yaml", "messages: [{role: user, content: one}]\n")
    with Store(tmp_path / "e.duckdb") as store:
        assert store_runs.record_prompts(store, [load_prompt_file(path)]) == []
        assert store_runs.record_prompts(store, [load_prompt_file(path)]) == []
        path.write_text("messages: [{role: user, content: two}]\n")
        warnings = store_runs.record_prompts(store, [load_prompt_file(path)])
        assert len(warnings) == 1 and "p@v1 was edited after it was used" in warnings[0]
        assert store.fetchone("SELECT count(*) FROM prompt_versions")[0] == 2


def test_read_only_store(tmp_path: Path):
    path = tmp_path / "e.duckdb"
    with pytest.raises(NotFoundError, match="no store"):
        Store(path, read_only=True)
    Store(path).close()
    with Store(path, read_only=True) as store, pytest.raises(duckdb.Error):
        store.execute("DELETE FROM runs")


def _cache_row(key: str, output: str) -> tuple:
    from evalkit.store.db import CACHE_COLUMNS

    values = {name: None for name, _ in CACHE_COLUMNS}
    values.update(key=key, output=output, created_at=datetime(2026, 1, 1))
    return tuple(values[name] for name, _ in CACHE_COLUMNS)


def test_a_store_from_before_migration_7_keeps_its_rows_and_loses_its_key_indexes(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))  # a store as migration 6 left it: keys with indexes
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, "
        "applied_at TIMESTAMP)"
    )
    for number, name, sql in MIGRATIONS[:6]:
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [number, name])
    con.execute(
        "INSERT INTO results (id, run_id, suite, case_id, case_hash, prompt, prompt_name, "
        "prompt_version, prompt_hash, provider, repeat, output) VALUES "
        "('a', 'r1', 's', 'c', 'h', 'p@v1', 'p', 'v1', 'ph', 'x', 0, 'kept')"
    )
    con.execute(
        "INSERT INTO scores (result_id, run_id, scorer, scorer_type, signature, value) "
        "VALUES ('a', 'r1', 'contains', 'contains', 'sig', 1)"
    )
    con.execute("INSERT INTO cache (key, output) VALUES ('k', 'cached')")
    con.close()
    with Store(path) as store:
        assert store.fetchone("SELECT max(version) FROM schema_migrations") == (7,)
        assert store.fetchone(
            "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
            "AND table_name IN ('results', 'scores', 'cache', 'score_cache')"
        ) == (0,)
        assert store.fetchall("SELECT id, output FROM results") == [("a", "kept")]
        assert store.fetchall("SELECT key, output FROM cache") == [("k", "cached")]
        # required columns stay required
        with pytest.raises(StoreError):
            store.write_batch([_result("x", run_id=None)], [])
        # --resume's replacing write still leaves one row per result and scorer
        store.write_batch(
            [_result("a", run_id="r1", output="redone")], [_score("a", 0.0)], replace=True
        )
        assert store.fetchall("SELECT id, output FROM results") == [("a", "redone")]
        assert store.fetchall("SELECT result_id, value FROM scores") == [("a", 0.0)]


def test_replacing_writes_keep_one_row_per_key_without_an_index(tmp_path: Path):
    from evalkit.store.db import CACHE_COLUMNS

    with Store(tmp_path / "e.duckdb") as store:
        assert store.fetchone(
            "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
            "AND table_name IN ('results', 'scores', 'cache', 'score_cache')"
        ) == (0,)
        store.write_batch([], [], [_cache_row("k1", "old"), _cache_row("k2", "two")])
        # a stored key is replaced; of two rows with one key in a batch the last is kept
        store.write_batch(
            [], [], [_cache_row("k1", "new"), _cache_row("k3", "x"), _cache_row("k3", "y")]
        )
        store.insert_columns("cache", CACHE_COLUMNS, [_cache_row("k2", "again")])
        assert store.fetchall("SELECT key, output FROM cache ORDER BY key") == [
            ("k1", "new"),
            ("k2", "again"),
            ("k3", "y"),
        ]
