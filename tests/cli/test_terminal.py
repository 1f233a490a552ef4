"""Terminal habits: plain progress lines and no escape codes in pipes, NO_COLOR, --quiet,
--verbose, --version and shell completion — through CliRunner and through a real process
whose output is a pipe (no terminal) or a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalkit import __version__
from evalkit.cli.main import app
from fakeserver import FakeServer
from projects import RULES, write_project

ESC = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SGR = re.compile(r"\x1b\[[0-9;]*m")  # colour and style codes
CI_VARS = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "JENKINS_URL", "TF_BUILD")


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(rules=RULES) as srv:
        yield srv


@pytest.fixture
def project(in_tmp: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in (*CI_VARS, "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TERM"):
        monkeypatch.delenv(name, raising=False)
    return write_project(in_tmp, server.base_url)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in (*CI_VARS, "NO_COLOR", "FORCE_COLOR")}
    return {**clean, "COLUMNS": "200", **extra}


def evalkit(*args: str) -> list[str]:
    """The installed ``evalkit`` command (next to this Python), as a user runs it."""
    return [str(Path(sys.executable).with_name("evalkit")), *args]


def test_progress_is_plain_lines_without_a_terminal(project):
    result = invoke("run")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == "capitals · 8 cases · capitals@v1, capitals@v2: 16 calls to make"
    assert lines[-1].startswith("capitals: 16/16 · 0:00:") and lines[-1].endswith(
        " · 0 retried · 0 errors"
    )
    assert "━" not in result.output and not ESC.search(result.output)
    assert "pass rate [95% CI]" in result.stdout and "exit 0 (ok)" in result.stdout


def test_quiet_prints_only_summary_and_verdict_lines(project, server):
    result = invoke("run", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stderr == "", "no progress with --quiet"
    assert result.stdout.splitlines() == [
        "capitals · capitals@v1 · fake: pass rate 0.75 [0.41,0.93] · 6/2/0 pass/fail/undec.",
        "capitals · capitals@v2 · fake: pass rate 1.00 [0.68,1.00] · 8/0/0 pass/fail/undec.",
        "exit 0 (ok)",
    ]
    write_project(project, server.base_url, gates="{pass_rate: 0.9}")
    failed = invoke("run", "-q", "--baseline", "last")
    assert failed.exit_code == 1, failed.output
    out = failed.stdout.splitlines()
    assert "capitals: gate pass_rate ≥ 0.9: FAIL (capitals@v1 · fake: 0.75)" in out
    assert any(line.startswith("capitals: verdict ") for line in out)
    assert out[-1] == "exit 1 (a gate failed)"
    compared = invoke("compare", "-q", "--prompt", "capitals@v1", "--prompt", "capitals@v2")
    assert compared.exit_code == 2, "a suite is needed"
    compared = invoke(
        "compare", "-q", "--prompt", "capitals@v1", "--prompt", "capitals@v2", "capitals"
    )
    lines = compared.stdout.splitlines()
    assert lines[0].startswith("capitals: verdict ")
    assert lines[1].startswith("  capitals@v1 → capitals@v2 · fake: pass rate 0.75 → 1.00, +0.25")
    assert lines[-1].startswith("exit 0") and len(lines) == 3


def test_verbose_names_retried_calls_and_quiet_with_verbose_is_a_usage_error(project, server):
    # by content: the one case's first two requests fail, whatever else is in flight
    server.configure(schedule=["429", "500"], fault_by="content", retry_after=0)
    result = invoke("run", "--verbose", "--limit", "1", "--prompt", "capitals@v2")
    assert result.exit_code == 0, result.output
    retried = [line for line in result.stderr.splitlines() if "retried:" in line]
    assert retried == ["  retried: france · capitals@v2 · fake: answered after 3 attempts"]
    both = invoke("run", "-q", "-v")
    assert both.exit_code == 2 and "--quiet and --verbose" in both.stderr


def test_a_real_process_writing_to_a_pipe_gets_no_bar_and_no_escape_codes(project):
    done = subprocess.run(evalkit("run"), capture_output=True, text=True, env=env(), check=False)
    assert done.returncode == 0, done.stderr
    assert not ESC.search(done.stdout + done.stderr) and "━" not in done.stderr
    assert re.search(r"^capitals: 16/16 · \d:\d\d:\d\d · 0 retried · 0 errors$", done.stderr, re.M)
    # FORCE_COLOR asks for colour in a log; NO_COLOR still wins (https://no-color.org)
    forced = subprocess.run(
        evalkit("run", "--no-cache"),
        capture_output=True,
        text=True,
        env=env(FORCE_COLOR="1"),
        check=False,
    )
    assert SGR.search(forced.stdout), "FORCE_COLOR gives colour codes"
    plain = subprocess.run(
        evalkit("run", "--no-cache"),
        capture_output=True,
        text=True,
        env=env(FORCE_COLOR="1", NO_COLOR="1"),
        check=False,
    )
    assert plain.returncode == 0 and not SGR.search(plain.stdout + plain.stderr)


def _on_a_terminal(args: list[str], extra: dict[str, str]) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (stdout a pipe); returns (code, stdout, stderr)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=slave, env=env(TERM="xterm-256color", **extra)
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the process closed its end
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read().decode() if proc.stdout else ""
    code = proc.wait(timeout=60)
    os.close(master)
    return code, out, b"".join(chunks).decode(errors="replace")


def test_on_a_terminal_the_bar_is_drawn_and_no_color_removes_colour(project):
    code, out, err = _on_a_terminal(evalkit("run"), {})
    assert code == 0, out + err
    assert "━" in err and "16/16" in err and "calls to make" not in err
    code, out, err = _on_a_terminal(evalkit("run", "--no-cache"), {"NO_COLOR": "1"})
    assert code == 0 and "16/16" in err
    assert not SGR.search(err), "NO_COLOR: no colour or style codes, only the text"
    code, out, err = _on_a_terminal(evalkit("run", "--no-cache"), {"CI": "true"})
    assert code == 0 and "━" not in err and "capitals: 16/16" in err, "CI logs get plain lines"


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"evalkit {__version__}\n"


def test_shell_completion_completes_commands_suites_prompts_and_providers(project):
    def complete(words: str) -> list[str]:
        cword = len(words.split()) - (0 if words.endswith(" ") else 1)
        done = subprocess.run(
            evalkit(),
            capture_output=True,
            text=True,
            check=True,
            env=env(_EVALKIT_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(cword)),
        )
        return done.stdout.split()

    assert complete("evalkit ru") == ["run", "runs"]
    assert complete("evalkit run ") == ["capitals"]
    assert complete("evalkit run --prompt cap") == [
        "capitals@latest",
        "capitals@v1",
        "capitals@v2",
    ]
    assert complete("evalkit compare -p ") == ["claude", "fake"]
    assert "--quiet" in complete("evalkit run --q")
    # the script `--show-completion` prints (it finds the shell from the process tree, which
    # a test does not control; the variable asks for bash's script directly)
    script = subprocess.run(
        evalkit(), capture_output=True, text=True, env=env(_EVALKIT_COMPLETE="source_bash")
    )
    assert script.returncode == 0 and "_EVALKIT_COMPLETE=complete_bash" in script.stdout
