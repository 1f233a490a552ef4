"""``bleu`` and ``chrf``: sacrebleu's sentence-level scores (0–100) against the references.

The sacrebleu signature (tokenizer, smoothing, case, version) is part of the score signature,
so BLEU from another tokenizer or sacrebleu release is never compared as if it were the same.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Any, ClassVar, Literal

from pydantic import Field

from evalkit.score.base import Outcome, PerItemScorer, ScoreInput, ScorerOptions

__all__ = ["Bleu", "Chrf"]


class BleuOptions(ScorerOptions):
    threshold: float | None = Field(default=None, ge=0, le=100)
    #: sacrebleu tokenizer: 13a (default), intl, char, zh, ja-mecab, ko-mecab, flores101, none.
    tokenize: str = "13a"
    lowercase: bool = False
    smooth_method: Literal["exp", "floor", "add-k", "none"] = "exp"


class ChrfOptions(ScorerOptions):
    threshold: float | None = Field(default=None, ge=0, le=100)
    char_order: int = Field(default=6, ge=1)
    #: 0 for chrF, 2 for chrF++.
    word_order: int = Field(default=0, ge=0)
    beta: int = Field(default=2, ge=1)
    lowercase: bool = False


def _signature_text(metric: Any) -> str:
    """sacrebleu's signature, known before scoring: ``nrefs:var`` (each case has its own
    references, covered by the case hash)."""
    metric.num_refs = -1
    return str(metric.get_signature())


#: Tokenizers whose sacrebleu signature is their name (others, such as ``ja-mecab``, add the
#: version of a library of theirs: their signature comes from sacrebleu itself).
_PLAIN_TOKENIZERS = {"13a", "intl", "char", "zh", "none"}
#: sacrebleu's ``BLEU.SMOOTH_DEFAULTS``: the value a smoothing method's signature shows.
_SMOOTH_DEFAULTS = {"floor": 0.1, "add-k": 1.0}


@lru_cache(maxsize=1)
def _sacrebleu_version() -> str:
    """The installed sacrebleu's version (read once: every signature asks for it)."""
    from importlib.metadata import version

    return version("sacrebleu")


class _Sacre(PerItemScorer):
    cacheable = True
    needs_reference = True

    @cached_property
    def metric(self) -> Any:
        return self.make_metric()

    def make_metric(self) -> Any:
        raise NotImplementedError

    def library_versions(self) -> dict[str, str]:
        return {"sacrebleu": self.signature_text()}

    def signature_text(self) -> str:
        """sacrebleu's signature of this metric (``_signature_text``), written out here when
        it can be — a re-run whose scores are all reused then never imports sacrebleu (tests
        check it equals sacrebleu's own for every option)."""
        return _signature_text(self.make_metric())

    def score_one(self, item: ScoreInput) -> Outcome:
        refs = item.case.references
        if not refs:
            return Outcome(None, None, "no reference")
        return Outcome(self.sentence(item.output, tuple(refs)))

    def sentence(self, hypothesis: str, refs: tuple[str, ...]) -> float:
        """sacrebleu's ``sentence_score(hypothesis, refs).score``, with each distinct set of
        references tokenized once (a case is scored once per prompt, provider and repeat).
        The steps are sacrebleu's own; tests check equality with ``sentence_score``."""
        metric = self.metric
        info = self._refs.get(refs)
        if info is None:
            if len(self._refs) > 100_000:
                self._refs.clear()
            info = self._refs[refs] = metric._extract_reference_info(
                [metric._preprocess_segment(r) for r in refs]
            )
        stats = [metric._compute_segment_statistics(metric._preprocess_segment(hypothesis), info)]
        return float(metric._aggregate_and_compute(stats).score)

    @cached_property
    def _refs(self) -> dict[tuple[str, ...], Any]:
        return {}


class Bleu(_Sacre):
    """Sentence BLEU with effective n-gram order (sacrebleu), 0–100."""

    type = "bleu"
    version = "1"
    Options = BleuOptions
    examples: ClassVar[dict[str, str]] = {"threshold": "threshold: 20", "tokenize": "tokenize: 13a"}

    def signature_text(self) -> str:
        opts = self.options
        if opts.tokenize not in _PLAIN_TOKENIZERS:
            return super().signature_text()
        smooth = opts.smooth_method
        if smooth in _SMOOTH_DEFAULTS:
            smooth += f"[{_SMOOTH_DEFAULTS[smooth]:.2f}]"
        case = "lc" if opts.lowercase else "mixed"
        return (
            f"nrefs:var|case:{case}|eff:yes|tok:{opts.tokenize}|smooth:{smooth}"
            f"|version:{_sacrebleu_version()}"
        )

    def make_metric(self) -> Any:
        from sacrebleu.metrics import BLEU

        return BLEU(
            effective_order=True,
            tokenize=self.options.tokenize,
            lowercase=self.options.lowercase,
            smooth_method=self.options.smooth_method,
        )


class Chrf(_Sacre):
    """Sentence chrF (or chrF++ with ``word_order: 2``), 0–100."""

    type = "chrf"
    version = "1"
    Options = ChrfOptions
    examples: ClassVar[dict[str, str]] = {"threshold": "threshold: 40"}

    def signature_text(self) -> str:
        opts = self.options
        case = "lc" if opts.lowercase else "mixed"
        return (
            f"nrefs:var|case:{case}|eff:yes|nc:{opts.char_order}|nw:{opts.word_order}"
            f"|space:no|version:{_sacrebleu_version()}"
        )

    def make_metric(self) -> Any:
        from sacrebleu.metrics import CHRF

        return CHRF(
            char_order=self.options.char_order,
            word_order=self.options.word_order,
            beta=self.options.beta,
            lowercase=self.options.lowercase,
        )
