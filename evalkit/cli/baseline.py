"""``evalkit baseline set NAME RUN... | list | rm NAME``."""

from __future__ import annotations

import typer

from evalkit.cli.common import DB_OPTION, WAIT_OPTION, out_console, print_json, wait_for_store

baseline_app = typer.Typer(
    help="Named baselines (per suite) that runs are compared with.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@baseline_app.command("set")
def set_(
    name: str = typer.Argument(..., help="Baseline name, e.g. main."),
    runs: list[str] = typer.Argument(
        None, help="Run ids (one per suite), unique prefixes, or last (default: last)."
    ),
    suite: str = typer.Option(None, "--suite", help="Resolve `last` within this suite."),
    as_json: bool = typer.Option(False, "--json"),
    db: str = DB_OPTION,
    wait: float = WAIT_OPTION,
) -> None:
    """Name RUN the baseline NAME of its suite (each suite has its own NAME)."""
    from evalkit import api

    with wait_for_store(wait):
        changed = api.set_baseline(name, runs or ["last"], suite=suite, db=db)
    if as_json:
        print_json({"schema": "evalkit.baseline/1", "set": changed})
        return
    console = out_console()
    for row in changed:
        was = f" (was {row['previous']})" if row["previous"] else ""
        console.print(
            f"baseline {row['name']} of suite {row['suite']} → run {row['run_id']}{was}",
            markup=False,
        )
        if row["status"] != "completed":
            console.print(f"  warning: run {row['run_id']} is {row['status']}", markup=False)


@baseline_app.command("list")
def list_(
    suite: str = typer.Option(None, "--suite", help="Only this suite's baselines."),
    as_json: bool = typer.Option(False, "--json"),
    db: str = DB_OPTION,
) -> None:
    """Every baseline: name, suite, run, when it was set."""
    from evalkit import api

    rows = api.list_baselines(suite=suite, db=db)
    if as_json:
        print_json({"schema": "evalkit.baselines/1", "baselines": rows})
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("name", "suite", "run", "set (UTC)", "status", "pass rate", "commit"):
        table.add_column(col)
    for row in rows:
        rate = "—" if row["pass_rate"] is None else f"{row['pass_rate']:.2f}"
        table.add_row(
            row["name"],
            row["suite"],
            row["run_id"],
            str(row["set_at"])[:19],
            row["status"] or "missing",
            rate,
            (row["git_commit"] or "")[:8],
        )
    console = out_console()
    if rows:
        console.print(table)
    else:
        console.print("no baselines yet (set one: evalkit baseline set main last)")


@baseline_app.command("rm")
def rm(
    name: str = typer.Argument(..., help="Baseline name."),
    suite: str = typer.Option(None, "--suite", help="Only this suite's (default: every suite's)."),
    db: str = DB_OPTION,
    wait: float = WAIT_OPTION,
) -> None:
    """Remove a baseline name (the runs stay)."""
    from evalkit import api

    with wait_for_store(wait):
        count = api.delete_baseline(name, suite=suite, db=db)
    out_console().print(
        f"removed baseline {name} ({count} suite{'s' if count != 1 else ''})", markup=False
    )


def register(app: typer.Typer) -> None:
    app.add_typer(baseline_app, name="baseline")
