"""Constrained (structured) generation on each provider's wire.

A prompt version asks for it with ``params.response_format`` (normalised when it loads, see
``evalkit.load.response_format``, to OpenAI's ``{"type": "json_schema", "json_schema":
{"name", "schema", "strict"}}``). Providers send it as their server understands it, and the
params stored with each result are the ones sent:

* OpenAI and OpenAI-compatible chat (vLLM, Ollama, llama.cpp, TGI, ...): ``response_format``
  as it is.
* llama.cpp in completion mode (the ``local`` provider, an ``openai``-type provider with
  ``structured_outputs: json_schema``, the ``llamacpp`` preset): its ``json_schema`` field,
  from which the server builds a grammar. llama.cpp's ``/v1/completions`` ignores
  ``response_format`` without a word, so it is never left to that.
* Anthropic: ``output_config: {format: {type: json_schema, schema}}`` (structured outputs;
  models and schema keywords as Anthropic documents them — an unsupported one is the API's
  400, recorded as a ``bad_request`` error). Anthropic has no schema-less JSON mode, so
  ``{type: json_object}`` is refused before the run, as is any ``response_format`` when the
  installed SDK cannot send ``output_config``.

``constraint`` reads back from stored params what constrained an answer, whichever spelling
was sent (the comparison of ``json_schema`` scores uses it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evalkit.errors import InputError
from evalkit.records import content_hash

__all__ = ["as_anthropic", "as_llama_json_schema", "constraint"]


def constraint(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What constrained generation under ``params``: ``{"kind": "json_schema", "schema":
    {...}, "schema_hash": "...", "via": "response_format"}``, ``{"kind": "json_object", ...}``,
    ``{"kind": "grammar", ...}``, or None (unconstrained)."""
    if not params:
        return None
    found: tuple[str, Any, str] | None = None
    fmt = params.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        found = ("json_schema", (fmt.get("json_schema") or {}).get("schema"), "response_format")
    elif isinstance(fmt, Mapping) and fmt.get("type") == "json_object":
        found = ("json_object", None, "response_format")
    elif isinstance(params.get("json_schema"), Mapping):
        found = ("json_schema", params["json_schema"], "json_schema")
    elif isinstance(params.get("output_config"), Mapping):
        form = params["output_config"].get("format")
        if isinstance(form, Mapping) and form.get("type") == "json_schema":
            found = ("json_schema", form.get("schema"), "output_config")
    elif params.get("grammar"):
        found = ("grammar", None, "grammar")
    if found is None:
        return None
    kind, schema, via = found
    out: dict[str, Any] = {"kind": kind, "via": via}
    if schema is not None:
        out["schema"] = schema
        out["schema_hash"] = content_hash(schema)
    return out


def as_llama_json_schema(params: dict[str, Any]) -> dict[str, Any]:
    """``response_format`` → llama.cpp's ``json_schema`` (any endpoint, completion mode too)."""
    fmt = params.get("response_format")
    if not isinstance(fmt, Mapping):
        return params
    out = {k: v for k, v in params.items() if k != "response_format"}
    if fmt.get("type") == "json_schema":
        out["json_schema"] = (fmt.get("json_schema") or {}).get("schema") or {}
    elif fmt.get("type") == "json_object":
        out["json_schema"] = {"type": "object"}
    return out


def as_anthropic(params: dict[str, Any], provider_id: str, sdk_accepts: bool) -> dict[str, Any]:
    """``response_format`` → Anthropic's ``output_config.format``, or an input error for what
    Anthropic cannot do."""
    fmt = params.get("response_format")
    if not isinstance(fmt, Mapping):
        return params
    out = {k: v for k, v in params.items() if k != "response_format"}
    if fmt.get("type") == "text":
        return out
    if fmt.get("type") != "json_schema":
        raise InputError(
            f"provider '{provider_id}' (anthropic) cannot constrain answers to any JSON "
            "object: Anthropic's structured outputs take a JSON schema",
            fix="give the prompt's response_format a schema (response_format: {schema: ...})",
        )
    if not sdk_accepts:
        raise InputError(
            f"provider '{provider_id}' (anthropic): the installed anthropic SDK cannot send "
            "output_config, so the response_format would be dropped",
            fix="pip install -U anthropic (a release whose messages.create takes output_config)",
        )
    schema = (fmt.get("json_schema") or {}).get("schema") or {}
    config = dict(out.get("output_config") or {})
    config["format"] = {"type": "json_schema", "schema": schema}
    out["output_config"] = config
    return out
