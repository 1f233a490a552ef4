"""report (progress): what a run shows while it calls its providers.

Three displays behind one interface (``evalkit.run.session.Progress``):

- ``RichProgress``: a live bar, for a person at a terminal;
- ``LineProgress``: plain lines, for pipes, files and CI logs, where a redrawn bar becomes one
  garbled line: one line every quarter of the calls or every 10 seconds (every tenth of the
  elapsed time once that is longer), whichever comes first, and one at the end
  (``capitals: 20/44 · 0:00:12 · 0 retried · 0 errors``);
- nothing at all with ``--quiet``.

``make_progress`` picks one for a console. ``verbose`` adds a line for every call that was
retried, failed or stopped at ``max_tokens``; without it those are only counted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape

from evalkit.records import Result

__all__ = ["LineProgress", "RichProgress", "call_note", "interactive", "make_progress"]

#: Environment variables that mark a CI job: its log is not a terminal, even when the runner
#: gives the job a pseudo-terminal.
_CI_VARS = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "JENKINS_URL", "TF_BUILD")


def _in_ci() -> bool:
    return any(os.environ.get(name, "").lower() not in ("", "0", "false") for name in _CI_VARS)


def interactive(console: Console) -> bool:
    """Whether ``console`` is a terminal a live display can redraw: a real terminal (not a
    pipe, a file or ``TERM=dumb``; ``TTY_INTERACTIVE=0|1`` overrides) outside CI."""
    return bool(console.is_interactive) and not _in_ci()


def _elapsed(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def call_note(result: Result) -> str | None:
    """One line about a call worth a look (``--verbose``): failed, retried, or cut off at
    ``max_tokens``; None for an ordinary answer."""
    where = f"{result.case_id} · {result.prompt} · {result.provider}"
    attempts = f"{result.attempts} attempt{'s' if result.attempts != 1 else ''}"
    if result.error_class:
        message = " ".join((result.error or "").split())
        if len(message) > 160:
            message = message[:159] + "…"
        return f"failed: {where}: {result.error_class} after {attempts}: {message}"
    if result.attempts > 1:
        return f"retried: {where}: answered after {attempts}"
    if result.finish_reason == "length":
        limit = result.params.get("max_tokens")
        return (
            f"cut off: {where}: the answer stopped at max_tokens"
            + (f" ({limit})" if limit else "")
            + " before a stop sequence or the end of the answer"
        )
    return None


class RichProgress:
    """A live progress bar: done/total, elapsed, retries, errors."""

    def __init__(self, console: Console, *, verbose: bool = False) -> None:
        self.console = console
        self.verbose = verbose
        self._progress: Any = None
        self._task: Any = None

    def start(self, label: str, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=40),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[extra]}"),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(escape(label), total=total, extra="")

    def advance(self, result: Result, done: int, errors: int, retries: int) -> None:
        if self._progress is None:
            return
        if self.verbose and (note := call_note(result)):
            self.console.print(f"  {escape(note)}", highlight=False)
        extra = f"· {retries} retried · {errors} errors"
        self._progress.update(self._task, completed=done, extra=extra)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {escape(message)}")


class LineProgress:
    """Plain progress lines, for logs: no cursor movement, no redrawing, no colour."""

    def __init__(
        self,
        console: Console,
        *,
        verbose: bool = False,
        every_s: float = 10.0,
        steps: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.verbose = verbose
        self.every_s = every_s
        self.steps = max(steps, 1)
        self.clock = clock
        self._name = ""
        self._total = 0
        self._started = 0.0
        self._last_line = 0.0
        self._next_step = 1
        self._state: tuple[int, int, int] | None = None

    def _line(self, text: str) -> None:
        # Plain text: no markup, no highlighting, and no wrapping into a phantom width.
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def start(self, label: str, total: int) -> None:
        self._name = label.split(" · ", 1)[0]
        self._total = total
        self._started = self._last_line = self.clock()
        self._next_step = 1
        self._state = None
        self._line(f"{label}: {total} call{'s' if total != 1 else ''} to make")

    def _status(self, done: int, errors: int, retries: int) -> str:
        return (
            f"{self._name}: {done}/{self._total} · {_elapsed(self.clock() - self._started)} · "
            f"{retries} retried · {errors} error{'s' if errors != 1 else ''}"
        )

    def advance(self, result: Result, done: int, errors: int, retries: int) -> None:
        if self.verbose and (note := call_note(result)):
            self._line(f"  {note}")
        self._state = (done, errors, retries)
        now = self.clock()
        stepped = False
        while self._total and done * self.steps >= self._next_step * self._total:
            self._next_step += 1
            stepped = True
        # Every 10 s, and less often as a long run goes on (every tenth of the time so far),
        # so an hour-long run logs dozens of lines, not hundreds.
        interval = max(self.every_s, (now - self._started) / 10)
        if done >= self._total or stepped or now - self._last_line >= interval:
            self._last_line = now
            self._line(self._status(done, errors, retries))
            self._state = None

    def stop(self) -> None:
        if self._state is not None:  # a run that ended early: where it stopped
            self._line(self._status(*self._state))
            self._state = None

    def warn(self, message: str) -> None:
        self._line(f"warning: {message}")


def make_progress(console: Console, *, quiet: bool = False, verbose: bool = False) -> Any:
    """The progress display for ``console``: a bar on a terminal, plain lines elsewhere
    (pipes, files, CI logs, ``TERM=dumb``), none with ``quiet``."""
    if quiet:
        return None
    if interactive(console):
        return RichProgress(console, verbose=verbose)
    return LineProgress(console, verbose=verbose)
