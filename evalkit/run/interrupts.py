"""Interrupts: SIGINT (Ctrl-C) and SIGTERM (what CI runners send on cancel) stop a run cleanly.

While an invocation's event loop runs, ``SignalStop`` owns both signals:

* the **first** cancels the invocation's task: calls in flight are cancelled (their
  connections closed), results that had finished are scored and stored, the run is marked
  ``interrupted`` with exit code 128 + the signal (130 for SIGINT, 143 for SIGTERM), and the
  session raises ``errors.Interrupted``, which names the run to resume;
* a **second** one stops at once: the batch being scored (a judge may be grading it) is
  dropped, the run is still marked ``interrupted``, and ``--resume`` redoes the dropped
  results.

Outside the loop (loading files, writing reports) the process's own handlers apply; the CLI
turns both signals into the same exit codes there. Signals can only be caught in the main
thread: elsewhere (evalkit called from a worker thread) nothing is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["SIGNALS", "SignalStop", "exit_code"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(signum: int | None) -> int:
    """The shell's convention: 128 + the signal number (SIGINT 130, SIGTERM 143)."""
    return 128 + int(signum or signal.SIGINT)


class SignalStop:
    """``with SignalStop(notify):`` inside a running loop: the first SIGINT/SIGTERM cancels the
    current task, a second cancels it again (stop at once); ``signum`` says which came first.
    ``notify`` receives one line for the user on the first signal."""

    def __init__(self, notify: Callable[[str], None] | None = None) -> None:
        self.notify = notify
        #: The first signal received (None: none yet).
        self.signum: int | None = None
        #: A second signal asked to stop without waiting for the batch being stored.
        self.hard = False
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Any] = {}

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum or signal.SIGINT).name

    def __enter__(self) -> SignalStop:
        if threading.current_thread() is not threading.main_thread():
            return self
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for signum in SIGNALS:
            previous = signal.getsignal(signum)
            try:
                self._loop.add_signal_handler(signum, self._on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):  # not a Unix main loop
                continue
            self._previous[signum] = previous
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._loop is not None or not self._previous
        for signum, previous in self._previous.items():
            with contextlib.suppress(Exception):
                self._loop.remove_signal_handler(signum)  # type: ignore[union-attr]
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _on_signal(self, signum: int) -> None:
        if self._task is None or self._task.done():
            return
        if self.signum is None:
            self.signum = signum
            self._task.cancel()
            if self.notify is not None:
                again = "Ctrl-C again" if signum == signal.SIGINT else f"{self.name} again"
                self.notify(
                    f"{self.name}: stopping — calls in flight cancelled, storing the results "
                    f"that finished ({again} to stop at once)"
                )
        elif not self.hard:
            self.hard = True
            self._task.cancel()
