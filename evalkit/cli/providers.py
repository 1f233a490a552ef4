"""``evalkit providers list | check ID``."""

from __future__ import annotations

import typer

from evalkit.cli.common import out_console, print_json

providers_app = typer.Typer(
    help="Providers in evalkit.yaml.", no_args_is_help=True, rich_markup_mode=None
)


@providers_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """Each provider id: type, model, endpoint, and whether its key is set."""
    from evalkit import api

    rows = api.list_providers()
    if as_json:
        print_json({"schema": "evalkit.providers/1", "providers": rows})
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("id", "type", "model", "mode", "endpoint", "key"):
        table.add_column(col)
    for row in rows:
        key = (
            "—"
            if row["key_env"] is None
            else (f"${row['key_env']} {'set' if row['key_set'] else 'not set'}")
        )
        table.add_row(
            row["id"] + (" (default)" if row["default"] else ""),
            row["type"],
            row["model"] or "",
            row["mode"],
            row["base_url"] or "",
            key,
        )
    out_console().print(table)


@providers_app.command("check")
def check(provider: str = typer.Argument(..., help="Provider id.")) -> None:
    """Start the provider and make one small call."""
    from evalkit import api

    data = api.check_provider(provider)
    console = out_console()
    if data["ok"]:
        console.print(
            f"{provider}: ok · {data['latency_ms']:.0f} ms · answer {data['output']!r}",
            markup=False,
        )
        return
    console.print(f"{provider}: FAILED · {data['error_class']}: {data['error']}", markup=False)
    raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.add_typer(providers_app, name="providers")
