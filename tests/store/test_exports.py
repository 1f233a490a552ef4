"""Parquet out and in: export → import → compare gives the same verdict; an export replays
with no model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from fakeserver import FakeServer
from scaleproject import write_numbers_project

WORSE = [(f"n{i}", "something else") for i in (1, 2, 5)]


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(rules=WORSE) as srv:
        yield srv


@pytest.fixture
def two_runs(in_tmp: Path, server: FakeServer) -> tuple[str, str]:
    """A baseline run and a better one in the project's store."""
    write_numbers_project(in_tmp, server.base_url)
    first = json.loads(invoke("run", "--json").stdout)["runs"][0]["run_id"]
    server.configure(rules=[])
    second = json.loads(invoke("run", "--no-cache", "--json").stdout)["runs"][0]["run_id"]
    return first, second


def test_export_import_compare_gives_the_same_verdict(two_runs, in_tmp: Path):
    first, second = two_runs
    before = json.loads(invoke("compare", first, second, "--json").stdout)
    out = invoke("export", first, second, "--parquet", "exported")
    assert out.exit_code == 0, out.output
    manifest = json.loads(Path("exported/evalkit-export.json").read_text())
    assert manifest["schema"] == "evalkit.export/1"
    assert [r["id"] for r in manifest["runs"]] == sorted([first, second])
    assert manifest["tables"]["results"]["rows"] == 160
    assert manifest["tables"]["scores"]["rows"] == 320
    assert manifest["tables"]["cases"]["rows"] == 40
    assert manifest["tables"]["prompt_versions"]["rows"] == 2
    assert manifest["tables"]["results"]["columns"]["output"] == "VARCHAR"
    # readable without evalkit: plain Parquet
    with duckdb.connect() as con:
        (n,) = con.execute("SELECT count(*) FROM 'exported/results.parquet'").fetchone()
        assert n == 160
    # into another store, and compared there
    imported = invoke("import", "exported", "--db", "other.duckdb", "--json")
    assert imported.exit_code == 0, imported.output
    data = json.loads(imported.stdout)
    assert sorted(data["imported"]) == sorted([first, second])
    assert data["rows"]["results"] == 160
    after = json.loads(invoke("compare", first, second, "--db", "other.duckdb", "--json").stdout)
    assert after["verdict"] == before["verdict"] == "improved"
    assert [m["verdict"] for p in after["pairings"] for m in p["metrics"]] == [
        m["verdict"] for p in before["pairings"] for m in p["metrics"]
    ]
    # importing again changes nothing
    again = json.loads(invoke("import", "exported", "--db", "other.duckdb", "--json").stdout)
    assert again["imported"] == [] and sorted(again["already_present"]) == sorted([first, second])
    with duckdb.connect("other.duckdb", read_only=True) as con:
        assert con.execute("SELECT count(*) FROM results").fetchone() == (160,)
        assert con.execute("SELECT count(*) FROM cases").fetchone() == (40,)
    # the same export twice writes the same rows in the same order (diffable in a repository)
    assert invoke("export", first, second, "--parquet", "exported").exit_code == 2
    assert invoke("export", second, first, "--parquet", "exported", "--overwrite").exit_code == 0
    assert invoke("export", first, second, "--parquet", "copy").exit_code == 0
    with duckdb.connect() as con:
        for table in manifest["tables"]:
            a = con.execute(f"SELECT * FROM 'exported/{table}.parquet'").fetchall()
            b = con.execute(f"SELECT * FROM 'copy/{table}.parquet'").fetchall()
            assert a == b, table


def test_an_export_replays_with_no_model(two_runs, in_tmp: Path, server: FakeServer):
    _, second = two_runs
    assert invoke("export", second, "--parquet", "recorded").exit_code == 0
    server.stop()  # no model: the endpoint is gone
    replayed = invoke("run", "--replay", "recorded", "--db", "fresh.duckdb", "--json")
    assert replayed.exit_code == 0, replayed.output
    (run,) = json.loads(replayed.stdout)["runs"]
    assert run["status"] == "completed" and run["summary"]["results"] == 80
    with duckdb.connect("fresh.duckdb", read_only=True) as con:
        outputs = con.execute(
            "SELECT case_id, prompt, output, passed FROM results ORDER BY ALL"
        ).fetchall()
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        original = con.execute(
            "SELECT case_id, prompt, output, passed FROM results WHERE run_id = ? ORDER BY ALL",
            [second],
        ).fetchall()
    assert outputs == original


def test_bad_exports_are_input_errors(two_runs, in_tmp: Path):
    first, second = two_runs
    missing = invoke("import", "nowhere")
    assert missing.exit_code == 2 and "is not an evalkit export" in missing.stderr
    assert invoke("export", first, second, "--parquet", "both").exit_code == 0
    several = invoke("run", "--replay", "both", "--db", "x.duckdb")
    assert several.exit_code == 2 and "holds 2 runs" in several.stderr
    manifest = Path("both/evalkit-export.json")
    manifest.write_text(manifest.read_text().replace("evalkit.export/1", "evalkit.export/9"))
    wrong = invoke("import", "both")
    assert wrong.exit_code == 2
    assert "evalkit-export.json:2:" in wrong.stderr and "evalkit.export/9" in wrong.stderr
    manifest.write_text(manifest.read_text().replace("evalkit.export/9", "evalkit.export/1"))
    Path("both/scores.parquet").unlink()
    lacking = invoke("import", "both")
    assert lacking.exit_code == 2 and "lacks its scores table" in lacking.stderr
    assert "Traceback" not in lacking.output
