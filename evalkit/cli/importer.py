"""``evalkit import promptfoo CONFIG [--out DIR]`` (and, later, ``evalkit import DIR``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from evalkit.cli.common import out_console, print_json
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
    as_json: bool = typer.Option(False, "--json", help="Print evalkit.import/1 JSON."),
) -> None:
    """Import another tool's evaluation config as evalkit files.

    `evalkit import promptfoo promptfooconfig.yaml` writes evalkit.yaml, prompts/ and
    suites/ and lists what it could not convert, and why. Exit 2 on bad input.
    """
    from evalkit import api

    if source != "promptfoo":
        if Path(source).is_dir():
            raise InputError(
                f"importing an exported store ({source}) is not supported yet",
                fix="`evalkit import promptfoo CONFIG` converts a promptfoo config",
            )
        raise InputError(
            f"unknown import source '{source}'",
            fix="use `evalkit import promptfoo promptfooconfig.yaml`",
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


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
