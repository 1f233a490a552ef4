"""The support-desk example's recorded answers (examples/support-desk/recorded/, evalkit
exports written by scripts/record-examples) replay with no model, no server and no network:
every case gets its recorded answer, the pass rates are those of the recording, and the
v1-vs-v2 comparison reaches the verdicts it reached when it was recorded."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "examples" / "support-desk"
RECORDED = PROJECT / "recorded"
SUITES = sorted(p.parent.name for p in RECORDED.glob("*/evalkit-export.json"))
#: Scorers whose calls a replay cannot make: the support suite's self-judge (its verdicts are
#: in the export, but grading again needs the model; the replay marks them unscored).
JUDGED = {"support": {"judge"}}


def parquet(suite: str, table: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one table of a suite's recorded export (``{t}`` in ``sql``)."""
    path = RECORDED / suite / f"{table}.parquet"
    with duckdb.connect() as con:
        return con.execute(sql.format(t=f"read_parquet('{path}')")).fetchall()


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example project copied to tmp, with no way to start llama-server or open a
    network connection (the embedding model for similarity is read from disk)."""
    project = tmp_path / "support-desk"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns(".evalkit", "__pycache__"))
    monkeypatch.chdir(project)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_server(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a replay started llama-server")

    def no_network(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"a replay opened a connection to {address}")
        return real_connect(sock, address)

    from evalkit.providers import llama_server, local

    real_connect = socket.socket.connect
    monkeypatch.setattr(llama_server.LlamaServer, "launch", no_server)
    monkeypatch.setattr(local.LocalProvider, "start", no_server)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    return project


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_the_recorded_suites_are_each_one_completed_run_in_a_small_export():
    # support is recorded too when its judge's calls fit the recording (README, "Measured on
    # the local model"); triage and summary replay in full
    assert {"summary", "triage"} <= set(SUITES) <= {"summary", "support", "triage"}
    for suite in SUITES:
        manifest = json.loads((RECORDED / suite / "evalkit-export.json").read_text())
        (run,) = manifest["runs"]
        assert run["suite"] == suite and run["status"] == "completed"
        assert manifest["tables"]["results"]["rows"] == run["results"]
        size = sum(f.stat().st_size for f in (RECORDED / suite).iterdir())
        assert size < 500_000, f"{suite}: the export should stay small ({size} bytes)"


@pytest.mark.parametrize("suite", SUITES)
def test_the_recorded_run_replays_and_compares_as_recorded(offline: Path, suite: str):
    """Replay the suite's recorded run into a fresh store, then compare its two versions."""
    db = offline / "replay.duckdb"
    run = invoke("run", suite, "--replay", f"recorded/{suite}", "--json", "--db", str(db))
    (recorded_exit,) = parquet(suite, "runs", "SELECT exit_code FROM {t}")[0]
    assert run.exit_code == recorded_exit, run.output
    (outcome,) = json.loads(run.stdout)["runs"]
    assert outcome["status"] == "completed"
    judged = sorted(JUDGED.get(suite, ()))
    with duckdb.connect(str(db)) as con:
        for view, table in (("recorded", "results"), ("recorded_scores", "scores")):
            path = RECORDED / suite / f"{table}.parquet"
            con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM read_parquet('{path}')")
        # every case of both prompt versions, with the answer it got when recorded
        planned, same = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE r.output = a.output AND r.passed "
            "IS NOT DISTINCT FROM a.passed) FROM results r JOIN recorded a "
            "USING (case_id, prompt, repeat) WHERE r.error_class IS NULL"
        ).fetchone()
        (recorded_results,) = con.execute("SELECT count(*) FROM recorded").fetchone()
        assert planned == recorded_results == outcome["planned"]
        assert same == planned
        # a replay matches answers by case id and prompt version, not by their text: a case
        # or prompt edited since the recording would be scored on an answer to the old one
        edited = con.execute(
            "SELECT DISTINCT r.case_id, r.prompt FROM results r JOIN recorded a "
            "USING (case_id, prompt, repeat) "
            "WHERE r.case_hash <> a.case_hash OR r.prompt_hash <> a.prompt_hash"
        ).fetchall()
        assert not edited, (
            f"{suite}: cases or prompts changed since the recording {edited[:5]}: "
            "record again with scripts/record-examples"
        )
        # every score again, except the judge's, which needs its model
        differing = con.execute(
            "SELECT r.case_id, s.scorer, s.value, o.value FROM scores s "
            "JOIN results r ON r.id = s.result_id "
            "JOIN recorded a USING (case_id, prompt, repeat) "
            "JOIN recorded_scores o ON o.result_id = a.id AND o.scorer = s.scorer "
            "WHERE (s.passed IS DISTINCT FROM o.passed OR (s.value IS NULL) <> (o.value IS NULL) "
            "OR abs(s.value - o.value) > 1e-5) "
            "AND NOT list_contains(?::VARCHAR[], s.scorer)",
            [judged],
        ).fetchall()
        assert not differing, differing[:5]
        for scorer in judged:
            details = con.execute(
                "SELECT DISTINCT value, detail->>'error' FROM scores WHERE scorer = ?", [scorer]
            ).fetchall()
            assert len(details) == 1 and details[0][0] is None
            assert "a judge needs a live model" in details[0][1]
    (summary,) = parquet(suite, "runs", "SELECT summary FROM {t}")[0]
    recorded_rates = {g["prompt"]: g["pass_rate"] for g in json.loads(summary)["summary"]["groups"]}
    rates = {g["prompt"]: g["pass_rate"] for g in outcome["summary"]["groups"]}
    assert rates == recorded_rates
    # the v1-vs-v2 comparison, from the replayed run alone
    versions = ["--prompt", f"{suite}@v1", "--prompt", f"{suite}@v2"]
    compared = invoke("compare", *versions, suite, "--no-run", "--json", "--db", str(db))
    recorded = json.loads((RECORDED / suite / "compare.json").read_text())
    assert compared.exit_code in (0, 1), compared.output
    data = json.loads(compared.stdout)
    assert verdicts(data, judged) == verdicts(recorded, judged)
    # the overall verdict and exit code too, unless the recording's judge decided them (a
    # replay cannot judge)
    decided_by_judge = any(
        m["scorer"] in judged and m["verdict"] in ("regressed", "improved")
        for pairing in recorded["pairings"]
        for m in pairing["metrics"]
    )
    if not decided_by_judge:
        assert data["verdict"] == recorded["verdict"]
        assert compared.exit_code == recorded["exit_code"]


def verdicts(comparison: dict[str, Any], judged: list[str]) -> dict[str, str]:
    """Each metric's verdict in an evalkit.compare/1 document, but the judge's."""
    return {
        m["metric"]: m["verdict"]
        for pairing in comparison["pairings"]
        for m in pairing["metrics"]
        if m["scorer"] not in judged
    }
