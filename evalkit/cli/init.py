"""``evalkit init [DIR]``: a new project with a config, a prompt and a suite that run as is."""

from __future__ import annotations

from pathlib import Path

import typer

from evalkit.cli.common import QUIET_OPTION, out_console


def init(
    directory: Path = typer.Argument(Path("."), help="Project folder (created if needed)."),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Create evalkit.yaml, prompts/ and suites/: a small project to run and copy from."""
    from evalkit import api

    written = api.init_project(directory)
    if quiet:
        return
    console = out_console()
    for path in written:
        console.print(f"created {path}", markup=False)
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    console.print(
        f"next: {where}evalkit run     (the local model answers; the first run prepares it)",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.command("init")(init)
