"""``evalkit report RUN [--baseline REF] -o FILE [--open]``."""

from __future__ import annotations

import typer

from evalkit.cli.common import DB_OPTION, out_console, output_file


def report(
    run: str = typer.Argument("last", help="Run id, unique prefix, baseline name, or last."),
    baseline: str = typer.Option(
        None,
        "--baseline",
        help="Compare with this baseline name or run (default: the "
        "baseline the run was compared with, if any).",
    ),
    output: str = typer.Option(
        None,
        "-o",
        "--output",
        help="HTML file (default: reports/<suite>-<run>.html).",
        callback=output_file,
    ),
    open_: bool = typer.Option(False, "--open", help="Open it in the browser."),
    history: int = typer.Option(
        30, "--history", min=1, help="How many of the suite's runs the history shows."
    ),
    db: str = DB_OPTION,
) -> None:
    """Write a self-contained HTML report of a run: the verdict, the flipped cases, the
    matrix of cases × prompt versions × providers, the suite's history. Nothing in it is
    loaded from the network."""
    from evalkit import api

    path = api.render_report(run, baseline=baseline, output=output, db=db, history=history)
    out_console().print(f"report: {path}", markup=False)
    if open_:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


def register(app: typer.Typer) -> None:
    app.command("report")(report)
