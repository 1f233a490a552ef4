"""The stages of one suite's run, each a small function with typed input and output:

``plan`` (work items) → ``prepare`` (cache lookups, scorers, the call service) → ``start``
(providers and judges) → ``record`` (the run row, prompt versions, cases) → ``execute``
(calls, scoring, storing) → ``finish`` (summary, gates, error budget, the run's status).
``evalkit.run.session.run_suite`` chains them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from evalkit import __version__
from evalkit.config import Project
from evalkit.errors import EvalkitError, InputError, SetupError, display_path
from evalkit.load.prompts import PromptLibrary, prompt_error
from evalkit.providers.pool import ProviderPool, default_provider_id
from evalkit.providers.pricing import Pricing
from evalkit.records import PromptVersion, Result, Suite, content_hash
from evalkit.run import tracing
from evalkit.run.calls import CallObserver, CallService
from evalkit.run.interrupts import SignalStop
from evalkit.run.plan import Plan, make_plan, parse_shard
from evalkit.run.runner import Runner, RunStats
from evalkit.score.base import CallEstimate, ScoreContext, Scorer
from evalkit.score.batch import BatchScorer
from evalkit.store import runs as store_runs
from evalkit.store.cache import DuckDBCache, ResponseCache
from evalkit.store.db import Store
from evalkit.store.score_cache import DuckDBScoreCache

__all__ = [
    "Executed",
    "Invocation",
    "PlannedRun",
    "PreparedRun",
    "Progress",
    "RecordedRun",
    "RunOptions",
    "execute",
    "plan",
    "prepare",
    "record",
    "start",
]


class Progress(Protocol):
    """Receives progress of an evaluation (the CLI draws it; tests ignore it)."""

    def start(self, label: str, total: int) -> None: ...
    def advance(self, result: Result, done: int, errors: int, retries: int) -> None: ...
    def stop(self) -> None: ...
    def warn(self, message: str) -> None: ...


@dataclass
class RunOptions:
    """What the command line (or the Python caller) asks of every suite it runs."""

    providers: Sequence[str] = ()
    prompts: Sequence[str] = ()
    repeat: int | None = None
    concurrency: int | None = None
    limit: int | None = None
    shard: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    replay: str | None = None
    max_cost: float | None = None
    dry_run: bool = False


@dataclass
class Invocation:
    """What one ``evalkit run`` lends each suite it runs: the project, the open store, the
    providers (started once, shared), the options, and an id its runs share."""

    project: Project
    store: Store
    pool: ProviderPool
    options: RunOptions
    id: str
    progress: Progress | None = None
    resume: str | None = None
    #: Where answers are cached (default: the store's own cache table).
    cache: ResponseCache | None = None
    observers: Sequence[CallObserver] = ()
    #: SIGINT/SIGTERM while the invocation runs (set by ``run.session``).
    interrupts: SignalStop | None = None
    #: Runs a signal cut short: run id -> (results stored, results planned).
    interrupted: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class PlannedRun:
    suite: Suite
    plan: Plan
    provider_ids: list[str]
    #: Calls in flight per provider id.
    concurrency: dict[str, int]

    @property
    def run_id(self) -> str:
        return self.plan.run_id


@dataclass
class PreparedRun:
    planned: PlannedRun
    calls: CallService
    scorers: list[Scorer]
    runner: Runner
    #: Provider ids with calls the cache cannot answer (only these are started).
    needed: set[str]
    #: Judge (and other scorer) calls expected, priced.
    scorer_calls: list[CallEstimate]


@dataclass
class RecordedRun:
    prepared: PreparedRun
    #: What the terminal shows above the table: suite, cases, prompts, providers and models.
    header: dict[str, Any]
    warnings: list[str]


@dataclass
class Executed:
    stats: RunStats
    #: Why the execution stopped early (a provider that died, a store that failed), if so.
    error: str | None = None


# -- plan -------------------------------------------------------------------------------------
def plan(inv: Invocation, suite: Suite) -> PlannedRun:
    """Work items of the suite (cases × prompt versions × providers × repeats)."""
    opts = inv.options
    library = PromptLibrary([inv.project.prompts_dir])
    prompts = [library.get(ref) for ref in opts.prompts]
    provider_ids = list(opts.providers or suite.providers or [default_provider_id(inv.project)])
    if opts.replay:
        inv.pool.replay_all(opts.replay, provider_ids)
    run_id = inv.resume or store_runs.new_run_id()
    work = make_plan(
        suite,
        run_id,
        prompts=prompts or None,
        providers=provider_ids,
        repeat=opts.repeat,
        limit=opts.limit,
        shard=parse_shard(opts.shard) if opts.shard else None,
    )
    concurrency = {}
    with_tools = [p for p in work.prompts if p.tools]
    for pid in provider_ids:
        provider = inv.pool.get(pid)
        if with_tools and not provider.accepts_tools():
            prompt = with_tools[0]
            raise InputError(
                f"{prompt.ref} declares tools, and provider '{pid}' runs in "
                f"{provider.mode} mode (one text prompt: no tools)",
                path=display_path(prompt.path),
                fix=f"run it on a chat-mode provider (`mode: chat` on '{pid}' in evalkit.yaml, "
                "for a model that takes tools), or remove `tools:`",
            )
        _check_params(provider, prompts or suite.prompts)
        if hasattr(provider, "check_covers"):  # replay: every planned call must be stored
            provider.check_covers([i for i in work.items if i.provider == pid])
        concurrency[pid] = (
            opts.concurrency
            or provider.options.concurrency
            or provider.default_concurrency()
            or inv.project.config.defaults.concurrency
        )
    return PlannedRun(suite, work, provider_ids, concurrency)


def _check_params(provider: Any, prompts: Sequence[PromptVersion]) -> None:
    """Params a provider cannot send as asked (a ``response_format`` Anthropic cannot honour)
    are input errors naming the prompt file, before anything is recorded."""
    members = [provider, *(member for member, _ in provider.chain() or ())]
    for prompt in prompts:
        for member in members:
            try:
                member.effective_params(prompt.params)
            except InputError as exc:
                if exc.path:
                    raise
                key = "response_format" if "response_format" in prompt.params else None
                loc: tuple[str, ...] = ("params", key) if key else ("params",)
                raise prompt_error(prompt, loc, f"{prompt.ref}: {exc.message}", exc.fix) from None


# -- prepare ----------------------------------------------------------------------------------
def prepare(inv: Invocation, planned: PlannedRun) -> PreparedRun:
    """The call service, the scorers, every request rendered and looked up in the cache."""
    opts, project = inv.options, inv.project
    pricing = Pricing(project.config.pricing)
    calls = CallService(
        cache=inv.cache or DuckDBCache(inv.store),
        read_cache=not (opts.no_cache or opts.replay),
        write_cache=not opts.replay,
        pricing=pricing,
        max_cost=opts.max_cost,
        observers=inv.observers,
    )
    context = ScoreContext(
        defaults=project.config.defaults.model_dump(),
        resources={},
        root=project.root,
        pool=inv.pool,
        under_test=tuple(planned.provider_ids),
        calls=calls,
        pricing=pricing,
    )
    from evalkit.registry import SCORERS

    scorers = [SCORERS.get(spec.type)(spec, context) for spec in planned.suite.scorers]
    scoring = BatchScorer(
        scorers,
        planned.plan.cases,
        planned.run_id,
        cache=DuckDBScoreCache(inv.store),
        read_cache=not opts.no_cache,
    )
    runner = Runner(
        planned.plan,
        inv.pool,
        inv.store,
        scoring,
        calls,
        concurrency=planned.concurrency,
        skip=store_runs.done_result_ids(inv.store, planned.run_id) if inv.resume else set(),
        error_budget=project.config.defaults.error_budget,
        on_result=_progress_callback(inv.progress, calls),
        on_scored=tracing.on_scored(inv.observers),
    )
    if inv.interrupts is not None:
        interrupts = inv.interrupts
        runner.stop_now = lambda: interrupts.hard
    needed = runner.prepare()
    to_score = len(planned.plan.items) - len(runner.skip)
    most_tokens = max(
        (int(i.prompt.params.get("max_tokens") or 256) for i in planned.plan.items), default=256
    )
    estimates = [e for s in scorers for e in s.estimate_calls(to_score, most_tokens)]
    if opts.max_cost is not None:
        unpriced = runner.unpriced() + sorted({e.provider for e in estimates if e.usd is None})
        if unpriced:
            raise InputError(
                f"--max-cost needs prices, and there is none for {', '.join(unpriced)}",
                fix="add it under `pricing:` in evalkit.yaml (USD per 1M input/output tokens)",
            )
    return PreparedRun(planned, calls, scorers, runner, needed, estimates)


def _progress_callback(progress: Progress | None, calls: CallService) -> Any:
    if progress is None:
        return None

    def on_result(result: Result, stats: RunStats) -> None:
        progress.advance(result, stats.done, stats.errors, calls.tally.retried)

    return on_result


# -- start ------------------------------------------------------------------------------------
async def start(inv: Invocation, prepared: PreparedRun) -> None:
    """Start the providers with calls to make, then the scorers (a judge starts its provider
    and refuses to judge itself here). A missing key, binary or server is a setup problem,
    not a run: nothing is recorded before this succeeds."""
    planned = prepared.planned
    for pid in planned.provider_ids:
        provider = inv.pool.get(pid)
        prepared.calls.set_concurrency(pid, planned.concurrency[pid])
        for member, _ in provider.chain() or ():
            prepared.calls.set_concurrency(member.id, planned.concurrency[pid])
        if pid in prepared.needed:
            started = await inv.pool.start(pid, planned.concurrency[pid])
            if any(p.tools for p in planned.plan.prompts):
                problem = await started.tools_problem()
                if problem is not None:
                    raise SetupError(
                        problem,
                        fix="use a model whose chat template takes tools (or give llama-server "
                        "one: `server_args: [--chat-template-file, FILE]`), or another provider",
                    )
    for scorer in prepared.scorers:
        await scorer.start()


# -- record -----------------------------------------------------------------------------------
def record(inv: Invocation, prepared: PreparedRun) -> RecordedRun:
    """The run row (or its reopening, on resume), its providers, prompt versions and cases."""
    planned, opts, store = prepared.planned, inv.options, inv.store
    suite, work = planned.suite, planned.plan
    identities = {pid: inv.pool.get(pid).identity() for pid in planned.provider_ids}
    warnings = store_runs.record_prompts(store, work.prompts)
    store_runs.record_cases(store, suite.name, work.cases)
    if inv.resume:
        store_runs.reopen_run(store, planned.run_id)
    else:
        commit, dirty = store_runs.git_info(inv.project.root)
        options = {
            "providers": planned.provider_ids,
            "prompts": [p.ref for p in work.prompts],
            "repeat": work.repeat,
            "concurrency": planned.concurrency,
            "limit": opts.limit,
            "shard": opts.shard,
            "no_cache": opts.no_cache,
            "replay": opts.replay,
            "max_cost": opts.max_cost,
            "scorers": [s.name for s in suite.scorers],
            "equivalence_margin": suite.equivalence_margin,
        }
        config_hash = content_hash(
            {"config": inv.project.config_source, "suite": suite.hash, "providers": identities}
        )
        store_runs.insert_run(
            store,
            {
                "id": planned.run_id,
                "suite": suite.name,
                "suite_path": suite.shown_path,
                "suite_hash": suite.hash,
                "git_commit": commit,
                "git_dirty": dirty,
                "evalkit_version": __version__,
                "config_hash": config_hash,
                "options": options,
                "tags": opts.tags,
                "planned": work.size,
                "invocation": inv.id,
            },
        )
        store_runs.record_providers(store, planned.run_id, identities)
    header = {
        "suite": suite.name,
        "cases": len(work.cases),
        "repeat": work.repeat,
        "prompts": [p.ref for p in work.prompts],
        "providers": {pid: identities[pid].get("model") for pid in planned.provider_ids},
    }
    return RecordedRun(prepared, header, warnings)


# -- execute ----------------------------------------------------------------------------------
async def execute(inv: Invocation, recorded: RecordedRun) -> Executed:
    """Make the calls, score and store the results; an interrupt marks the run interrupted
    (what finished is stored; exit code 128 + the signal) and propagates."""
    prepared = recorded.prepared
    planned, runner = prepared.planned, prepared.runner
    if inv.progress:
        work = planned.plan
        label = f"{planned.suite.name} · {len(work.cases)} cases · " + ", ".join(
            p.ref for p in work.prompts
        )
        inv.progress.start(label, work.size - len(runner.skip))
        for warning in recorded.warnings:
            inv.progress.warn(warning)
    try:
        return Executed(await runner.run())
    except (asyncio.CancelledError, KeyboardInterrupt):
        from evalkit.run.summary import summarize_run

        summary = summarize_run(inv.store, planned.run_id)
        store_runs.finish_run(
            inv.store,
            planned.run_id,
            status="interrupted",
            exit_code=inv.interrupts.exit_code if inv.interrupts else 130,
            summary={"summary": summary, "gates": []},
        )
        inv.interrupted[planned.run_id] = (int(summary.get("results") or 0), planned.plan.size)
        raise
    except EvalkitError as exc:
        return Executed(runner.stats, error=exc.message)
    except Exception:  # a bug: the CLI logs it; the run must not stay marked running
        store_runs.finish_run(
            inv.store, planned.run_id, status="incomplete", exit_code=3, summary={}
        )
        raise
    finally:
        prepared.calls.close()
        if inv.progress:
            inv.progress.stop()
