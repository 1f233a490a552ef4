"""Versioned prompts: ``prompts/<name>/v<N>.yaml``.

A version holds Jinja2 message templates (rendered in a sandbox with ``StrictUndefined``, so a
missing variable is an error, never an empty string) and generation params. Its hash covers
the templates and params, so a version edited in place after it was used is noticed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evalkit.errors import InputError, NotFoundError, did_you_mean
from evalkit.load.source import LineMap, display_path, read_text, read_yaml, validate
from evalkit.load.tools import history_problem, load_tools
from evalkit.records import HISTORY_ROLE, Case, Message, PromptVersion, content_hash

if TYPE_CHECKING:
    import jinja2
    import jinja2.nodes
    import jinja2.sandbox

__all__ = [
    "PromptLibrary",
    "check_template",
    "load_prompt_file",
    "parse_ref",
    "project_library",
    "prompt_error",
    "prompt_variables",
    "render_messages",
    "render_template",
    "template_problem",
    "template_variables",
]

_VERSION_FILE = re.compile(r"^v(\d+)\.ya?ml$")
_REF = re.compile(r"^(?P<name>[A-Za-z0-9_.\-/]+?)(?:@(?P<version>v\d+|latest))?$")


class _MessageModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str


class _Params(BaseModel):
    """Generation params. Known keys are checked; others pass through to the provider."""

    model_config = ConfigDict(extra="allow")
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    top_p: float | None = Field(default=None, ge=0, le=1)


class _HistoryModel(BaseModel):
    """``- {history: VAR}``: the case var VAR (a list of messages) is inserted here."""

    model_config = ConfigDict(extra="forbid")
    history: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class _PromptFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[_MessageModel] = Field(min_length=1)
    params: _Params = Field(default_factory=_Params)
    description: str | None = None
    parent: str | None = None
    #: Tools the model may call (OpenAI function format); checked by ``load.tools``.
    tools: Any = None
    #: ``auto``, ``none``, ``required`` or ``{type: function, function: {name: ...}}``.
    tool_choice: Any = None


_EXAMPLES = {
    "messages": 'messages: [{role: user, content: "Q: {{ question }}\\nA:"}]',
    "role": "role: user",
    "temperature": "temperature: 0",
    "max_tokens": "max_tokens: 64",
    "history": "history: conversation",
}


@lru_cache(maxsize=1)
def _env() -> jinja2.sandbox.SandboxedEnvironment:
    import jinja2.sandbox

    return jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


#: ``{{ name }}``: a variable put in as it is, the only thing a plain template does.
_PLAIN_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
#: Names Jinja reads as constants, not variables.
_CONSTANTS = frozenset({"true", "false", "none", "True", "False", "None"})


class _Plain:
    """A template that only puts variables in text (``Hello {{ name }}!``), rendered without
    Jinja2: most prompts are such, and Jinja2's import and per-render work were a tenth of a
    fully cached re-run. It renders exactly as Jinja2 would (``str`` of each value; tests
    compare the two); a missing variable goes to Jinja2 for its error."""

    __slots__ = ("names", "parts", "source")

    def __init__(self, source: str, parts: list[str]) -> None:
        self.source = source
        #: literal, name, literal, name, …, literal
        self.parts = parts
        self.names = frozenset(parts[1::2])

    def render(self, variables: Mapping[str, Any]) -> str:
        parts = self.parts
        out = [parts[0]]
        try:
            for i in range(1, len(parts), 2):
                value = variables[parts[i]]
                out.append(value if type(value) is str else str(value))
                out.append(parts[i + 1])
        except KeyError:
            return _jinja(self.source).render(variables)  # StrictUndefined's error
        return "".join(out)


def _plain(source: str) -> _Plain | None:
    """The template as a ``_Plain`` one, if it is one."""
    parts = _PLAIN_VAR.split(source)
    literals = parts[0::2]
    if any("{{" in t or "{%" in t or "{#" in t or "\r" in t for t in literals):
        return None  # a block, a comment, an expression, or newlines Jinja2 would convert
    if any(name in _CONSTANTS for name in parts[1::2]):
        return None
    return _Plain(source, parts)


@lru_cache(maxsize=4096)
def _compile(source: str) -> jinja2.Template | _Plain:
    """The template to render ``source`` with: a ``_Plain`` one when it only puts variables
    in text, else Jinja2's (sandboxed)."""
    return _plain(source) or _jinja(source)


@lru_cache(maxsize=4096)
def _jinja(source: str) -> jinja2.Template:
    return _env().from_string(source)


def template_variables(source: str) -> set[str]:
    """Top-level variable names a template uses."""
    compiled = _compile(source)
    if isinstance(compiled, _Plain):
        return set(compiled.names)
    import jinja2.meta

    return set(jinja2.meta.find_undeclared_variables(_env().parse(source)))


def _unsafe() -> frozenset[str]:
    """Attributes the sandbox refuses besides every ``_name`` (frames and code of generators,
    coroutines and functions; the method resolution order)."""
    import jinja2.sandbox

    return frozenset(
        {"mro", "func_code", "func_globals", "im_class", "im_func", "im_self", "tb_frame"}
        | jinja2.sandbox.UNSAFE_GENERATOR_ATTRIBUTES
        | jinja2.sandbox.UNSAFE_COROUTINE_ATTRIBUTES
        | jinja2.sandbox.UNSAFE_ASYNC_GENERATOR_ATTRIBUTES
    )


_NO_SUCH = re.compile(r"^No (filter|test) named '([^']+)'")
_TEMPLATE_FIX = "close every {{ }} and {% %} and check filter names"
_SANDBOX_FIX = (
    "templates see only the case's variables (and their items and attributes), "
    "filters and tests; remove that expression"
)


def _reached(node: jinja2.nodes.Node) -> str | None:
    """The attribute or item name an expression reaches for, when it is a constant."""
    import jinja2.nodes

    if isinstance(node, jinja2.nodes.Getattr):
        return node.attr
    if isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Const):
        return node.arg.value if isinstance(node.arg.value, str) else None
    if isinstance(node, jinja2.nodes.Filter) and node.name == "attr" and node.args:
        arg = node.args[0]
        if isinstance(arg, jinja2.nodes.Const) and isinstance(arg.value, str):
            return arg.value
    return None


def template_problem(source: str) -> tuple[str, int, str] | None:
    """Why a template cannot be used: ``(message, line within the template, fix)``.

    A syntax error, an unknown filter or test (with the closest name), or an expression the
    sandbox would refuse at render time (``{{ ''.__class__ }}``, ``x.mro``), found here so
    that it is a file:line error when the file is loaded, before any call."""
    if _plain(source) is not None:
        return None  # text and variables: nothing that can be wrong
    import jinja2

    try:
        tree = _env().parse(source)
        _jinja(source)
    except jinja2.TemplateSyntaxError as exc:
        message = exc.message or "invalid template"
        fix = _TEMPLATE_FIX
        unknown = _NO_SUCH.match(message)
        if unknown:
            kind, name = unknown.groups()
            names = _env().filters if kind == "filter" else _env().tests
            message = f"no {kind} named '{name}'"
            fix = did_you_mean(name, names) or f"{kind}s: {', '.join(sorted(names))}"
        return f"template syntax error: {message}", exc.lineno or 1, fix
    unsafe = _unsafe()
    for node in tree.find_all((jinja2.nodes.Getattr, jinja2.nodes.Getitem, jinja2.nodes.Filter)):
        name = _reached(node)
        if name is not None and (name.startswith("_") or name in unsafe):
            return (
                f"template reaches for `{name}`, which the sandbox refuses as unsafe",
                node.lineno,
                _SANDBOX_FIX,
            )
    return None


def check_template(source: str, lines: LineMap, loc: tuple[str | int, ...]) -> None:
    """Raise an ``InputError`` at the template's line (``loc`` in ``lines``) if it has a
    ``template_problem``."""
    problem = template_problem(source)
    if problem is None:
        return
    message, lineno, fix = problem
    base = lines.line(loc)
    raise InputError(message, path=lines.path, line=base + lineno - 1 if base else None, fix=fix)


def load_prompt_file(path: Path, name: str | None = None) -> PromptVersion:
    """Read and validate one prompt version file."""
    match = _VERSION_FILE.match(path.name)
    shown = display_path(path)
    if not match:
        raise InputError(
            "prompt version files are named v<N>.yaml",
            path=shown,
            fix=f"rename it, e.g. {path.parent.name}/v1.yaml",
        )
    data, lines = read_yaml(path, shown=shown)
    if not isinstance(data, dict):
        raise InputError(
            "the prompt version is empty"
            if data is None
            else "a prompt version must be a mapping with `messages:`",
            path=shown,
            line=1,
            fix=f"start with `{_EXAMPLES['messages']}`",
        )
    data, slots = _history_slots(data, lines)
    model = validate(_PromptFile, data, lines, what="prompt", examples=_EXAMPLES)
    for i, message in enumerate(model.messages):
        if i not in slots:
            check_template(message.content, lines, ("messages", i, "content"))
    messages = tuple(
        Message(HISTORY_ROLE, slots[i]) if i in slots else Message(m.role, m.content)
        for i, m in enumerate(model.messages)
    )
    params = model.params.model_dump(exclude_none=True)
    params.update(load_tools(model.tools, model.tool_choice, params, lines))
    if "response_format" in params:
        from evalkit.load.response_format import normalise_response_format

        params["response_format"] = normalise_response_format(
            params["response_format"], path, lines
        )
    digest = content_hash({"messages": [m.as_dict() for m in messages], "params": params})
    return PromptVersion(
        name=name or path.parent.name,
        version=f"v{int(match.group(1))}",
        number=int(match.group(1)),
        path=path,
        source=read_text(path, shown=shown),
        messages=messages,
        params=params,
        description=model.description,
        parent=model.parent,
        hash=digest,
    )


def _history_slots(data: dict[str, Any], lines: LineMap) -> tuple[dict[str, Any], dict[int, str]]:
    """Take the ``{history: VAR}`` placeholders out of ``messages`` (validated on their own,
    so a plain message keeps its own error messages); returns the data with stand-ins and
    the placeholders by position."""
    raw = data.get("messages")
    if not isinstance(raw, list):
        return data, {}
    slots: dict[int, str] = {}
    items: list[Any] = []
    for i, item in enumerate(raw):
        if isinstance(item, dict) and "history" in item:
            where = lines.sub("messages", i)
            slot = validate(_HistoryModel, item, where, what="prompt", examples=_EXAMPLES)
            slots[i] = slot.history
            items.append({"role": "user", "content": ""})
        else:
            items.append(item)
    if len(slots) > 1:
        raise lines.error(
            ("messages", sorted(slots)[1]),
            "a prompt has at most one `history:` placeholder",
            fix="keep one; the case's `messages:` and `turns:` follow the prompt's messages",
        )
    return ({**data, "messages": items} if slots else data), slots


def prompt_variables(prompt: PromptVersion) -> set[str]:
    """Every case var a prompt version needs: its templates' variables and the var of its
    ``history`` placeholder."""
    needed: set[str] = set()
    for message in prompt.messages:
        if message.role == HISTORY_ROLE:
            needed.add(message.content)
        else:
            needed |= template_variables(message.content)
    return needed


def parse_ref(ref: str) -> tuple[str, str]:
    """``summarize@v2`` → (``summarize``, ``v2``); a bare name means ``latest``."""
    match = _REF.match(ref.strip())
    if not match:
        raise InputError(
            f"not a prompt reference: {ref!r}",
            fix="write NAME@vN, e.g. summarize@v2 (or summarize@latest)",
        )
    return match.group("name"), match.group("version") or "latest"


def render_template(source: str, variables: Mapping[str, Any]) -> str:
    """Render one Jinja2 template string in the sandbox (``StrictUndefined``): scorer options
    that use a case's vars, completion templates. Compiled templates are cached."""
    return _compile(source).render(variables)


def render_messages(
    prompt: PromptVersion, variables: Mapping[str, Any], *, case: Case | None = None
) -> list[Message]:
    """Render each message template with the case's variables.

    The planner checks variables beforehand and the loader checks syntax and the sandbox, so
    this rarely fails; when it does (a sandbox limit such as a huge ``range``, a filter given
    a value it cannot take, an attribute a var lacks) it raises an ``InputError`` naming the
    prompt file and line and the case (``case``, when given).
    """
    rendered: list[Message] = []
    for i, m in enumerate(prompt.messages):
        if m.role == HISTORY_ROLE:
            rendered += _history(prompt, m.content, variables, case)
            continue
        try:
            rendered.append(Message(m.role, _compile(m.content).render(variables)))
        except Exception as exc:
            raise _render_error(prompt, i, case, exc) from None
    return rendered


def _history(
    prompt: PromptVersion, name: str, variables: Mapping[str, Any], case: Case | None
) -> list[Message]:
    """The messages of a ``history`` placeholder: the case var, as written (not a template)."""
    value = variables.get(name)
    problem = history_problem(value)
    if problem is not None:
        shown = f"case '{case.id}'" if case is not None else "the case"
        raise InputError(
            f"{shown}: var '{name}' (the history {prompt.ref} inserts) {problem}",
            path=case.source if case is not None else None,
            line=case.line if case is not None else None,
            fix='give a list of messages, e.g. [{"role": "user", "content": "Hi"}, '
            '{"role": "assistant", "content": "Hello!"}]',
        )
    return [Message(m["role"], m["content"]) for m in value or ()]


def prompt_error(
    prompt: PromptVersion, loc: tuple[str | int, ...], message: str, fix: str | None
) -> InputError:
    """An input error at ``loc`` (e.g. ``("params", "response_format")``) of a prompt file."""
    shown = display_path(prompt.path)
    line = None
    with contextlib.suppress(InputError):
        line = read_yaml(prompt.path, shown=shown)[1].line(loc)
    return InputError(message, path=shown, line=line, fix=fix)


def _render_error(
    prompt: PromptVersion, index: int, case: Case | None, exc: Exception
) -> InputError:
    shown = display_path(prompt.path)
    line = None
    with contextlib.suppress(InputError):
        line = read_yaml(prompt.path, shown=shown)[1].line(("messages", index, "content"))
    text = getattr(exc, "message", None) or str(exc)
    where = ""
    if case is not None:
        where = f" for case '{case.id}'"
        if case.source:
            where += f" ({case.source}" + (f":{case.line})" if case.line else ")")
    return InputError(
        f"message {index + 1} of {prompt.ref} failed to render{where}: "
        f"{type(exc).__name__}: {text}",
        path=shown,
        line=line,
        fix="fix the template, or the case's vars it uses",
    )


class PromptLibrary:
    """The prompt versions of one or more folders (the project's ``prompts/``, then the
    package's own, e.g. the default judge prompts)."""

    def __init__(self, roots: Iterable[Path]) -> None:
        self.roots = [r for r in roots if r.is_dir()]
        self._cache: dict[Path, PromptVersion] = {}

    def _folder(self, name: str) -> Path | None:
        for root in self.roots:
            folder = root / name
            if folder.is_dir():
                return folder
        return None

    def names(self) -> list[str]:
        seen: list[str] = []
        for root in self.roots:
            for child in sorted(root.iterdir()):
                if child.is_dir() and child.name not in seen and self.version_files(child.name):
                    seen.append(child.name)
        return seen

    def version_files(self, name: str) -> dict[int, Path]:
        folder = self._folder(name)
        if folder is None:
            return {}
        found: dict[int, Path] = {}
        for child in folder.iterdir():
            match = _VERSION_FILE.match(child.name)
            if match:
                found[int(match.group(1))] = child
        return dict(sorted(found.items()))

    def versions(self, name: str) -> list[PromptVersion]:
        return [self._load(path, name) for path in self.version_files(name).values()]

    def _load(self, path: Path, name: str) -> PromptVersion:
        if path not in self._cache:
            self._cache[path] = load_prompt_file(path, name)
        return self._cache[path]

    def get(self, ref: str) -> PromptVersion:
        """Resolve ``name@vN`` / ``name@latest`` / ``name`` to a loaded version."""
        name, version = parse_ref(ref)
        files = self.version_files(name)
        if not files:
            have = ", ".join(self.names()) or "none"
            raise NotFoundError(
                f"prompt '{name}' not found in {', '.join(display_path(r) for r in self.roots)}",
                fix=did_you_mean(
                    name,
                    self.names(),
                    also=f"create prompts/{name}/v1.yaml (prompts here: {have})",
                ),
            )
        if version == "latest":
            number = max(files)
        else:
            number = int(version[1:])
            if number not in files:
                have = ", ".join(f"v{n}" for n in files)
                raise NotFoundError(
                    f"prompt version '{name}@{version}' not found",
                    fix=f"use one of {have}, or create prompts/{name}/{version}.yaml",
                )
        return self._load(files[number], name)


def project_library(project: Any) -> PromptLibrary:
    """The prompt versions of a project's ``prompts/``."""
    return PromptLibrary([project.prompts_dir])
