"""report/progress.py: a bar on a terminal, plain lines elsewhere, nothing with --quiet."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from evalkit.records import Result
from evalkit.report.progress import (
    LineProgress,
    RichProgress,
    call_note,
    interactive,
    make_progress,
)

CI_VARS = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "JENKINS_URL", "TF_BUILD")


@pytest.fixture(autouse=True)
def _no_ci(monkeypatch):
    for name in CI_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TERM", raising=False)


def result(case: str = "c1", **fields) -> Result:
    base = {
        "id": "r",
        "run_id": "run",
        "suite": "capitals",
        "case_id": case,
        "case_hash": "h",
        "prompt": "capitals@v1",
        "prompt_name": "capitals",
        "prompt_version": "v1",
        "prompt_hash": "p",
        "provider": "gemma",
        "provider_type": "local",
        "model": "m",
        "params": {"max_tokens": 16},
        "repeat": 0,
        "input": "Q",
        "output": "Paris",
        "finish_reason": "stop",
    }
    base.update(fields)
    return Result(**base)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def console(terminal: bool, **kw) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=terminal, width=120, **kw), buf


def test_lines_every_quarter_and_at_the_end():
    con, buf = console(False)
    clock = Clock()
    progress = LineProgress(con, clock=clock)
    progress.start("capitals · 22 cases · capitals@v1, capitals@v2", 44)
    for done in range(1, 45):
        clock.now += 0.1
        progress.advance(result(), done, 0, 0)
    progress.stop()
    lines = buf.getvalue().splitlines()
    assert lines[0] == "capitals · 22 cases · capitals@v1, capitals@v2: 44 calls to make"
    assert [line.split(" · ")[0] for line in lines[1:]] == [
        "capitals: 11/44",
        "capitals: 22/44",
        "capitals: 33/44",
        "capitals: 44/44",
    ]
    assert lines[-1] == "capitals: 44/44 · 0:00:04 · 0 retried · 0 errors"
    assert "\x1b" not in buf.getvalue()


def test_a_slow_run_gets_a_line_every_10_seconds_and_counts_retries_and_errors():
    con, buf = console(False)
    clock = Clock()
    progress = LineProgress(con, clock=clock)
    progress.start("support · 120 cases · support@v1", 1000)
    for done in range(1, 31):
        clock.now += 1.0  # 1 s per call: 30 calls, far from the first quarter
        progress.advance(result(), done, done // 10, 1)
    lines = buf.getvalue().splitlines()[1:]
    assert lines == [
        "support: 10/1000 · 0:00:10 · 1 retried · 1 error",
        "support: 20/1000 · 0:00:20 · 1 retried · 2 errors",
        "support: 30/1000 · 0:00:30 · 1 retried · 3 errors",
    ]
    # interrupted: stop() says where the run stopped, once
    clock.now += 1
    progress.advance(result(), 31, 3, 1)
    progress.stop()
    progress.stop()
    assert buf.getvalue().splitlines()[-1] == "support: 31/1000 · 0:00:31 · 1 retried · 3 errors"
    assert len(buf.getvalue().splitlines()) == 5


def test_a_long_run_logs_less_often_as_it_goes():
    con, buf = console(False)
    clock = Clock()
    progress = LineProgress(con, clock=clock)
    progress.start("support · 120 cases · support@v1", 100_000)
    for done in range(1, 3601):  # one call a second for an hour, far from the first quarter
        clock.now += 1.0
        progress.advance(result(), done, 0, 0)
    times = [line.split(" · ")[1] for line in buf.getvalue().splitlines()[1:]]
    assert times[:10] == [f"0:0{m}:{s}0" for m in range(2) for s in range(6)][1:11]
    assert 40 <= len(times) <= 50, len(times)  # not 360


def test_verbose_names_each_retried_failed_or_cut_off_call():
    con, buf = console(False)
    progress = LineProgress(con, verbose=True, clock=Clock())
    progress.start("capitals · 2 cases · capitals@v1", 100)
    progress.advance(result("ok"), 1, 0, 0)
    progress.advance(result("slow", attempts=3), 2, 0, 2)
    progress.advance(
        result("boom", output=None, error_class="rate_limit", error="429 Too\nMany", attempts=4),
        3,
        1,
        5,
    )
    progress.advance(result("long", finish_reason="length"), 4, 1, 5)
    progress.warn("prompt capitals@v1 was edited in place")
    lines = buf.getvalue().splitlines()[1:]
    assert lines == [
        "  retried: slow · capitals@v1 · gemma: answered after 3 attempts",
        "  failed: boom · capitals@v1 · gemma: rate_limit after 4 attempts: 429 Too Many",
        "  cut off: long · capitals@v1 · gemma: the answer stopped at max_tokens (16) before "
        "a stop sequence or the end of the answer",
        "warning: prompt capitals@v1 was edited in place",
    ]
    assert call_note(result("ok")) is None


def test_without_verbose_calls_are_only_counted():
    con, buf = console(False)
    progress = LineProgress(con, clock=Clock())
    progress.start("capitals · 1 case · capitals@v1", 100)
    progress.advance(result("slow", attempts=3), 1, 0, 2)
    assert buf.getvalue().count("\n") == 1


def test_make_progress_picks_the_display_for_the_console(monkeypatch):
    terminal, _ = console(True)
    pipe, _ = console(False)
    assert isinstance(make_progress(terminal), RichProgress)
    assert isinstance(make_progress(pipe), LineProgress)
    assert make_progress(terminal, quiet=True) is None
    assert make_progress(pipe, quiet=True) is None
    assert make_progress(terminal, verbose=True).verbose
    monkeypatch.setenv("TERM", "dumb")
    assert not interactive(console(True)[0])
    monkeypatch.delenv("TERM")
    for name in ("CI", "GITHUB_ACTIONS", "BUILDKITE"):
        monkeypatch.setenv(name, "true")
        assert isinstance(make_progress(console(True)[0]), LineProgress), name
        monkeypatch.delenv(name)
    monkeypatch.setenv("CI", "false")
    assert interactive(console(True)[0])


def test_the_bar_on_a_terminal_and_verbose_lines_above_it():
    con, buf = console(True)
    progress = RichProgress(con, verbose=True)
    progress.start("capitals · 1 case · capitals@v1", 2)
    progress.advance(result("slow", attempts=2), 1, 0, 1)
    progress.advance(result(), 2, 0, 1)
    progress.stop()
    out = buf.getvalue()
    assert "━" in out and "2/2" in out and "1 retried · 0 errors" in out
    assert "retried: slow · capitals@v1 · gemma: answered after 2 attempts" in out
