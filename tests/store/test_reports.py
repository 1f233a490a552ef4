"""The report's queries: history up to a run, inputs as text, score notes, details."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.records import Result, Score
from evalkit.store import reports as queries
from evalkit.store import runs as store_runs
from evalkit.store.db import Store


def _run(store: Store, run_id: str, minute: int, **result: object) -> None:
    from datetime import datetime

    store_runs.insert_run(
        store, {"id": run_id, "suite": "s", "started_at": datetime(2026, 1, 1, 0, minute)}
    )
    r = Result(
        f"{run_id}/c1",
        run_id,
        "s",
        "c1",
        "h1",
        "p@v1",
        "p",
        "v1",
        "ph",
        "x",
        "openai",
        "m",
        {},
        0,
        result.get("input", "Q: hi\nA:"),
        "hello",
        passed=True,
        latency_ms=100.0 + minute,
    )
    judge = json.dumps({"verdict": "valid", "score": 4, "rationale": "fine", "raw": "{...}"})
    store.write_batch(
        [r],
        [
            Score(r.id, run_id, "judge", "judge", "sig", {}, 0.75, None, None, judge),
            Score(r.id, run_id, "has", "contains", "sig2", {}, 1.0, True, None, "found it"),
        ],
    )
    store_runs.finish_run(store, run_id, status="completed", exit_code=0, summary=None)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "e.duckdb") as s:
        for k in range(5):
            _run(s, f"r{k}", k)
        _run(s, "chat", 9, input=[{"role": "user", "content": "hi"}])
        yield s


def test_history_ends_at_the_reported_run_oldest_first(store: Store) -> None:
    rows = queries.history_runs(store, "s", "r3", limit=3)
    assert [r["id"] for r in rows] == ["r1", "r2", "r3"]
    groups, scores = queries.history_aggregates(store, ["r1", "r2"])
    assert sorted(g["run_id"] for g in groups) == ["r1", "r2"]
    assert {(s["scorer"], s["signatures"]) for s in scores} == {("judge", 1), ("has", 1)}


def test_results_come_with_their_input_as_text_and_scores_with_a_note(store: Store) -> None:
    res = queries.run_results(store, "r0")
    assert res["input"] == ["Q: hi\nA:"] and res["input_kind"] == ["VARCHAR"]
    chat = queries.run_results(store, "chat")
    assert chat["input_kind"] == ["ARRAY"]
    assert json.loads(chat["input"][0]) == [{"role": "user", "content": "hi"}]
    scores = queries.run_scores(store, "r0")
    notes = dict(zip(scores["scorer"], scores["note"], strict=True))
    assert notes == {"judge": "judge's rationale: fine", "has": "found it"}
    full = queries.score_details(store, ["r0/c1"])
    assert json.loads(full["r0/c1"]["judge"])["raw"] == "{...}"


def test_a_faithfulness_note_names_the_unsupported_claims() -> None:
    import duckdb

    details = [
        json.dumps({"verdict": "fail", "unsupported": ["ships in 2 days", 'a "free" gift']}),
        json.dumps({"verdict": "pass", "unsupported": [], "rationale": "all supported"}),
        json.dumps({"verdict": "pass", "rationale": "matches"}),
        "plain detail",
    ]
    with duckdb.connect() as con:
        con.execute("CREATE TABLE scores (detail VARCHAR)")
        con.executemany("INSERT INTO scores VALUES (?)", [[d] for d in details])
        notes = [row[0] for row in con.execute(f"SELECT {queries._NOTE} FROM scores").fetchall()]
    assert notes == [
        'unsupported claims: ships in 2 days · a "free" gift',
        "judge's rationale: all supported",
        "judge's rationale: matches",
        "plain detail",
    ]
