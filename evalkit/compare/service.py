"""What ``evalkit.api`` does for comparisons: judge a finished run against its baseline,
compare two stored runs, and compare two prompt versions (or providers) on a suite, running
whatever is not in the store yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.compare.policy import compact, decide
from evalkit.contracts import Comparison, Matrix, RanRun, RunOutcome
from evalkit.errors import InputError, NotFoundError
from evalkit.store.db import Store
from evalkit.store.runs import record_comparison

if TYPE_CHECKING:  # the comparison's modules (numpy, the statistics) load only to compare
    from evalkit.compare.align import Sides

__all__ = [
    "SuiteComparison",
    "compare_refs",
    "compare_suite",
    "find_run_for",
    "is_suite",
    "judge_runs",
    "plan_suite_comparison",
]


def judge_runs(store: Store, outcomes: Sequence[RunOutcome], ref: str | None, policy: str) -> None:
    """Compare each completed run with its baseline (when ``ref``), apply ``--fail-on``, and
    record on the run which baseline it was compared with and the verdict."""
    for outcome in outcomes:
        comparison = None
        baseline_id = None
        if ref and outcome.run_id and outcome.status == "completed":
            from evalkit.compare.baselines import resolve_for_suite
            from evalkit.compare.drift import compare_runs

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
            record_comparison(
                store,
                outcome.run_id,
                baseline=ref,
                baseline_run_id=baseline_id if comparison else None,
                comparison=compact(comparison) if comparison else None,
                exit_code=code,
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
    from evalkit.compare.drift import compare_runs
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
    from evalkit.store.runs import case_counts, runs_with_prompt

    want = {(c.id, c.hash) for c in suite.cases}
    for run_id in runs_with_prompt(
        store, suite.name, suite.hash, prompt.ref, prompt.hash, provider
    ):
        got = case_counts(store, run_id, prompt.ref, provider)
        have = {(c, h) for c, h, _ in got}
        if want <= have and min((n for _, _, n in got), default=0) >= repeat:
            return run_id
    return None


@dataclass
class SuiteComparison:
    """``compare --prompt A --prompt B SUITE`` (or two ``--provider``): the cells to compare
    and which stored run holds each; ``missing`` cells must be run first."""

    path: Path
    suite: Any
    sides: Sides
    versions: list[Any]
    providers: list[str]
    repeat: int
    #: (prompt ref, provider) → the run that holds it, or None.
    found: dict[tuple[str, str], str | None]

    @property
    def by_prompt(self) -> bool:
        return len(self.sides.prompts) == 2

    @property
    def cells(self) -> list[tuple[Any, str]]:
        return [(v, p) for v in self.versions for p in self.providers]

    def missing(self) -> list[tuple[Any, str]]:
        return [(v, p) for v, p in self.cells if self.found[(v.ref, p)] is None]

    def runs_to_make(self) -> list[tuple[list[str], list[str]]]:
        """(prompt refs, provider ids) per run that fills the missing cells."""
        plans: dict[tuple[str, ...], list[Any]] = {}
        missing = self.missing()
        for v, _ in missing:
            providers = tuple(q for w, q in missing if w.ref == v.ref)
            if v not in plans.setdefault(providers, []):
                plans[providers].append(v)
        return [([v.ref for v in versions], list(pids)) for pids, versions in plans.items()]

    def filled(self, prompts: Sequence[str], providers: Sequence[str], run_id: str) -> None:
        for ref in prompts:
            for pid in providers:
                self.found[(ref, pid)] = run_id


def plan_suite_comparison(
    project: Any, db: Any, suite_ref: str, sides: Sides, *, repeat: int | None
) -> SuiteComparison:
    """Which stored runs hold each (version, provider) cell of a suite comparison."""
    from evalkit.load.prompts import project_library
    from evalkit.load.suites import load_suite, suite_paths
    from evalkit.providers.pool import ProviderPool, default_provider_id
    from evalkit.store.db import open_store

    library = project_library(project)
    (path,) = suite_paths(project, [suite_ref])
    known = ProviderPool(project).ids()
    suite = load_suite(path, library, known)
    versions = [library.get(ref) for ref in sides.prompts] if sides.prompts else list(suite.prompts)
    if sides.providers:
        providers = list(sides.providers)
    else:
        providers = list(suite.providers or [default_provider_id(project)])
    for pid in providers:
        if known and pid not in known:
            raise NotFoundError(
                f"provider '{pid}' is not defined in evalkit.yaml",
                fix=f"use one of: {', '.join(sorted(known))}",
            )
    repeats = repeat or suite.repeat
    with open_store(project, db) as store:
        found = {
            (v.ref, p): find_run_for(store, suite, v, p, repeats)
            for v in versions
            for p in providers
        }
    return SuiteComparison(path, suite, sides, versions, providers, repeats, found)


def compare_suite(project: Any, db: Any, planned: SuiteComparison, ran: list[RanRun]) -> Comparison:
    """The verdict of a suite comparison whose cells are all in the store (``ran``: the runs
    made for it just now)."""
    from evalkit.compare.align import Pairing, RunData, load_run
    from evalkit.compare.drift import compare_pairings
    from evalkit.store.db import open_store

    missing = planned.missing()
    if missing:
        raise NotFoundError(
            "not in the store yet: " + ", ".join(f"{v.ref} on {p}" for v, p in missing),
            fix="drop --no-run to run them now",
        )
    found = planned.found
    versions, providers = planned.versions, planned.providers
    with open_store(project, db, read_only=True) as store:
        loaded: dict[str, RunData] = {}
        for run_id in {r for r in found.values() if r}:
            loaded[run_id] = load_run(store, run_id)

    def group(v: Any, p: str) -> Any:
        run_id = found[(v.ref, p)]
        assert run_id is not None
        return loaded[run_id].groups[(v.ref, p)]

    by_prompt = planned.by_prompt
    pairings, rows = [], []
    if by_prompt:
        for p in providers:
            pairings.append(Pairing(group(versions[0], p), group(versions[1], p)))
            rows.append(p)
    else:
        for v in versions:
            pairings.append(Pairing(group(v, providers[0]), group(v, providers[1])))
            rows.append(v.ref)

    def side(first: bool) -> list[dict[str, Any]]:
        runs = {
            found[(v.ref, p)]
            for v, p in planned.cells
            if (
                v == versions[0 if first else 1] if by_prompt else p == providers[0 if first else 1]
            )
        }
        return [loaded[r].run for r in sorted(x for x in runs if x)]

    comparison = compare_pairings(
        pairings, suite=planned.suite.name, baseline_runs=side(True), candidate_runs=side(False)
    )
    comparison.matrix = Matrix(
        by="prompt" if by_prompt else "provider",
        sides=(versions[0].ref, versions[1].ref) if by_prompt else (providers[0], providers[1]),
        rows=rows,
    )
    comparison.ran = ran
    comparison.reused = sorted({r for r in found.values() if r} - {x.run_id for x in ran})
    return comparison
