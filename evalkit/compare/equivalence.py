"""compare (verdict words): what a tested metric's numbers allow one to say.

- **regressed** / **improved**: the Holm-adjusted p is below α (the sign of the estimate and
  the metric's direction say which);
- **equivalent**: not significant, and the whole 95% interval of the difference lies inside
  ± the equivalence margin (the suite's ``equivalence_margin``; by default 2 points of a
  rate, 2% of the baseline mean of a score) — the data rule out any change that matters;
- **inconclusive**: neither — the data cannot tell, and the report says how large a change
  the suite could have seen;
- **not comparable**: refused, with the reason.

Never "unchanged": no test shows that nothing changed. Overall: regressed if any metric
regressed, else improved if any improved, else equivalent if every tested metric is, else
inconclusive (not comparable when nothing could be tested).

The interval and the test are different methods (Newcombe's score interval or a bootstrap,
against an exact test), and the test is Holm-corrected while the interval is not; where they
disagree — the interval excludes 0 but the test is not significant, or the reverse — the
verdict follows the test and the metric says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from evalkit.contracts import Margin

__all__ = ["budget_verdict", "disagreement", "metric_verdict", "overall_verdict"]

_INTERVAL = {
    "exact McNemar": "Newcombe's score interval",
    "exact sign-flip over cases": "the cluster bootstrap interval",
    "paired bootstrap": "the bootstrap interval",
    "paired bootstrap over cases": "the cluster bootstrap interval",
}


def metric_verdict(
    estimate: float,
    ci: tuple[float, float],
    p_adjusted: float | None,
    alpha: float,
    higher_is_better: bool,
    margin: Margin | None,
) -> str:
    """The verdict word of one tested metric."""
    if p_adjusted is not None and p_adjusted < alpha and estimate != 0:
        return "improved" if (estimate > 0) == higher_is_better else "regressed"
    low, high = ci
    if (
        margin is not None
        and margin.value > 0
        and math.isfinite(low)
        and math.isfinite(high)
        and -margin.value <= low
        and high <= margin.value
    ):
        return "equivalent"
    return "inconclusive"


def _p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"


def disagreement(
    *,
    test: str,
    ci: tuple[float, float],
    p: float,
    p_adjusted: float | None,
    alpha: float,
    tests: int,
) -> str | None:
    """Why the interval and the test disagree (None when they agree)."""
    low, high = ci
    if not (math.isfinite(low) and math.isfinite(high)) or p_adjusted is None:
        return None
    excludes_zero = low > 0 or high < 0
    significant = p_adjusted < alpha
    interval = _INTERVAL.get(test, "the interval")
    if excludes_zero and not significant:
        if p < alpha:
            return (
                f"the 95% interval excludes 0 and {test} alone gives {_p(p)}, but not after "
                f"Holm's correction over {tests} tests (adjusted {_p(p_adjusted)}): a real "
                "change is likely, yet not shown at the comparison's level"
            )
        return (
            f"the 95% interval excludes 0 but {test} gives {_p(p)}: {interval} is an "
            "approximation that can be narrower than the exact test with few changed cases; "
            "the verdict follows the test"
        )
    if significant and not excludes_zero:
        return (
            f"{test} is significant (adjusted {_p(p_adjusted)}) while the 95% interval "
            f"includes 0: {interval} is a different method and more conservative here; "
            "the verdict follows the test"
        )
    return None


def overall_verdict(verdicts: Sequence[str]) -> str:
    """The comparison's verdict from its tested metrics' verdicts."""
    if "regressed" in verdicts:
        return "regressed"
    if "improved" in verdicts:
        return "improved"
    tested = [v for v in verdicts if v != "not comparable"]
    if not tested:
        return "not comparable"
    return "equivalent" if all(v == "equivalent" for v in tested) else "inconclusive"


def budget_verdict(ci: Any, tolerance: float, words: tuple[str, str]) -> str:
    """``words[0]`` (slower/costlier) or ``words[1]`` (faster/cheaper) when the whole 95%
    interval of the ratio lies beyond ×tolerance (or its inverse), ``equivalent`` when it
    lies within both, ``inconclusive`` otherwise (or with no interval)."""
    if ci is None:
        return "inconclusive"
    low, high = ci
    if low > tolerance:
        return words[0]
    if high < 1 / tolerance:
        return words[1]
    if 1 / tolerance <= low and high <= tolerance:
        return "equivalent"
    return "inconclusive"
