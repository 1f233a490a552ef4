"""``evalkit run``."""

from __future__ import annotations

import typer

from evalkit.cli.common import (
    DB_OPTION,
    QUIET_OPTION,
    VERBOSE_OPTION,
    WAIT_OPTION,
    check_verbosity,
    err_console,
    out_console,
    parse_tags,
    print_json,
    wait_for_store,
)
from evalkit.cli.compare import (
    FAIL_ON_OPTION,
    JUNIT_OPTION,
    REPORT_OPTION,
    SUMMARY_OPTION,
    print_written,
)
from evalkit.cli.complete import complete_prompts, complete_providers, complete_suites


def run(
    suites: list[str] = typer.Argument(
        None,
        help="Suite files or names (default: all in suites/).",
        autocompletion=complete_suites,
    ),
    provider: list[str] = typer.Option(
        None,
        "-p",
        "--provider",
        help="Provider id (repeatable).",
        autocompletion=complete_providers,
    ),
    prompt: list[str] = typer.Option(
        None, "--prompt", help="Prompt NAME@V (repeatable).", autocompletion=complete_prompts
    ),
    repeat: int = typer.Option(None, "-n", "--repeat", min=1, help="Run each case N times."),
    concurrency: int = typer.Option(
        None, "-j", "--concurrency", min=1, help="Calls in flight per provider."
    ),
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N cases."),
    shard: str = typer.Option(None, "--shard", help="Run shard I of N (I/N)."),
    resume: str = typer.Option(None, "--resume", help="Finish an interrupted run (id or last)."),
    tag: list[str] = typer.Option(None, "--tag", help="Label the run: K=V (repeatable)."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Do not answer from the response cache."
    ),
    replay: str = typer.Option(
        None, "--replay", help="Answer every call from a stored run (no network)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the planned calls, cache hits and cost; call nothing."
    ),
    max_cost: float = typer.Option(
        None, "--max-cost", min=0, help="Stop before a call that could pass this many USD."
    ),
    baseline: str = typer.Option(
        None,
        "--baseline",
        help="Compare each run with this baseline (a name set with "
        "`evalkit baseline set`, a run id, or last).",
    ),
    fail_on: str = FAIL_ON_OPTION,
    report: str = REPORT_OPTION,
    junit: str = JUNIT_OPTION,
    summary: str = SUMMARY_OPTION,
    otel: bool = typer.Option(
        None,
        "--otel/--no-otel",
        help="Export each run as an OpenTelemetry trace over OTLP/HTTP (default: as `otel:` "
        "in evalkit.yaml says).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print evalkit.run/1 JSON on stdout."),
    quiet: bool = QUIET_OPTION,
    verbose: bool = VERBOSE_OPTION,
    db: str = DB_OPTION,
    wait: float = WAIT_OPTION,
) -> None:
    """Run suites: call the providers, score, store, check the gates, compare with a baseline.

    Exit 0: completed, no gate failed (failing cases alone do not fail the run). 1: a gate
    failed or, with --baseline, a significant regression (see --fail-on). 2: bad input.
    3: the run could not complete (errors beyond the error budget).

    Progress goes to stderr: a live bar on a terminal, plain lines in pipes and CI logs.
    """
    from evalkit import api

    check_verbosity(quiet, verbose)
    progress = None
    if not (as_json or dry_run):  # (--json prints no progress and needs no rich console)
        from evalkit.report.progress import make_progress

        progress = make_progress(err_console(), quiet=quiet, verbose=verbose)
    with wait_for_store(wait):
        evaluation = api.evaluate(
            suites or [],
            db=db,
            providers=provider or [],
            prompts=prompt or [],
            repeat=repeat,
            concurrency=concurrency,
            limit=limit,
            shard=shard,
            tags=parse_tags(tag),
            resume=resume,
            progress=progress,
            no_cache=no_cache,
            replay=replay,
            max_cost=max_cost,
            dry_run=dry_run,
            baseline=baseline,
            fail_on=fail_on,
            otel=otel,
        )
    written = api.write_reports(evaluation, junit=junit, summary=summary, report=report, db=db)
    if as_json:
        print_json(evaluation.as_json())
    else:
        from evalkit.report.brief import render_brief_evaluation
        from evalkit.report.terminal import render_evaluation

        console = out_console()
        render = render_brief_evaluation if quiet else render_evaluation
        render(evaluation, console, footer=lambda: print_written(written, console))
    raise typer.Exit(evaluation.exit_code)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
