"""Span attributes of calls and results: the OpenTelemetry GenAI semantic conventions
(``gen_ai.*``) and evalkit's own (``evalkit.*``), as plain dicts.

Pure functions over evalkit's records, importing no tracing library; ``evalkit.run.otel``
puts them on spans (docs/opentelemetry.md lists every attribute).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from evalkit.errors import redact
from evalkit.records import Result, Score
from evalkit.run.calls import Attempt, CallEvent

__all__ = [
    "attempt_attributes",
    "cached_attributes",
    "call_attributes",
    "operation",
    "result_id",
    "score_attributes",
    "system",
]

#: ``gen_ai.system`` / ``gen_ai.provider.name`` by evalkit provider type.
_SYSTEMS = {"openai": "openai", "anthropic": "anthropic", "azure": "azure.ai.openai"}
#: Request params that have a GenAI attribute.
_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "max_tokens": "gen_ai.request.max_tokens",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "seed": "gen_ai.request.seed",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
}


def system(provider_type: str) -> str:
    """The GenAI system name of an evalkit provider type (else the type itself)."""
    return _SYSTEMS.get(provider_type, provider_type)


def result_id(event: CallEvent) -> str | None:
    """The result a call answers (a planned item) or grades (a judge's call)."""
    item = event.request.item if event.request is not None else None
    return item.result_id if item is not None else event.context.get("result_id")


def operation(mode: str) -> str:
    """``gen_ai.operation.name`` of a provider mode: ``chat``, or ``text_completion``."""
    return "text_completion" if mode == "completion" else "chat"


def _common(provider_type: str, mode: str) -> dict[str, Any]:
    name = system(provider_type)
    return {
        "gen_ai.operation.name": operation(mode),
        "gen_ai.system": name,
        "gen_ai.provider.name": name,
    }


def call_attributes(event: CallEvent, capture_content: bool = False) -> dict[str, Any]:
    """Every attribute of one call's span, from its ``CallEvent``."""
    out = _common(event.provider_type, event.mode)
    out.update(
        {
            "evalkit.purpose": event.purpose,
            "evalkit.provider": event.provider,
            "evalkit.attempts": len(event.attempts),
            "evalkit.retries": max(0, len(event.attempts) - 1),
        }
    )
    if event.model:
        out["gen_ai.request.model"] = event.model
    request = event.request
    if request is not None:
        for key, name in _PARAMS.items():
            value = request.params.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[name] = value
        stop = request.params.get("stop")
        if isinstance(stop, list) and stop:
            out["gen_ai.request.stop_sequences"] = [str(s) for s in stop]
        if capture_content:
            messages = [{"role": m.role, "content": m.content} for m in request.messages]
            out["gen_ai.input.messages"] = redact(json.dumps(messages, ensure_ascii=False))
    for key in ("case_id", "prompt", "repeat", "scorer"):
        if event.context.get(key) is not None:
            out[f"evalkit.{key}"] = event.context[key]
    item = request.item if request is not None else None
    if item is not None:
        out["evalkit.case_id"] = item.case.id
        out["evalkit.prompt"] = item.prompt.ref
        out["evalkit.prompt.name"] = item.prompt.name
        out["evalkit.prompt.version"] = str(item.prompt.version)
        out["evalkit.repeat"] = item.repeat
    answered = result_id(event)
    if answered is not None:
        out["evalkit.result_id"] = answered
    _outcome(out, event, capture_content)
    return out


def _outcome(out: dict[str, Any], event: CallEvent, capture_content: bool) -> None:
    outcome = event.outcome
    out["evalkit.cache_hit"] = bool(outcome.cache_hit)
    if outcome.refused:
        out["evalkit.refused"] = outcome.refused
    if outcome.served_by:
        out["evalkit.served_by"] = outcome.served_by
    if outcome.cost_usd is not None:
        out["evalkit.cost_usd"] = float(outcome.cost_usd)
    if outcome.error is not None:
        out["error.type"] = outcome.error.error_class
    generation = outcome.generation
    if generation is None:
        return
    if generation.model:
        out["gen_ai.response.model"] = generation.model
    elif event.model and outcome.served_by in (None, event.provider):
        out["gen_ai.response.model"] = event.model
    for name, value in (
        ("gen_ai.usage.input_tokens", generation.input_tokens),
        ("gen_ai.usage.output_tokens", generation.output_tokens),
        ("evalkit.usage.cached_input_tokens", generation.cached_input_tokens),
        ("evalkit.latency_ms", generation.latency_ms),
        ("evalkit.ttft_ms", generation.ttft_ms),
    ):
        if value is not None:
            out[name] = value
    if generation.finish_reason:
        out["gen_ai.response.finish_reasons"] = [generation.finish_reason]
    if capture_content:
        answer = [{"role": "assistant", "content": generation.text}]
        out["gen_ai.output.messages"] = redact(json.dumps(answer, ensure_ascii=False))


def attempt_attributes(number: int, attempt: Attempt) -> dict[str, Any]:
    """The ``evalkit.attempt`` event of one request of a call."""
    out: dict[str, Any] = {
        "evalkit.attempt": number,
        "evalkit.provider": attempt.provider,
        "evalkit.latency_ms": attempt.latency_ms,
    }
    if attempt.error_class:
        out["error.type"] = attempt.error_class
    return out


def score_attributes(result: Result, scores: Sequence[Score]) -> dict[str, Any]:
    """A scored result's verdict and each scorer's value and pass/fail."""
    out: dict[str, Any] = {}
    if result.passed is not None:
        out["evalkit.passed"] = bool(result.passed)
    if result.score is not None:
        out["evalkit.score"] = float(result.score)
    for score in scores:
        if score.value is not None:
            out[f"evalkit.score.{score.scorer}.value"] = float(score.value)
        if score.passed is not None:
            out[f"evalkit.score.{score.scorer}.passed"] = bool(score.passed)
    return out


def cached_attributes(result: Result) -> dict[str, Any]:
    """The span of a result the response cache answered before any call: what was stored."""
    # a completion-mode request is stored as its one prompt string, a chat's as messages
    out = _common(result.provider_type, "completion" if isinstance(result.input, str) else "chat")
    out.update(
        {
            "gen_ai.request.model": result.model or result.provider,
            "evalkit.purpose": "run",
            "evalkit.provider": result.provider,
            "evalkit.cache_hit": True,
            "evalkit.case_id": result.case_id,
            "evalkit.prompt": result.prompt,
            "evalkit.prompt.name": result.prompt_name,
            "evalkit.prompt.version": str(result.prompt_version),
            "evalkit.repeat": result.repeat,
            "evalkit.result_id": result.id,
            "evalkit.attempts": 0,
        }
    )
    for name, value in (
        ("gen_ai.usage.input_tokens", result.input_tokens),
        ("gen_ai.usage.output_tokens", result.output_tokens),
        ("evalkit.latency_ms", result.latency_ms),
        ("evalkit.ttft_ms", result.ttft_ms),
        ("evalkit.cost_usd", result.cost_usd),
        ("evalkit.served_by", result.served_by),
    ):
        if value is not None:
            out[name] = value
    return out
