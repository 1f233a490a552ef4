"""Judge verdicts: the JSON a judge must return, how it is requested, and how it is read.

* **Quoting.** Text under judgment is put into the judge prompt line by line behind ``"| "``
  (``quote``), between markers the prompt names. Nothing an output contains can then close
  the quote or start a line of its own (a forged ``Verdict:`` or ``</answer>``), and the
  prompt says that quoted text is data, never instructions.
* **Constrained output.** Where the judge's server supports it, the verdict's JSON Schema is
  sent with the request (llama.cpp's ``json_schema`` field in completion mode, OpenAI-style
  ``response_format`` in chat mode), so the model cannot answer anything else.
* **Strict parsing.** Otherwise (and always, as a check) the reply must be exactly one JSON
  object, optionally inside one ```json block, valid against the schema. Anything else is
  *invalid*: stored with its raw text, counted as undecided, never as a pass or a fail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "context_relevance_schema",
    "faithfulness_schema",
    "pairwise_schema",
    "parse_verdict",
    "quote",
    "quote_passages",
    "scale_schema",
    "structured_params",
]

_FENCED = re.compile(r"^```[ \t]*(?:json)?[ \t]*\n(.*?)\n?```$", re.DOTALL)


def quote(text: str) -> str:
    """Every line of ``text`` behind ``"| "``: data that cannot pose as prompt structure."""
    return "\n".join("| " + line for line in (text.splitlines() or [""]))


def quote_passages(passages: Sequence[Any]) -> str:
    """Each passage between ``<passage id="…">`` markers, its text quoted line by line. Ids
    are checked when the case loads (letters, digits, ``_.:#/-``), so they cannot close a
    marker either."""
    return "\n".join(f'<passage id="{p.id}">\n{quote(p.text)}\n</passage>' for p in passages)


def scale_schema(low: int, high: int) -> dict[str, Any]:
    """``{"score": low..high, "rationale": "..."}``; the score comes first, so a model
    commits to it before it writes a justification."""
    return {
        "type": "object",
        "properties": {
            "score": {"type": "integer", "enum": list(range(low, high + 1))},
            "rationale": {"type": "string", "maxLength": 300},
        },
        "required": ["score", "rationale"],
        "additionalProperties": False,
    }


def pairwise_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "winner": {"type": "string", "enum": ["A", "B", "tie"]},
            "rationale": {"type": "string", "maxLength": 300},
        },
        "required": ["winner", "rationale"],
        "additionalProperties": False,
    }


def faithfulness_schema(ids: Sequence[str]) -> dict[str, Any]:
    """``{"claims": [{"claim": "...", "supported": true, "passage": "<id>"|null}, ...]}``: the
    answer's claims, each supported by a passage of the case (by id) or not."""
    passage: dict[str, Any] = (
        {"type": ["string", "null"], "enum": [*ids, None]} if ids else {"type": "null"}
    )
    claim = {
        "type": "object",
        "properties": {
            "claim": {"type": "string", "maxLength": 300},
            "supported": {"type": "boolean"},
            "passage": passage,
        },
        "required": ["claim", "supported", "passage"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"claims": {"type": "array", "items": claim}},
        "required": ["claims"],
        "additionalProperties": False,
    }


def context_relevance_schema(ids: Sequence[str]) -> dict[str, Any]:
    """``{"passages": {"<id>": true|false, ...}}``: every passage of the case, once, marked
    relevant to the question or not."""
    return {
        "type": "object",
        "properties": {
            "passages": {
                "type": "object",
                "properties": {pid: {"type": "boolean"} for pid in ids},
                "required": list(ids),
                "additionalProperties": False,
            }
        },
        "required": ["passages"],
        "additionalProperties": False,
    }


def structured_params(how: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Request params that constrain the reply to ``schema`` (``how``: json_schema,
    response_format or none)."""
    if how == "json_schema":  # llama.cpp server: a grammar from the schema, any endpoint
        return {"json_schema": schema}
    if how == "response_format":  # OpenAI structured outputs (llama.cpp and vLLM accept it)
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "verdict", "schema": schema, "strict": True},
            }
        }
    return {}


def parse_verdict(text: str, schema: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """``(verdict, None)`` or ``(None, why it is invalid)``."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    body = text.strip()
    fenced = _FENCED.match(body)
    if fenced:
        body = fenced.group(1).strip()
    if not body:
        return None, "empty reply"
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"not a JSON object: {exc.msg} at column {exc.colno}"
    if not isinstance(value, dict):
        return None, f"not a JSON object: got {type(value).__name__}"
    error = best_match(Draft202012Validator(schema).iter_errors(value))
    if error is not None:
        return None, f"verdict does not match its schema: {error.json_path}: {error.message}"
    return value, None
