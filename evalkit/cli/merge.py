"""``evalkit merge STORE... [--into DB]``: the shard stores of one run into one run."""

from __future__ import annotations

import typer

from evalkit.cli.common import WAIT_OPTION, out_console, print_json, wait_for_store
from evalkit.cli.compare import (
    FAIL_ON_OPTION,
    JUNIT_OPTION,
    REPORT_OPTION,
    SUMMARY_OPTION,
    print_written,
)


def merge(
    stores: list[str] = typer.Argument(..., help="The shard stores (.duckdb), one per shard."),
    into: str = typer.Option(
        None,
        "--into",
        envvar="EVALKIT_DB",
        help="The store to write the merged run to (default: the project's store; "
        "a DuckDB file or ducklake:...).",
    ),
    baseline: str = typer.Option(
        None, "--baseline", help="Compare the merged run with this baseline (name, run, last)."
    ),
    fail_on: str = FAIL_ON_OPTION,
    report: str = REPORT_OPTION,
    junit: str = JUNIT_OPTION,
    summary: str = SUMMARY_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print evalkit.run/1 JSON on stdout."),
    wait: float = WAIT_OPTION,
) -> None:
    """Merge the stores of `evalkit run --shard I/N` jobs into one run per suite.

    The shards must be one run split N ways (same suite and cases, same evalkit.yaml and
    providers, same options, shards 1..N each once, disjoint cases, completed); anything else
    is refused (exit 2). Summary, gates and the verdict are computed once over the whole plan;
    exit codes as for `evalkit run`.
    """
    from evalkit import api
    from evalkit.report.terminal import render_evaluation

    with wait_for_store(wait):
        evaluation = api.merge(stores, into=into, baseline=baseline, fail_on=fail_on)
    written = api.write_reports(evaluation, junit=junit, summary=summary, report=report, db=into)
    if as_json:
        print_json(evaluation.as_json())
    else:
        console = out_console()
        render_evaluation(evaluation, console, footer=lambda: print_written(written, console))
    raise typer.Exit(evaluation.exit_code)


def register(app: typer.Typer) -> None:
    app.command("merge")(merge)
