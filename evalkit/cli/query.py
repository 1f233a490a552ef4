"""``evalkit query "SQL"``: read-only SQL over the store."""

from __future__ import annotations

import typer

from evalkit.cli.common import DB_OPTION, out_console, print_json


def query(
    sql: str = typer.Argument(..., help="A SQL query (the store is opened read-only)."),
    as_json: bool = typer.Option(False, "--json", help="Rows as JSON objects."),
    csv_out: bool = typer.Option(False, "--csv", help="Rows as CSV."),
    db: str = DB_OPTION,
) -> None:
    """Query runs, results, scores, cases, prompt_versions, run_providers, baselines."""
    from evalkit import api

    columns, rows = api.query(sql, db=db)
    if as_json:
        print_json(
            {
                "schema": "evalkit.query/1",
                "columns": columns,
                "rows": [dict(zip(columns, r, strict=True)) for r in rows],
            }
        )
        return
    if csv_out:
        import csv
        import sys

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*["NULL" if v is None else str(v) for v in row])
    out_console().print(table)


def register(app: typer.Typer) -> None:
    app.command("query")(query)
