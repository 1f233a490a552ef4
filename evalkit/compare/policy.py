"""``--fail-on``: what turns a completed run (and its comparison) into exit code 1.

=============  ===========================================================================
policy         exit 1 when
=============  ===========================================================================
regression     a gate failed, or a metric regressed significantly (Holm-adjusted); default
threshold      a gate failed (the comparison is reported, never fails the build)
any            a gate failed, a metric regressed, any case went pass → fail, or latency /
               cost got worse beyond its tolerance (×1.2 / ×1.05, the whole 95% interval)
never          never (exit 0 whatever the verdict)
=============  ===========================================================================

Exit codes 2 (input error) and 3 (the run could not complete) are not policy: they stand.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from evalkit.errors import InputError

if TYPE_CHECKING:
    from evalkit.contracts import Comparison, Gate

__all__ = ["FAIL_ON", "check_policy", "compact", "decide"]

FAIL_ON = ("regression", "threshold", "any", "never")
_FAILS = {
    "regression": {"gate", "regression"},
    "threshold": {"gate"},
    "any": {"gate", "regression", "pass→fail", "budget"},
    "never": set(),
}


def check_policy(value: str) -> str:
    """``value`` if it names a policy, else an input error listing them."""
    if value not in FAIL_ON:
        raise InputError(
            f"--fail-on {value!r} is not a policy", fix=f"use one of: {', '.join(FAIL_ON)}"
        )
    return value


def decide(
    exit_code: int, gates: Sequence[Gate], comparison: Comparison | None, policy: str
) -> tuple[int, list[str]]:
    """(exit code, reasons found) for a completed run; codes other than 0/1 stand. Only a
    ``regressed`` metric counts as a regression: ``inconclusive`` never fails a build."""
    if exit_code not in (0, 1):
        return exit_code, []
    reasons = []
    if any(g.passed is False for g in gates):
        reasons.append("gate")
    if comparison is not None:
        counts = comparison.counts
        if counts.regressed:
            reasons.append("regression")
        if counts.pass_to_fail:
            reasons.append("pass→fail")
        if counts.budgets_worse:
            reasons.append("budget")
    failing = [r for r in reasons if r in _FAILS[check_policy(policy)]]
    return (1 if failing else 0), failing


def compact(comparison: Comparison) -> str:
    """The comparison as stored on the run: verdicts and flipped case ids, no outputs."""
    return json.dumps(comparison.compact(), default=str, ensure_ascii=False)
