"""The team store: DuckLake with its catalogue in a real PostgreSQL (started here) and its data
in a temporary folder; four processes write to it at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from fakeserver import FakeServer
from scaleproject import write_numbers_project
from services import Postgres, postgres_server

pytestmark = pytest.mark.team

SUITES = ("alpha", "beta", "gamma", "delta")


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.fixture
def lake(postgres: Postgres, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """A new database for this test: the environment that points evalkit at it."""
    name = "t_" + request.node.name.replace("[", "_").replace("]", "").lower()[:40]
    conninfo = postgres.create_database(name)
    return {
        "EVALKIT_DB": f"ducklake:postgres:{conninfo}",
        "EVALKIT_DATA_PATH": str(tmp_path / "lake"),
    }


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(latency_ms=5) as srv:
        yield srv


def evalkit(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The evalkit command in its own process (as separate CI jobs run it)."""
    return subprocess.run(
        [sys.executable, "-c", "from evalkit.cli.main import main; main()", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def invoke(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, *args: str):
    for key in ("EVALKIT_DB", "EVALKIT_DATA_PATH"):
        if key in env:
            monkeypatch.setenv(key, env[key])
        else:
            monkeypatch.delenv(key, raising=False)
    return CliRunner().invoke(app, list(args))


def test_four_concurrent_writers_share_one_store(
    in_tmp: Path, server: FakeServer, lake: dict[str, str], monkeypatch: pytest.MonkeyPatch
):
    write_numbers_project(in_tmp, server.base_url, suites=SUITES)
    # four CI jobs start at once on an empty store: they race to create the catalogue and
    # migrate it, then write their runs side by side
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from evalkit.cli.main import main; main()",
                "run",
                suite,
                "--json",
                "-j",
                "2",
            ],
            cwd=in_tmp,
            env={**os.environ, **lake},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for suite in SUITES
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
    runs = {json.loads(out)["runs"][0]["suite"]: json.loads(out)["runs"][0] for out, _ in outs}
    assert sorted(runs) == sorted(SUITES)

    # every run and every result is there, once
    listed = invoke(
        lake,
        monkeypatch,
        "query",
        "SELECT suite, count(*) AS n, count(DISTINCT id) AS ids, "
        "sum(passed::INT) AS passed FROM results GROUP BY suite ORDER BY suite",
        "--json",
    )
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)["rows"]
    assert [(r["suite"], r["n"], r["ids"]) for r in rows] == [(s, 80, 80) for s in sorted(SUITES)]
    assert all(
        r["passed"]
        == runs[r["suite"]]["summary"]["groups"][0]["passed"]
        + runs[r["suite"]]["summary"]["groups"][1]["passed"]
        for r in rows
    )
    counts = json.loads(
        invoke(
            lake,
            monkeypatch,
            "query",
            "SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM scores) AS scores, "
            "(SELECT count(*) FROM cases) AS cases, (SELECT count(*) FROM prompt_versions) AS "
            "prompts, (SELECT count(*) FROM schema_migrations) AS migrations, "
            "(SELECT count(*) FROM runs WHERE status = 'completed') AS completed",
            "--json",
        ).stdout
    )
    (c,) = counts["rows"]
    assert (c["runs"], c["completed"], c["scores"]) == (4, 4, 4 * 80 * 2)
    from evalkit.store.migrations import MIGRATIONS

    assert c["migrations"] == len(MIGRATIONS), "each migration applied once, despite the race"
    assert c["cases"] == 4 * 40 and c["prompts"] == 2, "nothing stored twice"

    # every read command works on it
    listed_runs = invoke(lake, monkeypatch, "runs", "list", "--json")
    assert {r["suite"] for r in json.loads(listed_runs.stdout)["runs"]} == set(SUITES)
    shown = invoke(lake, monkeypatch, "runs", "show", runs["alpha"]["run_id"])
    assert shown.exit_code == 0 and "numbers@v2" in shown.stdout

    # baselines and compare across the writers' runs: baselines for all four suites, then a
    # worse run of alpha made by another process is judged against it
    for suite in SUITES:
        assert (
            invoke(lake, monkeypatch, "baseline", "set", "main", runs[suite]["run_id"]).exit_code
            == 0
        )
    baselines = json.loads(invoke(lake, monkeypatch, "baseline", "list", "--json").stdout)
    assert len(baselines["baselines"]) == 4
    server.configure(rules=[(f"n{i}", "wrong") for i in (1, 2, 3)])
    worse = evalkit(lake, "run", "alpha", "--no-cache", "--baseline", "main", "--json", cwd=in_tmp)
    assert worse.returncode == 1, worse.stderr  # a significant regression
    (judged,) = json.loads(worse.stdout)["runs"]
    assert judged["comparison"]["verdict"] == "regressed"
    compared = invoke(lake, monkeypatch, "compare", "main", judged["run_id"], "--json")
    assert compared.exit_code == 1 and json.loads(compared.stdout)["verdict"] == "regressed"
    report = invoke(lake, monkeypatch, "report", judged["run_id"], "-o", "r.html")
    assert report.exit_code == 0, report.output
    assert "regressed" in Path("r.html").read_text()
    cached = json.loads(invoke(lake, monkeypatch, "cache", "stats", "--json").stdout)
    assert cached["entries"] == 4 * 80 or cached["entries"] >= 80
    explained = invoke(
        lake,
        monkeypatch,
        "cache",
        "explain",
        invoke(
            lake,
            monkeypatch,
            "query",
            f"SELECT id FROM results WHERE run_id = '{judged['run_id']}' LIMIT 1",
            "--csv",
        ).stdout.splitlines()[1],
    )
    assert explained.exit_code == 0, explained.output

    # housekeeping: many small files become few, nothing is lost
    compacted = invoke(lake, monkeypatch, "store", "compact", "--keep", "0d", "--json")
    assert compacted.exit_code == 0, compacted.output
    data = json.loads(compacted.stdout)
    assert data["small_files_after"] < data["small_files_before"]
    after = json.loads(
        invoke(lake, monkeypatch, "query", "SELECT count(*) AS n FROM results", "--json").stdout
    )
    assert after["rows"] == [{"n": 5 * 80}]


def test_a_catalogue_file_store_and_clear_errors(
    in_tmp: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
):
    write_numbers_project(in_tmp, server.base_url)
    # a catalogue file keeps its data beside it unless told otherwise
    env = {"EVALKIT_DB": "ducklake:catalogue.ducklake"}
    first = invoke(env, monkeypatch, "run", "--json")
    assert first.exit_code == 0, first.output
    assert any(Path("catalogue.ducklake.files").rglob("*.parquet"))
    again = invoke(env, monkeypatch, "run", "--json")
    (run,) = json.loads(again.stdout)["runs"]
    assert run["summary"]["run"]["cache_hits"] == 80, "the cache works on DuckLake too"
    moved = invoke({**env, "EVALKIT_DATA_PATH": "elsewhere"}, monkeypatch, "runs", "list")
    assert moved.exit_code == 2 and "keeps its data in" in moved.stderr
    # resume on DuckLake replaces without duplicates
    resumed = invoke(env, monkeypatch, "run", "--resume", "last", "--json")
    assert resumed.exit_code == 0, resumed.output
    n = json.loads(
        invoke(
            env,
            monkeypatch,
            "query",
            "SELECT count(*) AS n, count(DISTINCT id) AS d FROM results",
            "--json",
        ).stdout
    )["rows"][0]
    assert n["n"] == n["d"] == 160
    # the baseline name moves (a replacing write on a table without keys)
    runs = [
        r["id"]
        for r in json.loads(invoke(env, monkeypatch, "runs", "list", "--json").stdout)["runs"]
    ]
    for run_id in runs:
        assert invoke(env, monkeypatch, "baseline", "set", "main", run_id).exit_code == 0
    listed = json.loads(invoke(env, monkeypatch, "baseline", "list", "--json").stdout)
    assert [b["run_id"] for b in listed["baselines"]] == [runs[-1]]


def test_a_new_postgres_store_needs_a_data_folder(
    in_tmp: Path, server: FakeServer, lake: dict[str, str], monkeypatch: pytest.MonkeyPatch
):
    write_numbers_project(in_tmp, server.base_url)
    monkeypatch.delenv("EVALKIT_DATA_PATH", raising=False)
    result = invoke({"EVALKIT_DB": lake["EVALKIT_DB"]}, monkeypatch, "run")
    assert result.exit_code == 2, result.output
    assert "needs a data folder" in result.stderr and "EVALKIT_DATA_PATH" in result.stderr
    missing = invoke({"EVALKIT_DB": lake["EVALKIT_DB"]}, monkeypatch, "runs", "list")
    assert missing.exit_code != 0 and "Traceback" not in missing.output


def test_merge_export_and_import_on_a_ducklake_store(
    in_tmp: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
):
    write_numbers_project(in_tmp, server.base_url)
    plain: dict[str, str] = {}
    for i in (1, 2):
        shard = invoke(plain, monkeypatch, "run", "--shard", f"{i}/2", "--db", f"s{i}.duckdb")
        assert shard.exit_code == 0, shard.output
    lake = {"EVALKIT_DB": "ducklake:team.ducklake", "EVALKIT_DATA_PATH": "team-data"}
    merged = invoke(lake, monkeypatch, "merge", "s1.duckdb", "s2.duckdb", "--json")
    assert merged.exit_code == 0, merged.output
    (run,) = json.loads(merged.stdout)["runs"]
    assert run["summary"]["results"] == 80
    # out of the team store as Parquet, into a DuckDB file and into another DuckLake store
    out = invoke(lake, monkeypatch, "export", run["run_id"], "--parquet", "exported")
    assert out.exit_code == 0, out.output
    into_file = invoke(plain, monkeypatch, "import", "exported", "--db", "copy.duckdb", "--json")
    assert json.loads(into_file.stdout)["rows"]["results"] == 80
    other = {"EVALKIT_DB": "ducklake:other.ducklake", "EVALKIT_DATA_PATH": "other-data"}
    into_lake = invoke(other, monkeypatch, "import", "exported", "--json")
    assert into_lake.exit_code == 0, into_lake.output
    assert json.loads(into_lake.stdout)["imported"] == [run["run_id"]]
    again = invoke(other, monkeypatch, "import", "exported", "--json")
    assert json.loads(again.stdout)["imported"] == []
    counted = invoke(other, monkeypatch, "query", "SELECT count(*) AS n FROM results", "--json")
    assert json.loads(counted.stdout)["rows"] == [{"n": 80}]
    shown = invoke(other, monkeypatch, "runs", "show", run["run_id"])
    assert shown.exit_code == 0 and "numbers@v1" in shown.stdout
