"""SIGINT (Ctrl-C) and SIGTERM (a CI runner's cancel) stop a run cleanly, through real signals
sent to an `evalkit run` subprocess: calls in flight are cancelled, finished results are
stored, the run is marked interrupted with exit 130 / 143 and named for `--resume`, which then
finishes it without a duplicate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from fakeserver import FakeServer
from projects import RULES, write_project

SIGNALS = [signal.SIGINT, signal.SIGTERM]
VERDICT = '{"score": 4, "rationale": "names the capital"}'


def _evalkit(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "evalkit", *args],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )


def _wait(server: FakeServer, n: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(server.requests) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run did not make progress"
        time.sleep(0.05)


def _rows(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / ".evalkit/evalkit.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def _patient(root: Path, provider_line: str = "model: fake-model,") -> None:
    """Deadlines far beyond the test: only cancellation can end a hung call."""
    config = root / "evalkit.yaml"
    config.write_text(
        config.read_text().replace(
            provider_line, provider_line + " first_token_timeout: 900, timeout: 900,", 1
        )
    )


@pytest.fixture
def slow() -> Iterator[FakeServer]:
    with FakeServer(rules=RULES, latency_ms=200) as srv:
        yield srv


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_signal_stores_what_finished_and_resume_finishes_the_run(tmp_path, slow, sig):
    write_project(tmp_path, slow.base_url)
    proc = _evalkit("run", "-j", "2", cwd=tmp_path)
    _wait(slow, 6, proc)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)

    assert proc.returncode == 128 + sig, err
    ((run_id, status, code),) = _rows(tmp_path, "SELECT id, status, exit_code FROM runs")
    assert (status, code) == ("interrupted", 128 + sig)
    assert f"interrupted by {sig.name}" in err and "Traceback" not in err
    assert f"evalkit run --resume {run_id}" in err
    # What finished is stored with its scores; a cancelled call is not stored as a failure.
    stored, failed, unscored = _rows(
        tmp_path,
        "SELECT count(*), count(error_class), "
        "count(*) FILTER (WHERE id NOT IN (SELECT result_id FROM scores)) FROM results",
    )[0]
    assert 0 < stored < 16 and failed == 0 and unscored == 0
    slow.reset_log()

    resumed = _evalkit("run", "--resume", run_id, "-j", "4", cwd=tmp_path)
    _out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert len(slow.requests) == 16 - stored, "only the missing calls are made again"
    assert _rows(
        tmp_path,
        "SELECT count(*), count(DISTINCT id), count(DISTINCT (case_id, prompt, repeat)), "
        "count(error_class) FROM results",
    ) == [(16, 16, 16, 0)]
    assert _rows(tmp_path, "SELECT count(*), count(DISTINCT (result_id, scorer)) FROM scores") == [
        (48, 48)
    ]
    assert _rows(tmp_path, "SELECT count(*), min(status), min(exit_code) FROM runs") == [
        (1, "completed", 0)
    ]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_calls_in_flight_are_cancelled_not_waited_for(tmp_path, sig):
    """Six answers, then every request hangs, and no deadline would end the hung calls for
    15 minutes: the signal still ends the run at once, with exactly the six stored."""
    with FakeServer(rules=RULES, schedule=["ok"] * 6 + ["hang"] * 40) as server:
        write_project(tmp_path, server.base_url)
        _patient(tmp_path)
        proc = _evalkit("run", "-j", "2", cwd=tmp_path)
        _wait(server, 8, proc)  # the six answered, and two calls hang
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert _rows(tmp_path, "SELECT count(*), count(output), count(error_class) FROM results") == [
        (6, 6, 0)
    ]
    assert _rows(tmp_path, "SELECT status FROM runs") == [("interrupted",)]
    assert "6 of 16 results stored" in err


def test_a_second_signal_stops_without_waiting_for_the_batch_being_scored(tmp_path):
    """The judge hangs, so the first batch can never be scored: the first SIGINT waits for it
    (finished results are stored), the second stops at once. The batch's answers stay in the
    response cache, so `--resume` (with a judge that answers) pays for none of them again."""
    with (
        FakeServer(rules=RULES) as answers,
        FakeServer(faults={"hang": 1.0}) as stuck,
        FakeServer(rules=[("Verdict", VERDICT)], default_answer=VERDICT) as judge,
    ):
        write_project(tmp_path, answers.base_url)
        config = tmp_path / "evalkit.yaml"
        judge_entry = (
            '  judge: {type: openai, base_url: "URL/v1", model: judge-model, mode: completion, '
            "stream: false, timeout: 900}\n"
        )
        config.write_text(
            config.read_text().replace(
                "defaults:", judge_entry.replace("URL", stuck.base_url) + "defaults:"
            )
        )
        suite = tmp_path / "suites/capitals.yaml"
        suite.write_text(
            suite.read_text().replace(
                "  - {type: chrf}",
                "  - {type: judge, provider: judge, mode: reference, structured: none, "
                "threshold: 0.5}",
            )
        )
        proc = _evalkit("run", cwd=tmp_path)
        _wait(answers, 16, proc)  # every answer is in; the judge hangs on the first batch
        _wait(stuck, 1, proc)
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert proc.poll() is None, "the first signal waits for the finished results"
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        ((run_id, status),) = _rows(tmp_path, "SELECT id, status FROM runs")
        assert status == "interrupted"
        assert _rows(tmp_path, "SELECT count(*) FROM results") == [(0,)]
        assert _rows(tmp_path, "SELECT count(*) FROM cache") == [(16,)]

        config.write_text(config.read_text().replace(stuck.base_url, judge.base_url))
        answers.reset_log()
        resumed = _evalkit("run", "--resume", run_id, cwd=tmp_path)
        _out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
        assert answers.requests == [], "every answer came from the response cache"
        assert len(judge.requests) == 16
    stored = "SELECT count(*), count(DISTINCT id), sum(cache_hit::INT) FROM results"
    assert _rows(tmp_path, stored) == [(16, 16, 16)]


def test_a_signal_outside_a_run_exits_with_its_code(tmp_path):
    """SIGTERM while evalkit does not run calls (here: waiting on a stalled provider check)
    ends with 143 and one line, no traceback."""
    with FakeServer(faults={"hang": 1.0}) as server:
        write_project(tmp_path, server.base_url)
        _patient(tmp_path)
        proc = _evalkit("providers", "check", "fake", cwd=tmp_path)
        _wait(server, 1, proc)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM" in err and "Traceback" not in err
