"""compare (constraints): how each side's answers were constrained when they were generated,
shown on ``json_schema`` metrics.

A prompt version may ask the server to enforce a JSON schema (``params.response_format``);
the params stored with every result say so. Constrained and unconstrained answers are scored
by the same ``json_schema`` scorer with the same signature, so their scores *are* compared —
that is the point of a suite that tries both — and the metric records on each side whether
a schema was enforced and whether it was the scorer's own, with a note in the pairing.
"""

from __future__ import annotations

from typing import Any

from evalkit.compare.align import Group, Pairing
from evalkit.providers.structured import constraint

__all__ = ["constraint_notes", "side_constraint"]


def _scorer_schema_hash(group: Group, scorer: str) -> str | None:
    info = group.scorers.get(scorer)
    if info is None or len(info.signatures) != 1:
        return None
    signature = next(iter(info.signatures.values())) or {}
    value = signature.get("schema_hash")
    return str(value) if value else None


def side_constraint(group: Group, scorer_schema: str | None) -> dict[str, Any]:
    """One group's ``GenerationConstraint`` data (over its distinct params)."""
    found = [constraint(p if isinstance(p, dict) else None) for p in group.params]
    keys = {(c or {}).get("kind", "none") + ":" + str((c or {}).get("schema_hash")) for c in found}
    if len(keys) > 1:
        return {"kind": "mixed"}
    first = found[0] if found else None
    if first is None:
        return {"kind": "none"}
    schema_hash = first.get("schema_hash")
    return {
        "kind": first["kind"],
        "via": first["via"],
        "schema_hash": schema_hash,
        "same_schema": None if schema_hash is None else schema_hash == scorer_schema,
    }


def _words(side: dict[str, Any]) -> str:
    kind = side["kind"]
    if kind == "none":
        return "unconstrained"
    if kind == "mixed":
        return "constrained in some answers only"
    if kind == "json_schema":
        whose = "the scorer's own schema" if side["same_schema"] else "another schema"
        return f"constrained to {whose} ({side['via']})"
    return f"constrained to {'any JSON object' if kind == 'json_object' else 'a grammar'}"


def constraint_notes(pairing: Pairing, scorers: list[tuple[str, str]]) -> dict[str, Any]:
    """Per ``json_schema`` scorer name (``scorers``: (name, type) pairs): its
    ``GenerationConstraints`` data and a note, when either side was constrained."""
    out: dict[str, Any] = {}
    for name, kind in scorers:
        if kind != "json_schema":
            continue
        a, b = pairing.baseline, pairing.candidate
        schema = _scorer_schema_hash(b, name) or _scorer_schema_hash(a, name)
        sides = {"baseline": side_constraint(a, schema), "candidate": side_constraint(b, schema)}
        note = None
        if sides["baseline"]["kind"] != "none" or sides["candidate"]["kind"] != "none":
            note = (
                f"{name}: the baseline's answers were {_words(sides['baseline'])}, this "
                f"run's {_words(sides['candidate'])}"
            )
        out[name] = {"constraints": sides, "note": note}
    return out
