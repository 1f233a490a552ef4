"""``evalkit prompts list | show NAME@V | diff NAME@A NAME@B``."""

from __future__ import annotations

import typer

from evalkit.cli.common import out_console, print_json

prompts_app = typer.Typer(
    help="Versioned prompts in prompts/.", no_args_is_help=True, rich_markup_mode=None
)


@prompts_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every prompt version, with its hash and description."""
    from evalkit import api

    versions = api.list_prompts()
    if as_json:
        print_json(
            {
                "schema": "evalkit.prompts/1",
                "prompts": [
                    {
                        "ref": v.ref,
                        "name": v.name,
                        "version": v.version,
                        "hash": v.hash,
                        "description": v.description,
                        "parent": v.parent,
                        "path": str(v.path),
                    }
                    for v in versions
                ],
            }
        )
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("prompt", "hash", "parent", "messages", "description"):
        table.add_column(col)
    for v in versions:
        table.add_row(v.ref, v.hash, v.parent or "", str(len(v.messages)), v.description or "")
    out_console().print(table)


@prompts_app.command("show")
def show(ref: str = typer.Argument(..., help="NAME@vN or NAME@latest")) -> None:
    """A prompt version's file, with its resolved name, version and hash."""
    from evalkit import api

    version = api.show_prompt(ref)
    console = out_console()
    console.print(f"# {version.ref} · hash {version.hash} · {version.path}", markup=False)
    console.print(version.source.rstrip(), markup=False, highlight=False)


@prompts_app.command("diff")
def diff(
    a: str = typer.Argument(..., help="NAME@vA"),
    b: str = typer.Argument(..., help="NAME@vB"),
) -> None:
    """A unified diff of two prompt versions' files."""
    import difflib

    from evalkit import api

    left, right = api.show_prompt(a), api.show_prompt(b)
    lines = list(
        difflib.unified_diff(
            left.source.splitlines(),
            right.source.splitlines(),
            fromfile=f"{left.ref} ({left.hash})",
            tofile=f"{right.ref} ({right.hash})",
            lineterm="",
        )
    )
    console = out_console()
    if not lines:
        console.print(f"{left.ref} and {right.ref} are identical", markup=False)
        return
    styles = {"+": "green", "-": "red", "@": "cyan"}
    for line in lines:
        style = styles.get(line[:1]) if not line.startswith(("+++", "---")) else "bold"
        console.print(line, style=style, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(prompts_app, name="prompts")
