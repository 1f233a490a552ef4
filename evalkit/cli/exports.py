"""``evalkit export RUN... --parquet DIR``: runs as Parquet files (``evalkit import DIR``
reads them back; it lives with the other imports in ``cli/importer.py``)."""

from __future__ import annotations

import typer

from evalkit.cli.common import DB_OPTION, out_console, print_json


def export(
    runs: list[str] = typer.Argument(..., help="Runs: ids, prefixes, baseline names, last."),
    parquet: str = typer.Option(..., "--parquet", help="The directory to write."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier export."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    db: str = DB_OPTION,
) -> None:
    """Write runs with their results, scores, cases and prompt versions as Parquet files and
    an evalkit-export.json manifest (schema evalkit.export/1), readable without evalkit."""
    from evalkit import api

    manifest = api.export_runs(runs, parquet, overwrite=overwrite, db=db)
    if as_json:
        print_json(manifest)
        return
    tables = manifest["tables"]
    out_console().print(
        f"exported {len(manifest['runs'])} run(s) to {parquet}: "
        + ", ".join(f"{name} {info['rows']}" for name, info in tables.items()),
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
