"""Pieces shared by the command modules: common options and consoles.

Consoles follow the terminal habits users expect: colour and live displays only on a
terminal; none in pipes, files and CI logs; no colour at all when ``NO_COLOR`` is set
(https://no-color.org); ``FORCE_COLOR`` / ``TTY_COMPATIBLE`` force them (rich reads those).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from evalkit.errors import InputError

__all__ = [
    "DB_OPTION",
    "QUIET_OPTION",
    "VERBOSE_OPTION",
    "WAIT_OPTION",
    "check_verbosity",
    "err_console",
    "out_console",
    "output_file",
    "parse_tags",
    "print_json",
    "wait_for_store",
]

DB_OPTION = typer.Option(
    None,
    "--db",
    envvar="EVALKIT_DB",
    help="The store: a DuckDB file (default: .evalkit/evalkit.duckdb) or ducklake:...",
)

WAIT_OPTION = typer.Option(
    None,
    "--wait",
    min=0,
    metavar="SECONDS",
    help="How long to wait while another evalkit command writes the store (default 60; "
    "0: fail at once).",
)


def wait_for_store(seconds: float | None) -> Any:
    """A context in which opening the store waits up to ``seconds`` (``--wait``) for another
    process, saying so on stderr."""
    from evalkit.store.sharing import waiting

    def say(text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    return waiting(seconds, say)


def output_file(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """Check an output file option (``--report``, ``--junit``, ``-o``) while parsing, so a
    path that cannot be written is an error before any work, not after a long run."""
    import os
    from pathlib import Path

    if not value:
        return value
    option = max(param.opts, key=len) if param.opts else "the output option"
    path = Path(value)
    if path.is_dir():
        raise InputError(
            "is a folder, not a file",
            path=value,
            fix=f"e.g. {option} {value.rstrip('/')}/report{path.suffix or '.html'}",
        )
    folder = path.parent
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise InputError(
                    f"cannot write there: {parent} is a file, not a folder",
                    path=value,
                    fix=f"give {option} a path in a folder",
                )
            if not os.access(parent, os.W_OK | os.X_OK):
                raise InputError(
                    f"cannot write there: no permission to write in {parent}",
                    path=value,
                    fix=f"give {option} a path in a folder you can write to",
                )
            break
    return value


QUIET_OPTION = typer.Option(
    False, "-q", "--quiet", help="Print only the summary and verdict lines, and errors."
)
VERBOSE_OPTION = typer.Option(
    False,
    "-v",
    "--verbose",
    help="Also print each call that was retried, failed or cut off at max_tokens.",
)


def check_verbosity(quiet: bool, verbose: bool) -> None:
    """``--quiet`` and ``--verbose`` contradict each other: a usage error."""
    if quiet and verbose:
        raise InputError("--quiet and --verbose cannot be used together", fix="choose one")


def _no_color() -> bool:
    import os

    return os.environ.get("NO_COLOR", "") != ""


def _console(stream: Any) -> Any:
    import os
    import shutil

    from rich.console import Console

    # Logs (CI, pipes) are not 80 columns wide: do not squeeze tables into a phantom terminal.
    width = (
        None
        if stream.isatty() or "COLUMNS" in os.environ
        else max(shutil.get_terminal_size((200, 24)).columns, 200)
    )
    # NO_COLOR: no colour and no other styling codes either (bold, dim), only the text.
    extra: dict[str, Any] = {"color_system": None} if _no_color() else {}
    return Console(
        file=stream, highlight=False, soft_wrap=False, width=width, no_color=_no_color(), **extra
    )


def out_console() -> Any:
    """A console on the current stdout (created per call, so CliRunner can capture it)."""
    return _console(sys.stdout)


def err_console() -> Any:
    """A console on the current stderr: progress, warnings."""
    return _console(sys.stderr)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def parse_tags(values: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for value in values or []:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise InputError(f"--tag {value!r} is not K=V", fix="e.g. --tag branch=main")
        tags[key.strip()] = val.strip()
    return tags
