"""``evalkit runs list | show RUN``."""

from __future__ import annotations

import typer

from evalkit.cli.common import DB_OPTION, out_console, print_json

runs_app = typer.Typer(help="Stored runs.", no_args_is_help=True, rich_markup_mode=None)


@runs_app.command("list")
def list_(
    suite: str = typer.Option(None, "--suite", help="Only runs of this suite."),
    limit: int = typer.Option(20, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json"),
    db: str = DB_OPTION,
) -> None:
    """The newest runs first."""
    from evalkit import api

    rows = api.list_runs(suite=suite, limit=limit, db=db)
    if as_json:
        print_json({"schema": "evalkit.runs/1", "runs": rows})
        return
    from evalkit.report.terminal import render_runs_list

    render_runs_list(rows, out_console())


@runs_app.command("show")
def show(
    run: str = typer.Argument("last", help="Run id, unique prefix, baseline name, or last."),
    as_json: bool = typer.Option(False, "--json", help="Print evalkit.run.show/1 JSON."),
    case: str = typer.Option(None, "--case", help="Only this case's transcripts."),
    transcripts: int = typer.Option(
        10, "--transcripts", min=0, help="Conversations shown (failed first); 0: none."
    ),
    db: str = DB_OPTION,
) -> None:
    """One run: provenance, summary per prompt × provider, gates, its conversations and
    tool calls request by request, and the verdict against its baseline when it was
    compared. `last` shows every suite the last `evalkit run` ran (--json: the last one,
    with the others' ids in `same_command`)."""
    from evalkit import api

    data = api.get_run(run, case=case, db=db)
    if as_json:
        print_json(data.as_json())
        return
    from evalkit.report.terminal import render_stored_run

    console = out_console()
    shown = [data]
    if run == "last" and len(data.same_command) > 1:
        shown = [api.get_run(r, case=case, db=db) for r in data.same_command[:-1]] + [data]
        console.print(
            f"The last `evalkit run` ran {len(shown)} suites: "
            + ", ".join(f"{d.suite} ({d.id})" for d in shown),
            markup=False,
        )
    for k, one in enumerate(shown):
        if k:
            console.print()
        render_stored_run(one, console, transcripts=None if case else transcripts)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
