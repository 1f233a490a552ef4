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
from evalkit.errors import InputError
from evalkit.load.prompts import project_library as _library
from evalkit.records import PromptVersion
from evalkit.run.session import Evaluation, Progress, RunOptions, RunOutcome, run_suites
from evalkit.store.db import open_store

__all__ = [
    "Evaluation",
    "Progress",
    "RunOutcome",
    "compare",
    "delete_baseline",
    "evaluate",
    "get_run",
    "init_project",
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
            paths = [project.root / row["suite_path"]] if row.get("suite_path") else []
            saved = row.get("options") or {}
            providers = providers or saved.get("providers") or ()
            prompts = prompts or saved.get("prompts") or ()
            repeat = repeat or saved.get("repeat")
            limit = limit if limit is not None else saved.get("limit")
            shard = shard or saved.get("shard")
        else:
            from evalkit.load.suites import suite_paths

            paths = suite_paths(project, [str(s) for s in suites])
        known = pool.ids()
        loaded = [load_suite(path, library, known) for path in paths]
        if resume_id:
            row = get_run(store, resume_id)
            if loaded and loaded[0].hash != row.get("suite_hash"):
                raise InputError(
                    f"suite '{loaded[0].name}' changed since run {resume_id} started",
                    path=loaded[0].shown_path,
                    fix="start a new run (a resumed run must be the same suite)",
                )
        opts = RunOptions(
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
        if baseline:
            from evalkit.compare.baselines import check_reference

            check_reference(store, baseline)  # before any call is made

        runs = run_suites(project, store, pool, loaded, opts, progress, resume_id)
        from evalkit.compare.service import judge_runs

        judge_runs(store, runs, baseline, fail_on)
        return Evaluation(runs=runs, db=project.db_path(db), dry_run=dry_run)


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
    ref: str, *, project: Project | None = None, db: str | Path | None = None
) -> dict[str, Any]:
    """A run with its summary (recomputed from the store) and its providers."""
    from evalkit.score.metrics import summarize_run
    from evalkit.store.runs import get_run as _get
    from evalkit.store.runs import resolve_run

    with _reader(project, db) as store:
        run_id = resolve_run(store, ref)
        run = _get(store, run_id)
        run["providers"] = store.records(
            "SELECT provider, type, model, identity FROM run_providers WHERE run_id = ?", [run_id]
        )
        stored = run.get("summary") or {}
        run["summary"] = summarize_run(store, run_id)
        run["gates"] = stored.get("gates", [])
        return run


def query(
    sql: str, *, project: Project | None = None, db: str | Path | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Read-only SQL over the store: (column names, rows)."""
    import duckdb

    with _reader(project, db) as store:
        try:
            cursor = store.con.execute(sql)
        except duckdb.Error as exc:
            text = str(exc).splitlines()[0]
            raise InputError(
                f"query failed: {text}",
                fix="tables: runs, results, scores, cases, prompt_versions, "
                "run_providers, baselines",
            ) from None
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
    from evalkit.run.calls import RetryPolicy, call_with_retries

    project = project or Project.discover()

    async def go() -> dict[str, Any]:
        async with ProviderPool(project) as pool:
            provider = await pool.start(provider_id, 1)
            request = Request(
                [Message("user", "Q: What is the capital of France?\nA:")],
                provider.effective_params({"max_tokens": 8, "stop": ["\n"]}),
            )
            import random

            outcome = await call_with_retries(
                provider, request, RetryPolicy(max_attempts=2), random.Random(0)
            )
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
        data = service.compare_suite(
            project,
            db,
            refs[0],
            sides,
            repeat=repeat,
            run_missing=run_missing,
            evaluate=evaluate,
            progress=progress,
        )
    elif len(refs) == 2 or (len(refs) == 1 and named):
        with _reader(project, db) as store:
            data = service.compare_refs(store, refs, sides)
    if data is not None:
        data["exit_code"], data["exit_reasons"] = decide(0, [], data, fail_on)
        return data
    raise InputError(
        "compare needs two runs, or a suite (or run) and two --prompt (or --provider)",
        fix="e.g. `evalkit compare main last` or "
        "`evalkit compare --prompt summarize@v1 --prompt summarize@v2 SUITE`",
    )


def write_reports(
    data: dict[str, Any],
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


def init_project(directory: str | Path = ".") -> list[Path]:
    """Create a small working project in ``directory``: evalkit.yaml, a prompt version and a
    suite (``evalkit init``). Refuses to overwrite an existing file. Returns the paths written."""
    from evalkit.scaffold import create_project

    return create_project(Path(directory))
