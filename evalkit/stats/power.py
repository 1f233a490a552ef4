"""Power: the minimum detectable effect of a paired comparison."""

from __future__ import annotations

import math
from typing import Any

from evalkit.stats.core import ALPHA, POWER, z_quantile

__all__ = [
    "mde_continuous",
    "mde_pass_rate",
]


def mde_pass_rate(n: int, psi0: float, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest pass-rate drop δ a two-sided paired test at level α detects with
    ``power``, by Connor's (1987) normal approximation for paired proportions::

        √n·δ = z(1−α/2)·√ψ + z(power)·√(ψ − δ²),   ψ = ψ₀ + δ

    with ``n`` cases and ψ₀ the observed mean squared per-case difference (with one repeat:
    the share of discordant cases), taken as the suite's noise; a regression is assumed to
    add δ of whole-case pass→fail flips on top of it (so ψ grows with δ). A suite whose cases
    are all deterministic (ψ₀ = 0) still needs about (z(1−α/2) + z(power))² ≈ 8 flipped
    cases. None when even a drop of 100 points would not be detected (too few cases).
    """
    if n <= 0:
        return None
    za, zb = z_quantile(1 - alpha / 2), z_quantile(power)
    root_n = math.sqrt(n)

    def gap(delta: float) -> float:
        psi = psi0 + delta
        return root_n * delta - za * math.sqrt(psi) - zb * math.sqrt(max(psi - delta**2, 0.0))

    # gap is convex with gap(0) ≤ 0, so it crosses zero upwards at most once.
    if gap(1.0) < 0:
        return None
    low, high = 0.0, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        if gap(mid) < 0:
            low = mid
        else:
            high = mid
    return high


def mde_continuous(per_case_diffs: Any, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """``(z(1−α/2) + z(power))·sd/√n`` of the per-case mean differences (the normal
    approximation of a paired test's power); None under 2 cases."""
    import numpy as np

    d = np.asarray(per_case_diffs, dtype=float)
    if d.size < 2:
        return None
    return float(
        (z_quantile(1 - alpha / 2) + z_quantile(power)) * d.std(ddof=1) / math.sqrt(d.size)
    )
