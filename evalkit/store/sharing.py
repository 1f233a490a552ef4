"""One DuckDB store file shared by several evalkit processes.

DuckDB lets one process open a file for writing, or many for reading only. evalkit shares a
store between processes in two ways:

* **Writers take turns.** A command that writes holds an exclusive lock on a small file beside
  the store (``evalkit.duckdb.lock``) for as long as it writes, with who holds it inside (pid,
  command, since when). A second writer waits for it, saying so once on stderr, for up to
  ``--wait`` seconds (default 60; 0 = fail at once), then fails (exit 3) naming the holder.
  The lock is the operating system's (``flock``): a holder that dies releases it, so a stale
  lock file never blocks anyone.
* **Readers get in between batches.** A reader that finds the DuckDB file open elsewhere
  touches a marker beside it (``evalkit.duckdb.wanted``) and retries; a run looks for a fresh
  marker after each batch it stores (and every half second while it has nothing to store) and
  then closes the file until its next batch. So ``runs list``, ``query`` and ``report`` answer
  while a run writes, and a run nobody waits for keeps its file open (closing it checkpoints
  the store: ≈ 0.1 s a batch).

``ducklake:`` stores do not use this: DuckLake has writers of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalkit.errors import StoreError

__all__ = [
    "DEFAULT_WAIT",
    "WriterLock",
    "ask_for",
    "is_wanted",
    "lock_path",
    "retry_open",
    "waiting",
]

#: Seconds a command waits for the store by default.
DEFAULT_WAIT = 60.0

#: How long to wait for the store (``--wait``), and whom to tell that we wait.
_WAIT: ContextVar[float] = ContextVar("evalkit_store_wait", default=DEFAULT_WAIT)
_NOTIFY: ContextVar[Callable[[str], None] | None] = ContextVar("evalkit_store_notify", default=None)


@contextlib.contextmanager
def waiting(seconds: float | None, notify: Callable[[str], None] | None = None) -> Iterator[None]:
    """Within this block, stores opened wait up to ``seconds`` for another process (``None``:
    the default) and call ``notify`` with one line when they start waiting."""
    tokens = (
        _WAIT.set(DEFAULT_WAIT if seconds is None else max(0.0, float(seconds))),
        _NOTIFY.set(notify),
    )
    try:
        yield
    finally:
        _NOTIFY.reset(tokens[1])
        _WAIT.reset(tokens[0])


def wait_seconds() -> float:
    """The current bound on waiting for the store (seconds)."""
    return _WAIT.get()


def _notify(text: str) -> None:
    notify = _NOTIFY.get()
    if notify is not None:
        notify(text)


def lock_path(store: Path) -> Path:
    """The lock file beside a store file."""
    return store.with_name(store.name + ".lock")


#: Seconds a reader's marker stays fresh (a waiting reader touches it at every retry).
WANTED_FOR = 5.0


def wanted_path(store: str) -> Path:
    """The marker a reader waiting for a store file touches."""
    return Path(store + ".wanted")


def ask_for(store: str) -> None:
    """Tell the process holding ``store`` open that a reader waits (best effort: a read-only
    directory just means the reader waits for the run's next idle moment or its end)."""
    with contextlib.suppress(OSError):
        wanted_path(store).touch()


def is_wanted(store: str) -> bool:
    """Whether a reader asked for ``store`` in the last few seconds."""
    try:
        return time.time() - wanted_path(store).stat().st_mtime < WANTED_FOR
    except OSError:
        return False


def _command() -> str:
    """This process's command line, short (for the holder's lock file)."""
    args = [Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:]]
    text = " ".join(args)
    return text if len(text) <= 160 else text[:157] + "..."


def _describe(info: dict[str, Any]) -> str:
    """``pid 123 (`evalkit run`), writing since 04:31:02 UTC`` from a holder's lock file."""
    if not info:
        return "another process"
    since = str(info.get("since", ""))
    with contextlib.suppress(ValueError):
        since = datetime.fromisoformat(since).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"pid {info.get('pid', '?')} (`{info.get('command', '?')}`), writing since {since}"


class WriterLock:
    """The exclusive right to write a store file, held from ``acquire`` to ``release``."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.path = lock_path(store)
        self._fd: int | None = None

    def holder(self) -> dict[str, Any]:
        """Who holds the lock, as its lock file says (empty when unknown)."""
        try:
            text = self.path.read_text(encoding="utf-8")
            info = json.loads(text) if text.strip() else {}
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}

    def acquire(self, shown: str) -> None:
        """Take the lock, waiting up to ``--wait`` seconds; a ``StoreError`` (exit 3) naming
        the holder when it does not come free in time."""
        import fcntl

        bound = wait_seconds()
        deadline = time.monotonic() + bound
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        told = False
        pause = 0.05
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                holder = _describe(self.holder())
                if time.monotonic() >= deadline:
                    os.close(fd)
                    waited = f"waited {bound:g} s" if bound else "--wait 0"
                    raise StoreError(
                        f"the store {shown} is in use by {holder} ({waited})",
                        fix="wait for that command to finish, give a longer --wait SECONDS, "
                        "or use another --db",
                    ) from None
                if not told:
                    _notify(
                        f"waiting for the store {shown}: {holder}; waiting up to "
                        f"{bound:g} s (--wait SECONDS to change)"
                    )
                    told = True
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                pause = min(pause * 1.5, 0.5)
        info = {
            "pid": os.getpid(),
            "command": _command(),
            "since": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the file stays, emptied: deleting it could let two writers in)."""
        if self._fd is None:
            return
        import fcntl

        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def is_lock_conflict(exc: BaseException) -> bool:
    """Whether a DuckDB error says another process has the file open."""
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set lock" in text)


def retry_open(
    open_file: Callable[[], Any], shown: str, ask: Callable[[], None] | None = None
) -> Any:
    """``open_file()``, retried while another process has the DuckDB file open (a run between
    two batches, a reader), for up to ``--wait`` seconds; then the last error is raised.
    ``ask()`` before each retry (a reader's ``ask_for``). Says so once when the wait passes
    two seconds."""
    bound = wait_seconds()
    begun = time.monotonic()
    deadline = begun + bound
    pause = 0.01
    told = False
    while True:
        try:
            return open_file()
        except Exception as exc:
            now = time.monotonic()
            if not is_lock_conflict(exc) or now >= deadline:
                raise
            if ask is not None:
                ask()
            if not told and now - begun > 2.0:
                told = True
                _notify(
                    f"waiting for the store {shown}: another process has it open; waiting up "
                    f"to {bound:g} s (--wait SECONDS to change)"
                )
            time.sleep(min(pause, max(0.0, deadline - now)))
            pause = min(pause * 1.5, 0.2)
