"""Reading user files so that every error can name its file and line.

``read_yaml`` returns the data together with a ``LineMap`` (a path of keys/indices → 1-based
line). ``validate`` runs a pydantic model over a piece of that data and turns the first
validation error into an ``InputError`` that says where it is and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from evalkit.errors import InputError

__all__ = ["LineMap", "display_path", "format_validation_error", "read_yaml", "validate"]

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass
class LineMap:
    """Where each key or list item of a YAML document starts (1-based lines)."""

    path: str
    lines: dict[Loc, int] = field(default_factory=dict)
    base: Loc = ()

    def line(self, loc: Sequence[str | int] = ()) -> int | None:
        """The line of ``loc`` (relative to ``base``), or of its nearest enclosing node."""
        full = tuple(self.base) + tuple(loc)
        while True:
            if full in self.lines:
                return self.lines[full]
            if not full:
                return None
            full = full[:-1]

    def sub(self, *loc: str | int) -> LineMap:
        """A view rooted at ``loc``: ``sub('cases', 3).line(('vars',))``."""
        return LineMap(self.path, self.lines, tuple(self.base) + loc)

    def error(self, loc: Sequence[str | int], message: str, fix: str | None = None) -> InputError:
        return InputError(message, path=self.path, line=self.line(loc), fix=fix)


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*loc, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            _walk(item, (*loc, i), lines)


def read_yaml(path: Path, *, shown: str | None = None) -> tuple[Any, LineMap]:
    """Parse one YAML document; a syntax error becomes an ``InputError`` with its line."""
    shown = shown or display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError("file not found", path=shown, fix="check the path") from exc
    except UnicodeDecodeError as exc:
        raise InputError("not UTF-8 text", path=shown, fix="save the file as UTF-8") from exc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or "invalid YAML"
        raise InputError(
            f"invalid YAML: {problem}",
            path=shown,
            line=line,
            fix="check indentation, quotes and colons on that line",
        ) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", path=shown) from exc
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, LineMap(shown, lines)


_TYPE_WORDS = {
    "float_parsing": "a number",
    "float_type": "a number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _describe(loc: Loc) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    return ".".join(parts) if parts else "document"


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str] | None:
    """The keys a (possibly nested) model accepts at ``loc``, when they can be told."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = getattr(current, "model_fields", {}).get(part)
        if info is None:
            return None
        current = info.annotation
        # Unwrap Optional[...] / list[...] / dict[str, ...] to the model inside, if any.
        for arg in getattr(current, "__args__", ()) or ():
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return None


def format_validation_error(
    exc: ValidationError,
    lines: LineMap,
    *,
    what: str = "",
    examples: Mapping[str, str] | None = None,
    model: type[BaseModel] | None = None,
) -> InputError:
    """The first error of ``exc`` as an ``InputError`` naming file, line and a fix.

    ``what`` prefixes the message (``scorer 'bleu'``); ``examples`` maps a field name to a
    valid example (``{"threshold": "threshold: 20"}``) used in the fix.
    """
    err = exc.errors(include_url=False)[0]
    loc: Loc = tuple(err.get("loc", ()))
    # pydantic puts union/tagged members into loc as strings; keep only user-visible keys.
    loc = tuple(p for p in loc if not (isinstance(p, str) and "[" in p))
    kind = err.get("type", "")
    name = str(loc[-1]) if loc else ""
    prefix = f"{what}: " if what else ""
    example = (examples or {}).get(name)
    got = err.get("input")
    if kind == "missing":
        message = f"{prefix}missing required key '{name}'"
        fix = f"add `{example}`" if example else f"add `{name}: ...`"
        return lines.error(loc[:-1], message, fix)
    if kind == "extra_forbidden":
        message = f"{prefix}unknown key '{name}'"
        fix = "remove it or check its spelling"
        allowed = _allowed_keys(model, loc[:-1]) if model is not None else None
        if allowed:
            fix += "; allowed: " + ", ".join(allowed)
        return lines.error(loc, message, fix)
    if kind in _TYPE_WORDS:
        field_name = _describe(loc)
        message = f"{prefix}{field_name} must be {_TYPE_WORDS[kind]}, got {got!r}"
        fix = f"fix the value, e.g. `{example}`" if example else "fix the value"
        return lines.error(loc, message, fix)
    msg = err.get("msg", "invalid value")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    field_name = _describe(loc)
    message = f"{prefix}{field_name}: {msg}" if loc else f"{prefix}{msg}"
    return lines.error(loc, message, f"e.g. `{example}`" if example else None)


def validate(
    model: type[M],
    data: Any,
    lines: LineMap,
    *,
    what: str = "",
    examples: Mapping[str, str] | None = None,
) -> M:
    """``model.model_validate(data)`` with errors that point into the file."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(
            exc, lines, what=what, examples=examples, model=model
        ) from None
