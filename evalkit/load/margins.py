"""A suite's ``equivalence_margin:``, checked against the suite's metrics with file:line
errors. The format and its meaning are in ``evalkit.contracts.margins``."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from evalkit.contracts.margins import MarginError, MarginSetting
from evalkit.load.source import LineMap
from evalkit.records import ScorerSpec

__all__ = ["load_margin"]

_FIX = (
    "e.g. `equivalence_margin: 0.02` (±2 points of every pass rate), or per metric "
    '`equivalence_margin: {pass_rate: 0.03, bleu: 1.5, similarity: "1%"}`'
)


def _pass_fail(spec: ScorerSpec) -> bool:
    from evalkit.registry import SCORERS

    if getattr(spec.options, "threshold", None) is not None:
        return True
    try:
        return bool(SCORERS.get(spec.type).boolean)
    except Exception:  # a plugin that cannot be loaded: say nothing about its scale
        return False


def load_margin(raw: Any, scorers: Sequence[ScorerSpec], lines: LineMap) -> dict[str, Any] | None:
    """The validated setting as stored with a run (None when the suite sets none)."""
    names = {"pass_rate", *(s.name for s in scorers)}
    try:
        setting = MarginSetting.parse(raw, names)
    except MarginError as exc:
        loc: tuple[str, ...] = ("equivalence_margin",)
        fix = _FIX
        if exc.key is not None:
            loc = ("equivalence_margin", exc.key)
            close = difflib.get_close_matches(exc.key, sorted(names), n=1)
            if close and exc.key not in names:
                fix = f"did you mean '{close[0]}'?"
        raise lines.error(loc, str(exc), fix=fix) from None
    if setting is None:
        return None
    for spec in scorers:
        value = setting.metrics.get(spec.name)
        if isinstance(value, float) and value >= 1 and _pass_fail(spec):
            raise lines.error(
                ("equivalence_margin", spec.name),
                f"equivalence_margin '{spec.name}': the scorer has a pass/fail outcome, so "
                f"its margin is a share (0.02 = 2 points), got {value:g}",
                fix=f"e.g. `{spec.name}: 0.02`",
            )
    return setting.model_dump()
