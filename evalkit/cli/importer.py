"""``evalkit import promptfoo CONFIG [--out DIR]`` and ``evalkit import DIR`` (an export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from evalkit.cli.common import DB_OPTION, WAIT_OPTION, out_console, print_json, wait_for_store
from evalkit.errors import InputError


def _print(data: dict[str, Any]) -> None:
    from rich.markup import escape

    console = out_console()
    target = data["out"]
    console.print(f"converted {escape(data['source'])} into {escape(target)}:")
    for provider in data["providers"]:
        console.print(
            f"  provider {escape(provider['id'])}: {provider['type']} {provider['model']} "
            f"(from {escape(provider['from'])})",
            markup=True,
            highlight=False,
        )
    for prompt in data["prompts"]:
        console.print(f"  prompt {prompt['ref']}: {escape(prompt['label'])}", highlight=False)
    for suite in data["suites"]:
        scorers = ", ".join(suite["scorers"]) or "no scorers"
        console.print(
            f"  suite {suite['name']} ({suite['path']}): {suite['cases']} "
            f"case{'s' if suite['cases'] != 1 else ''} · {escape(scorers)}",
            highlight=False,
        )
    console.print(f" wrote {len(data['written'])} files: {', '.join(data['written'])}")
    if data["not_converted"]:
        console.print(f"\nnot converted ({len(data['not_converted'])}):")
        for item in data["not_converted"]:
            console.print(
                f"  {escape(item['where'])}: {escape(item['what'])}: {escape(item['why'])}",
                highlight=False,
            )
    if data["notes"]:
        console.print(f"\nconverted with a difference ({len(data['notes'])}):")
        for item in data["notes"]:
            console.print(
                f"  {escape(item['where'])}: {escape(item['what'])}: {escape(item['why'])}",
                highlight=False,
            )
    console.print("\nnext:")
    for step in data["next"]:
        console.print(f"  {escape(step)}", highlight=False)


def import_(
    source: str = typer.Argument(
        ..., help="`promptfoo` (then the config file), or an exported store folder."
    ),
    config: str = typer.Argument(None, help="The promptfoo config, e.g. promptfooconfig.yaml."),
    out: str = typer.Option(".", "--out", "-o", help="Folder to write the evalkit files into."),
    name: str = typer.Option(
        None, "--name", help="Name of the prompt and suite (default: from the config)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite files that exist."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    db: str = DB_OPTION,
    wait: float = WAIT_OPTION,
) -> None:
    """Import another tool's evaluation config as evalkit files, or an export's runs.

    `evalkit import promptfoo promptfooconfig.yaml` writes evalkit.yaml, prompts/ and
    suites/ and lists what it could not convert, and why. `evalkit import DIR` adds the runs
    of a directory written by `evalkit export RUN... --parquet DIR` to the store (runs it
    already has are left alone). Exit 2 on bad input.
    """
    from evalkit import api

    if source != "promptfoo":
        if Path(source).is_dir():
            if config:
                raise InputError(
                    f"`evalkit import {source}` takes no second argument (got {config})",
                    fix=f"`evalkit import {source}` adds the export's runs to the store",
                )
            with wait_for_store(wait):
                _import_export(source, as_json=as_json, db=db)
            return
        raise InputError(
            f"unknown import source '{source}': it is not an evalkit export (no such "
            "directory) nor a tool evalkit imports from",
            fix="use `evalkit import promptfoo promptfooconfig.yaml`, or `evalkit import DIR` "
            "with a directory written by `evalkit export`",
        )
    if not config:
        raise InputError(
            "`evalkit import promptfoo` needs the config file",
            fix="e.g. `evalkit import promptfoo promptfooconfig.yaml --out evals/`",
        )
    data = api.import_promptfoo(config, out=out, name=name, force=force)
    if as_json:
        print_json(data)
    else:
        _print(data)


def _import_export(source: str, *, as_json: bool, db: str) -> None:
    from evalkit import api

    data = api.import_export(source, db=db)
    if as_json:
        print_json(data)
        return
    out_console().print(
        f"imported {len(data['imported'])} run(s) from {source}"
        + (f" ({data['rows'].get('results', 0)} results)" if data["imported"] else "")
        + (
            f"; already in the store: {', '.join(data['already_present'])}"
            if data["already_present"]
            else ""
        ),
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
