"""Tools and conversations in the files users write.

* A prompt version's ``tools:`` (OpenAI function format) and ``tool_choice:``, checked here —
  names, JSON Schema parameters, a choice that names a declared tool — so a mistake is a
  file:line error before any call. They are kept in the version's params (every request's
  params, its cache key and the stored provenance include them); providers map them to their
  own format (Anthropic's ``input_schema``, llama.cpp takes OpenAI's).
* A case's ``messages:`` (the conversation so far), ``turns:`` (user turns) and a case's or
  suite's ``tool_results:`` (scripted tool answers for an agent loop).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from evalkit.errors import InputError, did_you_mean
from evalkit.load.source import LineMap, validate
from evalkit.records import Message, ScriptedToolResult

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

__all__ = [
    "HistoryMessage",
    "ToolResultModel",
    "history_problem",
    "load_tools",
    "scripted_results",
]

_TOOL_EXAMPLES = {
    "tools": "tools: [{type: function, function: {name: get_weather, parameters: "
    "{type: object, properties: {city: {type: string}}}}}]",
    "type": "type: function",
    "name": "name: get_weather",
    "parameters": "parameters: {type: object, properties: {city: {type: string}}}",
    "function": "function: {name: get_weather, parameters: {type: object}}",
}


class _FunctionModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str | None = None
    #: A JSON Schema of the arguments (an object).
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a tool name (1-64 letters, digits, _ or -)")
        return value


class _ToolModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    function: _FunctionModel


class _NamedChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


class _ChoiceModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    function: _NamedChoice


def _check_parameters(schema: dict[str, Any], lines: LineMap, loc: tuple[str | int, ...]) -> None:
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    if schema.get("type", "object") != "object":
        raise lines.error(
            (*loc, "type"),
            "a tool's `parameters` must be an object schema",
            fix="e.g. `parameters: {type: object, properties: {city: {type: string}}}`",
        )
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        where = tuple(exc.path)
        path = "/".join(str(p) for p in where) or "(root)"
        raise InputError(
            f"invalid JSON Schema in a tool's parameters at {path}: {exc.message}",
            path=lines.path,
            line=lines.line((*loc, *where)),
            fix="see https://json-schema.org/understanding-json-schema/ for valid keywords",
        ) from None


def load_tools(
    tools: Any, tool_choice: Any, params: Mapping[str, Any], lines: LineMap
) -> dict[str, Any]:
    """The params a prompt version's ``tools:``/``tool_choice:`` add (checked)."""
    for key in ("tools", "tool_choice"):
        if key in params:
            raise lines.error(
                ("params", key),
                f"`{key}` belongs at the top level of the prompt file, not under `params`",
                fix=f"move it out of `params:` (`{key}:` is checked there)",
            )
    if tools is None:
        if tool_choice is not None:
            raise lines.error(
                ("tool_choice",), "`tool_choice` without `tools`", fix="declare `tools:` too"
            )
        return {}
    if not isinstance(tools, list) or not tools:
        raise lines.error(
            ("tools",),
            "`tools` must be a non-empty list of tool definitions",
            fix=f"e.g. `{_TOOL_EXAMPLES['tools']}`",
        )
    checked: list[dict[str, Any]] = []
    names: dict[str, int] = {}
    for i, item in enumerate(tools):
        where = lines.sub("tools", i)
        if not isinstance(item, dict):
            example = _TOOL_EXAMPLES["tools"]
            raise where.error((), "a tool must be a mapping", fix=f"e.g. `{example}`")
        tool = validate(_ToolModel, item, where, what="tool", examples=_TOOL_EXAMPLES)
        name = tool.function.name
        if name in names:
            first = lines.line(("tools", names[name]))
            raise where.error(
                ("function", "name"),
                f"two tools are named '{name}' (first at line {first})",
                fix="give every tool its own name",
            )
        names[name] = i
        if tool.function.parameters is not None:
            _check_parameters(tool.function.parameters, where, ("function", "parameters"))
        checked.append(tool.model_dump(exclude_none=True))
    out: dict[str, Any] = {"tools": checked}
    if tool_choice is not None:
        out["tool_choice"] = _load_choice(tool_choice, names, lines)
    return out


def _load_choice(choice: Any, names: Mapping[str, int], lines: LineMap) -> Any:
    fix = "use auto, none, required, or {type: function, function: {name: TOOL}}"
    if isinstance(choice, str):
        if choice in ("auto", "none", "required"):
            return choice
        raise lines.error(
            ("tool_choice",),
            f"unknown tool_choice '{choice}'",
            fix=did_you_mean(choice, ["auto", "none", "required"], also=fix),
        )
    where = lines.sub("tool_choice")
    if not isinstance(choice, dict):
        raise where.error((), "tool_choice must be a string or a mapping", fix=fix)
    model = validate(_ChoiceModel, choice, where, what="tool_choice")
    name = model.function.name
    if name not in names:
        raise where.error(
            ("function", "name"),
            f"tool_choice names '{name}', which is not in `tools`",
            fix=did_you_mean(name, list(names), also=f"declared: {', '.join(names)}"),
        )
    return model.model_dump()


# -- conversations ---------------------------------------------------------------------------
class HistoryMessage(BaseModel):
    """One message of a case's conversation so far."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str


def history_problem(value: Any) -> str | None:
    """Why a var cannot be a conversation history (a list of role/content messages)."""
    if not isinstance(value, list):
        return f"must be a list of messages, got {type(value).__name__}"
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"role", "content"}:
            return f"item {i + 1} is not a message with exactly `role` and `content`"
        if item["role"] not in ("system", "user", "assistant"):
            return f"item {i + 1} has role {item['role']!r} (system, user or assistant)"
        if not isinstance(item["content"], str):
            return f"item {i + 1}'s content is not text"
    return None


class ToolResultModel(BaseModel):
    """``tool_results:`` item: what a tool returns when the model calls it."""

    model_config = ConfigDict(extra="forbid")
    name: str
    #: When given, only calls whose arguments contain these (every key, equal) match.
    arguments: dict[str, Any] | None = None
    #: The tool's answer: text, or any JSON value (sent as JSON text).
    result: Any


def scripted_results(
    items: Sequence[Any],
    lines: LineMap,
    render: Any,
) -> list[ScriptedToolResult]:
    """``tool_results:`` items, validated; strings rendered with ``render`` (the case's
    vars) — the result text and argument values alike."""
    out = []
    for i, item in enumerate(items):
        where = lines.sub(i)
        model = validate(
            ToolResultModel,
            item,
            where,
            what="tool_results",
            examples={"result": 'result: {"temp_c": 18}', "name": "name: get_weather"},
        )
        result = model.result
        if isinstance(result, str):
            text = render(result, where, ("result",))
        else:
            text = json.dumps(_render_values(result, render, where), ensure_ascii=False)
        arguments = (
            None if model.arguments is None else _render_values(model.arguments, render, where)
        )
        out.append(ScriptedToolResult(model.name, text, arguments))
    return out


def _render_values(value: Any, render: Any, where: LineMap) -> Any:
    if isinstance(value, str):
        return render(value, where, ())
    if isinstance(value, dict):
        return {k: _render_values(v, render, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_values(v, render, where) for v in value]
    return value


def as_messages(items: Sequence[HistoryMessage], render: Any, lines: LineMap) -> list[Message]:
    """A case's ``messages:`` as messages, their content rendered with the case's vars."""
    return [
        Message(m.role, render(m.content, lines.sub(i), ("content",))) for i, m in enumerate(items)
    ]
