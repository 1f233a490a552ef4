"""The judge's options and prompts: which modes exist, which package prompt each uses by
default, what each prompt must show the judge, and loading them when the suite loads (so a
missing or unusable judge prompt is a file:line error before any call)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from evalkit.errors import InputError
from evalkit.load.prompts import PromptLibrary, template_variables
from evalkit.load.source import LineMap
from evalkit.records import PromptVersion
from evalkit.score.base import ScorerOptions

__all__ = ["PACKAGE_PROMPTS", "JudgeOptions", "load_prompts", "prompt_info"]

#: The default judge prompts, shipped inside the package as versioned prompts.
PACKAGE_PROMPTS = Path(__file__).parent / "prompts"
_DEFAULT_PROMPTS = {
    "rubric": "judge-rubric@v1",
    "reference": "judge-reference@v1",
    "pairwise": "judge-pairwise@v1",
    "faithfulness": "judge-faithfulness@v1",
    "answer_relevance": "judge-answer-relevance@v1",
    "context_relevance": "judge-context-relevance@v1",
}
#: Variables a judge prompt must show, per mode (each entry: one of these names).
_NEEDS: dict[str, list[tuple[str, ...]]] = {
    "rubric": [("output", "output_raw")],
    "reference": [("output", "output_raw"), ("reference",)],
    "pairwise": [("a",), ("b",)],
    "faithfulness": [("output", "output_raw"), ("context",)],
    "answer_relevance": [("output", "output_raw"), ("question", "question_quoted")],
    "context_relevance": [("context",), ("question", "question_quoted")],
}


class JudgeOptions(ScorerOptions):
    threshold: float | None = Field(default=None, ge=0, le=1)
    mode: Literal[
        "rubric",
        "reference",
        "pairwise",
        "faithfulness",
        "answer_relevance",
        "context_relevance",
    ] = "rubric"
    #: Criteria (rubric mode: required). May use the case's vars: "Names {{ capital }}".
    rubric: str | None = None
    #: What was asked, shown to the judge (may use vars: "{{ question }}"); default: none.
    question: str | None = None
    #: Judge provider id (default: defaults.judge, else the local model).
    provider: str | None = None
    #: Judge prompt NAME@vN from the project's prompts/ (default: the package's, per mode).
    prompt: str | None = None
    #: Lowest and highest score (rubric and reference modes).
    scale: tuple[int, int] = (1, 5)
    #: Pairwise: B is ``reference`` or another prompt version's answer (``NAME@vN``).
    against: str = "reference"
    #: How the verdict is constrained: ``auto`` (by provider), ``json_schema`` (llama.cpp),
    #: ``response_format`` (OpenAI structured outputs) or ``none`` (strict parsing only).
    structured: Literal["auto", "json_schema", "response_format", "none"] = "auto"
    #: Let the provider under test grade its own answers (refused otherwise).
    allow_self_judge: bool = False
    #: Judge generation params over the prompt's (temperature 0 and seed 0 by default).
    params: dict[str, Any] = Field(default_factory=dict)
    #: Judge calls in flight (default: the judge provider's concurrency).
    concurrency: int | None = Field(default=None, ge=1, le=256)

    _prompt: PromptVersion | None = PrivateAttr(default=None)
    _against: PromptVersion | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> JudgeOptions:
        if self.mode == "rubric" and not self.rubric:
            raise ValueError("rubric mode needs `rubric:` (the criteria to grade against)")
        if self.mode in ("answer_relevance", "context_relevance") and not self.question:
            raise ValueError(
                f"{self.mode} mode needs `question:` (what was asked, e.g. "
                '`question: "{{ q }}"`)'
            )
        if self.scale[0] >= self.scale[1]:
            raise ValueError("scale must be [lowest, highest], e.g. [1, 5]")
        if self.mode != "pairwise" and self.against != "reference":
            raise ValueError("`against:` is for `mode: pairwise`")
        return self


def _library(root: Path | None) -> PromptLibrary:
    return PromptLibrary([*([root / "prompts"] if root else []), PACKAGE_PROMPTS])


def load_prompts(options: JudgeOptions, where: LineMap, root: Path | None) -> None:
    """Resolve the judge prompt (and pairwise ``against``) once; errors point at the suite."""
    if options._prompt is not None:
        return
    library = _library(root)
    ref = options.prompt or _DEFAULT_PROMPTS[options.mode]
    try:
        prompt = library.get(ref)
    except InputError as exc:
        if exc.path and exc.path != where.path:
            raise  # an error inside the prompt file names its own file and line
        raise where.error(("prompt",), exc.message, exc.fix) from None
    used: set[str] = set()
    for message in prompt.messages:
        used |= template_variables(message.content)
    for names in _NEEDS[options.mode]:
        if not used.intersection(names):
            raise where.error(
                ("prompt",),
                f"judge prompt {prompt.ref} never shows {{{{ {names[0]} }}}} to the judge",
                fix=f"use {{{{ {names[0]} }}}} (quoted as data) in its messages",
            )
    options._prompt = prompt
    if options.mode == "pairwise" and options.against != "reference":
        try:
            options._against = _library(root).get(options.against)
        except InputError as exc:
            raise where.error(
                ("against",), exc.message, "name a prompt version (NAME@vN) or `reference`"
            ) from None


def prompt_info(prompt: PromptVersion) -> dict[str, Any]:
    """A judge prompt as the signature names it: ref, hash, and whether it is the package's."""
    packaged = PACKAGE_PROMPTS in prompt.path.parents
    return {"ref": prompt.ref, "hash": prompt.hash, "from": "package" if packaged else "project"}
