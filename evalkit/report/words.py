"""report (words): a comparison's numbers as sentences a reviewer reads without the statistics
section — the verdict cell of each metric, one plain sentence per metric, and, where the 95%
interval and the test seem to disagree, why.

Pass/fail metrics are worded in *points* (one point = 0.01 of pass rate); mean scores in the
scorer's own units. "Inconclusive" always says how large a change the suite could have seen:
a change that is not significant is not shown to be absent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from evalkit.report.page import MetricRow

__all__ = ["COLOURS", "Measured", "metric_row", "points", "signed"]

#: The contract's colours per verdict word (budgets use the same scale).
COLOURS = {
    "regressed": "red",
    "improved": "green",
    "equivalent": "green",
    "inconclusive": "amber",
    "not comparable": "grey",
    "not compared": "grey",
    "over budget": "red",
    "slower": "red",
    "costlier": "red",
    "faster": "green",
    "cheaper": "green",
    "within tolerance": "green",
}


@dataclass
class Measured:
    """One metric of a comparison as numbers (read from ``evalkit.compare/1``)."""

    name: str
    kind: str  # pass_rate | pass_fail | mean
    scorer: str | None
    word: str
    higher_is_better: bool = True
    baseline: float | None = None
    candidate: float | None = None
    estimate: float | None = None
    ci: tuple[float, float] | None = None
    p: float | None = None
    p_adjusted: float | None = None
    test: str | None = None
    cases: int = 0
    mde: float | None = None
    pass_to_fail: int | None = None
    fail_to_pass: int | None = None
    reason: str | None = None
    note: str | None = None
    same_as: str | None = None
    margin: float | None = None
    #: the margin as a share of the baseline's value (a mean's default: 2%)
    relative: float | None = None
    #: why the interval and the test disagree, as the comparison worded it
    disagreement: str | None = None
    #: what the interval cannot be trusted for
    warnings: list[str] = field(default_factory=list)


def _ok(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def signed(x: float, digits: int) -> str:
    """``+0.23`` / ``−0.23`` (a true minus sign)."""
    return f"{x:+.{digits}f}".replace("-", "−")


def points(x: float) -> str:
    """A difference of rates in points: ``−23`` (``−0.4`` below one point)."""
    value = x * 100
    digits = 0 if abs(value) >= 1 or value == 0 else 1
    return signed(value, digits)


def _digits(m: Measured) -> int:
    if m.kind != "mean":
        return 2
    scale = max(abs(m.baseline or 0), abs(m.candidate or 0))
    return 1 if scale >= 10 else 2 if scale >= 1 else 3


def _value(m: Measured, x: float | None) -> str:
    return f"{x:.{_digits(m)}f}" if _ok(x) else "—"


def _delta(m: Measured, x: float) -> str:
    return points(x) if m.kind != "mean" else signed(x, _digits(m))


def _unit(m: Measured) -> str:
    return " points" if m.kind != "mean" else ""


def _change(m: Measured) -> str:
    if not _ok(m.estimate) or m.ci is None:
        return "—"
    lo, hi = m.ci
    return f"{_delta(m, m.estimate or 0)} [{_delta(m, lo)}, {_delta(m, hi)}]{_unit(m)}"


def _p(p: float | None) -> str:
    if not _ok(p):
        return ""
    assert p is not None
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"


def _detectable(m: Measured) -> str:
    if m.kind != "mean":
        if m.mde is None:
            return "none (too few cases)" if m.cases else "—"
        return f"{m.mde * 100:.0f} points" if m.mde >= 0.01 else f"{m.mde * 100:.1f} points"
    return f"{m.mde:.{_digits(m)}f}" if _ok(m.mde) else "—"


def _margin(m: Measured) -> str:
    if m.margin is None:
        return ""
    if m.kind != "mean":
        return f"±{m.margin * 100:g} points"
    share = f", {m.relative * 100:g}% of the baseline" if m.relative else ""
    return f"±{m.margin:.{_digits(m)}g}{share}"


def _no_score_changed(m: Measured) -> bool:
    return m.kind == "mean" and m.estimate == 0 and m.ci is not None and m.ci[0] == m.ci[1] == 0


def _cell(m: Measured, alpha: float) -> str:
    if m.word == "inconclusive" and _no_score_changed(m):
        return "inconclusive: no case's score changed"
    if m.word == "not comparable":
        return f"not comparable: {m.reason}" if m.reason else "not comparable"
    if m.word in ("regressed", "improved"):
        return f"{m.word} ({_p(m.p_adjusted)})" if _ok(m.p_adjusted) else m.word
    if m.word == "equivalent":
        return f"equivalent ({_margin(m)})" if m.margin is not None else "equivalent"
    # inconclusive: the estimate, and what the suite could have seen
    if not _ok(m.estimate):
        return "inconclusive"
    size = f"{_delta(m, m.estimate or 0)}{_unit(m)}"
    detect = _detectable(m)
    if detect in ("—", "none (too few cases)"):
        return f"inconclusive: {size}, too few cases to detect any change"
    return f"inconclusive: {size}, this suite detects ≥ {detect}"


def _what(m: Measured) -> str:
    return "pass rate" if m.kind == "pass_rate" else m.name


def _moved(m: Measured) -> str:
    """ "fell 23 points (0.91 → 0.68; 95% interval −43 to −2 points)"."""
    est = m.estimate or 0.0
    size = abs(est) * 100 if m.kind != "mean" else abs(est)
    if m.kind != "mean":
        amount = f"{size:.0f} points" if size >= 1 else f"{size:.1f} points"
    else:
        amount = f"{size:.{_digits(m)}f}"
    verb = "rose" if est > 0 else "fell" if est < 0 else "stayed at"
    head = f"{verb} {amount}" if est else f"stayed at {_value(m, m.baseline)}"
    if m.ci is None:
        return head
    lo, hi = m.ci
    return (
        f"{head} ({_value(m, m.baseline)} → {_value(m, m.candidate)}; 95% interval "
        f"{_delta(m, lo)} to {_delta(m, hi)}{_unit(m)})"
    )


def _disagreement(m: Measured, alpha: float, tests: int) -> str | None:
    """Why the interval and the test seem to say different things, if they do."""
    if m.ci is None or not _ok(m.p_adjusted) or m.word == "not comparable":
        return None
    lo, hi = m.ci
    excludes_zero = lo > 0 or hi < 0
    significant = (m.p_adjusted or 1.0) < alpha
    interval = (
        "Newcombe's interval"
        if m.test == "exact McNemar"
        else "the bootstrap interval"
        if m.kind == "mean" or "bootstrap" in (m.test or "")
        else "the cluster-bootstrap interval"
    )
    if excludes_zero and not significant:
        if _ok(m.p) and (m.p or 1.0) < alpha and tests > 1:
            return (
                f"The 95% interval excludes zero, but this is one of {tests} tests: after "
                f"Holm's correction p = {(m.p_adjusted or 0):.3f} ≥ α = {alpha:g}, so the "
                "change is not established."
            )
        flips = ""
        if m.pass_to_fail is not None and m.fail_to_pass is not None:
            flips = (
                f" with {m.pass_to_fail + m.fail_to_pass} discordant case"
                f"{'s' if m.pass_to_fail + m.fail_to_pass != 1 else ''}"
            )
        return (
            f"The 95% interval ({interval}, for this metric alone) excludes zero, but the "
            f"{m.test or 'test'}{flips} gives p = {(m.p_adjusted or 0):.3f} after correction: "
            "the exact test is more cautious than the interval's approximation, so the "
            "change is not established."
        )
    if significant and not excludes_zero:
        return (
            f"The test is significant (p = {(m.p_adjusted or 0):.3f}) while the 95% interval "
            f"({interval}) touches zero: they are computed differently and the evidence is "
            "borderline."
        )
    return None


def _sentence(m: Measured, alpha: float, tests: int) -> str:
    what = _what(m).capitalize() if m.kind == "pass_rate" else _what(m)
    if m.word == "not comparable":
        return f"{what} is not compared: {m.reason or 'refused'}."
    if m.same_as:
        return f"{what} moves exactly like {m.same_as} (same cases pass and fail): tested once."
    moved = _moved(m)
    if m.word == "regressed":
        return (
            f"{what} {moved}; the {m.test or 'test'} finds this unlikely to be chance "
            f"({_p(m.p_adjusted)} after correction for {tests} test{'s' if tests != 1 else ''})."
        )
    if m.word == "improved":
        return (
            f"{what} {moved}; the {m.test or 'test'} finds this unlikely to be chance "
            f"({_p(m.p_adjusted)} after correction for {tests} test{'s' if tests != 1 else ''})."
        )
    if m.word == "equivalent":
        return (
            f"{what} {moved}: the whole interval lies within the equivalence margin "
            f"({_margin(m)}), so any change is too small to matter by the suite's standard."
        )
    detect = _detectable(m)
    tail = (
        f"this suite can only reliably detect changes of {detect} or more"
        if detect not in ("—", "none (too few cases)")
        else "the suite has too few cases to detect a change"
    )
    if m.word == "inconclusive" and _no_score_changed(m):
        return (
            f"{what}: no case's score changed ({_value(m, m.baseline)} on both sides); that "
            "is inconclusive, not proof of no change"
            + (
                " — and with no variation at all, how large a change the suite could detect "
                "cannot be estimated."
                if not m.mde
                else f": {tail}."
            )
        )
    if m.kind != "mean" and m.pass_to_fail == 0 and m.fail_to_pass == 0:
        return (
            f"{what}: no case changed its verdict ({_value(m, m.baseline)} on both sides), yet "
            f"with {m.cases} case{'s' if m.cases != 1 else ''} that is inconclusive, not "
            f"proof of no change: {tail}."
        )
    p = f" ({_p(m.p_adjusted)} after correction)" if _ok(m.p_adjusted) else ""
    return (
        f"{what} {moved}, which is inconclusive{p}: the data cannot tell a real change from "
        f"chance, and {tail}."
    )


def metric_row(m: Measured, *, alpha: float, tests: int) -> MetricRow:
    """The row of the verdict table for one metric."""
    notes = []
    if m.note:
        notes.append(m.note)
    why = m.disagreement or _disagreement(m, alpha, tests)
    if why:
        notes.append(why)
    notes += m.warnings
    tested = m.word != "not comparable" and not m.same_as
    if m.kind != "mean":
        quiet = m.pass_to_fail == 0 and m.fail_to_pass == 0
    else:
        quiet = m.estimate == 0 and m.ci is not None and m.ci[0] == m.ci[1] == 0
    return MetricRow(
        name=m.name,
        kind=m.kind,
        scorer=m.scorer,
        baseline=_value(m, m.baseline),
        candidate=_value(m, m.candidate),
        change=_change(m),
        p=(_p(m.p_adjusted) + " (Holm)") if tested and _ok(m.p_adjusted) else "",
        word=m.word,
        colour=COLOURS.get(m.word, "grey"),
        cell=(f"{_cell(m, alpha)} (= {m.same_as})" if m.same_as else _cell(m, alpha)),
        detectable=""
        if not tested
        else "—"
        if _no_score_changed(m) and not m.mde
        else _detectable(m),
        sentence=_sentence(m, alpha, tests),
        notes=notes,
        quiet=tested and quiet,
    )
