"""``json_schema``: the output (or the JSON inside it) is valid against a JSON Schema.

The schema is a file (JSON or YAML; relative to the suite file, else to the project root) or
inline in the suite. It is read and checked against its own metaschema when the suite loads,
so a missing file, invalid JSON or an invalid schema is a file:line error before any call.
The score is 1 (valid) or 0; the detail names the failing path (``$.items[2].price: -1 is
less than the minimum of 0``) or says why the output is not JSON at all.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, PrivateAttr

from evalkit.errors import InputError
from evalkit.load.source import LineMap, display_path, read_text, read_yaml
from evalkit.records import content_hash
from evalkit.score.base import Outcome, PerItemScorer, ScoreInput, ScorerOptions, find_file

__all__ = ["JsonSchema", "extract_json"]

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|json5)?[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL)


class JsonSchemaOptions(ScorerOptions):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    #: A schema file (``schemas/answer.json``) or the schema itself, inline. (The field is
    #: ``schema_``: ``schema`` would shadow a pydantic attribute; users write ``schema``.)
    schema_: str | dict[str, Any] = Field(alias="schema")
    #: Where the JSON is: the whole ``output`` (default), the first ```json ``fenced`` block,
    #: or ``auto`` (a fenced block if there is one, else the first JSON object or array).
    extract: Literal["output", "fenced", "auto"] = "output"
    #: Also check ``format`` keywords (email, date-time, uri, ...).
    check_formats: bool = False

    _schema: dict[str, Any] | None = PrivateAttr(default=None)
    _source: str = PrivateAttr(default="inline")


def extract_json(text: str, mode: str) -> tuple[Any, str | None]:
    """``(value, None)`` or ``(None, why not)`` for ``mode`` output / fenced / auto."""
    body = text
    if mode in ("fenced", "auto"):
        match = _FENCE.search(text)
        if match:
            body = match.group(1)
        elif mode == "fenced":
            return None, "no ```json fenced block in the output"
        else:
            start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
            if start < 0:
                return None, "no JSON object or array in the output"
            try:
                value, _ = json.JSONDecoder().raw_decode(text, start)
                return value, None
            except json.JSONDecodeError as exc:
                return None, f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    try:
        return json.loads(body), None
    except json.JSONDecodeError as exc:
        hint = ""
        if mode == "output" and _FENCE.search(text):
            hint = "; the JSON is in a ``` block: set `extract: fenced` (or auto)"
        snippet = body.strip()[:60]
        return None, (
            f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}) in {snippet!r}{hint}"
        )


def _validator_class(schema: dict[str, Any]) -> Any:
    from jsonschema.validators import validator_for

    return validator_for(schema)


def _check_schema(schema: Any, lines: LineMap, loc: tuple[str | int, ...], shown: str) -> None:
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict):
        raise lines.error(
            loc,
            f"the schema in {shown} must be a JSON object",
            fix='e.g. {"type": "object", "required": ["answer"]}',
        )
    try:
        _validator_class(schema).check_schema(schema)
    except SchemaError as exc:
        where = tuple(exc.path)
        path = "/".join(str(p) for p in where) or "(root)"
        raise InputError(
            f"invalid JSON Schema at {path}: {exc.message}",
            path=lines.path,
            line=lines.line((*loc, *where)),
            fix="see https://json-schema.org/understanding-json-schema/ for valid keywords",
        ) from None


def _load_schema_file(path: Path) -> dict[str, Any]:
    shown = display_path(path)
    text = read_text(path, shown=shown)
    if not text.strip():
        raise InputError(
            "the schema file is empty",
            path=shown,
            line=1,
            fix='write a JSON Schema, e.g. {"type": "object", "required": ["answer"]}',
        )
    if path.suffix.lower() in (".yaml", ".yml"):
        data, lines = read_yaml(path, shown=shown)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"invalid JSON: {exc.msg} (column {exc.colno})",
                path=shown,
                line=exc.lineno,
                fix="fix the schema file's JSON syntax",
            ) from None
        try:  # JSON is YAML: borrow the YAML reader's line numbers for schema errors
            _, lines = read_yaml(path, shown=shown)
        except InputError:
            lines = LineMap(shown)
    _check_schema(data, lines, (), shown)
    schema: dict[str, Any] = data
    return schema


def load_schema(
    options: JsonSchemaOptions, where: LineMap, suite_path: Path | None, root: Path | None
) -> None:
    """Read and check the options' schema once; keep it on the options."""
    if options._schema is not None:
        return
    if isinstance(options.schema_, dict):
        _check_schema(options.schema_, where, ("schema",), where.path)
        options._schema = options.schema_
        return
    found = find_file(options.schema_, suite_path) if suite_path else None
    if found is None and root is not None and (root / options.schema_).is_file():
        found = (root / options.schema_).resolve()
    if found is None:
        raise where.error(
            ("schema",),
            f"schema file '{options.schema_}' not found",
            fix="give a path relative to the suite file or the project root, or an inline "
            "schema (`schema: {type: object, required: [answer]}`)",
        )
    options._schema = _load_schema_file(found)
    options._source = options.schema_


class JsonSchema(PerItemScorer):
    """The output is JSON valid against a schema (1) or not (0)."""

    cacheable = True

    type = "json_schema"
    version = "1"
    boolean = True
    Options = JsonSchemaOptions
    examples: ClassVar[dict[str, str]] = {
        "schema": "schema: schemas/answer.json",
        "extract": "extract: fenced",
    }

    @classmethod
    def resolve(cls, options: ScorerOptions, where: LineMap, suite_path: Path) -> None:
        assert isinstance(options, JsonSchemaOptions)
        load_schema(options, where, suite_path, None)

    def __init__(self, spec: Any, context: Any) -> None:
        super().__init__(spec, context)
        load_schema(self.options, LineMap(self.options.type), None, context.root)
        schema = self.options._schema
        kwargs: dict[str, Any] = {}
        if self.options.check_formats:
            kwargs["format_checker"] = _validator_class(schema).FORMAT_CHECKER
        self.validator = _validator_class(schema)(schema, **kwargs)

    def signature(self) -> dict[str, Any]:
        sig = super().signature()
        options = {k: v for k, v in sig["options"].items() if k != "schema_"}
        sig["options"] = {**options, "schema": self.options._source}
        sig["schema_hash"] = content_hash(self.options._schema)
        return sig

    def library_versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"jsonschema": version("jsonschema")}

    def score_one(self, item: ScoreInput) -> Outcome:
        from jsonschema.exceptions import best_match

        value, problem = extract_json(item.output, self.options.extract)
        if problem is not None:
            return Outcome(0.0, None, problem)
        errors = list(self.validator.iter_errors(value))
        if not errors:
            return Outcome(1.0)
        error = best_match(errors)
        message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return Outcome(0.0, None, f"{error.json_path}: {message}{more}")
