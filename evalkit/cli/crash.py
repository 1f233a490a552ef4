"""When evalkit itself fails (a bug): the traceback goes to a log file, not the terminal.

``write_crash_log`` writes the traceback, the command line and the versions to
``.evalkit/logs/crash-<time>-<pid>.log`` beside the project's store (or a temp folder when
there is no project, or the project's folder cannot be written), with every secret the
environment holds replaced by ``[redacted]``. ``cli/main.py`` prints one short message with
the path and exits 3.
"""

from __future__ import annotations

import os
import platform
import tempfile
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from evalkit.errors import redact

__all__ = ["crash_message", "log_dir", "write_crash_log"]


def _db_override(args: Sequence[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg == "--db" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--db="):
            return arg[len("--db=") :]
    return None


def log_dir(args: Sequence[str] = ()) -> Path:
    """``logs/`` beside the store of the project in the working directory (``--db`` in
    ``args`` and ``EVALKIT_DB`` count), else a folder in the system's temp dir."""
    try:
        from evalkit.config import Project

        project = Project.discover()
        store = project.db_path(_db_override(args))
        if project.config_path is not None or store.parent.is_dir():
            return store.parent / "logs"
    except Exception:  # a broken evalkit.yaml must not hide the crash being reported
        pass
    return Path(tempfile.gettempdir()) / "evalkit-logs"


def write_crash_log(exc: BaseException, args: Sequence[str]) -> Path | None:
    """Write the crash log; return its path (None if no folder could be written)."""
    from evalkit import __version__

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = f"crash-{stamp}-{os.getpid()}.log"
    text = "\n".join(
        [
            f"evalkit {__version__} crashed at {datetime.now(UTC).isoformat(timespec='seconds')}",
            f"command: evalkit {' '.join(args)}",
            f"working directory: {Path.cwd()}",
            f"python {platform.python_version()} on {platform.platform()}",
            "",
            "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        ]
    )
    text = redact(text)
    for folder in (log_dir(args), Path(tempfile.gettempdir()) / "evalkit-logs"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def crash_message(exc: BaseException, path: Path | None) -> str:
    """The short message a user sees: what failed, where the traceback is, how to report."""
    from evalkit import __version__

    summary = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])
    if len(summary) > 200:
        summary = summary[:197] + "..."
    if path is None:  # nowhere to write: the traceback is the only record
        shown = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return (
            f"error: evalkit {__version__} failed with a bug: {summary}\n{redact(shown)}"
            "  (please report this bug with the traceback above)"
        )
    return (
        f"error: evalkit {__version__} failed with a bug: {summary}\n"
        f"  (this is not a problem with your files; the traceback is in {path} — "
        "please report the bug to the evalkit maintainers with that file attached; "
        "it holds no API keys)"
    )
