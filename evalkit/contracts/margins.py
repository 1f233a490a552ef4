"""Equivalence margins: how close two runs must be for a metric to be called *equivalent*.

A suite sets ``equivalence_margin:`` as one number — the margin of every pass-rate metric
(the pass rate and each pass/fail scorer), as a share: ``0.03`` is ±3 points — or per metric,
keyed by ``pass_rate`` or a scorer's name, each an absolute margin in the metric's own units
(``bleu: 1.5``) or a share of the baseline's value (``similarity: "1%"``). Metrics it does not
name keep the defaults: ±2 points for rates, ±2% of the baseline mean for means. The setting is
stored with the run, and a comparison uses the candidate run's.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import Field

from evalkit.contracts.base import Contract

__all__ = [
    "DEFAULT_RATE_MARGIN",
    "DEFAULT_RELATIVE_MARGIN",
    "Margin",
    "MarginError",
    "MarginSetting",
    "margin_for",
]

#: Default margin of a pass rate or pass/fail metric: ±2 points.
DEFAULT_RATE_MARGIN = 0.02
#: Default margin of a mean score: ±2% of the baseline mean.
DEFAULT_RELATIVE_MARGIN = 0.02

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_RATE_KINDS = ("pass_rate", "pass_fail")


class Margin(Contract):
    """The equivalence margin a metric was judged with."""

    value: float
    """± this much, in the metric's units (a share for rates: 0.02 is 2 points)."""
    relative: float | None = None
    """When the margin is a share of the baseline's value: that share (0.02 is 2%)."""
    source: Literal["default", "suite"]
    """``default`` (±2 points, ±2% of the baseline mean) or set by the suite."""


def _share(text: str) -> float | None:
    found = _PERCENT.match(text)
    return float(found.group(1)) / 100 if found else None


class MarginError(ValueError):
    """A malformed ``equivalence_margin``; ``key`` names the entry (None: the whole value)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _check_value(key: str | None, value: Any) -> float | str:
    """A validated margin value, or ``MarginError`` saying what is wrong and what to write."""
    where = f"equivalence_margin '{key}'" if key else "equivalence_margin"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MarginError(
            f"{where}: a margin is a number or a percentage, got {type(value).__name__}", key
        )
    if isinstance(value, str):
        share = _share(value)
        if key is None:
            raise MarginError(
                "equivalence_margin: one number sets the pass-rate margin as a share "
                f"(e.g. 0.02 for 2 points), got {value!r}; give percentages per metric"
            )
        if share is None or not 0 < share < 1:
            raise MarginError(
                f'{where}: {value!r} is not a percentage between 0% and 100% (e.g. "2%")', key
            )
        return value.strip()
    if not math.isfinite(value) or value <= 0:
        raise MarginError(f"{where}: the margin must be a positive number, got {value!r}", key)
    if (key is None or key == "pass_rate") and value >= 1:
        raise MarginError(
            f"{where}: a pass-rate margin is a share (0.02 = 2 points), got {value!r}", key
        )
    return float(value)


class MarginSetting(Contract):
    """A suite's ``equivalence_margin``, as stored with the run."""

    rates: float | None = None
    """Margin of every pass-rate metric (a share: 0.02 = 2 points), when set as one number."""
    metrics: dict[str, float | str] = Field(default_factory=dict)
    """Per metric (``pass_rate`` or a scorer name): an absolute margin or ``"N%"`` of the
    baseline's value."""

    @classmethod
    def parse(cls, raw: Any, metric_names: set[str] | None = None) -> MarginSetting | None:
        """The setting from a suite's ``equivalence_margin:`` value (None when absent), or
        ``MarginError``. ``metric_names``: the keys it may use (``pass_rate`` and the
        suite's scorer names)."""
        if raw is None:
            return None
        if not isinstance(raw, dict):
            value = _check_value(None, raw)
            assert isinstance(value, float)
            return cls(rates=value)
        metrics: dict[str, float | str] = {}
        for key, value in raw.items():
            name = str(key)
            if metric_names is not None and name not in metric_names:
                raise MarginError(
                    f"equivalence_margin: '{name}' is not a metric of this suite "
                    f"(use one of: {', '.join(sorted(metric_names))})",
                    name,
                )
            metrics[name] = _check_value(name, value)
        return cls(metrics=metrics)


def margin_for(
    setting: MarginSetting | None, key: str | None, kind: str, baseline: float | None
) -> Margin:
    """The margin of one metric: ``key`` is ``pass_rate`` or the scorer's name, ``kind``
    ``pass_rate``/``pass_fail``/``mean``, ``baseline`` the baseline's value of the metric."""
    base = abs(baseline) if baseline is not None and math.isfinite(baseline) else 0.0
    chosen = setting.metrics.get(key) if setting is not None and key else None
    if chosen is not None:
        if isinstance(chosen, str):
            share = _share(chosen) or 0.0
            return Margin(value=share * base, relative=share, source="suite")
        return Margin(value=float(chosen), source="suite")
    if kind in _RATE_KINDS:
        if setting is not None and setting.rates is not None:
            return Margin(value=setting.rates, source="suite")
        return Margin(value=DEFAULT_RATE_MARGIN, source="default")
    return Margin(
        value=DEFAULT_RELATIVE_MARGIN * base, relative=DEFAULT_RELATIVE_MARGIN, source="default"
    )
