"""Reading user files so that every error can name its file and line.

``read_yaml`` returns the data together with a ``LineMap`` (a path of keys/indices → 1-based
line). ``validate`` runs a pydantic model over a piece of that data and turns the first
validation error into an ``InputError`` that says where it is and how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from evalkit.errors import InputError, did_you_mean, display_path

__all__ = [
    "LineMap",
    "display_path",
    "format_validation_error",
    "read_text",
    "read_yaml",
    "validate",
]

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


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


def read_text(path: Path, *, shown: str | None = None, encoding: str = "utf-8") -> str:
    """A user file's text. A file that is missing, a folder, unreadable or not UTF-8 is an
    ``InputError`` naming it (and, for bad bytes, their line and column)."""
    shown = shown or display_path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path=shown, fix="check the path") from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", path=shown, fix="name a file") from None
    except OSError as exc:
        raise InputError(
            f"cannot read the file: {exc.strerror or exc}",
            path=shown,
            fix="check the file's permissions",
        ) from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise InputError(
            f"not UTF-8 text (byte 0x{byte} at column {column})",
            path=shown,
            line=line,
            fix="save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
        ) from None


_OPENED = {
    "while scanning a quoted scalar": ("a quoted string", "close the quote"),
    "while parsing a flow sequence": ("a [ list", "close the list with ]"),
    "while parsing a flow mapping": ("a { mapping", "close the mapping with }"),
}


def _yaml_problem(exc: yaml.MarkedYAMLError) -> tuple[int | None, str, str]:
    """(line, message, fix) for a YAML syntax error. Something opened and never closed is
    reported where it was opened (the parser only notices at the end of the file)."""
    problem = exc.problem or "invalid YAML"
    at = exc.problem_mark.line + 1 if exc.problem_mark else None
    opened = _OPENED.get(exc.context or "")
    if opened and exc.context_mark is not None:
        what, fix = opened
        start = exc.context_mark.line + 1
        return (
            start,
            f"invalid YAML: {what} opened here is not closed ({problem} at line {at})",
            fix,
        )
    if at is None and exc.context_mark is not None:
        at = exc.context_mark.line + 1
    fix = "check indentation, quotes and colons on that line"
    if "'\\t'" in problem:
        fix = "indent with spaces: YAML does not allow tabs there"
    return at, f"invalid YAML: {problem}", fix


def read_yaml(path: Path, *, shown: str | None = None) -> tuple[Any, LineMap]:
    """Parse one YAML document; a syntax error becomes an ``InputError`` with its line."""
    shown = shown or display_path(path)
    text = read_text(path, shown=shown)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        line, message, fix = _yaml_problem(exc)
        raise InputError(message, path=shown, line=line, fix=fix) from exc
    except yaml.YAMLError as exc:
        raise InputError(
            f"invalid YAML: {exc}", path=shown, fix="check the file's YAML syntax"
        ) from exc
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


_BOUNDS = {
    "greater_than_equal": ("≥", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("≤", "le"),
    "less_than": ("<", "lt"),
}


#: Names pydantic puts into an error's location for the member of a union that failed.
_MEMBER = re.compile(r"^(str|int|float|bool|none|list|dict|.*\[.*\])$")


def _user_loc(err: Any) -> Loc:
    """An error's location as the user wrote it (without union member names)."""
    return tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and _MEMBER.match(p)))


def _pick(errors: list[Any]) -> Any:
    """The error to report: an unknown key that is a misspelling of a missing one explains
    both, so it goes first; otherwise the first error."""
    missing = {str(e["loc"][-1]) for e in errors if e.get("type") == "missing" and e.get("loc")}
    for err in errors:
        unknown = err.get("type") == "extra_forbidden" and err.get("loc")
        if unknown and did_you_mean(str(err["loc"][-1]), missing):
            return err
    return errors[0]


def format_validation_error(
    exc: ValidationError,
    lines: LineMap,
    *,
    what: str = "",
    examples: Mapping[str, str] | None = None,
    model: type[BaseModel] | None = None,
) -> InputError:
    """The most useful error of ``exc`` as an ``InputError`` naming file, line and a fix.

    ``what`` prefixes the message (``scorer 'bleu'``); ``examples`` maps a field name to a
    valid example (``{"threshold": "threshold: 20"}``) used in the fix. An unknown key gets
    the closest valid key as a suggestion, and names the mapping it is in (``gates``).
    """
    errors = exc.errors(include_url=False)
    err = _pick(errors)
    loc = _user_loc(err)
    kind = err.get("type", "")
    name = str(loc[-1]) if loc else ""
    prefix = f"{what}: " if what else ""
    example = (examples or {}).get(name)
    got = err.get("input")
    fix_value = f"fix the value, e.g. `{example}`" if example else "fix the value"
    if kind == "missing":
        message = f"{prefix}missing required key '{name}'"
        fix = f"add `{example}`" if example else f"add `{name}: ...`"
        return lines.error(loc[:-1], message, fix)
    if kind == "extra_forbidden":
        parent = _describe(loc[:-1])
        under = f"{parent}: " if loc[:-1] and parent != "document" else ""
        message = f"{prefix}{under}unknown key '{name}'"
        allowed = _allowed_keys(model, loc[:-1]) if model is not None else None
        listed = f"allowed{' under ' + parent if under else ''}: " + ", ".join(allowed or [])
        fix = did_you_mean(name, allowed or [], also=listed if allowed else "")
        return lines.error(loc, message, fix or "remove it or check its spelling")
    field_name = _describe(loc)
    if kind in _TYPE_WORDS:
        # A union (``str | list``) fails once per member: name every type it accepts.
        words = [
            _TYPE_WORDS[e["type"]]
            for e in errors
            if _user_loc(e) == loc and e.get("type") in _TYPE_WORDS
        ]
        expected = " or ".join(dict.fromkeys(words))
        message = f"{prefix}{field_name} must be {expected}, got {got!r}"
        return lines.error(loc, message, fix_value)
    if kind in _BOUNDS:
        sign, key = _BOUNDS[kind]
        bound = (err.get("ctx") or {}).get(key)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        message = f"{prefix}{field_name} must be {sign} {bound}, got {got!r}"
        return lines.error(loc, message, fix_value)
    if kind == "literal_error":
        expected = str((err.get("ctx") or {}).get("expected", ""))
        choices = [c.strip().strip("'\"") for c in expected.replace(" or ", ", ").split(",")]
        message = f"{prefix}{field_name} must be one of {expected}, got {got!r}"
        return lines.error(loc, message, did_you_mean(str(got), choices, also=fix_value))
    msg = err.get("msg", "invalid value")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    message = f"{prefix}{field_name}: {msg}" if loc else f"{prefix}{msg}"
    return lines.error(loc, message, f"e.g. `{example}`" if example else "fix the value")


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
