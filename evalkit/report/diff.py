"""report (diff): the word-level diff of two outputs, and the diff of two prompt versions.

Outputs are split into words, whitespace runs and punctuation marks (so "Paris." → "Paris"
is one changed mark, not a changed word), aligned with ``difflib``'s matcher, and returned as
safe HTML: every piece of text is escaped, removed words are ``<del>`` on the baseline side,
added words ``<ins>`` on the other. Very long outputs are compared in lines first, so the
diff stays fast on a 10,000-word answer.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from markupsafe import Markup, escape

__all__ = ["params_diff", "prompt_diff", "word_diff"]

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)
#: Above this many tokens per side the matcher works on lines, then words within changes.
_MAX_TOKENS = 4000


def _tokens(text: str) -> list[str]:
    return _TOKENS.findall(text)


def _mark(tag: str, tokens: list[str]) -> str:
    text = "".join(tokens)
    if not text:
        return ""
    if tag and text.strip():
        return f"<{tag}>{escape(text)}</{tag}>"
    return str(escape(text))


def _opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    return list(difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes())


def word_diff(before: str | None, after: str | None) -> tuple[Markup, Markup]:
    """(baseline HTML, candidate HTML) with removed words in ``<del>``, added in ``<ins>``."""
    a, b = before or "", after or ""
    if a == b:
        return Markup(escape(a)), Markup(escape(b))
    ta, tb = _tokens(a), _tokens(b)
    if len(ta) > _MAX_TOKENS or len(tb) > _MAX_TOKENS:
        return _line_then_word(a, b)
    left: list[str] = []
    right: list[str] = []
    for op, i1, i2, j1, j2 in _opcodes(ta, tb):
        if op == "equal":
            left.append(_mark("", ta[i1:i2]))
            right.append(_mark("", tb[j1:j2]))
        else:
            left.append(_mark("del", ta[i1:i2]))
            right.append(_mark("ins", tb[j1:j2]))
    return Markup("".join(left)), Markup("".join(right))


def _line_then_word(a: str, b: str) -> tuple[Markup, Markup]:
    la, lb = a.splitlines(keepends=True), b.splitlines(keepends=True)
    left: list[str] = []
    right: list[str] = []
    for op, i1, i2, j1, j2 in _opcodes(la, lb):
        if op == "equal":
            left.append(str(escape("".join(la[i1:i2]))))
            right.append(str(escape("".join(lb[j1:j2]))))
            continue
        x, y = "".join(la[i1:i2]), "".join(lb[j1:j2])
        if len(_tokens(x)) > _MAX_TOKENS or len(_tokens(y)) > _MAX_TOKENS:
            left.append(_mark("del", [x]))
            right.append(_mark("ins", [y]))
        else:
            dx, dy = word_diff(x, y)
            left.append(str(dx))
            right.append(str(dy))
    return Markup("".join(left)), Markup("".join(right))


def prompt_diff(before: str | None, after: str | None) -> list[tuple[str, str]]:
    """A unified diff of two prompt version files: (kind, line), kind one of ``" +-@"``."""
    a = (before or "").splitlines()
    b = (after or "").splitlines()
    out: list[tuple[str, str]] = []
    for line in difflib.unified_diff(a, b, lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        kind = line[:1] if line[:1] in "+-@" else " "
        out.append((kind, line[1:] if kind in "+- " else line))
    return out


def params_diff(before: Any, after: Any) -> list[tuple[str, str, str]]:
    """(param, before, after) for each generation parameter that differs."""
    a = before if isinstance(before, dict) else {}
    b = after if isinstance(after, dict) else {}
    return [
        (key, "—" if key not in a else repr(a[key]), "—" if key not in b else repr(b[key]))
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key) or (key in a) != (key in b)
    ]
