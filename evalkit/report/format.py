"""Words, colours and numbers shared by every report of a comparison (terminal, Markdown,
HTML, JUnit), so they all say the same thing the same way.

The verdict words are the contract's: ``regressed`` / ``improved`` (significant after Holm),
``equivalent`` (the 95% interval inside ± the margin, which is shown), ``inconclusive`` (the
data cannot tell: the text says how large a change the suite could have seen), ``not
comparable`` (with the reason) — never "unchanged". Their colours: red regressed, green
improved and equivalent, amber inconclusive, grey not comparable; each report maps the colour
to its medium (``TERMINAL_STYLE``, ``MARKDOWN_ICON``, ``HTML_CLASS``).
"""

from __future__ import annotations

import math
from typing import Any

from evalkit.contracts import Budget, Comparison, Metric

__all__ = [
    "HTML_CLASS",
    "MARKDOWN_ICON",
    "TERMINAL_STYLE",
    "VERDICT_COLOUR",
    "budget_value",
    "change",
    "clip",
    "colour",
    "detail_text",
    "exit_meaning",
    "headline",
    "margin_text",
    "mde_text",
    "metric_value",
    "side_labels",
    "verdict_text",
]

#: Verdict word → colour, for metrics and budgets alike.
VERDICT_COLOUR = {
    "regressed": "red",
    "improved": "green",
    "equivalent": "green",
    "inconclusive": "amber",
    "not comparable": "grey",
    "slower": "red",
    "costlier": "red",
    "over budget": "red",
    "faster": "green",
    "cheaper": "green",
}
#: Colour → rich style (terminal).
TERMINAL_STYLE = {"red": "bold red", "green": "green", "amber": "yellow", "grey": "dim"}
#: Colour → an icon (Markdown has no colours).
MARKDOWN_ICON = {"red": "❌", "green": "✅", "amber": "🟡", "grey": "⚪"}
#: Colour → CSS class (HTML).
HTML_CLASS = {"red": "bad", "green": "good", "amber": "warn", "grey": "muted"}


def colour(verdict: str) -> str:
    """``red``, ``green``, ``amber`` or ``grey`` for a verdict word."""
    return VERDICT_COLOUR.get(verdict, "grey")


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _rate(metric: Metric) -> bool:
    return metric.kind in ("pass_rate", "pass_fail")


def _digits(metric: Metric) -> int:
    if _rate(metric):
        return 2
    scale = max(abs(metric.baseline or 0), abs(metric.candidate or 0))
    return 1 if scale >= 10 else 2 if scale >= 1 else 3


def metric_value(metric: Metric, side: str) -> str:
    """The baseline's (``side="baseline"``) or candidate's value of a metric."""
    value = getattr(metric, side)
    return f"{value:.{_digits(metric)}f}" if _finite(value) else "—"


def budget_value(budget: Budget, side: str) -> str:
    """A budget's baseline or candidate statistic: ``850 ms``, ``1.20 s``, ``$0.00012``."""
    value = getattr(budget, side)
    if not _finite(value):
        return "—"
    if budget.statistic == "p95":
        return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"
    return f"${value:.5f}"


def _signed(x: float, digits: int) -> str:
    text = f"{x:+.{digits}f}"
    return text.replace("-", "−")


def _points(share: float, signed: bool = False) -> str:
    """A share as points of percentage: 0.23 → ``23``, −0.004 → ``−0.4`` (signed)."""
    value = share * 100
    digits = 0 if abs(value) >= 1 or value == 0 else 1
    if not signed:
        return f"{abs(value):.{digits}f}"
    return "0" if value == 0 else _signed(value, digits)


def change(metric: Metric | Budget) -> str:
    """``−0.08 [−0.13, −0.03]`` (quality) or ``×1.05 [0.98, 1.12]`` (budgets)."""
    if isinstance(metric, Budget):
        if not _finite(metric.ratio):
            return "—"
        text = f"×{metric.ratio:.2f}"
        ci = metric.ci
        return text + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
    if not _finite(metric.estimate) or metric.ci is None:
        return "—"
    d = _digits(metric)
    lo, hi = metric.ci
    assert metric.estimate is not None
    return f"{_signed(metric.estimate, d)} [{_signed(lo, d)}, {_signed(hi, d)}]"


def _p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"


def margin_text(metric: Metric) -> str:
    """The equivalence margin used: ``±2 points``, ``±0.62, 2% of the baseline``."""
    margin = metric.margin
    if margin is None:
        return ""
    if _rate(metric) and margin.relative is None:
        return f"±{_points(margin.value)} points"
    text = f"±{margin.value:.{_digits(metric)}f}"
    if margin.relative is not None:
        text += f", {margin.relative * 100:g}% of the baseline"
    return text


def _detects(metric: Metric) -> str:
    mde = metric.mde
    if not _finite(mde):
        return "too few cases to detect any change"
    assert mde is not None
    if _rate(metric):
        return f"this suite detects ≥ {_points(mde)}"
    return f"this suite detects ≥ {mde:.{_digits(metric)}f}"


def verdict_text(metric: Metric | Budget) -> str:
    """``regressed (p=0.004)``, ``equivalent (±2 points)``, ``inconclusive: −23 points, this
    suite detects ≥ 58``, ``not comparable: <reason>``; for budgets ``slower``,
    ``equivalent (within ×1.2)``, ``over budget (limit 5000)``."""
    if isinstance(metric, Budget):
        return _budget_text(metric)
    verdict = metric.verdict
    if verdict == "not comparable":
        return f"not comparable: {metric.reason}"
    if metric.same_as:
        return f"{verdict} (= {metric.same_as})"
    if verdict in ("regressed", "improved") and _finite(metric.p_adjusted):
        assert metric.p_adjusted is not None
        return f"{verdict} ({_p(metric.p_adjusted)})"
    if verdict == "equivalent":
        return f"equivalent ({margin_text(metric)})"
    if verdict == "inconclusive" and _finite(metric.estimate):
        assert metric.estimate is not None
        if _rate(metric):
            size = f"{_points(metric.estimate, signed=True)} points"
        else:
            size = _signed(metric.estimate, _digits(metric))
        return f"inconclusive: {size}, {_detects(metric)}"
    return verdict


def _budget_text(budget: Budget) -> str:
    gate = budget.budget
    if budget.verdict == "over budget" and gate and gate.limit is not None:
        return f"over budget (limit {gate.limit:g})"
    text = {
        "equivalent": f"equivalent (within ×{budget.tolerance:g})",
        "inconclusive": f"inconclusive (tolerance ×{budget.tolerance:g})",
    }.get(budget.verdict, budget.verdict)
    if gate and gate.passed is not None and budget.verdict != "over budget":
        text += " · within budget"
    return text


def mde_text(metric: Metric) -> str:
    """The smallest change the comparison could detect, in the metric's units."""
    mde = metric.mde
    if _rate(metric):
        if mde is None:
            return "none (too few cases)" if metric.cases else "—"
        return f"{_points(mde)} points"
    if not _finite(mde):
        return "—"
    return f"{mde:.{_digits(metric)}f}"


def side_labels(comparison: Comparison) -> tuple[str, str]:
    """What to call the two sides: the named prompt versions (or providers), else
    ``baseline`` / ``this run``."""
    if comparison.matrix is not None:
        return comparison.matrix.sides
    return ("baseline", "this run")


def headline(comparison: Comparison) -> str:
    """What was compared with what: ``capitals@v2 against capitals@v1 (both from run X)``,
    or ``compared with main (run X)``."""
    ids_a = [r.id for r in comparison.baseline.runs]
    ids_b = [r.id for r in comparison.candidate.runs]
    if comparison.matrix is not None:
        a, b = comparison.matrix.sides
        if ids_a == ids_b:
            where = f"both from run {ids_a[0]}" if len(ids_a) == 1 else f"runs {', '.join(ids_a)}"
        else:
            where = f"run {', '.join(ids_a)} → run {', '.join(ids_b)}"
        return f"{b} against {a} ({where})"
    runs = ", ".join(ids_a)
    name = comparison.baseline.name
    return f"compared with {name} (run {runs})" if name else f"compared with run {runs}"


def clip(text: Any, width: int = 80) -> str:
    """One line, at most ``width`` characters."""
    if text is None:
        return ""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def exit_meaning(code: int, reasons: list[str]) -> str:
    """What an exit code means, with the ``--fail-on`` reasons for exit 1."""
    if code == 1 and reasons:
        return ", ".join("a gate failed" if r == "gate" else r for r in reasons)
    return {0: "ok", 1: "a gate failed", 2: "input error", 3: "run incomplete"}.get(
        code, "interrupted"
    )


def detail_text(detail: str | None) -> str | None:
    """A score's detail as a person reads it: a judge's JSON verdict in a few words
    (``unsupported: “…”``, ``score 2/5: …``, ``invalid verdict: …``), any other detail as
    it is."""
    if not detail or not detail.startswith("{"):
        return detail
    import json

    try:
        data = json.loads(detail)
    except ValueError:
        return detail
    if not isinstance(data, dict) or "verdict" not in data:
        return detail
    if data["verdict"] == "invalid":
        return f"invalid verdict: {clip(data.get('error') or 'no reason given', 120)}"
    if "unsupported" in data:
        claims = data["unsupported"]
        if not claims:
            return f"all {data.get('total', 0)} claims supported by the context"
        shown = " · ".join(f"“{clip(c, 60)}”" for c in claims[:3])
        more = f" (+{len(claims) - 3})" if len(claims) > 3 else ""
        return f"{len(claims)} of {data.get('total')} claims unsupported: {shown}{more}"
    if "irrelevant" in data:
        passages = data["irrelevant"]
        return "irrelevant passages: " + (", ".join(passages) if passages else "none")
    if "score" in data:
        return f"score {data['score']}: {clip(data.get('rationale') or '', 120)}"
    if data["verdict"] in ("win", "loss", "tie", "inconsistent"):
        return f"pairwise: {data['verdict']}"
    return detail
