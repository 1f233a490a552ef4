"""Boolean text checks: ``equals``, ``contains``, ``regex``.

Each gives 1.0 (pass) or 0.0 (fail); ``negate: true`` inverts the check. Option strings may
use the case's vars (``value: "{{ capital }}"``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import field_validator, model_validator

from evalkit.records import Case
from evalkit.score.base import Outcome, PerItemScorer, ScoreInput, ScorerOptions

__all__ = ["Contains", "Equals", "Regex"]


def _fold(text: str, ignore_case: bool) -> str:
    return text.casefold() if ignore_case else text


class _BoolOptions(ScorerOptions):
    ignore_case: bool = False
    #: Pass when the check does NOT hold (e.g. the output must not contain a word).
    negate: bool = False


class _BoolScorer(PerItemScorer):
    boolean = True

    def verdict(self, ok: bool, why_not: str) -> Outcome:
        if self.options.negate:
            return Outcome(0.0 if ok else 1.0, None, "matched, but `negate: true`" if ok else None)
        return Outcome(1.0 if ok else 0.0, None, None if ok else why_not)


class EqualsOptions(_BoolOptions):
    #: Expected output; default: the case's reference.
    value: str | None = None
    strip: bool = True


class Equals(_BoolScorer):
    """The output equals ``value`` (default: the case's reference)."""

    type = "equals"
    Options = EqualsOptions
    templated = ("value",)
    examples: ClassVar[dict[str, str]] = {"value": 'value: "{{ answer }}"'}

    @classmethod
    def check(cls, options: Any, cases: Sequence[Case]) -> tuple[Case, str] | None:
        if options.value is None:
            for case in cases:
                if not case.references:
                    return case, "scorer 'equals' has no `value` and the case has no `reference`"
        return super().check(options, cases)

    def score_one(self, item: ScoreInput) -> Outcome:
        opts = self.options
        expected = (
            [self.render(opts.value, item.case)] if opts.value is not None else item.case.references
        )
        got = item.output.strip() if opts.strip else item.output
        got = _fold(got, opts.ignore_case)
        for want in expected:
            want = want.strip() if opts.strip else want
            if got == _fold(want, opts.ignore_case):
                return self.verdict(True, "")
        return self.verdict(False, f"expected {expected[0]!r}")


class ContainsOptions(_BoolOptions):
    #: One substring, or use ``values`` for several.
    value: str | None = None
    values: list[str] | None = None
    #: With ``values``: pass when ``any`` (default) or ``all`` of them occur.
    match: Literal["any", "all"] = "any"

    @model_validator(mode="after")
    def _one_of(self) -> ContainsOptions:
        if (self.value is None) == (self.values is None):
            raise ValueError("give either `value` or `values` (a list)")
        return self


class Contains(_BoolScorer):
    """The output contains a substring (or any/all of several)."""

    type = "contains"
    Options = ContainsOptions
    templated = ("value", "values")
    examples: ClassVar[dict[str, str]] = {
        "value": 'value: "{{ keyword }}"',
        "values": "values: [refund, return]",
        "match": "match: all",
    }

    def score_one(self, item: ScoreInput) -> Outcome:
        opts = self.options
        wanted = [opts.value] if opts.value is not None else list(opts.values)
        wanted = [self.render(w, item.case) for w in wanted]
        text = _fold(item.output, opts.ignore_case)
        found = [w for w in wanted if _fold(w, opts.ignore_case) in text]
        ok = bool(found) if opts.match == "any" else len(found) == len(wanted)
        missing = [w for w in wanted if w not in found]
        return self.verdict(ok, f"missing {missing[0]!r}" if missing else "")


class RegexOptions(_BoolOptions):
    pattern: str
    #: ``search`` anywhere (default), or ``fullmatch`` the whole output.
    mode: Literal["search", "fullmatch"] = "search"
    multiline: bool = False
    dotall: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        if "{{" not in value and "{%" not in value:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


@lru_cache(maxsize=1024)
def _regex(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


class Regex(_BoolScorer):
    """The output matches a regular expression (Python ``re`` syntax)."""

    type = "regex"
    Options = RegexOptions
    templated = ("pattern",)
    examples: ClassVar[dict[str, str]] = {"pattern": 'pattern: "[0-9]{4}"'}

    def score_one(self, item: ScoreInput) -> Outcome:
        opts = self.options
        flags = (
            (re.IGNORECASE if opts.ignore_case else 0)
            | (re.MULTILINE if opts.multiline else 0)
            | (re.DOTALL if opts.dotall else 0)
        )
        pattern = self.render(opts.pattern, item.case)
        try:
            compiled = _regex(pattern, flags)
        except re.error as exc:
            return Outcome(None, None, f"invalid pattern after rendering: {exc}")
        hit = (
            compiled.search(item.output)
            if opts.mode == "search"
            else compiled.fullmatch(item.output)
        )
        return self.verdict(hit is not None, f"no match for /{pattern}/")
