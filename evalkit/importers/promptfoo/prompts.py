"""promptfoo ``prompts`` → evalkit prompt versions (``prompts/<name>/vN.yaml``).

Every promptfoo prompt runs on every test, which is what evalkit's prompt versions of one
name do: the prompts become ``<name>@v1``, ``<name>@v2``, … in the config's order, so
``evalkit compare --prompt <name>@v1 --prompt <name>@v2 <suite>`` compares them.

Accepted: inline strings; ``file://`` text (``.txt``, ``.md``, ``.j2``, …; ``---`` lines
separate several prompts in one file), chat JSON or YAML (a list of ``{role, content}``
messages), JSONL (one chat prompt per line), globs; objects with ``raw`` or ``id`` and
``label``. A string that is a JSON message list is a chat prompt; any other string is one
user message. Prompt functions (``.py``/``.js``) are reported, not converted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.importers.promptfoo.providers import PARAMS, RENAMED
from evalkit.importers.promptfoo.source import FILE, Config, Findings, Where, nunjucks_to_jinja

__all__ = ["Prompt", "convert_prompts"]

_ROLES = {"system": "system", "user": "user", "assistant": "assistant", "developer": "system"}
_SCRIPTS = (".py", ".js", ".ts", ".mjs", ".cjs")
_FUNCTION = re.compile(r"^file://.*\.(py|js|ts|mjs|cjs):\w+$")


@dataclass
class Prompt:
    """One converted prompt: its messages (Jinja2 templates) and where it came from."""

    messages: list[dict[str, str]]
    label: str
    where: Where
    #: Generation params from the prompt's ``config`` (promptfoo merges them over the
    #: provider's; an evalkit prompt version's params win over the provider's too).
    params: dict[str, Any] = field(default_factory=dict)


def _messages(
    value: Any, where: Where, what: str, findings: Findings
) -> list[dict[str, str]] | None:
    """Chat messages from parsed JSON/YAML, or None (reason recorded)."""
    if not isinstance(value, list) or not value:
        findings.drop(where, what, "a chat prompt must be a non-empty list of messages")
        return None
    out = []
    for message in value:
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            findings.drop(where, what, "each chat message needs `role` and `content`")
            return None
        role = _ROLES.get(str(message["role"]))
        if role is None:
            findings.drop(
                where, what, f"role '{message['role']}' (evalkit has system, user, assistant)"
            )
            return None
        content = message["content"]
        if not isinstance(content, str):
            findings.drop(
                where,
                what,
                "message content that is not text (images, tool parts) is not supported",
            )
            return None
        template = nunjucks_to_jinja(content, where, what, findings)
        if template is None:
            return None
        out.append({"role": role, "content": template})
    if not any(m["role"] == "user" for m in out):
        findings.note(where, what, "a chat prompt with no user message")
    return out


def _from_text(
    text: str, where: Where, what: str, findings: Findings
) -> list[dict[str, str]] | None:
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            parsed = json.loads(stripped)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list) and parsed and all(isinstance(m, dict) for m in parsed):
            return _messages(parsed, where, what, findings)
    template = nunjucks_to_jinja(text, where, what, findings)
    return None if template is None else [{"role": "user", "content": template}]


def _from_file(
    config: Config, path: Path, label: str | None, where: Where, findings: Findings
) -> list[Prompt]:
    shown = str(path.relative_to(config.root)) if path.is_relative_to(config.root) else str(path)
    what = f"prompt {FILE}{shown}"
    suffix = path.suffix.lower()
    if suffix in _SCRIPTS:
        findings.drop(
            where,
            what,
            "prompt functions are code; write the prompt it builds as a prompt version "
            "(messages with Jinja2 templates)",
        )
        return []
    if suffix in (".json", ".yaml", ".yml"):
        data, _ = config.read_data(path)
        if isinstance(data, str):
            messages = _from_text(data, where, what, findings)
        else:
            messages = _messages(data, where, what, findings)
        return [Prompt(messages, label or shown, where)] if messages else []
    text = config.read_text(path, where)
    if suffix == ".csv":
        import csv
        import io

        out = []
        for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            body = row.get("prompt") or next(iter(row.values()), "") or ""
            messages = _from_text(body, Where(shown, number), what, findings)
            if messages:
                name = row.get("label") or (f"{label}: {body[:40]}" if label else body[:60])
                out.append(Prompt(messages, name, where))
        return out
    if suffix == ".jsonl":
        out = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                messages = _from_text(line, Where(shown, number), what, findings)
                if messages:
                    out.append(Prompt(messages, f"{label or shown}:{number}", where))
        return out
    pieces = [p for p in text.split("\n---\n") if p.strip()] if "\n---\n" in text else [text]
    out = []
    for i, piece in enumerate(pieces, start=1):
        messages = _from_text(piece.strip("\n"), where, what, findings)
        if messages:
            name = label or shown
            out.append(Prompt(messages, f"{name} ({i})" if len(pieces) > 1 else name, where))
    return out


def _one(
    config: Config, value: Any, label: str | None, where: Where, findings: Findings
) -> list[Prompt]:
    if isinstance(value, dict):
        raw = value.get("raw")
        ident = value.get("id")
        label = value.get("label") or label
        if isinstance(raw, str):
            prompts = _one(config, raw, label or raw[:40], where, findings)
        elif isinstance(ident, str):
            prompts = _one(config, ident, label, where, findings)
        else:
            findings.drop(
                where, "prompt", "a prompt object needs `raw` (the text) or `id` (a file)"
            )
            return []
        params = {}
        for key, param in (value.get("config") or {}).items():
            if key in PARAMS or key in RENAMED:
                params[RENAMED.get(key, key)] = param
            else:
                findings.drop(where, f"prompt '{label}': config.{key}", "no evalkit equivalent")
        for prompt in prompts:
            prompt.params = params
        return prompts
    if not isinstance(value, str):
        findings.drop(where, "prompt", f"not a string or a mapping: {value!r}")
        return []
    if value.startswith(FILE):
        if _FUNCTION.match(value):
            findings.drop(
                where,
                f"prompt {value}",
                "prompt functions are code; write the prompt it builds as a prompt version",
            )
            return []
        prompts = []
        for path in config.expand(value, where):
            prompts.extend(_from_file(config, path, label, where, findings))
        return prompts
    if value.startswith("exec:"):
        findings.drop(where, f"prompt {value}", "prompts built by scripts")
        return []
    for scheme in ("langfuse://", "portkey://", "helicone://"):
        if value.startswith(scheme):
            findings.drop(where, f"prompt {value}", "prompts from prompt registries")
            return []
    messages = _from_text(value, where, "prompt", findings)
    first_line = value.strip().splitlines()[0] if value.strip() else value
    return [Prompt(messages, label or first_line[:60], where)] if messages else []


def convert_prompts(config: Config, findings: Findings) -> list[Prompt]:
    """Every prompt of the config, in order."""
    spec = config.data.get("prompts")
    if spec is None:  # promptfoo's default: the test's `prompt` var, passed through
        return [Prompt([{"role": "user", "content": "{{ prompt }}"}], "{{prompt}}", config.where())]
    items: list[tuple[Any, str | None, Where]] = []
    if isinstance(spec, str):
        items.append((spec, None, config.where("prompts")))
    elif isinstance(spec, list):
        items.extend((item, None, config.where("prompts", i)) for i, item in enumerate(spec))
    elif isinstance(spec, dict):  # {"file://a.txt": "label a", ...}
        items.extend(
            (key, value if isinstance(value, str) else None, config.where("prompts", key))
            for key, value in spec.items()
        )
    prompts: list[Prompt] = []
    for value, label, where in items:
        prompts.extend(_one(config, value, label, where, findings))
    return prompts
