"""Reading a promptfoo config: files, ``file://`` references, ``$ref``s, line numbers,
Nunjucks templates (→ Jinja2), and the findings (what was not converted, and why)."""

from __future__ import annotations

import copy
import glob
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import InputError
from evalkit.load.source import LineMap, display_path, read_yaml

__all__ = ["Config", "Finding", "Findings", "Where", "nunjucks_to_jinja"]

FILE = "file://"


@dataclass(frozen=True)
class Where:
    """A place in the user's promptfoo files (for messages)."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class Finding:
    """Something the import could not convert (``dropped``) or converted with a difference."""

    where: Where
    what: str
    why: str
    dropped: bool

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``--json`` and the api."""
        return {
            "where": str(self.where),
            "path": self.where.path,
            "line": self.where.line,
            "what": self.what,
            "why": self.why,
            "dropped": self.dropped,
        }


@dataclass
class Findings:
    """Everything worth telling the user, in the order found."""

    items: list[Finding] = field(default_factory=list)

    def drop(self, where: Where, what: str, why: str) -> None:
        """Record something left out of the evalkit files (once per place)."""
        finding = Finding(where, what, why, True)
        if finding not in self.items:
            self.items.append(finding)

    def note(self, where: Where, what: str, why: str) -> None:
        """Record something converted whose behaviour differs from promptfoo's."""
        if not any(f.what == what and f.why == why for f in self.items):
            self.items.append(Finding(where, what, why, False))


def _resolve_refs(node: Any, root: Any, depth: int = 0) -> Any:
    """Replace ``{"$ref": "#/a/b"}`` by a copy of what it points to (JSON pointer)."""
    if depth > 50:
        raise InputError("`$ref`s nest too deep (a cycle?)", fix="check the `$ref` targets")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and len(node) == 1:
            target: Any = root
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if isinstance(target, dict) and part in target:
                    target = target[part]
                elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                    target = target[int(part)]
                else:
                    raise InputError(
                        f"`$ref: {ref}` points at nothing", fix="check the path after '#/'"
                    )
            return _resolve_refs(copy.deepcopy(target), root, depth + 1)
        return {k: _resolve_refs(v, root, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_refs(v, root, depth) for v in node]
    return node


class Config:
    """A promptfoo config file: its data (``$ref``s resolved), line numbers, and the folder
    its ``file://`` references are relative to."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.root = self.path.parent
        self.shown = display_path(self.path)
        if not self.path.is_file():
            raise InputError(
                "promptfoo config not found",
                path=self.shown,
                fix="give the path of promptfooconfig.yaml",
            )
        data, self.lines = read_yaml(self.path, shown=self.shown)
        if not isinstance(data, dict):
            raise InputError(
                "a promptfoo config must be a mapping",
                path=self.shown,
                line=1,
                fix="it starts with keys such as `prompts:`, `providers:` and `tests:`",
            )
        self.data: dict[str, Any] = _resolve_refs(data, data)

    def where(self, *loc: str | int, lines: LineMap | None = None) -> Where:
        """The file and line of ``loc`` in the config (or in another file's ``lines``)."""
        lines = lines or self.lines
        return Where(lines.path, lines.line(loc))

    # -- files ----------------------------------------------------------------------------
    def path_of(self, ref: str, base: Path | None = None) -> Path:
        """``file://x`` (or a bare path) relative to ``base`` (default: the config's folder)."""
        text = ref[len(FILE) :] if ref.startswith(FILE) else ref
        path = Path(os.path.expanduser(text))
        return path if path.is_absolute() else (base or self.root) / path

    def expand(self, ref: str, where: Where, base: Path | None = None) -> list[Path]:
        """The files ``ref`` names (a glob gives several, sorted); none is an input error."""
        path = self.path_of(ref, base)
        if any(ch in str(path) for ch in "*?["):
            found = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
            found = [p for p in found if p.is_file()]
        else:
            found = [path] if path.is_file() else []
        if not found:
            raise InputError(
                f"{ref} names no file",
                path=where.path,
                line=where.line,
                fix=f"check the path (relative to {display_path(base or self.root)})",
            )
        return found

    def read_data(self, path: Path) -> tuple[Any, LineMap]:
        """A YAML or JSON file's data with its line numbers (JSON is YAML)."""
        data, lines = read_yaml(path, shown=display_path(path))
        return _resolve_refs(data, data), lines

    @staticmethod
    def read_text(path: Path, where: Where) -> str:
        """A text file, as promptfoo reads it."""
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputError(
                f"{display_path(path)} is not UTF-8 text (images and PDFs cannot be imported)",
                path=where.path,
                line=where.line,
                fix="save it as UTF-8 text, or leave that var out",
            ) from None


# -- templates ------------------------------------------------------------------------------
_ENV_VAR = re.compile(r"{{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*}}")
_DUMP = re.compile(r"\|\s*dump\b(\s*\(\s*\))?")
_FILTER = re.compile(r"\|\s*([A-Za-z_][A-Za-z0-9_]*)")


def nunjucks_to_jinja(text: str, where: Where, what: str, findings: Findings) -> str | None:
    """A Nunjucks template as Jinja2 (evalkit's template language), or None when it cannot
    be converted (the reason is in ``findings``).

    The languages share their syntax for variables, ``if``/``for``/``set`` and most filters;
    ``dump`` becomes ``tojson``; ``{{ env.NAME }}`` is resolved now, as promptfoo resolves
    it when it loads the config.
    """
    import jinja2

    from evalkit.load.prompts import _compile, _env

    def env_value(match: re.Match[str]) -> str:
        name = match.group(1)
        value = os.environ.get(name)
        findings.note(
            where,
            what,
            f"{{{{ env.{name} }}}} resolved from the environment at import "
            + (
                "(it was not set: left empty)"
                if value is None
                else "(its value is now in the file)"
            ),
        )
        return value or ""

    text = _ENV_VAR.sub(env_value, text)
    text = _DUMP.sub("| tojson", text)
    if "{{" not in text and "{%" not in text:
        return text
    unknown = sorted({m.group(1) for m in _FILTER.finditer(text)} - set(_env().filters))
    try:
        _compile(text)
    except jinja2.TemplateSyntaxError as exc:
        findings.drop(where, what, f"its template is not valid Jinja2: {exc.message}")
        return None
    if unknown:
        findings.drop(
            where, what, f"Nunjucks filter(s) with no Jinja2 equivalent: {', '.join(unknown)}"
        )
        return None
    return text


def render_value(value: str, variables: dict[str, Any]) -> str:
    """Render a promptfoo value (an assertion's, a var's) now, the way Nunjucks would:
    missing variables render empty. Values that are not templates come back unchanged."""
    if "{{" not in value and "{%" not in value:
        return value
    import jinja2.sandbox

    env = jinja2.sandbox.SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
    env.filters["dump"] = lambda v, *a: json.dumps(v, ensure_ascii=False)
    try:
        return env.from_string(value).render(variables)
    except jinja2.TemplateError:
        return value
