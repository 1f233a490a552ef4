"""run (session): the pipeline of one suite, and of one invocation's suites.

``run_suite`` reads as the pipeline does: plan → prepare → start → record → execute → finish
(each a function in ``evalkit.run.stages``, each with typed input and output).
``evalkit.api.evaluate`` opens the project and the store, loads the suites and calls
``run_suites``; the CLI calls the api.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from evalkit.contracts import Evaluation, RunOutcome
from evalkit.errors import Interrupted, RunIncomplete
from evalkit.records import Suite
from evalkit.run import stages, tracing
from evalkit.run.interrupts import SignalStop
from evalkit.run.stages import Executed, Invocation, PreparedRun, Progress, RecordedRun, RunOptions

__all__ = [
    "Evaluation",
    "Progress",
    "RunOptions",
    "RunOutcome",
    "run_suite",
    "run_suites",
]


async def run_suite(inv: Invocation, suite: Suite) -> RunOutcome:
    """One suite's run, from its plan to its stored summary and exit code."""
    planned = stages.plan(inv, suite)
    prepared = stages.prepare(inv, planned)
    if inv.options.dry_run:
        return dry_run_outcome(prepared)
    await stages.start(inv, prepared)
    recorded = stages.record(inv, prepared)
    tracing.started(inv.observers, planned.run_id, suite.name, recorded.header)
    outcome: RunOutcome | None = None
    stopped: BaseException | None = None
    try:
        executed = await stages.execute(inv, recorded)
        outcome = finish(inv, recorded, executed)
    except BaseException as exc:  # interrupted, or a bug: the trace says so, then it goes on
        stopped = exc
        raise
    finally:
        for warning in tracing.ended(inv.observers, outcome, stopped):
            if outcome is not None:
                outcome.warnings.append(warning)
            if inv.progress:
                inv.progress.warn(warning)
    assert outcome is not None  # else the exception goes on
    return outcome


def finish(inv: Invocation, recorded: RecordedRun, executed: Executed) -> RunOutcome:
    """Summarise from the store, check the gates and the error budget, close the run row."""
    from evalkit.run.summary import summarize_run
    from evalkit.score.gates import check_gates
    from evalkit.store import runs as store_runs
    from evalkit.store.results import run_transcripts

    prepared = recorded.prepared
    planned, calls, stats = prepared.planned, prepared.calls, executed.stats
    run_id, budget = planned.run_id, inv.project.config.defaults.error_budget
    summary = summarize_run(inv.store, run_id)
    tally = calls.tally
    summary["run"] = {
        "cache_hits": stats.cache_hits,
        "spent_usd": tally.spent_usd,
        "spent_by_purpose": dict(tally.spent),
        "retries": tally.retried,
        "retries_by_class": dict(tally.retries),
        "requests": dict(tally.requests),
        "calls_by_purpose": dict(tally.calls),
        "cache_hits_by_purpose": dict(tally.cache_hits),
        "scores_reused": prepared.runner.scoring.reused,
        "throttled_to": calls.throttled(),
        "elapsed_s": stats.elapsed,
        "prepare_s": stats.prepare_s,
    }
    gates = [] if executed.error else check_gates(planned.suite.gates, summary)
    status, exit_code, error = (
        "completed",
        1 if any(g["passed"] is False for g in gates) else 0,
        None,
    )
    if executed.error:
        status, exit_code, error = "incomplete", 3, executed.error
    elif stats.errors > budget * max(stats.planned, 1):
        classes = ", ".join(f"{k} ×{v}" for k, v in stats.error_classes.most_common())
        status, exit_code = "incomplete", 3
        error = (
            f"{stats.errors} of {stats.planned} calls failed ({classes}), over the error "
            f"budget of {budget:.0%}"
        )
    elif stats.over_cost or calls.over_cost:
        status, exit_code = "incomplete", 3
        error = (
            f"stopped before a call that could pass --max-cost ${inv.options.max_cost:g} "
            f"(spent ${tally.spent_usd:.4f}; {stats.done} of {stats.planned} calls done)"
        )
    store_runs.finish_run(
        inv.store,
        run_id,
        status=status,
        exit_code=exit_code,
        summary={"summary": summary, "gates": gates},
    )
    return RunOutcome(
        run_id=run_id,
        suite=planned.suite.name,
        status=status,
        summary=summary,
        gates=gates,
        exit_code=exit_code,
        planned=planned.plan.size,
        warnings=recorded.warnings,
        error=error,
        elapsed_s=stats.elapsed,
        header=recorded.header,
        transcripts=run_transcripts(inv.store, run_id),
    )


def dry_run_outcome(prepared: PreparedRun) -> RunOutcome:
    """What a run would do: calls planned, answered by the cache, to make, and their cost,
    for the providers under test and for the scorers' own calls (judges)."""
    planned = prepared.planned
    calls: dict[str, dict[str, Any]] = {}

    def row(provider: str, purpose: str) -> dict[str, Any]:
        key = f"{purpose}:{provider}"
        if key not in calls:
            calls[key] = {
                "provider": provider,
                "purpose": purpose,
                "planned": 0,
                "cached": 0,
                "to_call": 0,
                "estimate_usd": 0.0,
                "unpriced": 0,
            }
        return calls[key]

    for pid in planned.provider_ids:
        row(pid, "run")
    for item in planned.plan.items:
        row(item.provider, "run")["planned"] += 1
    for provider, cached, estimate in prepared.runner.planned_calls():
        entry = row(provider, "run")
        if cached:
            entry["cached"] += 1
        else:
            entry["to_call"] += 1
            if estimate is None:
                entry["unpriced"] += 1
            else:
                entry["estimate_usd"] += estimate
    for judged in prepared.scorer_calls:  # judges: the answers to grade are not known yet
        entry = row(judged.provider, "judge")
        entry["planned"] += judged.calls
        entry["to_call"] += judged.calls
        if judged.usd is None:
            entry["unpriced"] += judged.calls
        else:
            entry["estimate_usd"] += judged.usd
    work = planned.plan
    return RunOutcome(
        run_id="",
        suite=planned.suite.name,
        status="planned",
        summary={"dry_run": list(calls.values())},
        gates=[],
        exit_code=0,
        planned=work.size,
        header={
            "suite": planned.suite.name,
            "cases": len(work.cases),
            "repeat": work.repeat,
            "prompts": [p.ref for p in work.prompts],
            "providers": {},
        },
    )


async def _run_all(inv: Invocation, suites: Sequence[Suite]) -> list[RunOutcome]:
    outcomes: list[RunOutcome] = []
    started = 0
    with SignalStop(inv.progress.warn if inv.progress else None) as stop:
        inv.interrupts = stop
        try:
            async with inv.pool:
                for suite in suites:
                    started += 1
                    try:
                        outcomes.append(await run_suite(inv, suite))
                    except RunIncomplete as exc:  # e.g. a server that would not start
                        outcomes.append(
                            RunOutcome(
                                run_id=inv.resume or "",
                                suite=suite.name,
                                status="incomplete",
                                summary={"groups": [], "errors": []},
                                gates=[],
                                exit_code=3,
                                planned=0,
                                error=exc.message,
                            )
                        )
        except asyncio.CancelledError:
            if stop.signum is None:  # cancelled by someone else: not ours to explain
                raise
            raise Interrupted(
                stop.name,
                stop.exit_code,
                interrupted=inv.interrupted,
                completed=[o.run_id for o in outcomes if o.run_id],
                not_started=[s.name for s in suites[started:]],
            ) from None
    return outcomes


def run_suites(inv: Invocation, suites: Sequence[Suite]) -> list[RunOutcome]:
    """Run each suite in turn, in one event loop, so servers and clients are shared.

    SIGINT or SIGTERM stops cleanly (``evalkit.run.interrupts``): the run in progress is
    marked ``interrupted`` with what finished stored, and ``Interrupted`` names it."""
    return asyncio.run(_run_all(inv, suites))
