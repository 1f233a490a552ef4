"""``evalkit store compact``: housekeeping of a DuckLake team store."""

from __future__ import annotations

import typer

from evalkit.cli.common import DB_OPTION, out_console, print_json

store_app = typer.Typer(help="The store.", no_args_is_help=True, rich_markup_mode=None)


@store_app.command("compact")
def compact(
    keep: str = typer.Option(
        "7d", "--keep", help="Keep this much history for time travel (e.g. 7d, 12h, 0d)."
    ),
    as_json: bool = typer.Option(False, "--json"),
    db: str = DB_OPTION,
) -> None:
    """Merge a DuckLake store's small Parquet files, drop rows duplicated by racing writers,
    expire older snapshots and delete files no snapshot needs."""
    from evalkit import api
    from evalkit.cli.cache import parse_age

    days = parse_age(keep).total_seconds() / 86400
    data = api.compact_store(keep_days=days, db=db)
    if as_json:
        print_json({"schema": "evalkit.store.compact/1", **data})
        return
    out_console().print(
        f"small files: {data['small_files_before']} → {data['small_files_after']} · "
        f"duplicate rows removed: {data['duplicates_removed']}",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
