"""Pieces shared by the command modules: common options and consoles."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from evalkit.errors import InputError

__all__ = ["DB_OPTION", "err_console", "out_console", "parse_tags", "print_json"]

DB_OPTION = typer.Option(
    None,
    "--db",
    envvar="EVALKIT_DB",
    help="The store: a DuckDB file (default: .evalkit/evalkit.duckdb) or ducklake:...",
)


def out_console() -> Any:
    """A console on the current stdout (created per call, so CliRunner can capture it)."""
    import os
    import shutil

    from rich.console import Console

    # Logs (CI, pipes) are not 80 columns wide: do not squeeze tables into a phantom terminal.
    width = (
        None
        if sys.stdout.isatty() or "COLUMNS" in os.environ
        else max(shutil.get_terminal_size((200, 24)).columns, 200)
    )
    return Console(file=sys.stdout, highlight=False, soft_wrap=False, width=width)


def err_console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False)


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
