"""Custom scorers of the support-desk example (``{type: python, function: "checks:..."}``)."""

from __future__ import annotations

import json
from typing import Any


def _first_object(text: str) -> Any:
    """The first JSON value that starts at a ``{`` in ``text`` (models add words around it)."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError:
        return None
    return value


def same_fields(output: str, case: Any) -> tuple[float, bool, str | None]:
    """The share of the reference object's fields the output's JSON object gets exactly right;
    passes only when all of them are. The detail names each wrong field."""
    want = json.loads(case.reference)
    got = _first_object(output)
    if not isinstance(got, dict):
        return 0.0, False, "no JSON object in the output"
    wrong = [key for key in want if got.get(key) != want[key]]
    detail = "; ".join(f"{key}: {got.get(key)!r}, want {want[key]!r}" for key in wrong)
    return 1 - len(wrong) / len(want), not wrong, detail or None
