"""Suite gates: requirements on a run's summary; a failed gate makes ``evalkit run`` exit 1.

``pass_rate``, ``score`` (the mean weighted score), ``latency_p95_ms`` and ``ttft_p95_ms``
apply to every group (prompt version × provider) of the run: each system under test must meet
them. ``cost_usd`` and ``tokens`` are
budgets for the whole run.
"""

from __future__ import annotations

from typing import Any

from evalkit.records import Gates

__all__ = ["check_gates"]


def _gate(
    name: str, scope: str, limit: float, actual: float | None, minimum: bool
) -> dict[str, Any]:
    ok: bool | None = None  # nothing to measure: reported as n/a, neither passed nor failed
    if actual is not None:
        ok = actual >= limit if minimum else actual <= limit
    return {
        "gate": name,
        "scope": scope,
        "limit": limit,
        "actual": actual,
        "passed": ok,
        "kind": "min" if minimum else "max",
    }


def check_gates(gates: Gates, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per gate and scope: ``{"gate", "scope", "limit", "actual", "passed"}``."""
    out: list[dict[str, Any]] = []
    for group in summary["groups"]:
        scope = f"{group['prompt']} · {group['provider']}"
        if gates.pass_rate is not None:
            out.append(_gate("pass_rate", scope, gates.pass_rate, group["pass_rate"], True))
        if gates.score is not None:
            out.append(_gate("score", scope, gates.score, group.get("score"), True))
        if gates.latency_p95_ms is not None:
            out.append(
                _gate("latency_p95_ms", scope, gates.latency_p95_ms, group["latency_p95_ms"], False)
            )
        if gates.ttft_p95_ms is not None:
            out.append(_gate("ttft_p95_ms", scope, gates.ttft_p95_ms, group["ttft_p95_ms"], False))
    if gates.cost_usd is not None:
        out.append(_gate("cost_usd", "run", gates.cost_usd, summary["cost_usd"], False))
    if gates.tokens is not None:
        out.append(_gate("tokens", "run", gates.tokens, summary["tokens"], False))
    return out
