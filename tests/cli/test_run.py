"""`evalkit run` end to end through Typer's CliRunner, against a loopback fake server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from fakeserver import FakeServer
from projects import RULES, write_project


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(rules=RULES) as srv:
        yield srv


@pytest.fixture
def project(in_tmp: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret")
    return write_project(in_tmp, server.base_url)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def rows(sql: str, db: Path = Path(".evalkit/evalkit.duckdb")) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_run_prints_summary_stores_everything_and_exits_0(project):
    result = invoke("run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "capitals · 8 cases · capitals@v1, capitals@v2 · fake (fake-model)" in out
    assert "capitals@v1" in out and "capitals@v2" in out and "exit 0" in out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("prompt"))
    assert header.index("has-capital") < header.index("equals") < header.index("chrf"), (
        "score columns follow the suite's scorer order"
    )
    # one result per case × prompt version × provider × repeat
    assert rows("SELECT count(*), count(DISTINCT (case_id, prompt)) FROM results") == [(16, 16)]
    by_prompt = dict(rows("SELECT prompt, avg(passed::INT) FROM results GROUP BY prompt"))
    assert by_prompt == {"capitals@v1": 6 / 8, "capitals@v2": 1.0}
    # provenance on every result; a signature on every score
    (prov,) = rows(
        "SELECT count(*) FROM results WHERE prompt_hash IS NULL OR model IS NULL "
        "OR params IS NULL OR provider_type IS NULL"
    )
    assert prov == (0,)
    assert rows(
        "SELECT count(*), count(DISTINCT scorer) FROM scores WHERE signature IS NOT NULL"
    ) == [(48, 3)]
    assert rows("SELECT status, exit_code, planned FROM runs") == [("completed", 0, 16)]


def test_json_output(project):
    result = invoke("run", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["schema"] == "evalkit.run/1" and data["exit_code"] == 0
    (run,) = data["runs"]
    groups = {g["prompt"]: g for g in run["summary"]["groups"]}
    assert groups["capitals@v1"]["passed"] == 6 and groups["capitals@v1"]["failed"] == 2
    assert groups["capitals@v2"]["pass_rate"] == 1.0
    assert groups["capitals@v2"]["scores"]["has-capital"]["mean"] == 1.0
    assert run["gates"] and all(g["passed"] for g in run["gates"])


def test_failed_gate_exits_1_but_failing_cases_alone_do_not(project, server):
    write_project(project, server.base_url, gates="{pass_rate: 0.9}")
    result = invoke("run")
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.stdout and "capitals@v1" in result.stdout
    write_project(project, server.base_url, gates="{}")
    assert invoke("run").exit_code == 0  # v1 still fails 2 cases


def test_overrides_provider_prompt_repeat_limit(project, server):
    result = invoke(
        "run",
        "suites/capitals.yaml",
        "-p",
        "claude",
        "--prompt",
        "capitals@v2",
        "-n",
        "2",
        "--limit",
        "3",
        "-j",
        "2",
        "--tag",
        "branch=x",
    )
    assert result.exit_code == 0, result.output
    assert rows("SELECT count(*), min(provider), min(prompt), max(repeat) FROM results") == [
        (6, "claude", "capitals@v2", 1)
    ]
    assert rows("SELECT tags FROM runs") == [('{"branch": "x"}',)]
    # the Anthropic adapter spoke its own wire format, with the key in x-api-key
    messages = [r for r in server.requests if r.route == "messages"]
    assert len(messages) == 6
    assert messages[0].body["system"] == "Answer with the city only."


def test_keys_never_reach_the_store(project):
    assert invoke("run", "-p", "claude").exit_code == 0
    dump = "\n".join(
        str(r)
        for table in ("runs", "results", "run_providers")
        for r in rows(f"SELECT * FROM {table}")
    )
    assert "sk-ant-test-secret" not in dump


def test_bad_suite_exits_2_with_file_and_line(project):
    Path("suites/capitals.yaml").write_text(
        "name: capitals\nprompt: capitals@v1\ncases: capitals.jsonl\nscorers:\n"
        "  - {type: chrf, threshold: high}\n"
    )
    result = invoke("run")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == (
        "error: suites/capitals.yaml:5: scorer 'chrf': threshold must be a number, got 'high'"
    )
    assert "Traceback" not in result.output
    assert not Path(".evalkit/evalkit.duckdb").exists() or rows("SELECT count(*) FROM runs") == [
        (0,)
    ]


def test_bad_prompt_and_bad_case_file_exit_2(project):
    Path("prompts/capitals/v2.yaml").write_text("messages: [{role: user, content: hi}\n")
    result = invoke("run")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: prompts/capitals/v2.yaml:1: invalid YAML")


def test_nothing_stored_is_lost_by_a_later_bad_run(project):
    assert invoke("run").exit_code == 0
    Path("suites/capitals.jsonl").write_text('{"id": "x", "vars": {"country": 1}\n')
    result = invoke("run")
    assert result.exit_code == 2 and "capitals.jsonl:1: invalid JSON" in result.stderr
    assert rows("SELECT count(*) FROM results") == [(16,)]


def test_unknown_provider_and_missing_key_exit_2(project, monkeypatch):
    result = invoke("run", "-p", "nope")
    assert result.exit_code == 2 and "provider 'nope' is not defined" in result.stderr
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    result = invoke("run", "-p", "claude")
    assert result.exit_code == 2 and "$ANTHROPIC_API_KEY" in result.stderr


def test_errors_beyond_budget_exit_3_and_are_stored_with_their_class(project, server):
    server.configure(faults={"400": 1.0})
    result = invoke("run", "--prompt", "capitals@v1")
    assert result.exit_code == 3, result.output
    assert "run incomplete" in result.stdout and "bad_request" in result.stdout
    stored = rows("SELECT error_class, count(*) FROM results GROUP BY ALL")
    assert stored and all(cls == "bad_request" for cls, _ in stored)
    assert rows("SELECT status, exit_code FROM runs") == [("incomplete", 3)]


def test_retries_recover_and_are_recorded(project, server):
    server.configure(schedule=["429", "500", "reset"], retry_after=0)
    result = invoke("run", "--prompt", "capitals@v2", "-j", "1")
    assert result.exit_code == 0, result.output
    assert rows("SELECT count(*), sum(attempts - 1), count(error_class) FROM results") == [
        (8, 3, 0)
    ]
    assert "3 retried" in result.stderr


def test_all_suites_by_default_and_no_suites_is_exit_2(project):
    Path("suites/second.yaml").write_text(
        "prompt: capitals@v2\ncases: [{id: a, vars: {country: Peru, capital: Lima}}]\n"
    )
    result = invoke("run", "--json")
    assert result.exit_code == 0
    assert [r["suite"] for r in json.loads(result.stdout)["runs"]] == ["capitals", "second"]
    for path in Path("suites").iterdir():
        path.unlink()
    result = invoke("run")
    assert result.exit_code == 2 and "no suites" in result.stderr


def test_runs_show_last_shows_every_suite_the_last_command_ran(project):
    suite = (project / "suites/capitals.yaml").read_text(encoding="utf-8")
    (project / "suites/towns.yaml").write_text(
        suite.replace("name: capitals", "name: towns"), encoding="utf-8"
    )
    assert invoke("run", "capitals").exit_code == 0
    both = json.loads(invoke("run", "--json").stdout)["runs"]
    ids = [r["run_id"] for r in both]
    assert [r["suite"] for r in both] == ["capitals", "towns"]
    shown = invoke("runs", "show", "last")
    assert shown.exit_code == 0, shown.output
    first_line = shown.stdout.splitlines()[0]
    assert (
        first_line == f"The last `evalkit run` ran 2 suites: capitals ({ids[0]}), towns ({ids[1]})"
    )
    assert shown.stdout.count("run ") >= 2 and ids[0] in shown.stdout and ids[1] in shown.stdout
    data = json.loads(invoke("runs", "show", "last", "--json").stdout)
    assert (data["id"], data["same_command"]) == (ids[1], ids)
    one = json.loads(invoke("runs", "show", ids[0][:-1], "--json").stdout)
    assert one["same_command"] == ids  # any run of the command names its siblings
    alone = invoke("runs", "show", ids[1])  # a run named by id shows that run only
    assert "The last `evalkit run`" not in alone.stdout
