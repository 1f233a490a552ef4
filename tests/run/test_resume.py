"""A killed or interrupted run keeps what it stored, and `--resume` finishes it exactly."""

from __future__ import annotations

import json
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


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(rules=RULES, latency_ms=150) as srv:
        yield srv


def _evalkit(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "evalkit", *args],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )


def _wait_requests(server: FakeServer, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(server.requests) < n:
        assert time.monotonic() < deadline, "the run did not make progress"
        time.sleep(0.05)


def _rows(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / ".evalkit/evalkit.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_resume_finishes_without_duplicates(tmp_path, how):
    """Six answers, then the seventh call hangs; once a reader has seen stored results (the
    run lets a reader in only after writing a batch), the run is killed or interrupted, and
    ``--resume`` makes exactly the missing calls."""
    server = FakeServer(rules=RULES, latency_ms=150, schedule=["ok"] * 6 + ["hang"] * 10)
    with server:
        write_project(tmp_path, server.base_url)
        proc = _evalkit("run", "-j", "1", cwd=tmp_path)
        _wait_requests(server, 7)  # six answered, the seventh hangs
        seen = subprocess.run(
            [
                sys.executable,
                "-m",
                "evalkit",
                "query",
                "SELECT count(*) AS n FROM results",
                "--json",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert seen.returncode == 0, seen.stderr
        (read,) = json.loads(seen.stdout)["rows"]
        proc.send_signal(how)
        _, err = proc.communicate(timeout=60)
        if how == signal.SIGINT:
            assert proc.returncode == 130, err
            assert "--resume" in err
            assert _rows(tmp_path, "SELECT status FROM runs") == [("interrupted",)]
        else:
            assert proc.returncode == -signal.SIGKILL
            assert _rows(tmp_path, "SELECT status FROM runs") == [("running",)]
        (stored,) = _rows(tmp_path, "SELECT count(*) FROM results")[0]
        # a SIGKILL keeps what was written (at least what the reader saw); a SIGINT all six
        assert 0 < read["n"] <= stored <= 6 and (how == signal.SIGKILL or stored == 6)
        server.configure(schedule=[])  # no more hangs
        server.reset_log()
        resumed = _evalkit("run", "--resume", "last", "-j", "4", cwd=tmp_path)
        _out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
        assert len(server.requests) == 16 - stored, "only the missing calls are made again"
    assert _rows(
        tmp_path,
        "SELECT count(*), count(DISTINCT id), "
        "count(DISTINCT (case_id, prompt, repeat)) FROM results",
    ) == [(16, 16, 16)]
    assert _rows(tmp_path, "SELECT count(*), count(DISTINCT (result_id, scorer)) FROM scores") == [
        (48, 48)
    ]
    assert _rows(tmp_path, "SELECT count(*), min(status) FROM runs") == [(1, "completed")]


def test_resume_refuses_a_changed_suite(tmp_path, server):
    write_project(tmp_path, server.base_url)
    done = _evalkit("run", "--limit", "1", cwd=tmp_path)
    assert done.wait(60) == 0
    with (tmp_path / "suites/capitals.jsonl").open("a") as cases:
        cases.write(
            '{"id": "new", "vars": {"country": "Peru", "capital": "Lima"}, "reference": "Lima"}\n'
        )
    again = _evalkit("run", "--resume", "last", cwd=tmp_path)
    _, err = again.communicate(timeout=60)
    assert again.returncode == 2 and "changed since run" in err
