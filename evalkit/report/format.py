"""Words and numbers shared by every report of a comparison (terminal, Markdown, HTML, JUnit),
so they all say the same thing the same way."""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "change",
    "clip",
    "exit_meaning",
    "mde_text",
    "metric_value",
    "verdict_text",
]


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _digits(metric: dict[str, Any]) -> int:
    if metric.get("kind") in ("pass_rate", "pass_fail"):
        return 2
    scale = max(abs(metric.get("baseline") or 0), abs(metric.get("candidate") or 0))
    return 1 if scale >= 10 else 2 if scale >= 1 else 3


def metric_value(metric: dict[str, Any], side: str) -> str:
    value = metric.get(side)
    return f"{value:.{_digits(metric)}f}" if _finite(value) else "—"


def _signed(x: float, digits: int) -> str:
    text = f"{x:+.{digits}f}"
    return text.replace("-", "−")


def change(metric: dict[str, Any]) -> str:
    """``−0.08 [−0.13, −0.03]`` (quality) or ``×1.05 [0.98, 1.12]`` (budgets)."""
    if "ratio" in metric:
        if not _finite(metric.get("ratio")):
            return "—"
        ci = metric.get("ci")
        text = f"×{metric['ratio']:.2f}"
        return text + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
    if not _finite(metric.get("estimate")):
        return "—"
    d = _digits(metric)
    lo, hi = metric["ci"]
    return f"{_signed(metric['estimate'], d)} [{_signed(lo, d)}, {_signed(hi, d)}]"


def _p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"


def verdict_text(metric: dict[str, Any]) -> str:
    """``regressed (p=0.004)``, ``unchanged``, ``not comparable: <reason>``, budgets."""
    verdict = metric["verdict"]
    if "ratio" in metric:
        budget = metric.get("budget")
        if budget and budget.get("passed") is not None and verdict != "over budget":
            return f"{verdict} · within budget" if verdict != "unchanged" else "within budget"
        if verdict == "over budget" and budget:
            return f"over budget (limit {budget['limit']:g})"
        return verdict
    if verdict == "not comparable":
        return f"not comparable: {metric.get('reason')}"
    if metric.get("same_as"):
        return f"{verdict} (= {metric['same_as']})"
    if verdict in ("regressed", "improved") and _finite(metric.get("p_adjusted")):
        return f"{verdict} ({_p(metric['p_adjusted'])})"
    return verdict


def mde_text(metric: dict[str, Any]) -> str:
    """The smallest change the comparison could detect, in the metric's units."""
    mde = metric.get("mde")
    if metric.get("kind") in ("pass_rate", "pass_fail"):
        if mde is None:
            return "none (too few cases)" if metric.get("cases") else "—"
        return f"{mde * 100:.0f} points" if mde >= 0.01 else f"{mde * 100:.1f} points"
    if not _finite(mde):
        return "—"
    return f"{mde:.{_digits(metric)}f}"


def clip(text: Any, width: int = 80) -> str:
    """One line, at most ``width`` characters."""
    if text is None:
        return ""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def exit_meaning(code: int, reasons: list[str]) -> str:
    if code == 1 and reasons:
        return ", ".join("a gate failed" if r == "gate" else r for r in reasons)
    return {0: "ok", 1: "a gate failed", 2: "input error", 3: "run incomplete"}.get(
        code, "interrupted"
    )
