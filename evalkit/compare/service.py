"""What ``evalkit.api`` does for comparisons: judge a finished run against its baseline,
compare two stored runs, and compare two prompt versions (or providers) on a suite, running
whatever is not in the store yet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evalkit.compare.align import Pairing, RunData, Sides, load_run
from evalkit.compare.baselines import resolve_for_suite
from evalkit.compare.drift import compare_pairings, compare_runs
from evalkit.compare.policy import compact, decide
from evalkit.contracts import Comparison, Matrix, RanRun, RunOutcome
from evalkit.errors import InputError, NotFoundError, RunIncomplete
from evalkit.store.db import Store

__all__ = ["compare_refs", "compare_suite", "find_run_for", "is_suite", "judge_runs"]


def judge_runs(store: Store, outcomes: Sequence[RunOutcome], ref: str | None, policy: str) -> None:
    """Compare each completed run with its baseline (when ``ref``), apply ``--fail-on``, and
    record on the run which baseline it was compared with and the verdict."""
    for outcome in outcomes:
        comparison = None
        baseline_id = None
        if ref and outcome.run_id and outcome.status == "completed":
            baseline_id, name, warning = resolve_for_suite(
                store, ref, outcome.suite, outcome.run_id
            )
            if warning:
                outcome.warnings.append(warning)
                outcome.header.baseline_note = warning
            if baseline_id:
                try:
                    comparison = compare_runs(store, baseline_id, outcome.run_id)
                except InputError as exc:
                    note = f"not compared with {ref}: {exc.message}"
                    outcome.warnings.append(note)
                    outcome.header.baseline_note = note
                else:
                    comparison.baseline.ref, comparison.baseline.name = ref, name
        code, reasons = decide(outcome.exit_code, outcome.gates, comparison, policy)
        outcome.comparison = comparison
        outcome.exit_code = code
        outcome.exit_reasons = reasons
        if outcome.run_id and (ref or code != 0):
            store.execute(
                "UPDATE runs SET baseline = ?, baseline_run_id = ?, comparison = ?, "
                "exit_code = ? WHERE id = ?",
                [
                    ref,
                    baseline_id if comparison else None,
                    compact(comparison) if comparison else None,
                    code,
                    outcome.run_id,
                ],
            )


def is_suite(project: Any, name: str) -> bool:
    """Whether ``name`` is a suite file or a suite in suites/ (rather than a run)."""
    path = Path(name)
    if path.is_file():
        return True
    return any(
        c.is_file() for c in (project.suites_dir / name, project.suites_dir / f"{name}.yaml")
    )


def _matrix(comparison: Comparison, sides: Sides) -> Matrix | None:
    """The two sides the user named, labelled by their prompt versions (or providers)."""
    if len(sides.prompts) == 2:
        return Matrix(
            by="prompt",
            sides=(sides.prompts[0], sides.prompts[1]),
            rows=[p.candidate.provider for p in comparison.pairings],
        )
    if len(sides.providers) == 2:
        return Matrix(
            by="provider",
            sides=(sides.providers[0], sides.providers[1]),
            rows=[p.candidate.prompt for p in comparison.pairings],
        )
    return None


def compare_refs(store: Store, refs: Sequence[str], sides: Sides) -> Comparison:
    """``evalkit compare RUN_A RUN_B`` (or one RUN with two named sides). RUN_A is resolved
    within RUN_B's suite, so ``compare main last`` and ``compare last RUN`` (the run before
    RUN) mean what they say. Named sides label the comparison (``matrix``)."""
    from evalkit.compare.baselines import previous_run
    from evalkit.store.runs import LATEST, get_run, resolve_run

    if len(refs) == 1:
        run_id = resolve_run(store, refs[0])
        comparison = compare_runs(store, run_id, run_id, sides=sides)
        comparison.matrix = _matrix(comparison, sides)
        return comparison
    b = resolve_run(store, refs[1])
    suite = get_run(store, b)["suite"]
    if refs[0] in LATEST:
        found = previous_run(store, suite, b)
        if found is None:
            raise NotFoundError(
                f"no completed run of suite '{suite}' before run {b}",
                fix="name both runs (see `evalkit runs list`)",
            )
        a = found
    else:
        a = resolve_run(store, refs[0], suite)
    comparison = compare_runs(store, a, b, sides=sides)
    comparison.baseline.ref = refs[0]
    comparison.matrix = _matrix(comparison, sides)
    return comparison


# -- two versions (or providers) on a suite -------------------------------------------------
def find_run_for(store: Store, suite: Any, prompt: Any, provider: str, repeat: int) -> str | None:
    """The newest completed run of this very suite (same file and cases) that has every case
    of ``prompt`` (same content hash) on ``provider``, with at least ``repeat`` repeats."""
    want = {(c.id, c.hash) for c in suite.cases}
    rows = store.fetchall(
        "SELECT DISTINCT ru.id, ru.started_at FROM runs ru JOIN results r ON r.run_id = ru.id "
        "WHERE ru.suite = ? AND ru.suite_hash = ? AND ru.status = 'completed' "
        "AND r.prompt = ? AND r.prompt_hash = ? AND r.provider = ? "
        "ORDER BY ru.started_at DESC, ru.id DESC LIMIT 20",
        [suite.name, suite.hash, prompt.ref, prompt.hash, provider],
    )
    for run_id, _ in rows:
        got = store.fetchall(
            "SELECT case_id, case_hash, count(*) FROM results WHERE run_id = ? AND prompt = ? "
            "AND provider = ? GROUP BY ALL",
            [run_id, prompt.ref, provider],
        )
        have = {(c, h) for c, h, _ in got}
        if want <= have and min((n for _, _, n in got), default=0) >= repeat:
            return str(run_id)
    return None


def compare_suite(
    project: Any,
    db: Any,
    suite_ref: str,
    sides: Sides,
    *,
    repeat: int | None,
    run_missing: bool,
    evaluate: Callable[..., Any],
    progress: Any = None,
) -> Comparison:
    """``evalkit compare --prompt x@v1 --prompt x@v2 SUITE``: the versions case by case on
    every provider (or ``--provider A --provider B``: the providers on every version)."""
    from evalkit.load.prompts import project_library
    from evalkit.load.suites import load_suite, suite_paths
    from evalkit.providers.pool import ProviderPool, default_provider_id
    from evalkit.store.db import open_store

    library = project_library(project)
    (path,) = suite_paths(project, [suite_ref])
    suite = load_suite(path, library, ProviderPool(project).ids())
    by_prompt = len(sides.prompts) == 2
    versions = [library.get(ref) for ref in sides.prompts] if sides.prompts else list(suite.prompts)
    if len(sides.providers) == 2 or sides.providers:
        providers = list(sides.providers)
    else:
        providers = list(suite.providers or [default_provider_id(project)])
    known = set(ProviderPool(project).ids())
    for pid in providers:
        if known and pid not in known:
            raise NotFoundError(
                f"provider '{pid}' is not defined in evalkit.yaml",
                fix=f"use one of: {', '.join(sorted(known))}",
            )
    cells = [(v, p) for v in versions for p in providers]
    repeats = repeat or suite.repeat
    with open_store(project, db) as store:
        found = {(v.ref, p): find_run_for(store, suite, v, p, repeats) for v, p in cells}
    missing = [(v, p) for v, p in cells if found[(v.ref, p)] is None]
    if missing and not run_missing:
        raise NotFoundError(
            "not in the store yet: " + ", ".join(f"{v.ref} on {p}" for v, p in missing),
            fix="drop --no-run to run them now",
        )
    ran: list[RanRun] = []
    plans: dict[tuple[str, ...], list[Any]] = {}
    for v, _ in missing:
        providers_missing = tuple(q for w, q in missing if w.ref == v.ref)
        if v not in plans.setdefault(providers_missing, []):
            plans[providers_missing].append(v)
    for provider_ids, prompt_versions in plans.items():
        evaluation = evaluate(
            [path],
            project=project,
            db=db,
            providers=list(provider_ids),
            prompts=[v.ref for v in prompt_versions],
            repeat=repeats,
            progress=progress,
        )
        outcome = evaluation.runs[0]
        if outcome.status != "completed":
            raise RunIncomplete(
                f"the run of {', '.join(v.ref for v in prompt_versions)} "
                f"did not complete: {outcome.error}"
            )
        for v in prompt_versions:
            for p in provider_ids:
                found[(v.ref, p)] = outcome.run_id
        ran.append(
            RanRun(
                run_id=outcome.run_id,
                prompts=[v.ref for v in prompt_versions],
                providers=list(provider_ids),
            )
        )
    with open_store(project, db, read_only=True) as store:
        loaded: dict[str, RunData] = {}
        for run_id in set(found.values()):
            assert run_id is not None
            loaded[run_id] = load_run(store, run_id)

    def group(v: Any, p: str) -> Any:
        run_id = found[(v.ref, p)]
        assert run_id is not None
        return loaded[run_id].groups[(v.ref, p)]

    pairings = []
    rows = []
    if by_prompt:
        for p in providers:
            pairings.append(Pairing(group(versions[0], p), group(versions[1], p)))
            rows.append(p)
    else:
        for v in versions:
            pairings.append(Pairing(group(v, providers[0]), group(v, providers[1])))
            rows.append(v.ref)
    side_runs = [
        {
            found[(v.ref, p)]
            for v, p in cells
            if (v == versions[0] if by_prompt else p == providers[0])
        },
        {
            found[(v.ref, p)]
            for v, p in cells
            if (v == versions[1] if by_prompt else p == providers[1])
        },
    ]
    comparison = compare_pairings(
        pairings,
        suite=suite.name,
        baseline_runs=[loaded[r].run for r in sorted(x for x in side_runs[0] if x)],
        candidate_runs=[loaded[r].run for r in sorted(x for x in side_runs[1] if x)],
    )
    comparison.matrix = Matrix(
        by="prompt" if by_prompt else "provider",
        sides=(versions[0].ref, versions[1].ref) if by_prompt else (providers[0], providers[1]),
        rows=rows,
    )
    comparison.ran = ran
    comparison.reused = sorted({r for r in found.values() if r} - {x.run_id for x in ran})
    return comparison
