"""``citation``: an answer's citations name passages of the case's ``context``, and what it
quotes from a cited passage is in that passage. No model is called.

**Citations** (the default ``pattern``): square brackets holding one or more passage ids,
separated by commas or semicolons — ``[1]``, ``[2, 3]``, ``[doc-3]``, ``[doc-3; doc-7]`` —
and footnote marks ``[^id]``. Brackets followed by ``(`` (a Markdown link) or holding
anything that is not an id (``[citation needed]``) are not citations. ``pattern:`` replaces
this with your own regex whose first group holds the ids (split on commas, semicolons and
spaces).

**Quotes**: text between ``"…"``, ``“…”``, ``„…“`` or ``«…»`` of at least ``min_quote_words``
words (default 3; shorter quoted words are usually terms, not quotations). A quote belongs
to the citations that follow it in the same sentence, else to those before it in the same
sentence; it must appear in one of them. A quote with no citation in its sentence must
appear in some passage of the context (``unattributed: any``, the default), or is an error
(``fail``), or is not checked (``ignore``). Matching ignores case, runs of whitespace,
typographic quote and dash variants and the quote's own trailing punctuation; ``...`` or
``…`` inside a quote stands for omitted text (each piece must appear, in order).

Value 1 (pass) or 0; the detail names every problem: an unknown passage id, a quote not in
the passage it cites, too few citations (``min_citations``, default 1).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from evalkit.records import Case, Passage
from evalkit.score.base import Outcome, PerItemScorer, ScoreInput, ScorerOptions

__all__ = ["Citation", "CitationOptions", "find_citations", "find_quotes"]

_ID = r"[A-Za-z0-9][A-Za-z0-9_.:#/\-]{0,63}"
#: ``[1]``, ``[1, 2]``, ``[doc-3; doc-4]``, ``[^note]`` — not ``[text](url)``.
DEFAULT_PATTERN = rf"\[\^?((?:{_ID})(?:\s*[,;]\s*\^?{_ID})*)\](?!\()"
_QUOTES = re.compile(r'"([^"\n]+)"|“([^”\n]+)”|„([^“”\n]+)[“”]|«\s?([^»\n]+?)\s?»')
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*")
#: Quote marks of every kind read as one (a quote within a quote often changes its marks),
#: dashes as a hyphen.
_FOLD = str.maketrans(dict.fromkeys('‘’‚‛“”„«»"', "'") | dict.fromkeys("–—‐‑", "-"))


class CitationOptions(ScorerOptions):
    #: Regex of one citation; its first group holds the cited ids.
    pattern: str = DEFAULT_PATTERN
    #: Fewest citations an answer must make (0: an answer may cite nothing).
    min_citations: int = Field(default=1, ge=0)
    #: Check quoted spans against the passages they cite.
    check_quotes: bool = True
    #: Shortest quote (in words) that is checked.
    min_quote_words: int = Field(default=3, ge=1)
    #: A quote without a citation in its sentence: must be in ``any`` passage, ``fail``s,
    #: or is ``ignore``d.
    unattributed: Literal["any", "fail", "ignore"] = "any"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern is not a valid regex: {exc}") from None
        if compiled.groups < 1:
            raise ValueError("pattern needs a group holding the cited ids, e.g. \\[(\\d+)\\]")
        return value


@dataclass(frozen=True, slots=True)
class Cited:
    """One citation in an answer: the ids it names and where it stands."""

    ids: tuple[str, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Quote:
    """One quoted span in an answer and where it stands."""

    text: str
    start: int
    end: int


def find_citations(text: str, pattern: str = DEFAULT_PATTERN) -> list[Cited]:
    """Every citation in ``text``, in order."""
    found = []
    for match in re.finditer(pattern, text):
        ids = tuple(i.lstrip("^") for i in re.split(r"[,;\s]+", match.group(1).strip()) if i)
        if ids:
            found.append(Cited(ids, match.start(), match.end()))
    return found


def find_quotes(text: str, min_words: int = 1) -> list[Quote]:
    """Every quoted span of at least ``min_words`` words, in order."""
    quotes = []
    for match in _QUOTES.finditer(text):
        body = next(g for g in match.groups() if g is not None).strip()
        if len(body.split()) >= min_words:
            quotes.append(Quote(body, match.start(), match.end()))
    return quotes


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    return " ".join(text.split())


def _contains(passage: str, quote: str) -> bool:
    """The quote is in the passage (pieces around an ellipsis in order)."""
    haystack = _norm(passage)
    position = 0
    for piece in _ELLIPSIS.split(quote):
        needle = _norm(piece).strip(" .,;:!?'")
        if not needle:
            continue
        found = haystack.find(needle, position)
        if found < 0:
            return False
        position = found + len(needle)
    return True


def _sentence(text: str, position: int) -> tuple[int, int]:
    """The bounds of the sentence around ``position``."""
    start = 0
    for match in _SENTENCE_END.finditer(text, 0, position):
        start = match.end()
    after = _SENTENCE_END.search(text, position)
    return start, after.end() if after else len(text)


def _owners(quote: Quote, citations: Sequence[Cited], text: str) -> list[Cited]:
    """The citations a quote belongs to: after it in its sentence, else before it."""
    start, end = _sentence(text, quote.end)
    start = min(start, _sentence(text, quote.start)[0])
    after = [c for c in citations if quote.end <= c.start < end]
    if after:
        # the first run of citations after the quote ([1][2] both count)
        run = [after[0]]
        for cited in after[1:]:
            if text[run[-1].end : cited.start].strip():
                break
            run.append(cited)
        return run
    return [c for c in citations if start <= c.start and c.end <= quote.start]


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_citations(
    output: str, passages: Sequence[Passage], options: CitationOptions
) -> list[str]:
    """The problems of an answer's citations (empty: it passes)."""
    by_id = {p.id: p for p in passages}
    citations = find_citations(output, options.pattern)
    problems: list[str] = []
    if len(citations) < options.min_citations:
        problems.append(
            f"{len(citations)} citation{'s' if len(citations) != 1 else ''}, "
            f"at least {options.min_citations} required"
        )
    unknown = list(dict.fromkeys(i for c in citations for i in c.ids if i not in by_id))
    if unknown:
        known = ", ".join(by_id) or "none"
        problems.append(
            f"cites unknown passage{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(i) for i in unknown)} (the context has {known})"
        )
    if not options.check_quotes:
        return problems
    for quote in find_quotes(output, options.min_quote_words):
        owners = [i for c in _owners(quote, citations, output) for i in c.ids if i in by_id]
        shown = _short(quote.text)
        if owners:
            if not any(_contains(by_id[i].text, quote.text) for i in owners):
                where = ", ".join(owners)
                problems.append(f"quote {shown!r} is not in cited passage {where}")
        elif options.unattributed == "fail":
            problems.append(f"quote {shown!r} cites no passage")
        elif options.unattributed == "any" and not any(
            _contains(p.text, quote.text) for p in passages
        ):
            problems.append(f"quote {shown!r} is in no passage of the context")
    return problems


class Citation(PerItemScorer):
    """Citations name passages of the case's context; quoted spans are in them."""

    type = "citation"
    version = "1"
    boolean = True
    Options = CitationOptions
    examples: ClassVar[dict[str, str]] = {
        "min_citations": "min_citations: 1",
        "unattributed": "unattributed: any",
        "pattern": 'pattern: "\\\\[(\\\\d+)\\\\]"',
    }

    @classmethod
    def check(cls, options: Any, cases: Sequence[Case]) -> tuple[Case, str] | None:
        for case in cases:
            if case.context is None:
                return case, (
                    f"scorer 'citation' checks citations against the case's passages, and "
                    f"case '{case.id}' has no `context:`"
                )
        return super().check(options, cases)

    def score_one(self, item: ScoreInput) -> Outcome:
        problems = check_citations(item.output, item.case.context or (), self.options)
        if problems:
            return Outcome(0.0, None, "; ".join(problems))
        return Outcome(1.0)
