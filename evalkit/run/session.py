"""run (session): one invocation's suites, run one after another on a shared provider pool.

``run_suite`` is the pipeline for one suite: plan → prepare (cache) → start providers →
record the run → run → summarise → gates → finish the run. ``evalkit.api.evaluate`` opens the
project and the store, loads the suites and calls ``run_suites``; the CLI calls the api.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evalkit import __version__
from evalkit.config import Project
from evalkit.errors import EvalkitError, InputError, RunIncomplete
from evalkit.load.prompts import PromptLibrary
from evalkit.records import PromptVersion, Result, Suite, content_hash

__all__ = [
    "Evaluation",
    "Progress",
    "RunOptions",
    "RunOutcome",
    "run_suite",
    "run_suites",
]


class Progress(Protocol):
    """Receives progress of an evaluation (the CLI draws it; tests ignore it)."""

    def start(self, label: str, total: int) -> None: ...
    def advance(self, result: Result, done: int, errors: int, retries: int) -> None: ...
    def stop(self) -> None: ...
    def warn(self, message: str) -> None: ...


@dataclass
class RunOutcome:
    """One suite's run: its id, summary, gates and exit code."""

    run_id: str
    suite: str
    status: str
    summary: dict[str, Any]
    gates: list[dict[str, Any]]
    exit_code: int
    planned: int
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    elapsed_s: float = 0.0
    header: dict[str, Any] = field(default_factory=dict)
    #: The verdict against the baseline (``--baseline``), as ``evalkit.compare/1`` data.
    comparison: dict[str, Any] | None = None
    #: Why the exit code is 1 under ``--fail-on`` ("gate", "regression", ...).
    exit_reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "suite": self.suite,
            "status": self.status,
            "exit_code": self.exit_code,
            "planned": self.planned,
            "elapsed_s": self.elapsed_s,
            "header": self.header,
            "summary": self.summary,
            "gates": self.gates,
            "warnings": self.warnings,
            "error": self.error,
            "exit_reasons": self.exit_reasons,
            "comparison": self.comparison,
        }


@dataclass
class Evaluation:
    runs: list[RunOutcome]
    db: Path
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        codes = {r.exit_code for r in self.runs}
        for code in (2, 3, 1):
            if code in codes:
                return code
        return 0

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": "evalkit.run/1",
            "exit_code": self.exit_code,
            "db": str(self.db),
            "dry_run": self.dry_run,
            "runs": [r.as_json() for r in self.runs],
        }


def dry_run_outcome(suite: Suite, plan: Any, runner: Any, provider_ids: list[str]) -> RunOutcome:
    """What a run would do: calls planned, answered by the cache, to make, and their cost."""
    calls: dict[str, dict[str, Any]] = {
        pid: {
            "provider": pid,
            "planned": 0,
            "cached": 0,
            "to_call": 0,
            "estimate_usd": 0.0,
            "unpriced": 0,
        }
        for pid in provider_ids
    }
    for item in plan.items:
        calls[item.provider]["planned"] += 1
    for provider, cached, estimate in runner.planned_calls():
        row = calls[provider]
        if cached:
            row["cached"] += 1
            continue
        row["to_call"] += 1
        if estimate is None:
            row["unpriced"] += 1
        else:
            row["estimate_usd"] += estimate
    return RunOutcome(
        run_id="",
        suite=suite.name,
        status="planned",
        summary={"dry_run": list(calls.values())},
        gates=[],
        exit_code=0,
        planned=plan.size,
        header={
            "suite": suite.name,
            "cases": len(plan.cases),
            "repeat": plan.repeat,
            "prompts": [p.ref for p in plan.prompts],
            "providers": {},
        },
    )


def shared_cache(project: Project, pool: Any) -> Any:
    """The project's shared response cache (Redis), opened once per invocation, or None."""
    if not hasattr(pool, "shared_cache"):
        from evalkit.store.response_cache import open_response_cache

        pool.shared_cache = open_response_cache(project)
    return pool.shared_cache


def config_hash(project: Project, suite: Suite, identities: dict[str, Any]) -> str:
    return content_hash(
        {
            "config": project.config_source,
            "suite": suite.hash,
            "providers": identities,
        }
    )


@dataclass
class RunOptions:
    providers: Sequence[str]
    prompts: Sequence[str]
    repeat: int | None
    concurrency: int | None
    limit: int | None
    shard: str | None
    tags: dict[str, str]
    no_cache: bool = False
    replay: str | None = None
    max_cost: float | None = None
    dry_run: bool = False


async def run_suite(
    project: Project,
    store: Any,
    pool: Any,
    suite: Suite,
    opts: RunOptions,
    progress: Progress | None,
    resume: str | None,
) -> RunOutcome:
    from evalkit.providers.pool import default_provider_id
    from evalkit.providers.pricing import Pricing
    from evalkit.registry import SCORERS
    from evalkit.run.plan import make_plan, parse_shard
    from evalkit.run.runner import Runner
    from evalkit.score.base import ScoreContext
    from evalkit.score.gates import check_gates
    from evalkit.score.metrics import summarize_run
    from evalkit.store import runs as store_runs

    library = PromptLibrary([project.prompts_dir])
    prompts: list[PromptVersion] = [library.get(ref) for ref in opts.prompts]
    provider_ids = list(opts.providers or suite.providers or [default_provider_id(project)])
    if opts.replay:
        pool.replay_all(opts.replay, provider_ids)
    providers = {pid: pool.get(pid) for pid in provider_ids}
    shard = parse_shard(opts.shard) if opts.shard else None
    run_id = resume or store_runs.new_run_id()
    plan = make_plan(
        suite,
        run_id,
        prompts=prompts or None,
        providers=provider_ids,
        repeat=opts.repeat,
        limit=opts.limit,
        shard=shard,
    )
    for provider in providers.values():
        if hasattr(provider, "check_covers"):  # replay: every planned call must be stored
            provider.check_covers([i for i in plan.items if i.provider == provider.id])
    concurrency = {
        pid: opts.concurrency or p.options.concurrency or project.config.defaults.concurrency
        for pid, p in providers.items()
    }
    from evalkit.run.cache import CallCache

    calls = CallCache(
        store,
        read=not (opts.no_cache or opts.replay),
        write=not opts.replay,
        pricing=Pricing(project.config.pricing),
    )
    context = ScoreContext(
        defaults=project.config.defaults.model_dump(),
        resources={},
        root=project.root,
        pool=pool,
        under_test=tuple(provider_ids),
        calls=calls,
    )
    scorers = [SCORERS.get(spec.type)(spec, context) for spec in suite.scorers]

    def on_result(result: Result, stats: Any) -> None:
        if progress:
            progress.advance(result, stats.done, stats.errors, stats.retries)

    budget = project.config.defaults.error_budget
    skip = store_runs.done_result_ids(store, run_id) if resume else set()
    runner = Runner(
        plan,
        pool,
        store,
        scorers,
        concurrency=concurrency,
        skip=skip,
        error_budget=budget,
        on_result=on_result,
        read_cache=not (opts.no_cache or opts.replay),
        write_cache=not opts.replay,
        pricing=Pricing(project.config.pricing),
        max_cost=opts.max_cost,
        shared=shared_cache(project, pool),
    )
    needed = runner.prepare()
    if opts.max_cost is not None and runner.unpriced():
        raise InputError(
            f"--max-cost needs prices, and there is none for {', '.join(runner.unpriced())}",
            fix="add it under `pricing:` in evalkit.yaml (USD per 1M input/output tokens)",
        )
    if opts.dry_run:
        return dry_run_outcome(suite, plan, runner, provider_ids)
    # Start providers before the run is recorded: a missing key, binary or server is a
    # setup problem, not a run. Providers whose calls the cache answers are not started.
    for pid in provider_ids:
        if pid in needed:
            await pool.start(pid, concurrency[pid])
    for scorer in scorers:  # a judge starts its provider (and refuses to judge itself) here
        await scorer.start()
    identities = {pid: p.identity() for pid, p in providers.items()}
    warnings = store_runs.record_prompts(store, plan.prompts)
    store_runs.record_cases(store, suite.name, plan.cases)
    options = {
        "providers": provider_ids,
        "prompts": [p.ref for p in plan.prompts],
        "repeat": plan.repeat,
        "concurrency": concurrency,
        "limit": opts.limit,
        "shard": opts.shard,
        "no_cache": opts.no_cache,
        "replay": opts.replay,
        "max_cost": opts.max_cost,
        "scorers": [s.name for s in suite.scorers],
    }
    if resume:
        store.execute("UPDATE runs SET status = 'running', ended_at = NULL WHERE id = ?", [run_id])
    else:
        from evalkit.store.runs import git_info

        commit, dirty = git_info(project.root)
        store_runs.insert_run(
            store,
            {
                "id": run_id,
                "suite": suite.name,
                "suite_path": suite.shown_path,
                "suite_hash": suite.hash,
                "git_commit": commit,
                "git_dirty": dirty,
                "evalkit_version": __version__,
                "config_hash": config_hash(project, suite, identities),
                "options": options,
                "tags": opts.tags,
                "planned": plan.size,
            },
        )
        store_runs.record_providers(store, run_id, identities)
    header = {
        "suite": suite.name,
        "cases": len(plan.cases),
        "repeat": plan.repeat,
        "prompts": [p.ref for p in plan.prompts],
        "providers": {pid: identities[pid].get("model") for pid in provider_ids},
    }
    label = f"{suite.name} · {len(plan.cases)} cases · {', '.join(p.ref for p in plan.prompts)}"
    if progress:
        progress.start(label, plan.size - len(skip))
        for warning in warnings:
            progress.warn(warning)
    status, error = "completed", None
    try:
        stats = await runner.run()
    except (asyncio.CancelledError, KeyboardInterrupt):
        store_runs.finish_run(
            store, run_id, status="interrupted", exit_code=130, summary=summarize_run(store, run_id)
        )
        raise
    except EvalkitError as exc:
        summary = summarize_run(store, run_id)
        store_runs.finish_run(
            store,
            run_id,
            status="incomplete",
            exit_code=3,
            summary={"summary": summary, "gates": []},
        )
        return RunOutcome(
            run_id=run_id,
            suite=suite.name,
            status="incomplete",
            summary=summary,
            gates=[],
            exit_code=3,
            planned=plan.size,
            warnings=warnings,
            error=exc.message,
            header=header,
        )
    finally:
        if progress:
            progress.stop()
    summary = summarize_run(store, run_id)
    summary["run"] = {
        "cache_hits": stats.cache_hits,
        "spent_usd": stats.spent_usd,
        "retries": stats.retries,
        "throttled_to": stats.throttled_to,
        "elapsed_s": stats.elapsed,
        "prepare_s": stats.prepare_s,
    }
    gates = check_gates(suite.gates, summary)
    exit_code = 1 if any(g["passed"] is False for g in gates) else 0
    if stats.errors > budget * max(stats.planned, 1):
        status, exit_code = "incomplete", 3
        classes = ", ".join(f"{k} ×{v}" for k, v in stats.error_classes.most_common())
        error = (
            f"{stats.errors} of {stats.planned} calls failed ({classes}), over the error "
            f"budget of {budget:.0%}"
        )
    elif stats.over_cost:
        status, exit_code = "incomplete", 3
        error = (
            f"stopped before a call that could pass --max-cost ${opts.max_cost:g} "
            f"(spent ${stats.spent_usd:.4f}; {stats.done} of {stats.planned} calls done)"
        )
    store_runs.finish_run(
        store,
        run_id,
        status=status,
        exit_code=exit_code,
        summary={"summary": summary, "gates": gates},
    )
    return RunOutcome(
        run_id=run_id,
        suite=suite.name,
        status=status,
        summary=summary,
        gates=gates,
        exit_code=exit_code,
        planned=plan.size,
        warnings=warnings,
        error=error,
        elapsed_s=stats.elapsed,
        header=header,
    )


async def _run_all(
    project: Project,
    store: Any,
    pool: Any,
    suites: Sequence[Suite],
    opts: RunOptions,
    progress: Progress | None,
    resume: str | None,
) -> list[RunOutcome]:
    outcomes = []
    async with pool:
        for suite in suites:
            try:
                outcomes.append(
                    await run_suite(project, store, pool, suite, opts, progress, resume)
                )
            except RunIncomplete as exc:  # e.g. a server that would not start
                outcomes.append(
                    RunOutcome(
                        run_id=resume or "",
                        suite=suite.name,
                        status="incomplete",
                        summary={"groups": [], "errors": []},
                        gates=[],
                        exit_code=3,
                        planned=0,
                        error=exc.message,
                    )
                )
    return outcomes


def run_suites(
    project: Project,
    store: Any,
    pool: Any,
    suites: Sequence[Suite],
    opts: RunOptions,
    progress: Progress | None = None,
    resume: str | None = None,
) -> list[RunOutcome]:
    """Run each suite in turn, in one event loop, so servers and clients are shared."""
    return asyncio.run(_run_all(project, store, pool, suites, opts, progress, resume))
