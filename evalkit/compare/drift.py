"""compare (drift): two runs → a verdict per metric, the per-case flips, and what the suite
could have detected.

For each pairing of groups (see ``compare.align``) the metrics are:

- **pass rate** and **one metric per scorer** (``compare.metrics``): pass/fail, or the mean
  of a continuous score. Scores whose signatures differ (scorer version or options, library
  versions, judge model or prompt) are refused for that metric with the reason, and
  pass/fail metrics also refuse differing thresholds. What is being compared — prompt
  version, provider, model, params — never makes a metric "not comparable".
- **budgets** (``compare.budgets``): latency p95 and cost per result, as ratios with an
  interval; they fail a build only through the suite's gates, or under ``--fail-on any``.

Every tested metric of every pairing is one family for Holm's correction, so a red verdict
means the comparison as a whole found a real change at level α. A metric is *regressed* or
*improved* when its Holm-adjusted p is below α (the sign of the estimate says which),
*equivalent* when its 95% interval lies inside ± the equivalence margin of the candidate
run's suite, *inconclusive* otherwise, *not comparable* when refused (``compare.equivalence``
has the words and the overall verdict). The minimum detectable effect is computed at α/m (m
tested metrics: the level Holm applies to the smallest p), so it is what the whole comparison
could detect, not one metric alone. The result is an ``evalkit.contracts.Comparison``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalkit.compare import stats
from evalkit.compare.align import (
    Alignment,
    Group,
    Pairing,
    RunData,
    Sides,
    align_cases,
    load_run,
    pair_groups,
)
from evalkit.compare.budgets import budgets
from evalkit.compare.equivalence import disagreement, metric_verdict, overall_verdict
from evalkit.compare.flips import flips as find_flips
from evalkit.compare.metrics import PairedMetric, compute, pairing_metrics
from evalkit.contracts import (
    Budget,
    CaseCounts,
    ComparedGroup,
    ComparedSide,
    Comparison,
    Counts,
    Discordant,
    Flips,
    MarginSetting,
    Mde,
    Metric,
    PairingResult,
    RunMeta,
    Unpaired,
    margin_for,
)
from evalkit.errors import InputError
from evalkit.store.db import Store

__all__ = ["compare_pairings", "compare_runs", "margin_setting", "run_meta"]


def _metric_model(
    metric: PairedMetric, alpha: float, margins: MarginSetting | None, tests: int
) -> Metric:
    r = metric.result
    if metric.reason is not None or r is None:
        return Metric(
            metric=metric.name,
            kind=metric.kind,  # type: ignore[arg-type]
            scorer=metric.scorer,
            threshold=metric.threshold,
            higher_is_better=metric.higher_is_better,
            verdict="not comparable",
            reason=metric.reason or "no case was decided on both sides",
            note=metric.note,
            same_as=metric.same_as,
            constraints=metric.constraints,  # type: ignore[arg-type]
        )
    margin = margin_for(margins, metric.scorer or "pass_rate", metric.kind, r.baseline)
    ci = (float(r.ci[0]), float(r.ci[1]))
    return Metric(
        metric=metric.name,
        kind=metric.kind,  # type: ignore[arg-type]
        scorer=metric.scorer,
        threshold=metric.threshold,
        higher_is_better=metric.higher_is_better,
        verdict=metric_verdict(  # type: ignore[arg-type]
            r.estimate, ci, metric.p_adjusted, alpha, metric.higher_is_better, margin
        ),
        reason=None,
        note=metric.note,
        same_as=metric.same_as,
        constraints=metric.constraints,  # type: ignore[arg-type]
        baseline=r.baseline,
        candidate=r.candidate,
        estimate=r.estimate,
        ci=ci,
        p=r.p,
        p_adjusted=metric.p_adjusted,
        test=r.test,
        cases=r.cases,
        pairs=r.pairs,
        mde=r.mde,
        discordant=None
        if r.discordant is None
        else Discordant(pass_to_fail=r.discordant[0], fail_to_pass=r.discordant[1]),
        margin=margin,
        warnings=list(r.warnings),
        disagreement=None
        if metric.same_as
        else disagreement(
            test=r.test, ci=ci, p=r.p, p_adjusted=metric.p_adjusted, alpha=alpha, tests=tests
        ),
    )


# -- the comparison ---------------------------------------------------------------------------
def _provenance_notes(pairing: Pairing) -> list[str]:
    a, b = pairing.baseline, pairing.candidate
    notes = []
    if a.prompt == b.prompt and a.prompt_hashes != b.prompt_hashes:
        before, after = ", ".join(sorted(a.prompt_hashes)), ", ".join(sorted(b.prompt_hashes))
        notes.append(f"{a.prompt} was edited in place between the runs ({before} → {after})")
    if a.models != b.models and a.models and b.models:
        notes.append(f"model {a.model} → {b.model}")
    if a.params != b.params and a.prompt == b.prompt:
        notes.append(f"params {a.describe()['params']} → {b.describe()['params']}")
    return notes


def _case_notes(alignment: Alignment) -> list[str]:
    notes = []
    for what, ids in (
        ("added", alignment.added),
        ("removed", alignment.removed),
        ("changed since the baseline", alignment.changed),
    ):
        if ids:
            notes.append(
                f"{len(ids)} case{'s' if len(ids) != 1 else ''} {what} "
                f"(not compared): {', '.join(ids[:10])}"
                f"{' …' if len(ids) > 10 else ''}"
            )
    if alignment.unmatched_repeats:
        notes.append(f"{alignment.unmatched_repeats} repeats ran on one side only (not compared)")
    return notes


def run_meta(run: dict[str, Any]) -> RunMeta:
    """The part of a stored run a comparison names."""
    return RunMeta(
        id=str(run["id"]),
        suite=run.get("suite"),
        started_at=str(run["started_at"]) if run.get("started_at") else None,
        status=run.get("status"),
        git_commit=run.get("git_commit"),
        git_dirty=run.get("git_dirty"),
    )


def margin_setting(run: dict[str, Any]) -> MarginSetting | None:
    """The equivalence margin stored with a run (its suite's ``equivalence_margin``)."""
    raw = (run.get("options") or {}).get("equivalence_margin")
    return MarginSetting.model_validate(raw) if raw else None


def _counts(pairings: Sequence[PairingResult]) -> Counts:
    verdicts = [m.verdict for p in pairings for m in p.metrics if not m.same_as]
    return Counts(
        regressed=verdicts.count("regressed"),
        improved=verdicts.count("improved"),
        equivalent=verdicts.count("equivalent"),
        inconclusive=verdicts.count("inconclusive"),
        unchanged=verdicts.count("equivalent") + verdicts.count("inconclusive"),
        not_comparable=verdicts.count("not comparable"),
        pass_to_fail=sum(len(p.flips.pass_to_fail) for p in pairings),
        fail_to_pass=sum(len(p.flips.fail_to_pass) for p in pairings),
        budgets_worse=sum(b.worse for p in pairings for b in p.budgets),
    )


def compare_pairings(
    pairings: Sequence[Pairing],
    *,
    suite: str,
    baseline_runs: Sequence[dict[str, Any]],
    candidate_runs: Sequence[dict[str, Any]],
    unpaired: tuple[Sequence[Group], Sequence[Group]] = ((), ()),
    alpha: float = stats.ALPHA,
) -> Comparison:
    """The verdict over several pairings of groups (one Holm family). Each pairing is judged
    with the equivalence margin stored with its candidate run."""
    runs = {r["id"]: r for r in candidate_runs}
    prepared = []
    for pairing in pairings:
        alignment = align_cases(pairing.baseline, pairing.candidate)
        metrics, notes = pairing_metrics(pairing, alignment)
        prepared.append((pairing, alignment, metrics, notes))
    family = [
        m
        for _, _, metrics, _ in prepared
        for m in metrics
        if m.reason is None and m.same_as is None and m.a is not None
    ]
    mde_alpha = alpha / max(len(family), 1)
    for pairing, _, metrics, _ in prepared:
        key = f"{pairing.baseline.run_id}:{pairing.label}→{pairing.candidate.run_id}"
        for metric in metrics:
            if metric.same_as is None:
                compute(metric, key, mde_alpha)
    tested = [m for _, _, metrics, _ in prepared for m in metrics if m.tested]
    p_values = [m.result.p for m in tested if m.result is not None]
    for metric, adjusted in zip(tested, stats.holm(p_values), strict=True):
        metric.p_adjusted = adjusted
    out: list[PairingResult] = []
    for pairing, alignment, metrics, notes in prepared:
        by_name = {m.name: m for m in metrics}
        for m in metrics:
            if m.same_as:
                m.result, m.p_adjusted = by_name[m.same_as].result, by_name[m.same_as].p_adjusted
                m.reason = by_name[m.same_as].reason
        key = f"{pairing.baseline.run_id}:{pairing.label}→{pairing.candidate.run_id}"
        candidate_run = runs.get(pairing.candidate.run_id, {})
        margins = margin_setting(candidate_run)
        pr = metrics[0].result
        out.append(
            PairingResult(
                label=pairing.label,
                baseline=ComparedGroup(
                    run_id=pairing.baseline.run_id, **pairing.baseline.describe()
                ),
                candidate=ComparedGroup(
                    run_id=pairing.candidate.run_id, **pairing.candidate.describe()
                ),
                cases=CaseCounts(
                    compared=len(alignment.cases),
                    repeats=alignment.repeats,
                    added=alignment.added,
                    removed=alignment.removed,
                    changed=alignment.changed,
                ),
                metrics=[_metric_model(m, alpha, margins, len(tested)) for m in metrics],
                budgets=[
                    Budget.model_validate(b)
                    for b in budgets(pairing, alignment, key, candidate_run)
                ],
                flips=find_flips(pairing, alignment, metrics[0].a, metrics[0].b)
                if metrics[0].reason is None
                else Flips(),
                mde=Mde(
                    pass_rate=pr.mde if pr else None,
                    alpha=mde_alpha,
                    power=stats.POWER,
                    cases=pr.cases if pr else 0,
                ),
                notes=_provenance_notes(pairing) + notes + _case_notes(alignment),
            )
        )
    verdicts = [m.verdict for p in out for m in p.metrics if not m.same_as]
    return Comparison(
        suite=suite,
        verdict=overall_verdict(verdicts),  # type: ignore[arg-type]
        alpha=alpha,
        power=stats.POWER,
        correction="holm",
        tests=len(tested),
        baseline=ComparedSide(runs=[run_meta(r) for r in baseline_runs]),
        candidate=ComparedSide(runs=[run_meta(r) for r in candidate_runs]),
        counts=_counts(out),
        pairings=out,
        unpaired=Unpaired(
            baseline=[g.label for g in unpaired[0]],
            candidate=[g.label for g in unpaired[1]],
        ),
    )


def compare_runs(
    store: Store,
    baseline_id: str,
    candidate_id: str,
    *,
    sides: Sides | None = None,
    alpha: float = stats.ALPHA,
) -> Comparison:
    """Compare two stored runs of one suite (they may be the same run, with named sides)."""
    a = load_run(store, baseline_id)
    b = a if candidate_id == baseline_id else load_run(store, candidate_id)
    if a.suite != b.suite:
        raise InputError(
            f"run {a.id} is of suite '{a.suite}' and run {b.id} of suite '{b.suite}'",
            fix="compare two runs of the same suite (cases align by suite and case id)",
        )
    pairings, left_a, left_b = pair_groups(a, b, sides or Sides())
    if not pairings:
        raise InputError(
            f"nothing to compare between run {a.id} ({_groups(a)}) and run {b.id} ({_groups(b)})",
            fix="name the two sides, e.g. --prompt NAME@v1 --prompt NAME@v2, "
            "or --provider A --provider B",
        )
    return compare_pairings(
        pairings,
        suite=a.suite,
        baseline_runs=[a.run],
        candidate_runs=[b.run] if b is not a else [a.run],
        unpaired=(left_a, left_b),
        alpha=alpha,
    )


def _groups(run: RunData) -> str:
    return ", ".join(g.label for g in run.groups.values()) or "no results"
