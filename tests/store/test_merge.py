"""`evalkit merge`: four shard stores become one run equal to the unsharded run."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from fakeserver import FakeServer
from scaleproject import write_numbers_project

#: Baseline answers: many cases answer wrong (n1, n1x, n2, n2x, n5, n8), so the later runs
#: improve significantly.
WORSE = [(f"n{i}", "something else") for i in (1, 2, 5, 8)]


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(rules=WORSE) as srv:
        yield srv


@pytest.fixture
def project(in_tmp: Path, server: FakeServer) -> Path:
    return write_numbers_project(in_tmp, server.base_url)


def _run(db: Path, *extra: str) -> dict:
    result = invoke("run", "--db", str(db), "--no-cache", "--json", *extra)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def _results(db: Path, run_id: str) -> list[tuple]:
    return rows(
        db,
        "SELECT case_id, prompt, provider, repeat, output, passed, error_class FROM results "
        "WHERE run_id = ? ORDER BY ALL",
        [run_id],
    )


def _scores(db: Path, run_id: str) -> list[tuple]:
    return rows(
        db,
        "SELECT r.case_id, r.prompt, s.scorer, s.signature, s.value, s.passed FROM scores s "
        "JOIN results r ON r.id = s.result_id WHERE s.run_id = ? ORDER BY ALL",
        [run_id],
    )


def _numbers(summary: dict) -> list[tuple]:
    keys = (
        "prompt",
        "provider",
        "results",
        "cases",
        "passed",
        "failed",
        "undecided",
        "errors",
        "pass_rate",
        "pass_rate_ci",
        "input_tokens",
        "output_tokens",
    )
    return [
        (
            *(g[k] for k in keys),
            {
                name: (round(s["mean"], 9), s["n"], s["passed"], s["failed"])
                for name, s in g["scores"].items()
            },
        )
        for g in summary["groups"]
    ]


def _verdicts(comparison: dict) -> list[tuple]:
    return [
        (m["name"] if "name" in m else m.get("metric"), m["verdict"])
        for p in comparison["pairings"]
        for m in p["metrics"]
    ] + [("overall", comparison["verdict"])]


def test_four_shards_merge_into_the_unsharded_run(project: Path, server: FakeServer):
    base = project / "base.duckdb"
    first = _run(base)["runs"][0]
    assert invoke("baseline", "set", "main", first["run_id"], "--db", str(base)).exit_code == 0
    server.configure(rules=[])  # the change under test: every case answers its own prompt
    full_db, merged_db = project / "full.duckdb", project / "merged.duckdb"
    shutil.copy(base, full_db)
    shutil.copy(base, merged_db)

    full = _run(full_db, "--baseline", "main")
    shard_dbs = [project / f"shard-{i}.duckdb" for i in range(1, 5)]
    planned = 0
    for i, db in enumerate(shard_dbs, 1):
        shard = _run(db, "--shard", f"{i}/4")["runs"][0]
        assert shard["status"] == "completed" and shard["planned"] > 0, "each shard gets cases"
        planned += shard["planned"]
    assert planned == full["runs"][0]["planned"] == 80

    result = invoke(
        "merge", *map(str, shard_dbs), "--into", str(merged_db), "--baseline", "main", "--json"
    )
    assert result.exit_code == full["exit_code"], result.output
    merged = json.loads(result.stdout)
    (m,) = merged["runs"]
    (f,) = full["runs"]
    assert m["status"] == "completed" and m["planned"] == 80
    assert _results(merged_db, m["run_id"]) == _results(full_db, f["run_id"])
    assert _scores(merged_db, m["run_id"]) == _scores(full_db, f["run_id"])
    assert _numbers(m["summary"]) == _numbers(f["summary"])
    assert [(g["gate"], g["scope"], g["actual"], g["passed"]) for g in m["gates"]] == [
        (g["gate"], g["scope"], g["actual"], g["passed"]) for g in f["gates"]
    ]
    assert m["comparison"] and f["comparison"]
    assert _verdicts(m["comparison"]) == _verdicts(f["comparison"])
    assert m["comparison"]["verdict"] == "improved"
    # one run in the target, ids as an unsharded run under the merged id would have them
    from evalkit.store.merge import result_id_for

    names = [c[0] for c in rows(merged_db, "DESCRIBE results")]
    at = {n: i for i, n in enumerate(names)}
    stored = rows(merged_db, "SELECT * FROM results WHERE run_id = ?", [m["run_id"]])
    assert all(r[at["id"]] == result_id_for(r, at, m["run_id"]) for r in stored)
    (options,) = rows(merged_db, "SELECT options FROM runs WHERE id = ?", [m["run_id"]])[0]
    merged_from = json.loads(options)["merged_from"]
    assert sorted(x["shard"] for x in merged_from) == ["1/4", "2/4", "3/4", "4/4"]
    assert "shard" not in json.loads(options)
    # reads work on the merged run like on any other
    shown = invoke("runs", "show", m["run_id"], "--db", str(merged_db))
    assert shown.exit_code == 0 and "numbers@v2" in shown.stdout
    compared = invoke("compare", "main", m["run_id"], "--db", str(merged_db), "--json")
    assert json.loads(compared.stdout)["verdict"] == "improved"
    # as `evalkit run` prints it, with a Markdown summary for the pull request
    printed = invoke(
        "merge",
        *map(str, shard_dbs),
        "--into",
        str(project / "printed.duckdb"),
        "--summary",
        "summary.md",
    )
    assert printed.exit_code == 0, printed.output
    assert "numbers · 40 cases" in printed.stdout and "numbers@v2" in printed.stdout
    assert "numbers@v2" in Path("summary.md").read_text()
    # merging the same shards again is refused
    again = invoke("merge", *map(str, shard_dbs), "--into", str(merged_db))
    assert again.exit_code == 2 and "already merged" in again.stderr


def test_merge_refuses_what_is_not_one_run(project: Path, server: FakeServer):
    dbs = [project / f"s{i}.duckdb" for i in range(1, 5)]
    for i, db in enumerate(dbs[:3], 1):
        _run(db, "--shard", f"{i}/4")
    missing = invoke("merge", *map(str, dbs[:3]), "--into", "m.duckdb")
    assert missing.exit_code == 2, missing.output
    assert "missing shard(s) 4/4" in missing.stderr
    twice = invoke("merge", str(dbs[0]), str(dbs[0]), "--into", "m.duckdb")
    assert twice.exit_code == 2 and "given twice" in twice.stderr
    shutil.copy(dbs[0], project / "copy.duckdb")
    copied = invoke("merge", str(dbs[0]), "copy.duckdb", "--into", "m.duckdb")
    assert copied.exit_code == 2 and "in two stores" in copied.stderr
    # the fourth shard ran with another configuration
    config = project / "evalkit.yaml"
    config.write_text(config.read_text().replace("concurrency: 4", "concurrency: 3"))
    _run(dbs[3], "--shard", "4/4")
    changed = invoke("merge", *map(str, dbs), "--into", "m.duckdb")
    assert changed.exit_code == 2 and "config hash" in changed.stderr
    # a store with no sharded run, and a shard of another split
    plain = project / "plain.duckdb"
    _run(plain)
    none = invoke("merge", str(dbs[0]), str(plain), "--into", "m.duckdb")
    assert none.exit_code == 2 and "holds no sharded run" in none.stderr
    other = project / "half.duckdb"
    config.write_text(config.read_text().replace("concurrency: 3", "concurrency: 4"))
    _run(other, "--shard", "2/2")
    split = invoke("merge", str(dbs[0]), str(other), "--into", "m.duckdb")
    assert split.exit_code == 2 and "shard counts" in split.stderr
    into_source = invoke("merge", *map(str, dbs[:2]), "--into", str(dbs[0]))
    assert into_source.exit_code == 2 and "is one of the shard stores" in into_source.stderr
    assert not Path("m.duckdb").exists() or rows(Path("m.duckdb"), "SELECT count(*) FROM runs") == [
        (0,)
    ]
