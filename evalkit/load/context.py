"""A case's ``context:``: the retrieved passages a grounded answer should rest on.

Each passage is a string (its id is its 1-based position: ``"1"``, ``"2"``, …, so an answer
cites it as ``[1]``) or a mapping with ``text`` and optionally ``id`` (default: its position)
and ``metadata`` (title, source, retrieval score: for templates, never judged). A single
string is one passage; ``context: []`` says retrieval found nothing, which differs from a
case without ``context``.

Ids are short names (letters, digits and ``_ . : # / -``, at most 64 characters, unique in
the case), so that they can be cited in an answer and shown between a judge prompt's
markers without being able to close them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from evalkit.errors import InputError
from evalkit.load.source import LineMap
from evalkit.records import Passage, Passages

__all__ = ["PASSAGE_ID", "context_from_csv", "load_context"]

#: What a passage id may look like (and what a citation names).
PASSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:#/\-]{0,63}")
_FIX = (
    'e.g. context: ["The bridge opened in 1932."] or '
    'context: [{id: doc-1, text: "The bridge opened in 1932."}]'
)
_KEYS = ("id", "text", "metadata")


def _passage(item: Any, index: int, lines: LineMap) -> Passage:
    loc: tuple[str | int, ...] = ("context", index)
    text: Any
    metadata: dict[str, Any] = {}
    if isinstance(item, str):
        text, pid = item, str(index + 1)
    elif isinstance(item, dict):
        unknown = [k for k in item if k not in _KEYS]
        if unknown:
            raise lines.error(
                (*loc, unknown[0]),
                f"context passage {index + 1}: unknown key '{unknown[0]}'",
                fix=f"a passage has {', '.join(_KEYS)}; put anything else under `metadata:`",
            )
        text = item.get("text")
        raw_id = item.get("id", index + 1)
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            raise lines.error(
                (*loc, "id"),
                f"context passage {index + 1}: `id` must be a string or a number",
                fix="e.g. id: doc-1",
            )
        pid = str(raw_id)
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise lines.error(
                (*loc, "metadata"),
                f"context passage {index + 1}: `metadata` must be a mapping",
                fix="e.g. metadata: {title: Bridges, url: https://example.org/bridges}",
            )
    else:
        raise lines.error(
            loc,
            f"context passage {index + 1} must be a string or a mapping with `text`",
            fix=_FIX,
        )
    if not isinstance(text, str) or not text.strip():
        raise lines.error(
            loc,
            f"context passage {index + 1} has no text",
            fix="give each passage its text (a non-empty string)",
        )
    if not PASSAGE_ID.fullmatch(pid):
        raise lines.error(
            (*loc, "id") if isinstance(item, dict) else loc,
            f"context passage id {pid!r} is not a valid id",
            fix="ids are letters, digits and _ . : # / - (at most 64, starting with a letter "
            "or digit), e.g. doc-3",
        )
    return Passage(pid, text, metadata)


def load_context(value: Any, lines: LineMap, variables: dict[str, Any]) -> Passages | None:
    """The passages of a case's ``context:`` (None when absent). Errors name the line."""
    if value is None:
        return None
    if "context" in variables:
        raise lines.error(
            ("vars", "context"),
            "the case has both `context:` and a var named `context`",
            fix="keep the passages in `context:` (templates see them as {{ context }}) and "
            "rename the var",
        )
    items = [value] if isinstance(value, str | dict) else value
    if not isinstance(items, list):
        raise lines.error(("context",), "`context` must be a list of passages", fix=_FIX)
    passages = [_passage(item, i, lines) for i, item in enumerate(items)]
    seen: dict[str, int] = {}
    for i, passage in enumerate(passages):
        if passage.id in seen:
            raise lines.error(
                ("context", i),
                f"context passages {seen[passage.id] + 1} and {i + 1} share the id '{passage.id}'",
                fix="give every passage of a case its own `id`",
            )
        seen[passage.id] = i
    return Passages(passages)


def context_from_csv(cell: str | None, shown: str, line: int) -> Any:
    """A CSV ``context`` cell: a JSON list of passages, or the text of one passage."""
    text = (cell or "").strip()
    if not text:
        return None
    if not text.startswith("["):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"the `context` column is not a JSON list: {exc.msg} (column {exc.colno})",
            path=shown,
            line=line,
            fix='write a JSON list, e.g. ["passage one", "passage two"], or one passage as '
            "plain text",
        ) from None
