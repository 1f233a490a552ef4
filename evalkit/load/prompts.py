"""Versioned prompts: ``prompts/<name>/v<N>.yaml``.

A version holds Jinja2 message templates (rendered in a sandbox with ``StrictUndefined``, so a
missing variable is an error, never an empty string) and generation params. Its hash covers
the templates and params, so a version edited in place after it was used is noticed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import jinja2
import jinja2.meta
import jinja2.sandbox
from pydantic import BaseModel, ConfigDict, Field

from evalkit.errors import InputError, NotFoundError
from evalkit.load.source import LineMap, display_path, read_yaml, validate
from evalkit.records import Message, PromptVersion, content_hash

__all__ = [
    "PromptLibrary",
    "load_prompt_file",
    "parse_ref",
    "project_library",
    "render_messages",
    "render_template",
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


class _PromptFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[_MessageModel] = Field(min_length=1)
    params: _Params = Field(default_factory=_Params)
    description: str | None = None
    parent: str | None = None


_EXAMPLES = {
    "messages": 'messages: [{role: user, content: "Q: {{ question }}\\nA:"}]',
    "role": "role: user",
    "temperature": "temperature: 0",
    "max_tokens": "max_tokens: 64",
}


@lru_cache(maxsize=1)
def _env() -> jinja2.sandbox.SandboxedEnvironment:
    return jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


@lru_cache(maxsize=4096)
def _compile(source: str) -> jinja2.Template:
    return _env().from_string(source)


def template_variables(source: str) -> set[str]:
    """Top-level variable names a template uses."""
    return set(jinja2.meta.find_undeclared_variables(_env().parse(source)))


def _check_template(source: str, lines: LineMap, loc: tuple[str | int, ...]) -> None:
    try:
        _compile(source)
    except jinja2.TemplateSyntaxError as exc:
        base = lines.line(loc) or 0
        raise InputError(
            f"template syntax error: {exc.message}",
            path=lines.path,
            line=base + max((exc.lineno or 1) - 1, 0) if base else None,
            fix="close every {{ }} and {% %} and check filter names",
        ) from None


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
            "a prompt version must be a mapping with `messages:`",
            path=shown,
            line=1,
            fix=f"start with `{_EXAMPLES['messages']}`",
        )
    model = validate(_PromptFile, data, lines, what="prompt", examples=_EXAMPLES)
    for i, message in enumerate(model.messages):
        _check_template(message.content, lines, ("messages", i, "content"))
    messages = tuple(Message(m.role, m.content) for m in model.messages)
    params = model.params.model_dump(exclude_none=True)
    digest = content_hash({"messages": [m.as_dict() for m in messages], "params": params})
    return PromptVersion(
        name=name or path.parent.name,
        version=f"v{int(match.group(1))}",
        number=int(match.group(1)),
        path=path,
        source=path.read_text(encoding="utf-8"),
        messages=messages,
        params=params,
        description=model.description,
        parent=model.parent,
        hash=digest,
    )


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


def render_messages(prompt: PromptVersion, variables: Mapping[str, Any]) -> list[Message]:
    """Render each message template with the case's variables.

    Raises ``jinja2.UndefinedError`` for a missing variable; the planner checks variables
    beforehand so users see a file:line error instead.
    """
    return [Message(m.role, _compile(m.content).render(variables)) for m in prompt.messages]


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
                fix=f"create prompts/{name}/v1.yaml (prompts here: {have})",
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
