"""What the CLI calls: the pipeline, end to end, as plain functions returning plain data.

``evaluate()`` = load → plan → run → score → store → summarise → gates → exit code. Each
function here opens what it needs (project, store, providers) and closes it again; none prints.
Progress is reported through an optional callback object, so the CLI can draw a progress bar
and tests can stay silent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evalkit import __version__
from evalkit.config import Project
from evalkit.errors import EvalkitError, InputError, NotFoundError, RunIncomplete
from evalkit.records import PromptVersion, Result, Suite, content_hash

__all__ = [
    "Evaluation",
    "Progress",
    "RunOutcome",
    "compare",
    "delete_baseline",
    "evaluate",
    "get_run",
    "list_baselines",
    "list_prompts",
    "list_runs",
    "open_store",
    "query",
    "render_report",
    "set_baseline",
    "show_prompt",
    "write_reports",
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
            "run_id": self.run_id, "suite": self.suite, "status": self.status,
            "exit_code": self.exit_code, "planned": self.planned, "elapsed_s": self.elapsed_s,
            "header": self.header, "summary": self.summary, "gates": self.gates,
            "warnings": self.warnings, "error": self.error,
            "exit_reasons": self.exit_reasons, "comparison": self.comparison,
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


def open_store(project: Project, db: str | Path | None = None, *, read_only: bool = False) -> Any:
    from evalkit.store.db import Store

    return Store(project.db_path(db), read_only=read_only)


def _library(project: Project) -> Any:
    from evalkit.load.prompts import PromptLibrary

    return PromptLibrary([project.prompts_dir])


def _suite_paths(project: Project, names: Sequence[str]) -> list[Path]:
    from evalkit.load.suites import discover_suites

    if not names:
        found = discover_suites(project.suites_dir)
        if not found:
            raise InputError(
                f"no suites in {project.suites_dir}",
                fix="name a suite file, or create suites/<name>.yaml (see `evalkit init`)",
            )
        return found
    paths = []
    for name in names:
        path = Path(name)
        if not path.exists():
            for candidate in (project.suites_dir / name, project.suites_dir / f"{name}.yaml"):
                if candidate.is_file():
                    path = candidate
                    break
        if not path.is_file():
            raise NotFoundError(f"suite '{name}' not found",
                                fix=f"give a path, or a name from {project.suites_dir}")
        paths.append(path)
    return paths


def _dry_run_outcome(suite: Suite, plan: Any, runner: Any, provider_ids: list[str]) -> RunOutcome:
    """What a run would do: calls planned, answered by the cache, to make, and their cost."""
    calls: dict[str, dict[str, Any]] = {
        pid: {"provider": pid, "planned": 0, "cached": 0, "to_call": 0, "estimate_usd": 0.0,
              "unpriced": 0} for pid in provider_ids}
    for item in plan.items:
        calls[item.provider]["planned"] += 1
    for hit in runner._hits:
        calls[hit.provider]["cached"] += 1
    for pending in runner._pending:
        row = calls[pending.item.provider]
        row["to_call"] += 1
        if pending.estimate is None:
            row["unpriced"] += 1
        else:
            row["estimate_usd"] += pending.estimate
    return RunOutcome(
        run_id="", suite=suite.name, status="planned", summary={"dry_run": list(calls.values())},
        gates=[], exit_code=0, planned=plan.size,
        header={"suite": suite.name, "cases": len(plan.cases), "repeat": plan.repeat,
                "prompts": [p.ref for p in plan.prompts], "providers": {}},
    )


def _config_hash(project: Project, suite: Suite, identities: dict[str, Any]) -> str:
    return content_hash({
        "config": project.config_source, "suite": suite.hash, "providers": identities,
    })


@dataclass
class _Options:
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


async def _run_suite(
    project: Project, store: Any, pool: Any, suite: Suite, opts: _Options,
    progress: Progress | None, resume: str | None,
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

    library = _library(project)
    prompts: list[PromptVersion] = [library.get(ref) for ref in opts.prompts]
    provider_ids = list(opts.providers or suite.providers or [default_provider_id(project)])
    if opts.replay:
        pool.replay_all(opts.replay, provider_ids)
    providers = {pid: pool.get(pid) for pid in provider_ids}
    shard = parse_shard(opts.shard) if opts.shard else None
    run_id = resume or store_runs.new_run_id()
    plan = make_plan(suite, run_id, prompts=prompts or None, providers=provider_ids,
                     repeat=opts.repeat, limit=opts.limit, shard=shard)
    for provider in providers.values():
        if hasattr(provider, "check_covers"):  # replay: every planned call must be stored
            provider.check_covers([i for i in plan.items if i.provider == provider.id])
    concurrency = {
        pid: opts.concurrency or p.options.concurrency or project.config.defaults.concurrency
        for pid, p in providers.items()
    }
    from evalkit.run.cache import CallCache

    calls = CallCache(store, read=not (opts.no_cache or opts.replay), write=not opts.replay,
                      pricing=Pricing(project.config.pricing))
    context = ScoreContext(defaults=project.config.defaults.model_dump(), resources={},
                           root=project.root, pool=pool, under_test=tuple(provider_ids),
                           calls=calls)
    scorers = [SCORERS.get(spec.type)(spec, context) for spec in suite.scorers]

    def on_result(result: Result, stats: Any) -> None:
        if progress:
            progress.advance(result, stats.done, stats.errors, stats.retries)

    budget = project.config.defaults.error_budget
    skip = store_runs.done_result_ids(store, run_id) if resume else set()
    runner = Runner(
        plan, pool, store, scorers, concurrency=concurrency, skip=skip, error_budget=budget,
        on_result=on_result, read_cache=not (opts.no_cache or opts.replay),
        write_cache=not opts.replay, pricing=Pricing(project.config.pricing),
        max_cost=opts.max_cost,
    )
    needed = runner.prepare()
    if opts.max_cost is not None and runner.unpriced():
        raise InputError(
            f"--max-cost needs prices, and there is none for {', '.join(runner.unpriced())}",
            fix="add it under `pricing:` in evalkit.yaml (USD per 1M input/output tokens)",
        )
    if opts.dry_run:
        return _dry_run_outcome(suite, plan, runner, provider_ids)
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
        "providers": provider_ids, "prompts": [p.ref for p in plan.prompts],
        "repeat": plan.repeat, "concurrency": concurrency, "limit": opts.limit,
        "shard": opts.shard, "no_cache": opts.no_cache, "replay": opts.replay,
        "max_cost": opts.max_cost,
    }
    if resume:
        store.execute("UPDATE runs SET status = 'running', ended_at = NULL WHERE id = ?",
                      [run_id])
    else:
        from evalkit.store.runs import git_info

        commit, dirty = git_info(project.root)
        store_runs.insert_run(store, {
            "id": run_id, "suite": suite.name, "suite_path": suite.shown_path,
            "suite_hash": suite.hash, "git_commit": commit, "git_dirty": dirty,
            "evalkit_version": __version__, "config_hash": _config_hash(project, suite, identities),
            "options": options, "tags": opts.tags, "planned": plan.size,
        })
        store_runs.record_providers(store, run_id, identities)
    header = {
        "suite": suite.name, "cases": len(plan.cases), "repeat": plan.repeat,
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
        store_runs.finish_run(store, run_id, status="interrupted", exit_code=130,
                              summary=summarize_run(store, run_id))
        raise
    except EvalkitError as exc:
        summary = summarize_run(store, run_id)
        store_runs.finish_run(store, run_id, status="incomplete", exit_code=3,
                              summary={"summary": summary, "gates": []})
        return RunOutcome(
            run_id=run_id, suite=suite.name, status="incomplete", summary=summary, gates=[],
            exit_code=3, planned=plan.size, warnings=warnings, error=exc.message, header=header,
        )
    finally:
        if progress:
            progress.stop()
    summary = summarize_run(store, run_id)
    summary["run"] = {
        "cache_hits": stats.cache_hits, "spent_usd": stats.spent_usd, "retries": stats.retries,
        "throttled_to": stats.throttled_to, "elapsed_s": stats.elapsed,
        "prepare_s": stats.prepare_s,
    }
    gates = check_gates(suite.gates, summary)
    exit_code = 1 if any(g["passed"] is False for g in gates) else 0
    if stats.errors > budget * max(stats.planned, 1):
        status, exit_code = "incomplete", 3
        classes = ", ".join(f"{k} ×{v}" for k, v in stats.error_classes.most_common())
        error = (f"{stats.errors} of {stats.planned} calls failed ({classes}), over the error "
                 f"budget of {budget:.0%}")
    elif stats.over_cost:
        status, exit_code = "incomplete", 3
        error = (f"stopped before a call that could pass --max-cost ${opts.max_cost:g} "
                 f"(spent ${stats.spent_usd:.4f}; {stats.done} of {stats.planned} calls done)")
    store_runs.finish_run(store, run_id, status=status, exit_code=exit_code,
                          summary={"summary": summary, "gates": gates})
    return RunOutcome(
        run_id=run_id, suite=suite.name, status=status, summary=summary, gates=gates,
        exit_code=exit_code, planned=plan.size, warnings=warnings, error=error,
        elapsed_s=stats.elapsed, header=header,
    )


def evaluate(
    suites: Sequence[str | Path] = (),
    *,
    project: Project | None = None,
    db: str | Path | None = None,
    providers: Sequence[str] = (),
    prompts: Sequence[str] = (),
    repeat: int | None = None,
    concurrency: int | None = None,
    limit: int | None = None,
    shard: str | None = None,
    tags: dict[str, str] | None = None,
    resume: str | None = None,
    progress: Progress | None = None,
    no_cache: bool = False,
    replay: str | None = None,
    max_cost: float | None = None,
    dry_run: bool = False,
    baseline: str | None = None,
    fail_on: str = "regression",
) -> Evaluation:
    """Run suites (all of ``suites/`` when none is named) and store everything.

    ``no_cache`` skips reading the response cache (fresh answers are still stored);
    ``replay`` answers every call from a stored run; ``max_cost`` stops before a call that
    could pass that many USD; ``dry_run`` plans and prices the calls without making them;
    ``baseline`` compares each run with it; ``fail_on`` turns verdicts into exit codes.
    """
    from evalkit.compare.policy import check_policy
    from evalkit.load.suites import load_suite
    from evalkit.providers.pool import ProviderPool

    check_policy(fail_on)
    project = project or Project.discover()
    library = _library(project)
    with open_store(project, db) as store:
        pool = ProviderPool(project, log_dir=project.db_path(db).parent / "logs", store=store)
        resume_id: str | None = None
        if resume:
            from evalkit.store.runs import get_run, resolve_run

            resume_id = resolve_run(store, resume)
            row = get_run(store, resume_id)
            suite_paths = [project.root / row["suite_path"]] if row.get("suite_path") else []
            saved = row.get("options") or {}
            providers = providers or saved.get("providers") or ()
            prompts = prompts or saved.get("prompts") or ()
            repeat = repeat or saved.get("repeat")
            limit = limit if limit is not None else saved.get("limit")
            shard = shard or saved.get("shard")
        else:
            suite_paths = _suite_paths(project, [str(s) for s in suites])
        known = pool.ids()
        loaded = [load_suite(path, library, known) for path in suite_paths]
        if resume_id:
            row = get_run(store, resume_id)
            if loaded and loaded[0].hash != row.get("suite_hash"):
                raise InputError(
                    f"suite '{loaded[0].name}' changed since run {resume_id} started",
                    path=loaded[0].shown_path,
                    fix="start a new run (a resumed run must be the same suite)",
                )
        opts = _Options(providers, prompts, repeat, concurrency, limit, shard, tags or {},
                        no_cache=no_cache, replay=replay, max_cost=max_cost, dry_run=dry_run)
        if baseline:
            from evalkit.compare.baselines import check_reference

            check_reference(store, baseline)  # before any call is made

        async def main() -> list[RunOutcome]:
            outcomes = []
            async with pool:
                for suite in loaded:
                    try:
                        outcomes.append(await _run_suite(
                            project, store, pool, suite, opts, progress, resume_id))
                    except RunIncomplete as exc:
                        outcomes.append(RunOutcome(
                            run_id=resume_id or "", suite=suite.name, status="incomplete",
                            summary={"groups": [], "errors": []}, gates=[], exit_code=3,
                            planned=0, error=exc.message,
                        ))
            return outcomes

        runs = asyncio.run(main())
        from evalkit.compare.service import judge_runs

        judge_runs(store, runs, baseline, fail_on)
        return Evaluation(runs=runs, db=project.db_path(db), dry_run=dry_run)


# -- reading the store ----------------------------------------------------------------------
@contextlib.contextmanager
def _reader(project: Project | None, db: str | Path | None) -> Iterator[Any]:
    project = project or Project.discover()
    with open_store(project, db, read_only=True) as store:
        yield store


def list_runs(*, suite: str | None = None, limit: int = 20, project: Project | None = None,
              db: str | Path | None = None) -> list[dict[str, Any]]:
    from evalkit.store.runs import list_runs as _list

    with _reader(project, db) as store:
        return _list(store, suite, limit)


def get_run(ref: str, *, project: Project | None = None,
            db: str | Path | None = None) -> dict[str, Any]:
    """A run with its summary (recomputed from the store) and its providers."""
    from evalkit.score.metrics import summarize_run
    from evalkit.store.runs import get_run as _get
    from evalkit.store.runs import resolve_run

    with _reader(project, db) as store:
        run_id = resolve_run(store, ref)
        run = _get(store, run_id)
        run["providers"] = store.records(
            "SELECT provider, type, model, identity FROM run_providers WHERE run_id = ?", [run_id])
        stored = run.get("summary") or {}
        run["summary"] = summarize_run(store, run_id)
        run["gates"] = stored.get("gates", [])
        return run


def query(sql: str, *, project: Project | None = None,
          db: str | Path | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Read-only SQL over the store: (column names, rows)."""
    import duckdb

    with _reader(project, db) as store:
        try:
            cursor = store.con.execute(sql)
        except duckdb.Error as exc:
            text = str(exc).splitlines()[0]
            raise InputError(f"query failed: {text}",
                             fix="tables: runs, results, scores, cases, prompt_versions, "
                                 "run_providers, baselines") from None
        if cursor.description is None:
            return [], []
        return [d[0] for d in cursor.description], cursor.fetchall()


def list_prompts(*, project: Project | None = None) -> list[PromptVersion]:
    project = project or Project.discover()
    library = _library(project)
    return [v for name in library.names() for v in library.versions(name)]


def show_prompt(ref: str, *, project: Project | None = None) -> PromptVersion:
    project = project or Project.discover()
    version: PromptVersion = _library(project).get(ref)
    return version


# -- the cache and providers -----------------------------------------------------------------
def cache_stats(*, project: Project | None = None, db: str | Path | None = None) -> dict[str, Any]:
    from evalkit.run import cache

    with _reader(project, db) as store:
        return cache.stats(store)


def cache_clear(*, older_than: Any = None, project: Project | None = None,
                db: str | Path | None = None) -> int:
    from evalkit.run import cache

    project = project or Project.discover()
    with open_store(project, db) as store:
        return cache.clear(store, older_than)


def cache_explain(result_id: str, *, project: Project | None = None,
                  db: str | Path | None = None) -> dict[str, Any]:
    from evalkit.run import cache

    with _reader(project, db) as store:
        return cache.explain(store, result_id)


def list_providers(*, project: Project | None = None) -> list[dict[str, Any]]:
    """Every provider id with its type, model, endpoint and whether its key is set."""
    import os

    from evalkit.providers.pool import ProviderPool, default_provider_id

    project = project or Project.discover()
    pool = ProviderPool(project)
    default = default_provider_id(project)
    rows = []
    for pid in pool.ids():
        provider = pool.get(pid)
        key_env = getattr(provider.options, "api_key_env", None)
        rows.append({
            "id": pid, "type": provider.type, "model": provider.model, "mode": provider.mode,
            "base_url": getattr(provider, "base_url", None), "key_env": key_env,
            "key_set": bool(os.environ.get(key_env)) if key_env else None,
            "default": pid == default,
        })
    return rows


def check_provider(provider_id: str, *, project: Project | None = None) -> dict[str, Any]:
    """Start a provider and make one small call: does it answer, how fast."""
    from evalkit.providers.base import Request
    from evalkit.providers.pool import ProviderPool
    from evalkit.records import Message
    from evalkit.run.calls import RetryPolicy, call_with_retries

    project = project or Project.discover()

    async def go() -> dict[str, Any]:
        async with ProviderPool(project) as pool:
            provider = await pool.start(provider_id, 1)
            request = Request([Message("user", "Q: What is the capital of France?\nA:")],
                              provider.effective_params({"max_tokens": 8, "stop": ["\n"]}))
            import random

            outcome = await call_with_retries(provider, request, RetryPolicy(max_attempts=2),
                                              random.Random(0))
            out: dict[str, Any] = {"id": provider_id, "identity": provider.identity(),
                                   "attempts": outcome.attempts}
            if outcome.error is not None:
                out.update(ok=False, error_class=outcome.error.error_class,
                           error=outcome.error.message)
            else:
                gen = outcome.generation
                assert gen is not None
                out.update(ok=True, output=gen.text, latency_ms=gen.latency_ms,
                           ttft_ms=gen.ttft_ms, input_tokens=gen.input_tokens,
                           output_tokens=gen.output_tokens)
            return out

    return asyncio.run(go())


# -- baselines, comparisons and reports -------------------------------------------------------
def set_baseline(name: str, runs: Sequence[str], *, suite: str | None = None,
                 project: Project | None = None,
                 db: str | Path | None = None) -> list[dict[str, Any]]:
    """Name each run (one per suite) the suite's baseline ``name``; returns what changed."""
    from evalkit.compare.baselines import set_baseline as _set

    with open_store(project or Project.discover(), db) as store:
        return _set(store, name, runs, suite)


def list_baselines(*, suite: str | None = None, project: Project | None = None,
                   db: str | Path | None = None) -> list[dict[str, Any]]:
    from evalkit.compare.baselines import list_baselines as _list

    with _reader(project, db) as store:
        return _list(store, suite)


def delete_baseline(name: str, *, suite: str | None = None, project: Project | None = None,
                    db: str | Path | None = None) -> int:
    from evalkit.compare.baselines import delete_baseline as _delete

    with open_store(project or Project.discover(), db) as store:
        return _delete(store, name, suite)


def compare(
    refs: Sequence[str] = (), *, prompts: Sequence[str] = (), providers: Sequence[str] = (),
    repeat: int | None = None, run_missing: bool = True, fail_on: str = "regression",
    project: Project | None = None, db: str | Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``evalkit.compare/1`` data for: two runs (``[RUN_A, RUN_B]``); one run with two named
    sides; or a suite (``[SUITE]``) with two ``prompts`` (or ``providers``), running first
    whatever the store lacks. ``exit_code`` in it applies ``fail_on`` to the verdict."""
    from evalkit.compare import service
    from evalkit.compare.align import Sides
    from evalkit.compare.policy import check_policy, decide

    check_policy(fail_on)
    project = project or Project.discover()
    sides = Sides(tuple(prompts), tuple(providers))
    named = len(sides.prompts) == 2 or len(sides.providers) == 2
    data: dict[str, Any] | None = None
    if len(refs) == 1 and named and service.is_suite(project, refs[0]):
        data = service.compare_suite(project, db, refs[0], sides, repeat=repeat,
                                     run_missing=run_missing, evaluate=evaluate,
                                     progress=progress)
    elif len(refs) == 2 or (len(refs) == 1 and named):
        with _reader(project, db) as store:
            data = service.compare_refs(store, refs, sides)
    if data is not None:
        data["exit_code"], data["exit_reasons"] = decide(0, [], data, fail_on)
        return data
    raise InputError(
        "compare needs two runs, or a suite (or run) and two --prompt (or --provider)",
        fix="e.g. `evalkit compare main last` or "
            "`evalkit compare --prompt summarize@v1 --prompt summarize@v2 SUITE`")


def write_reports(data: dict[str, Any], *, junit: str | Path | None = None,
                  summary: str | Path | None = None, report: str | Path | None = None,
                  project: Project | None = None,
                  db: str | Path | None = None) -> dict[str, str]:
    """Write the JUnit XML, the Markdown summary (also appended to ``$GITHUB_STEP_SUMMARY``)
    and the HTML report of ``evalkit.run/1`` or ``evalkit.compare/1`` data; returns paths."""
    from evalkit.report.files import write_reports as _write

    return _write(data, junit=junit, summary=summary, report=report,
                  project=project or Project.discover(), db=db)


def render_report(run: str = "last", *, baseline: str | None = None,
                  output: str | Path | None = None, project: Project | None = None,
                  db: str | Path | None = None) -> Path:
    """Write a run's self-contained HTML report, compared with ``baseline`` (or with the
    baseline it was compared with when it ran); returns its path (default
    ``reports/<suite>-<run>.html``)."""
    from evalkit.report.files import render_report as _render

    return _render(run, baseline=baseline, output=output,
                   project=project or Project.discover(), db=db)
