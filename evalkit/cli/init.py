"""``evalkit init [DIR]``: a new project with a config, a prompt and a suite that run as is."""

from __future__ import annotations

from pathlib import Path

import typer

from evalkit.cli.common import out_console

_FILES = {
    "evalkit.yaml": """\
# evalkit project configuration
db: .evalkit/evalkit.duckdb
providers:
  local: {type: local}            # the embedded Gemma 3 270M (no key, no network)
  # gpt: {type: openai, model: gpt-4o-mini}          # key from OPENAI_API_KEY
  # claude: {type: anthropic, model: claude-3-5-haiku-latest}
defaults:
  concurrency: 4
""",
    "prompts/capitals/v1.yaml": """\
description: few-shot question and answer
messages:
  - role: user
    content: >-
      Q: What is the capital of France?\\nA: Paris\\nQ: What is the capital of {{ country }}?\\nA:
params: {temperature: 0, max_tokens: 12, stop: ["\\n"]}
""",
    "suites/capitals.yaml": """\
name: capitals
prompt: capitals@v1
cases:
  - {id: japan, vars: {country: Japan, capital: Tokyo}}
  - {id: italy, vars: {country: Italy, capital: Rome}}
  - {id: egypt, vars: {country: Egypt, capital: Cairo}}
scorers:
  - {type: contains, value: "{{ capital }}", ignore_case: true}
gates: {pass_rate: 0.5}
""",
}


def init(
    directory: Path = typer.Argument(Path("."), help="Project folder (created if needed)."),
) -> None:
    """Create evalkit.yaml, prompts/ and suites/ with a small working example."""
    from evalkit.errors import InputError

    written = []
    for name in _FILES:
        path = directory / name
        if path.exists():
            raise InputError(
                "already exists; not overwritten",
                path=path,
                fix="run `evalkit init` in an empty folder",
            )
    for name, text in _FILES.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(str(path))
    console = out_console()
    for path_text in written:
        console.print(f"created {path_text}", markup=False)
    console.print("next: cd into the folder and run `evalkit run`", markup=False)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
