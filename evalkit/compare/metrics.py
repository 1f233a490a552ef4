"""compare (metrics): which metrics a pairing of groups has, and their paired values.

- **pass rate**: a result passes when every pass/fail scorer *both sides share with the same
  signature and threshold* passes (a failed call fails; an undecided score leaves it
  undecided, and undecided pairs are left out). When a scorer was added, removed or changed,
  the pass rate is computed over the scorers still comparable, and says so.
- **one metric per scorer**: pass/fail (boolean scorers, or any scorer with a ``threshold``)
  or the mean value (a continuous scorer without threshold). Scores whose signatures differ
  are refused for that metric with the reason, and pass/fail metrics also refuse differing
  thresholds.

A pass/fail metric whose paired values equal an earlier one's is not tested twice
(``same_as``). ``compute`` runs the paired test of one metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.compare import stats
from evalkit.compare.align import Alignment, Group, Pairing, value_matrix
from evalkit.records import flatten

__all__ = ["PairedMetric", "compute", "pairing_metrics", "signature_change"]

_BOOLEAN = {"equals", "contains", "regex", "json_schema"}


@dataclass
class PairedMetric:
    """One metric of a pairing while it is computed: paired values, then the test."""

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
    #: ``json_schema`` metrics: how each side's answers were constrained (contract data).
    constraints: dict[str, Any] | None = None

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


def pairing_metrics(pairing: Pairing, alignment: Alignment) -> tuple[list[PairedMetric], list[str]]:
    """The pass rate then one metric per scorer, with their paired values (or the reason
    they are refused), and notes on what the pass rate was computed over."""
    a, b = pairing.baseline, pairing.candidate
    names = list(a.scorers) + [n for n in b.scorers if n not in a.scorers]
    refusals = {n: _refusal(n, a, b) for n in names}
    deciding = [n for n in names if refusals[n] is None and a.scorers[n].decides]
    all_deciding = {n for g in (a, b) for n, info in g.scorers.items() if info.decides}
    notes: list[str] = []
    pass_rate = PairedMetric("pass rate", "pass_rate", None)
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
        metric = PairedMetric(
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
    from evalkit.compare.constraints import constraint_notes

    kinds = [(n, (a.scorers.get(n) or b.scorers[n]).type) for n in names]
    for name, found in constraint_notes(pairing, kinds).items():
        for metric in metrics:
            if metric.scorer == name:
                metric.constraints = found["constraints"]
        if found["note"]:
            notes.append(found["note"])
    return metrics, notes


def _merge_identical(metrics: list[PairedMetric]) -> None:
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


def compute(metric: PairedMetric, key: str, mde_alpha: float) -> None:
    """Run the paired test of ``metric`` (its MDE at ``mde_alpha``), in place."""
    if metric.reason is not None or metric.a is None:
        return
    rng = stats.rng_for(key, metric.name)
    if metric.kind == "mean":
        metric.result = stats.paired_continuous(metric.a, metric.b, rng=rng, mde_alpha=mde_alpha)
    else:
        metric.result = stats.paired_binary(metric.a, metric.b, rng=rng, mde_alpha=mde_alpha)
    if metric.result is None:
        metric.reason = "no case was decided on both sides"
