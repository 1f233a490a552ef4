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
from pathlib import Path
from typing import Any

from evalkit.config import Project
from evalkit.contracts import Comparison, StoredRun
from evalkit.errors import InputError, RunIncomplete
from evalkit.load.prompts import project_library as _library
from evalkit.load.suites import suite_paths
from evalkit.records import PromptVersion
from evalkit.run.session import Evaluation, Progress, RunOptions, RunOutcome
from evalkit.store.db import open_store

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
    could pass that many USD (judge calls included); ``dry_run`` plans and prices the calls
    without making them (and writes nothing); ``baseline`` compares each run with it;
    ``fail_on`` turns verdicts into exit codes.
    """
    from evalkit.compare.policy import check_policy

    check_policy(fail_on)
    project = project or Project.discover()
    options = RunOptions(
        providers,
        prompts,
        repeat,
        concurrency,
        limit,
        shard,
        tags or {},
        no_cache=no_cache,
        replay=replay,
        max_cost=max_cost,
        dry_run=dry_run,
    )
    with _run_store(project, db, dry_run) as store:
        if resume:
            resume, paths = _resumed(project, store, resume, options)
        else:
            paths = suite_paths(project, [str(s) for s in suites])
        runs = _evaluate(project, store, paths, options, progress, resume, baseline, fail_on)
        return Evaluation(runs=runs, db=project.db_path(db), dry_run=dry_run)


def _evaluate(
    project: Project,
    store: Any,
    paths: Sequence[Path],
    options: RunOptions,
    progress: Progress | None,
    resume: str | None,
    baseline: str | None,
    fail_on: str,
) -> list[RunOutcome]:
    """load → run (plan … finish) → compare with the baseline, for each suite."""
    from evalkit.compare.service import judge_runs
    from evalkit.load.suites import load_suite
    from evalkit.providers.pool import ProviderPool
    from evalkit.run.session import run_suites
    from evalkit.run.stages import Invocation
    from evalkit.store.runs import StoredAnswers, get_run, new_run_id

    pool = ProviderPool(
        project, log_dir=project.db_path(None).parent / "logs", answers=StoredAnswers(store)
    )
    loaded = [load_suite(path, _library(project), pool.ids()) for path in paths]
    if resume and loaded and loaded[0].hash != get_run(store, resume).get("suite_hash"):
        raise InputError(
            f"suite '{loaded[0].name}' changed since run {resume} started",
            path=loaded[0].shown_path,
            fix="start a new run (a resumed run must be the same suite)",
        )
    if baseline:
        from evalkit.compare.baselines import check_reference

        check_reference(store, baseline)  # before any call is made
    invocation = Invocation(
        project, store, pool, options, id=new_run_id(), progress=progress, resume=resume
    )
    runs = run_suites(invocation, loaded)
    if not options.dry_run:
        judge_runs(store, runs, baseline, fail_on)
    return runs


def _resumed(project: Project, store: Any, ref: str, options: RunOptions) -> tuple[str, list[Path]]:
    """The run to resume and its suite; options not given again are taken from the run."""
    from evalkit.store.runs import get_run, resolve_run

    run_id = resolve_run(store, ref)
    row = get_run(store, run_id)
    saved = row.get("options") or {}
    options.providers = options.providers or saved.get("providers") or ()
    options.prompts = options.prompts or saved.get("prompts") or ()
    options.repeat = options.repeat or saved.get("repeat")
    options.limit = options.limit if options.limit is not None else saved.get("limit")
    options.shard = options.shard or saved.get("shard")
    paths = [project.root / row["suite_path"]] if row.get("suite_path") else []
    return run_id, paths


@contextlib.contextmanager
def _run_store(project: Project, db: str | Path | None, dry_run: bool) -> Iterator[Any]:
    """The store a run writes to; a dry run only reads it (and creates none)."""
    if not dry_run:
        with open_store(project, db) as store:
            yield store
        return
    if project.db_path(db).exists():
        with open_store(project, db, read_only=True) as store:
            yield store
        return
    import tempfile

    with (
        tempfile.TemporaryDirectory(prefix="evalkit-dry-run-") as folder,
        open_store(project, Path(folder) / "empty.duckdb") as store,
    ):
        yield store


# -- reading the store ----------------------------------------------------------------------
@contextlib.contextmanager
def _reader(project: Project | None, db: str | Path | None) -> Iterator[Any]:
    project = project or Project.discover()
    with open_store(project, db, read_only=True) as store:
        yield store


def list_runs(
    *,
    suite: str | None = None,
    limit: int = 20,
    project: Project | None = None,
    db: str | Path | None = None,
) -> list[dict[str, Any]]:
    from evalkit.store.runs import list_runs as _list

    with _reader(project, db) as store:
        return _list(store, suite, limit)


def get_run(
    ref: str,
    *,
    case: str | None = None,
    project: Project | None = None,
    db: str | Path | None = None,
) -> StoredRun:
    """A stored run (``evalkit.run.show/1``): its row, providers, summary (recomputed from
    the store), the gates as checked when it ran, its comparison, if it was compared, and
    the transcripts of its conversations and agent loops (only case ``case``'s, if given)."""
    from evalkit.run.summary import summarize_run
    from evalkit.store.results import run_transcripts
    from evalkit.store.runs import get_run as _get
    from evalkit.store.runs import resolve_run, run_providers

    with _reader(project, db) as store:
        run_id = resolve_run(store, ref)
        run = _get(store, run_id)
        run["providers"] = run_providers(store, run_id)
        stored = run.get("summary") or {}
        run["summary"] = summarize_run(store, run_id)
        run["gates"] = stored.get("gates", [])
        run["transcripts"] = run_transcripts(store, run_id, case)
        return StoredRun.model_validate(run)


def query(
    sql: str, *, project: Project | None = None, db: str | Path | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Read-only SQL over the store: (column names, rows)."""
    from evalkit.store.query import read_query

    with _reader(project, db) as store:
        return read_query(store, sql)


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


def cache_clear(
    *, older_than: Any = None, project: Project | None = None, db: str | Path | None = None
) -> int:
    from evalkit.run import cache

    project = project or Project.discover()
    with open_store(project, db) as store:
        return cache.clear(store, older_than)


def cache_explain(
    result_id: str, *, project: Project | None = None, db: str | Path | None = None
) -> dict[str, Any]:
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
        rows.append(
            {
                "id": pid,
                "type": provider.type,
                "model": provider.model,
                "mode": provider.mode,
                "base_url": getattr(provider, "base_url", None),
                "key_env": key_env,
                "key_set": bool(os.environ.get(key_env)) if key_env else None,
                "default": pid == default,
            }
        )
    return rows


def check_provider(provider_id: str, *, project: Project | None = None) -> dict[str, Any]:
    """Start a provider and make one small call: does it answer, how fast."""
    from evalkit.providers.base import Request
    from evalkit.providers.pool import ProviderPool
    from evalkit.records import Message
    from evalkit.run.calls import CallService, RetryPolicy

    project = project or Project.discover()

    async def go() -> dict[str, Any]:
        async with ProviderPool(project) as pool:
            provider = await pool.start(provider_id, 1)
            request = Request(
                [Message("user", "Q: What is the capital of France?\nA:")],
                provider.effective_params({"max_tokens": 8, "stop": ["\n"]}),
            )
            calls = CallService(retry=RetryPolicy(max_attempts=2))  # no cache: a live check
            outcome = await calls.call(provider, request, purpose="check")
            out: dict[str, Any] = {
                "id": provider_id,
                "identity": provider.identity(),
                "attempts": outcome.attempts,
            }
            if outcome.error is not None:
                out.update(
                    ok=False, error_class=outcome.error.error_class, error=outcome.error.message
                )
            else:
                gen = outcome.generation
                assert gen is not None
                out.update(
                    ok=True,
                    output=gen.text,
                    latency_ms=gen.latency_ms,
                    ttft_ms=gen.ttft_ms,
                    input_tokens=gen.input_tokens,
                    output_tokens=gen.output_tokens,
                )
            return out

    return asyncio.run(go())


# -- baselines, comparisons and reports -------------------------------------------------------
def set_baseline(
    name: str,
    runs: Sequence[str],
    *,
    suite: str | None = None,
    project: Project | None = None,
    db: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Name each run (one per suite) the suite's baseline ``name``; returns what changed."""
    from evalkit.compare.baselines import set_baseline as _set

    with open_store(project or Project.discover(), db) as store:
        return _set(store, name, runs, suite)


def list_baselines(
    *, suite: str | None = None, project: Project | None = None, db: str | Path | None = None
) -> list[dict[str, Any]]:
    from evalkit.compare.baselines import list_baselines as _list

    with _reader(project, db) as store:
        return _list(store, suite)


def delete_baseline(
    name: str,
    *,
    suite: str | None = None,
    project: Project | None = None,
    db: str | Path | None = None,
) -> int:
    from evalkit.compare.baselines import delete_baseline as _delete

    with open_store(project or Project.discover(), db) as store:
        return _delete(store, name, suite)


def compare(
    refs: Sequence[str] = (),
    *,
    prompts: Sequence[str] = (),
    providers: Sequence[str] = (),
    repeat: int | None = None,
    run_missing: bool = True,
    fail_on: str = "regression",
    project: Project | None = None,
    db: str | Path | None = None,
    progress: Progress | None = None,
) -> Comparison:
    """``evalkit.compare/1`` for: two runs (``[RUN_A, RUN_B]``); one run with two named
    sides; or a suite (``[SUITE]``) with two ``prompts`` (or ``providers``), running first
    whatever the store lacks. ``exit_code`` in it applies ``fail_on`` to the verdict."""
    from evalkit.compare import service
    from evalkit.compare.align import Sides
    from evalkit.compare.policy import check_policy, decide
    from evalkit.contracts import RanRun

    check_policy(fail_on)
    project = project or Project.discover()
    sides = Sides(tuple(prompts), tuple(providers))
    named = len(sides.prompts) == 2 or len(sides.providers) == 2
    data: Comparison | None = None
    if len(refs) == 1 and named and service.is_suite(project, refs[0]):
        planned = service.plan_suite_comparison(project, db, refs[0], sides, repeat=repeat)
        ran: list[RanRun] = []
        for prompt_refs, provider_ids in planned.runs_to_make() if run_missing else []:
            outcome = evaluate(
                [planned.path],
                project=project,
                db=db,
                providers=provider_ids,
                prompts=prompt_refs,
                repeat=planned.repeat,
                progress=progress,
            ).runs[0]
            if outcome.status != "completed":
                raise RunIncomplete(
                    f"the run of {', '.join(prompt_refs)} did not complete: {outcome.error}"
                )
            planned.filled(prompt_refs, provider_ids, outcome.run_id)
            ran.append(RanRun(run_id=outcome.run_id, prompts=prompt_refs, providers=provider_ids))
        data = service.compare_suite(project, db, planned, ran)
    elif len(refs) == 2 or (len(refs) == 1 and named):
        with _reader(project, db) as store:
            data = service.compare_refs(store, refs, sides)
    if data is not None:
        data.exit_code, data.exit_reasons = decide(0, [], data, fail_on)
        return data
    raise InputError(
        "compare needs two runs, or a suite (or run) and two --prompt (or --provider)",
        fix="e.g. `evalkit compare main last` or "
        "`evalkit compare --prompt summarize@v1 --prompt summarize@v2 SUITE`",
    )


def write_reports(
    data: Evaluation | Comparison,
    *,
    junit: str | Path | None = None,
    summary: str | Path | None = None,
    report: str | Path | None = None,
    project: Project | None = None,
    db: str | Path | None = None,
) -> dict[str, str]:
    """Write the JUnit XML, the Markdown summary (also appended to ``$GITHUB_STEP_SUMMARY``)
    and the HTML report of ``evalkit.run/1`` or ``evalkit.compare/1`` data; returns paths."""
    from evalkit.report.files import write_reports as _write

    return _write(
        data,
        junit=junit,
        summary=summary,
        report=report,
        project=project or Project.discover(),
        db=db,
    )


def render_report(
    run: str = "last",
    *,
    baseline: str | None = None,
    output: str | Path | None = None,
    project: Project | None = None,
    db: str | Path | None = None,
) -> Path:
    """Write a run's self-contained HTML report, compared with ``baseline`` (or with the
    baseline it was compared with when it ran); returns its path (default
    ``reports/<suite>-<run>.html``)."""
    from evalkit.report.files import render_report as _render

    return _render(
        run, baseline=baseline, output=output, project=project or Project.discover(), db=db
    )
