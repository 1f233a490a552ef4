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
from typing import TYPE_CHECKING, Any

from evalkit.config import Project
from evalkit.contracts import Comparison, StoredRun
from evalkit.errors import InputError, RunIncomplete
from evalkit.load.prompts import project_library as _library
from evalkit.load.suites import suite_paths
from evalkit.records import PromptVersion
from evalkit.run.session import Evaluation, Progress, RunOptions, RunOutcome
from evalkit.store.db import open_store

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Comparison",
    "Evaluation",
    "Progress",
    "RunOutcome",
    "compact_store",
    "compare",
    "delete_baseline",
    "describe_suite",
    "evaluate",
    "export_runs",
    "failures",
    "get_run",
    "import_export",
    "import_promptfoo",
    "init_project",
    "list_baselines",
    "list_prompts",
    "list_runs",
    "merge",
    "open_store",
    "query",
    "render_report",
    "results",
    "runs",
    "scores",
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
    otel: bool | None = None,
) -> Evaluation:
    """Run suites (all of ``suites/`` when none is named) and store everything.

    ``no_cache`` skips reading the response cache (fresh answers are still stored);
    ``replay`` answers every call from a stored run; ``max_cost`` stops before a call that
    could pass that many USD (judge calls included); ``dry_run`` plans and prices the calls
    without making them (and writes nothing); ``baseline`` compares each run with it;
    ``fail_on`` turns verdicts into exit codes; ``otel`` exports each run as an
    OpenTelemetry trace (None: as ``otel:`` in evalkit.yaml says; docs/opentelemetry.md).
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
    observers = [] if dry_run else _tracers(project, otel)  # bad `otel:` fails before the store
    try:
        with _run_store(project, db, dry_run) as store:
            if resume:
                resume, paths = _resumed(project, store, resume, options)
            else:
                paths = suite_paths(project, [str(s) for s in suites])
            logs = project.db_path(db).parent / "logs"
            runs = _evaluate(
                project, store, logs, paths, options, progress, resume, baseline, fail_on, observers
            )
            return Evaluation(runs=runs, db=Path(str(store.path)), dry_run=dry_run)
    finally:
        if observers:
            from evalkit.run.tracing import close_all

            for warning in close_all(observers):
                if progress is not None:
                    progress.warn(warning)


def _evaluate(
    project: Project,
    store: Any,
    logs: Path,
    paths: Sequence[Path],
    options: RunOptions,
    progress: Progress | None,
    resume: str | None,
    baseline: str | None,
    fail_on: str,
    observers: Sequence[Any] = (),
) -> list[RunOutcome]:
    """load → run (plan … finish) → compare with the baseline, for each suite."""
    from evalkit.compare.service import judge_runs
    from evalkit.load.suites import load_suite
    from evalkit.providers.pool import ProviderPool
    from evalkit.run.session import run_suites
    from evalkit.run.stages import Invocation
    from evalkit.store.response_cache import open_response_cache
    from evalkit.store.runs import StoredAnswers, get_run, new_run_id

    pool = ProviderPool(project, log_dir=logs, answers=StoredAnswers(store))
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
        project,
        store,
        pool,
        options,
        id=new_run_id(),
        progress=progress,
        resume=resume,
        cache=open_response_cache(project),  # a shared Redis, or None: the store's table
        observers=observers,
    )
    runs = run_suites(invocation, loaded)
    if not options.dry_run:
        judge_runs(store, runs, baseline, fail_on)
    return runs


def _tracers(project: Project, otel: bool | None) -> list[Any]:
    """The OpenTelemetry exporter when ``--otel`` or ``otel:`` asks for one (imported only
    then: a run without it loads no OpenTelemetry package)."""
    from evalkit.config import OtelConfig

    config = project.config.otel
    if otel is False or (otel is None and (config is None or not config.enabled)):
        return []
    try:
        from evalkit.run.otel import open_exporter
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("opentelemetry"):
            raise
        from evalkit.errors import SetupError

        raise SetupError(
            "OpenTelemetry export (--otel or `otel:` in evalkit.yaml) needs the otel extra",
            fix="pip install 'evalkit[otel]' (or run with --no-otel)",
        ) from None
    return [open_exporter(config or OtelConfig(), project)]


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
    """The newest runs (of ``suite``), newest first: id, status, counts and pass rate."""
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
    from evalkit.store.runs import invocation_runs, resolve_run, run_providers

    with _reader(project, db) as store:
        run_id = resolve_run(store, ref)
        run = _get(store, run_id)
        run["same_command"] = invocation_runs(store, run_id)
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


# -- the store as pandas DataFrames ----------------------------------------------------------
RunRef = str | Sequence[str] | None


def results(
    run: RunRef = None,
    *,
    suite: str | None = None,
    prompt: str | None = None,
    provider: str | None = None,
    scores: bool = False,
    project: Project | None = None,
    db: str | Path | None = None,
) -> pd.DataFrame:
    """Results as a pandas DataFrame: one row per case × prompt version × provider × repeat.

    ``run`` is one reference or a list, as on the command line: ``last``, a run id, a unique
    prefix, or a baseline name (``last`` and baseline names resolve within ``suite`` when it
    is given); None selects every run. ``prompt`` is ``name@vN`` or a prompt name (every
    version); ``provider`` a provider id. Columns: ``result_id``, ``run_id``, ``suite``,
    ``case_id``, ``prompt``, ``provider``, ``model``, ``repeat``, the case's ``vars`` and
    ``reference`` (JSON text), ``output``, ``passed``, ``error``, ``error_class``,
    ``latency_ms``, ``ttft_ms``, tokens, ``cost_usd``, ``cache_hit`` and provenance;
    ``scores=True`` adds each scorer's value and ``<scorer>_passed``.
    """
    from evalkit.frames import read_frame

    return read_frame(
        "results",
        run=run,
        suite=suite,
        prompt=prompt,
        provider=provider,
        project=project,
        db=db,
        with_scores=scores,
    )


def scores(
    run: RunRef = None,
    *,
    suite: str | None = None,
    prompt: str | None = None,
    provider: str | None = None,
    wide: bool = True,
    project: Project | None = None,
    db: str | Path | None = None,
) -> pd.DataFrame:
    """Scores as a pandas DataFrame (selection as in ``results``).

    Wide (default): one row per result with ``case_id``, ``prompt``, ``provider``,
    ``repeat``, ``output`` and ``passed``, then per scorer (in the suite's order) its value
    under the scorer's name and its pass/fail under ``<scorer>_passed`` (NA where the
    scorer has no pass/fail outcome or could not decide). ``wide=False``: one row per score,
    with ``scorer``, ``value``, ``passed``, ``threshold``, ``detail`` and ``signature``.
    """
    from evalkit.frames import read_frame

    return read_frame(
        "scores",
        run=run,
        suite=suite,
        prompt=prompt,
        provider=provider,
        project=project,
        db=db,
        wide=wide,
    )


def runs(
    run: RunRef = None,
    *,
    suite: str | None = None,
    prompt: str | None = None,
    provider: str | None = None,
    limit: int | None = None,
    project: Project | None = None,
    db: str | Path | None = None,
) -> pd.DataFrame:
    """Runs as a pandas DataFrame, newest first: one row per run with ``status``,
    ``exit_code``, result counts, ``pass_rate`` (passed / decided), the ``prompts`` and
    ``providers`` it ran, ``latency_p95_ms``, ``cost_usd``, git provenance and its
    ``verdict`` against a baseline. ``prompt``/``provider`` keep runs with such results and
    count only those; ``limit`` keeps the newest N."""
    from evalkit.frames import read_frame

    return read_frame(
        "runs",
        run=run,
        suite=suite,
        prompt=prompt,
        provider=provider,
        project=project,
        db=db,
        limit=limit,
    )


def failures(
    run: RunRef = "last",
    *,
    suite: str | None = None,
    limit: int | None = None,
    project: Project | None = None,
    db: str | Path | None = None,
) -> list[dict[str, Any]]:
    """The results of ``run`` (references as in ``results``) that did not pass: failed,
    errored or undecided. Each has ``case_id``, ``prompt``, ``provider``, ``repeat``,
    ``output``, ``passed``, ``error``/``error_class``, ``failed`` (the failing scores:
    ``scorer``, ``value``, ``detail``) and ``undecided`` (scores that could not decide)."""
    from evalkit.frames import _run_ids
    from evalkit.store.frames import failures as _failures

    with _reader(project, db) as store:
        return _failures(store, _run_ids(store, run, suite) or [], limit)


def describe_suite(
    suite: str | Path,
    *,
    providers: Sequence[str] = (),
    prompts: Sequence[str] = (),
    project: Project | None = None,
) -> dict[str, Any]:
    """What running ``suite`` would do, loaded and validated but nothing called: its
    ``name``, ``path``, ``cases`` (ids), ``prompts`` (versions), ``providers`` (ids) and
    ``repeat`` — with ``providers``/``prompts`` overriding the suite's as in ``evaluate``."""
    from evalkit.load.suites import load_suite, suite_paths
    from evalkit.providers.pool import ProviderPool, default_provider_id

    project = project or Project.discover()
    library = _library(project)
    (path,) = suite_paths(project, [str(suite)])
    loaded = load_suite(path, library, ProviderPool(project).ids())
    versions = [library.get(ref).ref for ref in prompts] or [p.ref for p in loaded.prompts]
    return {
        "name": loaded.name,
        "path": str(path),
        "cases": [case.id for case in loaded.cases],
        "prompts": versions,
        "providers": list(providers or loaded.providers or [default_provider_id(project)]),
        "repeat": loaded.repeat,
    }


def import_promptfoo(
    config: str | Path,
    *,
    out: str | Path = ".",
    name: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Convert a promptfoo config (``promptfooconfig.yaml`` and the files it names) into
    evalkit files under ``out``: ``evalkit.yaml``, ``prompts/<name>/vN.yaml`` (one version
    per promptfoo prompt) and ``suites/<name>.yaml`` + cases. Returns ``evalkit.import/1``
    data: what was written, and each provider, prompt or assertion not converted (with the
    file, line and reason) or converted with a difference (``notes``)."""
    from evalkit.importers.promptfoo import import_promptfoo as _import

    return _import(config, out=out, name=name, force=force)


def list_prompts(*, project: Project | None = None) -> list[PromptVersion]:
    """Every version of every prompt in the project's prompts/."""
    project = project or Project.discover()
    library = _library(project)
    return [v for name in library.names() for v in library.versions(name)]


def show_prompt(ref: str, *, project: Project | None = None) -> PromptVersion:
    """One prompt version (``name@vN`` or ``name@latest``), loaded and validated."""
    project = project or Project.discover()
    version: PromptVersion = _library(project).get(ref)
    return version


# -- the cache and providers -----------------------------------------------------------------
def cache_stats(*, project: Project | None = None, db: str | Path | None = None) -> dict[str, Any]:
    """The response cache: entries, size, and hits by provider."""
    from evalkit.run import cache
    from evalkit.store.response_cache import open_response_cache

    project = project or Project.discover()
    shared = open_response_cache(project)  # a shared Redis, or None: the store's table
    if shared is not None and not project.db_path(db).exists():
        stats: dict[str, Any] = shared.stats()  # the shared cache, and no store here yet
        return stats
    with _reader(project, db) as store:
        return cache.stats(store, shared)


def cache_clear(
    *, older_than: Any = None, project: Project | None = None, db: str | Path | None = None
) -> int:
    """Delete cache entries (older than ``older_than``); returns how many."""
    from evalkit.run import cache
    from evalkit.store.response_cache import open_response_cache

    project = project or Project.discover()
    shared = open_response_cache(project)
    if shared is not None:  # nothing of the store changes
        return int(shared.clear(older_than))
    with open_store(project, db) as store:
        return cache.clear(store, older_than)


def cache_explain(
    result_id: str, *, project: Project | None = None, db: str | Path | None = None
) -> dict[str, Any]:
    """Why a result was (or was not) answered from the cache."""
    from evalkit.run import cache
    from evalkit.store.response_cache import open_response_cache

    project = project or Project.discover()
    shared = open_response_cache(project)
    with _reader(project, db) as store:
        return cache.explain(store, result_id, cache=shared)


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
    """Named baselines (of ``suite``): name, suite, run id and when each was set."""
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
    """Remove the baseline ``name`` (of ``suite``, else of every suite); returns how many."""
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
    whatever the store lacks. ``exit_code`` in it applies ``fail_on`` to the verdict.
    The data is a dict; ``.to_pandas()`` gives one row per metric per pairing."""
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
    history: int | None = None,
) -> Path:
    """Write a run's self-contained HTML report, compared with ``baseline`` (or with the
    baseline it was compared with when it ran), with the last ``history`` runs of its suite
    (default 30); returns its path (default ``reports/<suite>-<run>.html``)."""
    from evalkit.report.files import render_report as _render

    return _render(
        run,
        baseline=baseline,
        output=output,
        project=project or Project.discover(),
        db=db,
        history=history,
    )


# -- beyond one machine: shards, the team store, Parquet ---------------------------------------
def merge(
    stores: Sequence[str | Path],
    *,
    into: str | Path | None = None,
    baseline: str | None = None,
    fail_on: str = "regression",
    project: Project | None = None,
) -> Evaluation:
    """Merge the shard stores of one run (``evalkit run --shard I/N`` in each) into one run per
    suite in ``into`` (default: the project's store), then summarise, check the gates and
    compare with ``baseline`` once over the whole plan, as an unsharded run would."""
    from evalkit.compare.policy import check_policy
    from evalkit.compare.service import judge_runs
    from evalkit.records import Gates
    from evalkit.run.session import RunOutcome
    from evalkit.run.summary import summarize_run
    from evalkit.score.gates import check_gates
    from evalkit.store.db import Store
    from evalkit.store.merge import copy_shards, plan_merge, stored_gates
    from evalkit.store.runs import finish_run

    check_policy(fail_on)
    project = project or Project.discover()
    paths = [Path(s).expanduser().resolve() for s in stores]
    twice = sorted({str(p) for p in paths if paths.count(p) > 1})
    if twice:
        raise InputError(f"{twice[0]} is given twice", fix="give each shard's store once")
    for path in paths:
        if not path.is_file():
            raise InputError(f"no store at {path}", fix="give the shard stores' .duckdb files")
    target_location = project.db_location(into)
    if isinstance(target_location, Path) and target_location.resolve() in paths:
        raise InputError(
            f"the target {target_location} is one of the shard stores",
            fix="merge into another store (--into merged.duckdb)",
        )
    with contextlib.ExitStack() as stack:
        sources = {p: stack.enter_context(Store(p, read_only=True)) for p in paths}
        plans = plan_merge(list(sources.items()))
        store = stack.enter_context(open_store(project, into))
        outcomes: list[RunOutcome] = []
        for plan in plans:
            numbers = copy_shards(plan, sources, store)
            summary = summarize_run(store, plan.run_id)
            summary["run"] = numbers
            gates = check_gates(Gates(**stored_gates(plan.shards)), summary)
            exit_code = 1 if any(g["passed"] is False for g in gates) else 0
            finish_run(
                store,
                plan.run_id,
                status="completed",
                exit_code=exit_code,
                summary={"summary": summary, "gates": gates},
            )
            groups = summary["groups"]
            outcomes.append(
                RunOutcome(
                    run_id=plan.run_id,
                    suite=plan.suite,
                    status="completed",
                    summary=summary,
                    gates=gates,
                    exit_code=exit_code,
                    planned=sum(int(s.run.get("planned") or 0) for s in plan.shards),
                    warnings=plan.notes,
                    elapsed_s=float(numbers["elapsed_s"]),
                    header={
                        "suite": plan.suite,
                        "cases": sum(int(g["cases"]) for g in groups[:1]),
                        "repeat": plan.options.get("repeat") or 1,
                        "prompts": sorted({g["prompt"] for g in groups}),
                        "providers": {g["provider"]: g["model"] for g in groups},
                        "merged_from": [f"{s.index}/{s.count} {s.id}" for s in plan.shards],
                    },
                )
            )
        judge_runs(store, outcomes, baseline, fail_on)
        shown = store.path
    return Evaluation(runs=outcomes, db=Path(str(shown)))


def compact_store(
    *, keep_days: float = 7.0, project: Project | None = None, db: str | Path | None = None
) -> dict[str, Any]:
    """Compact a DuckLake store: merge small Parquet files, drop duplicated keys, expire
    snapshots older than ``keep_days`` and delete unused files; returns what it did."""
    from evalkit.store.lake_maintenance import compact

    with open_store(project or Project.discover(), db) as store:
        return compact(store, keep_days=keep_days)


def export_runs(
    runs: Sequence[str],
    directory: str | Path,
    *,
    overwrite: bool = False,
    project: Project | None = None,
    db: str | Path | None = None,
) -> dict[str, Any]:
    """Write runs (with their results, scores, cases, prompt versions and providers) as
    Parquet files and an ``evalkit-export.json`` manifest (``evalkit.export/1``) to
    ``directory``; returns the manifest."""
    from evalkit.store.exports import export_runs as _export

    with _reader(project, db) as store:
        return _export(store, runs, Path(directory), overwrite=overwrite)


def import_export(
    directory: str | Path, *, project: Project | None = None, db: str | Path | None = None
) -> dict[str, Any]:
    """Add the runs of an ``evalkit export`` directory to the store (runs already there are
    left as they are); returns what was imported."""
    from evalkit.store.exports import import_export as _import

    with open_store(project or Project.discover(), db) as store:
        return _import(store, Path(directory))


def init_project(directory: str | Path = ".") -> list[Path]:
    """Create a small working project in ``directory``: evalkit.yaml, a prompt version and a
    suite (``evalkit init``). Refuses to overwrite an existing file. Returns the paths written."""
    from evalkit.scaffold import create_project

    return create_project(Path(directory))
