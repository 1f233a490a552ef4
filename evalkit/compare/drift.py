"""compare (drift): two runs → a verdict per metric, the per-case flips, and what the suite
could have detected.

For each pairing of groups (see ``compare.align``) the metrics are:

- **pass rate**: a result passes when every pass/fail scorer *both sides share with the same
  signature and threshold* passes (a failed call fails; an undecided score leaves it
  undecided, and undecided pairs are left out). When a scorer was added, removed or changed,
  the pass rate is computed over the scorers still comparable, and says so.
- **one metric per scorer**: pass/fail (boolean scorers, or any scorer with a ``threshold``)
  or the mean value (a continuous scorer without threshold). Scores whose signatures differ
  (scorer version or options, library versions, judge model or prompt) are refused for that
  metric with the reason, and pass/fail metrics also refuse differing thresholds. What is
  being compared — prompt version, provider, model, params — never makes a metric
  "not comparable".
- **budgets** (``compare.budgets``): latency p95 and cost per result, as ratios with an
  interval; they fail a build only through the suite's gates, or under ``--fail-on any``.

Every tested metric of every pairing is one family for Holm's correction, so a red verdict
means the comparison as a whole found a real change at level α. A metric is *regressed* or
*improved* when its Holm-adjusted p is below α (the sign of the estimate says which),
*unchanged* otherwise, *not comparable* when refused. The minimum detectable effect is
computed at α/m (m tested metrics: the level Holm applies to the smallest p), so it is what
the whole comparison could detect, not one metric alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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
    value_matrix,
)
from evalkit.compare.budgets import budgets
from evalkit.compare.flips import flips as find_flips
from evalkit.errors import InputError
from evalkit.records import flatten
from evalkit.store.db import Store

__all__ = ["compare_pairings", "compare_runs", "run_meta"]

SCHEMA = "evalkit.compare/1"
_BOOLEAN = {"equals", "contains", "regex", "json_schema"}


@dataclass
class _Metric:
    name: str
    kind: str  # pass_rate | pass_fail | mean
    scorer: str | None
    higher_is_better: bool = True
    threshold: float | None = None
    reason: str | None = None
    note: str | None = None
    same_as: str | None = None
    a: Any = None
    b: Any = None
    result: stats.Paired | None = None
    p_adjusted: float | None = None

    @property
    def tested(self) -> bool:
        return self.reason is None and self.same_as is None and self.result is not None


def _higher_is_better(scorer_type: str) -> bool:
    from evalkit.registry import SCORERS

    try:
        return bool(SCORERS.get(scorer_type).higher_is_better)
    except Exception:  # an entry-point scorer that is not installed here
        return True


def _short(value: Any) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "…"


def signature_change(a: dict[str, Any], b: dict[str, Any]) -> str:
    """What differs between two score signatures, e.g. ``version: 1 → 2``."""
    fa, fb = flatten(a or {}), flatten(b or {})
    diffs = [
        f"{k}: {_short(fa.get(k))} → {_short(fb.get(k))}"
        for k in sorted(set(fa) | set(fb))
        if fa.get(k) != fb.get(k)
    ]
    shown = "; ".join(diffs[:4]) + ("; …" if len(diffs) > 4 else "")
    return f"scorer signature differs ({shown or 'hash only'})"


def _refusal(name: str, a: Group, b: Group) -> str | None:
    ia, ib = a.scorers.get(name), b.scorers.get(name)
    if ia is None:
        return "new in this run (no baseline scores)"
    if ib is None:
        return "not in this run"
    if len(ia.signatures) > 1 or len(ib.signatures) > 1:
        return "scores within one run have several signatures"
    (sa, ja), (sb, jb) = next(iter(ia.signatures.items())), next(iter(ib.signatures.items()))
    if sa != sb:
        return signature_change(ja, jb)
    if ia.thresholds == ib.thresholds and ia.decides != ib.decides:
        side = "the baseline" if not ia.decides else "this run"
        return f"no pass/fail outcome in {side} (every score undecided)"
    if ia.thresholds != ib.thresholds:
        ta, tb = (
            ", ".join(
                "none" if t is None else f"{t:g}"
                for t in sorted(x.thresholds, key=lambda t: -math.inf if t is None else t)
            )
            for x in (ia, ib)
        )
        return f"threshold differs ({ta} → {tb})"
    return None


def _passed(row: dict[str, Any], scores: dict[str, dict[str, Any]], names: Sequence[str]) -> Any:
    """1/0/None for a result over the scorers ``names`` (a failed call fails)."""
    if row["error_class"] is not None:
        return 0.0
    marks = [scores.get(n, {}).get("passed") for n in names]
    if any(m is False for m in marks):
        return 0.0
    if any(m is None for m in marks):
        return None
    return 1.0


def _metrics(pairing: Pairing, alignment: Alignment) -> tuple[list[_Metric], list[str]]:
    a, b = pairing.baseline, pairing.candidate
    names = list(a.scorers) + [n for n in b.scorers if n not in a.scorers]
    refusals = {n: _refusal(n, a, b) for n in names}
    deciding = [n for n in names if refusals[n] is None and a.scorers[n].decides]
    all_deciding = {n for g in (a, b) for n, info in g.scorers.items() if info.decides}
    notes: list[str] = []
    pass_rate = _Metric("pass rate", "pass_rate", None)
    if not deciding:
        pass_rate.reason = (
            "no pass/fail scorer is comparable"
            if all_deciding
            else "the suite has no pass/fail scorer"
        )
    else:
        if set(deciding) != all_deciding:
            pass_rate.note = f"over {', '.join(deciding)} (the scorers both runs share)"
            notes.append(
                f"pass rate compared over {len(deciding)} of {len(all_deciding)} "
                f"pass/fail scorers: {', '.join(sorted(all_deciding - set(deciding)))} "
                "not comparable"
            )

        def rate(group: Group) -> Any:
            return lambda row: _passed(row, group.scores.get(row["id"], {}), deciding)

        pass_rate.a = value_matrix(a, alignment, b, rate(a))
        pass_rate.b = value_matrix(b, alignment, a, rate(b))
    metrics = [pass_rate]
    for name in names:
        info = a.scorers.get(name) or b.scorers[name]
        decides = info.decides
        threshold = next(iter(info.thresholds), None) if len(info.thresholds) == 1 else None
        label = name if decides else f"{name} (mean)"
        if decides and threshold is not None and info.type not in _BOOLEAN:
            label = (
                f"{name} ≥ {threshold:g}"
                if _higher_is_better(info.type)
                else f"{name} ≤ {threshold:g}"
            )
        metric = _Metric(
            label,
            "pass_fail" if decides else "mean",
            name,
            higher_is_better=True if decides else _higher_is_better(info.type),
            threshold=threshold,
            reason=refusals[name],
        )
        if metric.reason is None:

            def value(group: Group, decides: bool = decides, name: str = name) -> Any:
                def get(row: dict[str, Any]) -> Any:
                    score = group.scores.get(row["id"], {}).get(name)
                    if decides:
                        if row["error_class"] is not None:
                            return 0.0
                        passed = None if score is None else score["passed"]
                        return None if passed is None else float(passed)
                    return None if score is None else score["value"]

                return get

            metric.a = value_matrix(a, alignment, b, value(a))
            metric.b = value_matrix(b, alignment, a, value(b))
        metrics.append(metric)
    _merge_identical(metrics)
    return metrics, notes


def _merge_identical(metrics: list[_Metric]) -> None:
    """A pass/fail metric whose paired values equal an earlier one's (a suite's only
    pass/fail scorer is the pass rate) is not tested again: the same test twice would only
    dilute Holm's correction. It reports the earlier metric's verdict."""
    import numpy as np

    binary = [m for m in metrics if m.kind != "mean" and m.reason is None and m.a is not None]
    for i, metric in enumerate(binary):
        for earlier in binary[:i]:
            if (
                earlier.same_as is None
                and np.array_equal(
                    np.asarray(metric.a, float), np.asarray(earlier.a, float), equal_nan=True
                )
                and np.array_equal(
                    np.asarray(metric.b, float), np.asarray(earlier.b, float), equal_nan=True
                )
            ):
                metric.same_as = earlier.name
                break


def _compute(metric: _Metric, key: str, mde_alpha: float) -> None:
    if metric.reason is not None or metric.a is None:
        return
    rng = stats.rng_for(key, metric.name)
    if metric.kind == "mean":
        metric.result = stats.paired_continuous(metric.a, metric.b, rng=rng, mde_alpha=mde_alpha)
    else:
        metric.result = stats.paired_binary(metric.a, metric.b, rng=rng, mde_alpha=mde_alpha)
    if metric.result is None:
        metric.reason = "no case was decided on both sides"


def _verdict(metric: _Metric, alpha: float) -> str:
    if metric.reason is not None or metric.result is None:
        return "not comparable"
    if metric.p_adjusted is None or metric.p_adjusted >= alpha:
        return "unchanged"
    better = (metric.result.estimate > 0) == metric.higher_is_better
    return "improved" if better else "regressed"


def _metric_json(metric: _Metric, alpha: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "metric": metric.name,
        "kind": metric.kind,
        "scorer": metric.scorer,
        "threshold": metric.threshold,
        "higher_is_better": metric.higher_is_better,
        "verdict": _verdict(metric, alpha),
        "reason": metric.reason,
        "note": metric.note,
        "same_as": metric.same_as,
        "warnings": [],
    }
    r = metric.result
    if r is not None and metric.reason is None:
        out.update(
            {
                "baseline": r.baseline,
                "candidate": r.candidate,
                "estimate": r.estimate,
                "ci": list(r.ci),
                "p": r.p,
                "p_adjusted": metric.p_adjusted,
                "test": r.test,
                "cases": r.cases,
                "pairs": r.pairs,
                "mde": r.mde,
                "discordant": None
                if r.discordant is None
                else {"pass_to_fail": r.discordant[0], "fail_to_pass": r.discordant[1]},
                "warnings": list(r.warnings),
            }
        )
    return out


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


def run_meta(run: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (str(run[key]) if key in ("started_at",) and run.get(key) else run.get(key))
        for key in ("id", "suite", "started_at", "status", "git_commit", "git_dirty")
    }


def compare_pairings(
    pairings: Sequence[Pairing],
    *,
    suite: str,
    baseline_runs: Sequence[dict[str, Any]],
    candidate_runs: Sequence[dict[str, Any]],
    unpaired: tuple[Sequence[Group], Sequence[Group]] = ((), ()),
    alpha: float = stats.ALPHA,
) -> dict[str, Any]:
    """The verdict over several pairings of groups (one Holm family)."""
    runs = {r["id"]: r for r in candidate_runs}
    prepared = []
    for pairing in pairings:
        alignment = align_cases(pairing.baseline, pairing.candidate)
        metrics, notes = _metrics(pairing, alignment)
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
                _compute(metric, key, mde_alpha)
    tested = [m for _, _, metrics, _ in prepared for m in metrics if m.tested]
    p_values = [m.result.p for m in tested if m.result is not None]
    for metric, adjusted in zip(tested, stats.holm(p_values), strict=True):
        metric.p_adjusted = adjusted
    out_pairings: list[dict[str, Any]] = []
    for pairing, alignment, metrics, notes in prepared:
        by_name = {m.name: m for m in metrics}
        for m in metrics:
            if m.same_as:
                m.result, m.p_adjusted = by_name[m.same_as].result, by_name[m.same_as].p_adjusted
                m.reason = by_name[m.same_as].reason
        key = f"{pairing.baseline.run_id}:{pairing.label}→{pairing.candidate.run_id}"
        pr = metrics[0].result
        case_notes = []
        for what, ids in (
            ("added", alignment.added),
            ("removed", alignment.removed),
            ("changed since the baseline", alignment.changed),
        ):
            if ids:
                case_notes.append(
                    f"{len(ids)} case{'s' if len(ids) != 1 else ''} {what} "
                    f"(not compared): {', '.join(ids[:10])}"
                    f"{' …' if len(ids) > 10 else ''}"
                )
        if alignment.unmatched_repeats:
            case_notes.append(
                f"{alignment.unmatched_repeats} repeats ran on one side only (not compared)"
            )
        out_pairings.append(
            {
                "label": pairing.label,
                "baseline": {"run_id": pairing.baseline.run_id, **pairing.baseline.describe()},
                "candidate": {"run_id": pairing.candidate.run_id, **pairing.candidate.describe()},
                "cases": {
                    "compared": len(alignment.cases),
                    "repeats": alignment.repeats,
                    "added": alignment.added,
                    "removed": alignment.removed,
                    "changed": alignment.changed,
                },
                "metrics": [_metric_json(m, alpha) for m in metrics],
                "budgets": budgets(pairing, alignment, key, runs.get(pairing.candidate.run_id, {})),
                "flips": find_flips(pairing, alignment, metrics[0].a, metrics[0].b)
                if metrics[0].reason is None
                else {"pass_to_fail": [], "fail_to_pass": []},
                "mde": {
                    "pass_rate": pr.mde if pr else None,
                    "alpha": mde_alpha,
                    "power": stats.POWER,
                    "cases": pr.cases if pr else 0,
                },
                "notes": _provenance_notes(pairing) + notes + case_notes,
            }
        )
    verdicts = [m["verdict"] for p in out_pairings for m in p["metrics"] if not m.get("same_as")]
    if "regressed" in verdicts:
        overall = "regressed"
    elif "improved" in verdicts:
        overall = "improved"
    elif "unchanged" in verdicts:
        overall = "unchanged"
    else:
        overall = "not comparable"
    flips = [len(p["flips"][k]) for p in out_pairings for k in ("pass_to_fail",)]
    gains = [len(p["flips"]["fail_to_pass"]) for p in out_pairings]
    return {
        "schema": SCHEMA,
        "suite": suite,
        "verdict": overall,
        "alpha": alpha,
        "power": stats.POWER,
        "correction": "holm",
        "tests": len(tested),
        "baseline": {"runs": [run_meta(r) for r in baseline_runs]},
        "candidate": {"runs": [run_meta(r) for r in candidate_runs]},
        "counts": {
            "regressed": verdicts.count("regressed"),
            "improved": verdicts.count("improved"),
            "unchanged": verdicts.count("unchanged"),
            "not_comparable": verdicts.count("not comparable"),
            "pass_to_fail": sum(flips),
            "fail_to_pass": sum(gains),
            "budgets_worse": sum(b["worse"] for p in out_pairings for b in p["budgets"]),
        },
        "pairings": out_pairings,
        "unpaired": {
            "baseline": [g.label for g in unpaired[0]],
            "candidate": [g.label for g in unpaired[1]],
        },
    }


def compare_runs(
    store: Store,
    baseline_id: str,
    candidate_id: str,
    *,
    sides: Sides | None = None,
    alpha: float = stats.ALPHA,
) -> dict[str, Any]:
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
