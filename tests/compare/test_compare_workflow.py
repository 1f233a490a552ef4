"""The GitHub Actions workflow in the repository: it parses, and every evalkit command it runs
is one the CLI accepts (options and all)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer
import yaml

from evalkit.cli.main import app

WORKFLOW = Path(__file__).parents[2] / ".github" / "workflows" / "evalkit.yml"


def _commands(script: str) -> list[list[str]]:
    script = re.sub(r"\$\(python -c \\\n.*?\"\)", "RUN_ID", script, flags=re.S)
    script = script.replace("\\\n", " ").replace('"$EVALKIT_FAIL_ON"', "regression")
    out = []
    for line in script.splitlines():
        line = line.split(">")[0].strip()
        if line.startswith("evalkit "):
            out.append(shlex.split(line)[1:])
    return out


def test_the_workflow_runs_valid_evalkit_commands():
    flow = yaml.safe_load(WORKFLOW.read_text())
    assert set(flow[True]) == {"push", "pull_request"}  # `on:` parses as True in YAML 1.1
    steps = flow["jobs"]["eval"]["steps"]
    commands = [c for step in steps if "run" in step for c in _commands(step["run"])]
    assert [
        "run",
        "--baseline",
        "main",
        "--fail-on",
        "regression",
        "--junit",
        "reports/junit.xml",
        "--summary",
        "reports/summary.md",
        "--report",
        "reports/evalkit.html",
    ] in commands
    assert ["baseline", "set", "main", "RUN_ID"] in commands
    group = typer.main.get_command(app)
    ctx = group.context_class(group)
    for name, *rest in commands:
        command = group.get_command(ctx, name)  # type: ignore[attr-defined]
        if hasattr(command, "get_command"):  # a command group: baseline set ...
            command = command.get_command(ctx, rest.pop(0))
        assert command is not None, name
        command.make_context(name, rest, parent=ctx)  # raises on an unknown option
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["with"]["path"] == "reports/"
    assert any("gh pr comment" in s.get("run", "") for s in steps)
