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
    as_json: bool = typer.Option(False, "--json"),
    db: str = DB_OPTION,
) -> None:
    """One run: provenance, summary per prompt × provider, gates."""
    from evalkit import api

    data = api.get_run(run, db=db)
    if as_json:
        print_json({"schema": "evalkit.run.show/1", **data})
        return
    from evalkit.report.terminal import render_run

    console = out_console()
    console.print(
        f"run {data['id']} · started {str(data['started_at'])[:19]} UTC · "
        f"{data['status']} · exit {data['exit_code']} · evalkit "
        f"{data['evalkit_version']} · commit {(data['git_commit'] or '—')[:10]}"
        f"{' (dirty)' if data.get('git_dirty') else ''}"
    )
    for p in data["providers"]:
        console.print(f" provider {p['provider']}: {p['identity']}", markup=False)
    outcome = {
        "suite": data["suite"],
        "run_id": data["id"],
        "status": data["status"],
        "summary": data["summary"],
        "gates": data["gates"],
    }
    render_run(outcome, console)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
