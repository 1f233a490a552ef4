"""compare (flips): the cases that changed verdict between the two sides, with both outputs.

A case *went pass → fail* when it passed in most of its (aligned, decided) repeats on the
baseline side and failed in most on the other; with one repeat, when it passed and now fails.
Ties are neither. Each flip carries a representative result of each side: its output, the
scorers that failed and why, or the call's error.
"""

from __future__ import annotations

import math
from typing import Any

from evalkit.compare.align import Alignment, Group, Pairing
from evalkit.contracts import FailedScore, Flip, Flips, FlipSide

__all__ = ["flips"]


def _side(group: Group, row: dict[str, Any], passes: int, k: int) -> FlipSide:
    failed = [
        FailedScore(scorer=name, value=s["value"], detail=s["detail"])
        for name, s in sorted(group.scores.get(row["id"], {}).items())
        if s["passed"] is False
    ]
    return FlipSide(
        result_id=row["id"],
        repeat=row["repeat"],
        output=row["output"],
        passes=passes,
        repeats=k,
        error_class=row["error_class"],
        error=row["error"],
        failed=failed,
    )


def flips(pairing: Pairing, alignment: Alignment, a: Any, b: Any) -> Flips:
    """Pass → fail and fail → pass cases from the pass/fail matrices ``a`` and ``b``
    (cases × repeats, NaN where undecided)."""
    out: dict[str, list[Flip]] = {"pass_to_fail": [], "fail_to_pass": []}
    nan = math.isnan
    for i, case in enumerate(alignment.cases):
        reps = [r for r in range(alignment.repeats) if not nan(a[i][r]) and not nan(b[i][r])]
        if not reps:
            continue
        pa = sum(int(a[i][r]) for r in reps)
        pb = sum(int(b[i][r]) for r in reps)
        k = len(reps)
        if 2 * pa > k > 2 * pb:
            kind = "pass_to_fail"
        elif 2 * pa < k < 2 * pb:
            kind = "fail_to_pass"
        else:
            continue
        want_a = 1.0 if kind == "pass_to_fail" else 0.0
        ra = next(r for r in reps if a[i][r] == want_a)
        rb = next(r for r in reps if b[i][r] == 1.0 - want_a)
        out[kind].append(
            Flip(
                case_id=case,
                baseline=_side(pairing.baseline, pairing.baseline.results[(case, ra)], pa, k),
                candidate=_side(pairing.candidate, pairing.candidate.results[(case, rb)], pb, k),
            )
        )
    return Flips(**out)
