"""``evalkit compare RUN_A RUN_B`` and ``evalkit compare --prompt x@v1 --prompt x@v2 SUITE``.

Also the options every command that renders a verdict shares (``run`` uses them too).
"""

from __future__ import annotations

from typing import Any

import typer

from evalkit.cli.common import (
    DB_OPTION,
    QUIET_OPTION,
    VERBOSE_OPTION,
    WAIT_OPTION,
    check_verbosity,
    err_console,
    out_console,
    output_file,
    print_json,
    wait_for_store,
)
from evalkit.cli.complete import complete_prompts, complete_providers, complete_suites

FAIL_ON_OPTION = typer.Option(
    "regression",
    "--fail-on",
    help="Exit 1 on: regression (a significant regression or a failed gate; default), "
    "threshold (a failed gate only), any (also any pass→fail flip or worse "
    "latency/cost), never.",
)
JUNIT_OPTION = typer.Option(
    None,
    "--junit",
    help="Write JUnit XML (one testcase per case × metric).",
    callback=output_file,
)
SUMMARY_OPTION = typer.Option(
    None,
    "--summary",
    help="Write a Markdown summary for a PR comment (also appended to "
    "$GITHUB_STEP_SUMMARY when set).",
    callback=output_file,
)
REPORT_OPTION = typer.Option(
    None, "--report", help="Write a self-contained HTML report.", callback=output_file
)


def print_written(written: dict[str, str], console: Any) -> None:
    labels = {
        "junit": "junit",
        "summary": "summary",
        "html": "report",
        "github_step_summary": "step summary",
    }
    if written:
        console.print(
            " " + "   ".join(f"{labels[k]}: {v}" for k, v in written.items()), markup=False
        )


def compare(
    refs: list[str] = typer.Argument(
        None,
        help="RUN_A RUN_B (baseline first), or SUITE (or one RUN) with two --prompt "
        "or two --provider.",
        autocompletion=complete_suites,
    ),
    prompt: list[str] = typer.Option(
        None,
        "--prompt",
        help="NAME@V: twice to compare two versions, once to filter.",
        autocompletion=complete_prompts,
    ),
    provider: list[str] = typer.Option(
        None,
        "-p",
        "--provider",
        help="Provider id: twice to compare two providers, once to filter.",
        autocompletion=complete_providers,
    ),
    repeat: int = typer.Option(
        None, "-n", "--repeat", min=1, help="Repeats per case when running what is missing."
    ),
    no_run: bool = typer.Option(
        False, "--no-run", help="Only use stored runs; never call a provider."
    ),
    fail_on: str = FAIL_ON_OPTION,
    junit: str = JUNIT_OPTION,
    summary: str = SUMMARY_OPTION,
    report: str = REPORT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print evalkit.compare/1 JSON."),
    quiet: bool = QUIET_OPTION,
    verbose: bool = VERBOSE_OPTION,
    db: str = DB_OPTION,
    wait: float = WAIT_OPTION,
) -> None:
    """Compare two runs, or two prompt versions (or providers) on a suite case by case.

    With a SUITE, whatever the store lacks (a version on a provider, for the suite's current
    cases) is run first. Exit 1 per --fail-on; 2 bad input; 3 a needed run did not complete.
    """
    from evalkit import api
    from evalkit.report.progress import make_progress

    check_verbosity(quiet, verbose)
    progress = make_progress(err_console(), quiet=quiet, verbose=verbose) if not as_json else None
    with wait_for_store(wait):
        data = api.compare(
            refs or [],
            prompts=prompt or [],
            providers=provider or [],
            repeat=repeat,
            run_missing=not no_run,
            fail_on=fail_on,
            db=db,
            progress=progress,
        )
    written = api.write_reports(data, junit=junit, summary=summary, report=report, db=db)
    code = data.exit_code or 0
    if as_json:
        print_json(data.as_json())
    else:
        from evalkit.report.format import exit_meaning
        from evalkit.report.verdict import render_comparison, render_matrix

        console = out_console()
        if quiet:
            from evalkit.report.brief import render_brief_comparison

            render_brief_comparison(data, console, footer=lambda: print_written(written, console))
            raise typer.Exit(code)
        if data.matrix is not None:
            render_matrix(data, console)
        render_comparison(data, console)
        print_written(written, console)
        console.print(f"\nexit {code} ({exit_meaning(code, data.exit_reasons or [])})")
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
