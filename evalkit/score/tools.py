"""``tool_call`` and ``no_tool_call``: the calls a model made, against those expected.

```yaml
scorers:
  - {type: tool_call, name: get_weather, arguments: {city: "{{ city }}"}}
  - {type: tool_call, calls: [{name: search}, {name: book, schema: declared}], ordered: true}
  - {type: no_tool_call}                      # answered in text, called nothing
```

An expected call names the function (``name``) and may check its arguments three ways, all
of which must hold: ``arguments`` (equal values for every key given — all keys with
``arguments_match: exact``; strings may use the case's vars), ``schema`` (a JSON Schema, inline
or a file, or ``declared``: the parameters the prompt version declared for that tool) and
``function`` (``module:function`` from the project, called as ``function(arguments, case)``
and returning what a ``python`` scorer returns). Expected calls are matched one to one with
the calls made (in the turn scored: see ``turn``), as many as possible; with ``ordered: true``
the matched calls must come in the expected order.

The value is the F1 of the matching (precision: matched / made, recall: matched / expected;
1 when nothing was expected and nothing made). Without a ``threshold`` it passes when every
expected call was made (and, with ``only: true``, nothing else); with one, when F1 reaches it.
The detail names what is missing and why the closest call did not match.

In these scorers ``name`` is the tool's; the scorer's own label is ``label``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from evalkit.errors import InputError
from evalkit.load.prompts import check_template, render_template, template_variables
from evalkit.load.source import LineMap, display_path, read_text, read_yaml
from evalkit.records import Case, ToolCall, content_hash
from evalkit.score.base import (
    Outcome,
    PerItemScorer,
    ScoreInput,
    ScorerOptions,
    find_file,
    project_root,
)

__all__ = ["ExpectedCall", "NoToolCall", "ToolCallScorer", "match_calls"]


class ExpectedCall(BaseModel):
    """One call a ``tool_call`` scorer expects."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    #: Values the arguments must hold (every key given; all keys with ``exact``).
    arguments: dict[str, Any] | None = None
    arguments_match: Literal["subset", "exact"] = "subset"
    #: A JSON Schema for the arguments (inline, a file), or ``declared``. (Users write
    #: ``schema``; the field is ``schema_``, as ``schema`` would shadow a pydantic attribute.)
    schema_: str | dict[str, Any] | None = Field(default=None, alias="schema")
    #: ``module:function`` called as ``function(arguments, case)``.
    function: str | None = None

    _schema: dict[str, Any] | None = PrivateAttr(default=None)
    _func: Callable[..., Any] | None = PrivateAttr(default=None)


class ToolCallOptions(ScorerOptions):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    #: The expected tool's name (one expected call).
    name: str | None = None
    arguments: dict[str, Any] | None = None
    arguments_match: Literal["subset", "exact"] = "subset"
    schema_: str | dict[str, Any] | None = Field(default=None, alias="schema")
    function: str | None = None
    #: Several expected calls (instead of ``name``).
    calls: list[ExpectedCall] | None = None
    #: The matched calls must come in the expected order.
    ordered: bool = False
    #: Without a threshold: pass only if no other call was made.
    only: bool = False
    #: The scorer's label in reports (``name`` is the tool's).
    label: str | None = None

    _single: ExpectedCall | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_form(self) -> ToolCallOptions:
        if (self.name is None) == (self.calls is None):
            raise ValueError("give the expected call's `name`, or a list of `calls`")
        if self.calls is not None and (
            self.arguments is not None or self.schema_ is not None or self.function is not None
        ):
            raise ValueError("with `calls`, give arguments, schema and function in each call")
        if self.calls is not None and not self.calls:
            raise ValueError("`calls` must list at least one call")
        return self

    def expected(self) -> list[ExpectedCall]:
        """The expected calls (the single form as one)."""
        if self.calls is not None:
            return self.calls
        if self._single is None:
            self._single = ExpectedCall.model_validate(
                {
                    "name": self.name or "",
                    "arguments": self.arguments,
                    "arguments_match": self.arguments_match,
                    "schema": self.schema_,
                    "function": self.function,
                }
            )
        return [self._single]


def _strings(value: Any, loc: tuple[str | int, ...]) -> list[tuple[str, tuple[str | int, ...]]]:
    """Every string inside ``value`` with where it is."""
    if isinstance(value, str):
        return [(value, loc)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, (*loc, k))]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, (*loc, i))]
    return []


def _render(value: Any, case: Case) -> Any:
    if isinstance(value, str):
        return render_template(value, case.vars) if "{{" in value or "{%" in value else value
    if isinstance(value, dict):
        return {k: _render(v, case) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, case) for v in value]
    return value


def _load_schema(value: str | dict[str, Any], where: LineMap, suite_path: Path) -> dict[str, Any]:
    """An expected call's schema: inline, or a JSON/YAML file; checked against its
    metaschema."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    loc: tuple[str | int, ...] = ("schema",)
    if isinstance(value, dict):
        schema, lines = value, where
    else:
        found = find_file(value, suite_path)
        if found is None:
            raise where.error(
                ("schema",),
                f"schema file '{value}' not found",
                fix="give a path relative to the suite file or the project root, `declared`, "
                "or an inline schema",
            )
        shown = display_path(found)
        if found.suffix.lower() in (".yaml", ".yml"):
            schema, lines = read_yaml(found, shown=shown)
        else:
            try:
                schema = json.loads(read_text(found, shown=shown))
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"invalid JSON: {exc.msg}", path=shown, line=exc.lineno, fix="fix its syntax"
                ) from None
            lines = LineMap(shown)
        loc = ()
    if not isinstance(schema, dict):
        raise lines.error(loc, "a schema must be a JSON object", fix='e.g. {"type": "object"}')
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        raise lines.error(
            (*loc, *exc.path), f"invalid JSON Schema: {exc.message}", fix="fix the schema"
        ) from None
    return schema


def _declared(result_params: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The parameters schema a request declared for tool ``name`` (OpenAI or Anthropic)."""
    for tool in result_params.get("tools") or ():
        function = tool.get("function", tool)
        if function.get("name") == name:
            schema = function.get("parameters", function.get("input_schema"))
            return schema if isinstance(schema, dict) else {"type": "object"}
    return None


class _Check:
    """Whether one made call satisfies one expected call, and why not."""

    def __init__(self, expected: ExpectedCall, item: ScoreInput) -> None:
        self.expected = expected
        self.item = item
        self.arguments = (
            _render(expected.arguments, item.case) if expected.arguments is not None else None
        )

    def __call__(self, call: ToolCall) -> str | None:
        """None when ``call`` matches, else the reason."""
        want = self.expected
        if call.name != want.name:
            return f"called {call.name}, not {want.name}"
        args = call.arguments
        checks = self.arguments is not None or want.schema_ is not None or want.function
        if checks and not isinstance(args, dict):
            return f"{want.name}: arguments are not a JSON object: {str(args)[:80]!r}"
        if self.arguments is not None:
            for key, value in self.arguments.items():
                if key not in args:
                    return f"{want.name}: no argument {key!r}"
                if args[key] != value:
                    return f"{want.name}: {key}={args[key]!r}, expected {value!r}"
            if want.arguments_match == "exact":
                extra = sorted(set(args) - set(self.arguments))
                if extra:
                    return f"{want.name}: unexpected argument {extra[0]!r}"
        if want.schema_ is not None:
            problem = self._schema_problem(args)
            if problem:
                return problem
        if want._func is not None:
            from evalkit.score.custom import to_outcome

            try:
                outcome = to_outcome(want._func(args, self.item.case))
            except Exception as exc:
                return f"{want.name}: {want.function} raised {type(exc).__name__}: {exc}"
            if outcome.passed is not True:
                why = f": {outcome.detail}" if outcome.detail else ""
                return f"{want.name}: {want.function} did not accept the arguments{why}"
        return None

    def _schema_problem(self, args: Any) -> str | None:
        from jsonschema.validators import validator_for

        want = self.expected
        schema = want._schema
        if want.schema_ == "declared":
            schema = _declared(self.item.result.params, want.name)
            if schema is None:
                return f"{want.name}: the prompt declared no tool of that name"
        assert schema is not None
        errors = sorted(validator_for(schema)(schema).iter_errors(args), key=lambda e: e.path)
        if errors:
            return f"{want.name}: arguments {errors[0].json_path}: {errors[0].message}"
        return None


def match_calls(
    checks: Sequence[Callable[[ToolCall], str | None]],
    made: Sequence[ToolCall],
    ordered: bool,
) -> list[tuple[int, int]]:
    """The largest one-to-one matching of expected calls (``checks``) to made calls, as
    (expected index, made index) pairs; ``ordered`` keeps both in order (a longest common
    subsequence), else any pairing (augmenting paths)."""
    ok = [[check(call) is None for call in made] for check in checks]
    if ordered:
        rows, cols = len(checks), len(made)
        best = [[0] * (cols + 1) for _ in range(rows + 1)]
        for i in range(rows - 1, -1, -1):
            for j in range(cols - 1, -1, -1):
                take = best[i + 1][j + 1] + 1 if ok[i][j] else 0
                best[i][j] = max(take, best[i + 1][j], best[i][j + 1])
        pairs, i, j = [], 0, 0
        while i < rows and j < cols:
            if ok[i][j] and best[i][j] == best[i + 1][j + 1] + 1:
                pairs.append((i, j))
                i, j = i + 1, j + 1
            elif best[i + 1][j] >= best[i][j + 1]:
                i += 1
            else:
                j += 1
        return pairs
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j, good in enumerate(ok[i]):
            if good and j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    for i in range(len(checks)):
        augment(i, set())
    return sorted((i, j) for j, i in owner.items())


def _source_hash(func: Callable[..., Any]) -> str:
    """A hash of a function's source: edit it, and its scores stop being comparable."""
    import hashlib
    import inspect

    try:
        text = inspect.getsource(func)
    except (OSError, TypeError):
        text = repr(func)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _f1(matched: int, expected: int, made: int) -> float:
    if expected == 0 and made == 0:
        return 1.0
    if matched == 0:
        return 0.0
    precision, recall = matched / made, matched / expected
    return 2 * precision * recall / (precision + recall)


def _shown(call: ToolCall) -> str:
    args = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
    return f"{call.name}({args[:60]})"


class ToolCallScorer(PerItemScorer):
    """The expected tool calls were made (F1 over expected and made calls)."""

    type = "tool_call"
    version = "1"
    Options = ToolCallOptions
    label_option = "label"
    examples: ClassVar[dict[str, str]] = {
        "name": "name: get_weather",
        "arguments": 'arguments: {city: "{{ city }}"}',
        "calls": "calls: [{name: search}, {name: book}]",
        "schema": "schema: declared",
    }

    @property
    def decides(self) -> bool:
        return True

    @classmethod
    def resolve(cls, options: ScorerOptions, where: LineMap, suite_path: Path) -> None:
        assert isinstance(options, ToolCallOptions)
        from evalkit.score.custom import load_function

        for n, expected in enumerate(options.expected()):
            at = where.sub("calls", n) if options.calls is not None else where
            for text, loc in _strings(expected.arguments, ("arguments",)):
                if "{{" in text or "{%" in text:
                    check_template(text, at, loc)
            if isinstance(expected.schema_, dict) or (
                isinstance(expected.schema_, str) and expected.schema_ != "declared"
            ):
                expected._schema = _load_schema(expected.schema_, at, suite_path)
            if expected.function is not None:
                named_by = f"{at.path}:{at.line(('function',))}"
                try:
                    expected._func = load_function(
                        expected.function, project_root(suite_path), named_by=named_by
                    )
                except InputError as exc:
                    if exc.path:
                        raise
                    raise at.error(("function",), exc.message, exc.fix) from None

    @classmethod
    def check(cls, options: Any, cases: Sequence[Case]) -> tuple[Case, str] | None:
        for expected in options.expected():
            needed: set[str] = set()
            for text, _ in _strings(expected.arguments, ()):
                if "{{" in text or "{%" in text:
                    needed |= template_variables(text)
            for case in cases:
                missing = sorted(needed - set(case.vars))
                if missing:
                    return case, (
                        f"scorer 'tool_call' arguments use {{{{ {missing[0]} }}}} but case "
                        f"'{case.id}' has no var '{missing[0]}'"
                    )
        return None

    def signature(self) -> dict[str, Any]:
        sig = super().signature()
        schemas = [e._schema for e in self.options.expected() if e._schema is not None]
        if schemas:
            sig["schema_hash"] = content_hash(schemas)
        functions = {e.function: e._func for e in self.options.expected() if e._func is not None}
        if functions:
            sig["functions"] = {name: _source_hash(f) for name, f in functions.items()}
        return sig

    def score_one(self, item: ScoreInput) -> Outcome:
        opts: ToolCallOptions = self.options
        expected = opts.expected()
        checks = [_Check(e, item) for e in expected]
        made = list(item.tool_calls)
        pairs = match_calls(checks, made, opts.ordered)
        value = _f1(len(pairs), len(expected), len(made))
        if self.threshold is not None:
            passed = value >= self.threshold
        else:
            passed = len(pairs) == len(expected) and (not opts.only or len(made) == len(pairs))
        return Outcome(value, passed, self._detail(checks, made, pairs))

    def _detail(
        self, checks: list[_Check], made: list[ToolCall], pairs: list[tuple[int, int]]
    ) -> str | None:
        matched_expected = {i for i, _ in pairs}
        matched_made = {j for _, j in pairs}
        notes = []
        for i, check in enumerate(checks):
            if i in matched_expected:
                continue
            if not made:
                notes.append(f"expected {check.expected.name}, but no tool was called")
                continue
            same = [c for j, c in enumerate(made) if c.name == check.expected.name]
            if same:
                notes.append(check(same[0]) or f"{check.expected.name}: out of order")
            else:
                names = ", ".join(dict.fromkeys(c.name for c in made))
                notes.append(f"expected {check.expected.name}, called {names}")
        extra = [_shown(c) for j, c in enumerate(made) if j not in matched_made]
        if extra and self.options.only:
            notes.append(f"other calls: {', '.join(extra[:3])}")
        return "; ".join(notes) or None


class NoToolCallOptions(ScorerOptions):
    #: Only this tool must not be called (default: none at all).
    name: str | None = None
    names: list[str] | None = None
    label: str | None = None


class NoToolCall(PerItemScorer):
    """No tool was called (or none of ``name``/``names``): 1, else 0."""

    type = "no_tool_call"
    version = "1"
    boolean = True
    Options = NoToolCallOptions
    label_option = "label"
    examples: ClassVar[dict[str, str]] = {"names": "names: [delete_account]"}

    def score_one(self, item: ScoreInput) -> Outcome:
        opts = self.options
        banned = set(opts.names or ()) | ({opts.name} if opts.name else set())
        calls = [c for c in item.tool_calls if not banned or c.name in banned]
        if not calls:
            return Outcome(1.0)
        shown = ", ".join(_shown(c) for c in calls[:3])
        return Outcome(0.0, None, f"called {shown}")
