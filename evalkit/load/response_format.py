"""A prompt version's ``params.response_format``: constrained (structured) generation.

Spellings accepted, all normalised when the prompt loads to OpenAI's form with the schema
itself in it (so the prompt's hash, every result's params, its provenance and its cache key
cover the schema's content, not just a file name)::

    params: {response_format: {schema: schemas/answer.json}}          # a file
    params: {response_format: {schema: {type: object, ...}, name: answer, strict: true}}
    params: {response_format: {type: json_schema, json_schema: {name: answer, schema: ...}}}
    params: {response_format: {type: json_object}}                   # any JSON object
    params: {response_format: {type: text}}                           # no constraint

→ ``{"type": "json_schema", "json_schema": {"name": "answer", "schema": {...},
"strict": true}}``. A schema file is JSON or YAML, relative to the prompt file, else to the
project root; it is checked against its metaschema here, so a missing file or an invalid
schema is a file:line error before any call. Each provider maps this to its own wire format
(``evalkit.providers.structured``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from evalkit.errors import InputError
from evalkit.load.source import LineMap, display_path, read_text, read_yaml

__all__ = ["normalise_response_format"]

_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_FIX = (
    "e.g. response_format: {schema: schemas/answer.json} (or an inline schema, or "
    "{type: json_object})"
)
_LOC: tuple[str, ...] = ("params", "response_format")


def _project_root(path: Path) -> Path | None:
    for folder in path.resolve().parents:
        if (folder / "evalkit.yaml").is_file():
            return folder
    return None


def _read_schema(name: str, prompt_path: Path, lines: LineMap) -> tuple[Any, str]:
    candidates = [prompt_path.resolve().parent / name]
    root = _project_root(prompt_path)
    if root is not None:
        candidates.append(root / name)
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise lines.error(
            (*_LOC, "schema"),
            f"schema file '{name}' not found (looked next to the prompt file"
            + (" and in the project root)" if root else ")"),
            fix="give a path relative to the prompt file or the project root, or the schema inline",
        )
    shown = display_path(found)
    if found.suffix.lower() in (".yaml", ".yml"):
        data, _ = read_yaml(found, shown=shown)
        return data, shown
    try:
        return json.loads(read_text(found, shown=shown)), shown
    except json.JSONDecodeError as exc:
        raise InputError(
            f"invalid JSON: {exc.msg} (column {exc.colno})",
            path=shown,
            line=exc.lineno,
            fix="fix the schema file's JSON syntax",
        ) from None


def _check(schema: Any, where: str, lines: LineMap, loc: tuple[str, ...]) -> dict[str, Any]:
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    if not isinstance(schema, dict):
        raise lines.error(
            loc, f"the schema ({where}) must be a JSON object", fix='e.g. {"type": "object"}'
        )
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        at = "/".join(str(p) for p in exc.path) or "(root)"
        raise lines.error(
            loc,
            f"invalid JSON Schema ({where}) at {at}: {exc.message}",
            fix="see https://json-schema.org/understanding-json-schema/ for valid keywords",
        ) from None
    return schema


def normalise_response_format(value: Any, prompt_path: Path, lines: LineMap) -> Any:
    """The canonical ``response_format`` of a prompt's params (see the module docstring)."""
    if not isinstance(value, dict):
        raise lines.error(_LOC, "`response_format` must be a mapping", fix=_FIX)
    kind = value.get("type")
    if kind in ("text", "json_object"):
        extra = sorted(set(value) - {"type"})
        if extra:
            raise lines.error(
                (*_LOC, extra[0]), f"response_format {kind} takes no `{extra[0]}`", fix=_FIX
            )
        return {"type": kind}
    loc: tuple[str, ...] = _LOC
    if kind == "json_schema":
        inner = value.get("json_schema")
        if not isinstance(inner, dict) or "schema" not in inner:
            raise lines.error(
                (*_LOC, "json_schema"),
                "response_format json_schema needs `json_schema: {name: ..., schema: ...}`",
                fix=_FIX,
            )
        spec, loc = dict(inner), (*_LOC, "json_schema")
    elif kind is None:
        spec = dict(value)
    else:
        raise lines.error(
            (*_LOC, "type"),
            f"unknown response_format type {kind!r}",
            fix="use json_schema, json_object or text (or just `schema:`)",
        )
    unknown = sorted(set(spec) - {"schema", "name", "strict", "description"})
    if unknown:
        raise lines.error(
            (*loc, unknown[0]),
            f"response_format: unknown key '{unknown[0]}'",
            fix="allowed: schema, name, strict, description",
        )
    if "schema" not in spec:
        raise lines.error(loc, "response_format needs a `schema`", fix=_FIX)
    raw, name = spec["schema"], spec.get("name")
    if isinstance(raw, str):
        schema, where = _read_schema(raw, prompt_path, lines)
        name = name or Path(raw).stem
    else:
        schema, where = raw, "inline"
    _check(schema, where, lines, (*loc, "schema"))
    name = str(name or "response")
    if not _NAME.fullmatch(name):
        raise lines.error(
            (*loc, "name"),
            f"response_format name {name!r} is not valid",
            fix="letters, digits, _ and - only, at most 64 (OpenAI's rule), e.g. name: answer",
        )
    strict = spec.get("strict", True)
    if not isinstance(strict, bool):
        raise lines.error((*loc, "strict"), "`strict` must be true or false", fix="strict: true")
    out: dict[str, Any] = {"name": name, "schema": schema, "strict": strict}
    if spec.get("description"):
        out["description"] = str(spec["description"])
    return {"type": "json_schema", "json_schema": out}
