"""A bug inside evalkit (any exception that is not an EvalkitError) prints one short message
naming a log file that holds the traceback, and exits 3; the run is not left ``running``."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from crashplugin import install

from evalkit.cli.crash import log_dir
from evalkit.cli.main import app
from evalkit.errors import redact, register_secret_env
from fakeserver import FakeServer
from projects import RULES, write_project

CANARY = "sk-canary-5f1e0c3a9b7d4e2f8a6c"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(rules=RULES) as srv:
        yield srv


def crash_project(root: Path, url: str, when: str) -> dict[str, str]:
    write_project(root / "project", url)
    suite = root / "project/suites/capitals.yaml"
    suite.write_text(
        suite.read_text().replace(
            "  - {type: chrf}", f"  - {{type: chrf}}\n  - {{type: boom, when: {when}}}"
        )
    )
    env = install(root / "site")
    env["OPENAI_API_KEY"] = CANARY
    return env


def evalkit(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evalkit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def logged_crash(proc: subprocess.CompletedProcess[str]) -> Path:
    """The crash message is two lines, names the log, and shows no traceback."""
    shown = f"exit {proc.returncode}\n{proc.stderr}"
    assert proc.returncode == 3, shown
    assert "Traceback" not in proc.stderr + proc.stdout, shown
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    crash = [i for i, line in enumerate(lines) if "failed with a bug" in line]
    assert crash, shown
    message, fix = lines[crash[0]], lines[crash[0] + 1]
    assert message.startswith("error: evalkit ") and fix.startswith("  ("), shown
    assert "report" in fix, "the message says how to report it"
    found = re.search(r"the traceback is in (\S+\.log)", fix)
    assert found, shown
    return Path(found.group(1))


def test_a_plugin_bug_before_the_run_is_logged_with_its_traceback(tmp_path, server):
    env = crash_project(tmp_path, server.base_url, "start")
    project = tmp_path / "project"
    proc = evalkit(["run"], project, env)
    log = logged_crash(proc)
    assert "RuntimeError: boom while starting" in proc.stderr
    assert log.parent == (project / ".evalkit/logs").resolve(), "the log lives beside the store"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "boom_plugin" in text
    assert "command: evalkit run" in text
    assert CANARY not in text + proc.stderr + proc.stdout and "[redacted]" in text
    with duckdb.connect(str(project / ".evalkit/evalkit.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,), "nothing recorded"


def test_a_plugin_bug_during_the_run_leaves_the_run_incomplete_not_running(tmp_path, server):
    env = crash_project(tmp_path, server.base_url, "decide")
    project = tmp_path / "project"
    log = logged_crash(evalkit(["run"], project, env))
    assert "ZeroDivisionError: boom while deciding" in log.read_text()
    with duckdb.connect(str(project / ".evalkit/evalkit.duckdb"), read_only=True) as con:
        assert con.execute("SELECT status, exit_code FROM runs").fetchall() == [("incomplete", 3)]


def test_without_a_project_the_log_goes_to_a_temp_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    assert log_dir() == tmp_path / "tmp" / "evalkit-logs"
    (tmp_path / "evalkit.yaml").write_text("db: stores/main.duckdb\n")
    assert log_dir() == tmp_path / "stores" / "logs"
    assert log_dir(["run", "--db", "other/x.duckdb"]) == tmp_path / "other" / "logs"


def test_pretty_exceptions_never_show_locals():
    assert app.pretty_exceptions_show_locals is False
    assert app.pretty_exceptions_enable is False


def test_redact_hides_every_secret_of_the_environment(monkeypatch):
    monkeypatch.setenv("VLLM_KEY", CANARY)
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789")
    monkeypatch.setenv("TEAM_LLM", "team-llm-secret")  # named by `api_key_env:`
    monkeypatch.setenv("LLM_MODEL", "gpt-4o-mini")
    register_secret_env("TEAM_LLM")
    text = redact(f"Bearer {CANARY}; token=tok-0123456789; team-llm-secret; gpt-4o-mini")
    assert text == "Bearer [redacted]; token=[redacted]; [redacted]; gpt-4o-mini"
