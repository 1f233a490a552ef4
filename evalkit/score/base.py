"""The scorer interface.

A scorer type is a class registered in ``evalkit.registry.SCORERS`` (or by entry point
``evalkit.scorers``). It declares an ``Options`` model (validated against the suite file, so a
bad option is a file:line error), a ``version`` (bumped whenever its values could change), and
scores results in batches: ``score_batch`` is async, so a scorer may call a model (a judge) or
push CPU work to a thread (embeddings) while calls continue.

Each score carries a *signature*: everything that determines its value (type, version,
options, library versions, models). Scores are compared across runs only when their
signatures are equal. ``threshold``, ``weight`` and ``name`` are not part of it: they decide
pass/fail or presentation, not the value, and are stored in their own columns.
"""

from __future__ import annotations

import builtins
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, field_validator

from evalkit.providers.base import Provider, ProviderLookup, Request
from evalkit.providers.pricing import Pricing
from evalkit.records import CallOutcome, Case, Result, ScorerSpec, ToolCall, content_hash

if TYPE_CHECKING:
    from evalkit.load.source import LineMap

__all__ = [
    "CallEstimate",
    "Caller",
    "Outcome",
    "PerItemScorer",
    "ScoreContext",
    "ScoreInput",
    "Scorer",
    "ScorerOptions",
    "find_file",
    "project_root",
]


class ScorerOptions(BaseModel):
    """Keys every scorer accepts. Subclasses add their own; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    type: str
    #: Label in reports and in ``scores.scorer`` (default: the type, numbered if repeated).
    name: str | None = None
    #: Pass when the value reaches it (on the scorer's own scale).
    threshold: float | None = None
    #: Weight in a weighted mean of scores (reports only; pass/fail ignores it).
    weight: float = 1.0
    #: Which reply of a conversation it scores: ``last`` (default), ``all`` (each turn; the
    #: mean value, and pass when every turn passes) or a turn number (1 = the first; -1 the
    #: last).
    turn: Literal["last", "all"] | int = "last"

    @field_validator("turn")
    @classmethod
    def _turn_number(cls, value: Any) -> Any:
        if value == 0:
            raise ValueError("turns count from 1 (or from the end: -1 is the last)")
        return value


@dataclass(frozen=True, slots=True)
class ScoreInput:
    """What a scorer sees: the output (whitespace-stripped), its case and its result row;
    in a conversation, the reply of the turn scored (``turn``, 1-based) and the tool calls
    made in that turn."""

    output: str
    case: Case
    result: Result
    tool_calls: tuple[ToolCall, ...] = ()
    #: The turn scored (None: a single request).
    turn: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One score. ``passed`` None means no pass/fail outcome (or undecided)."""

    value: float | None
    passed: bool | None = None
    detail: str | None = None


class Caller(Protocol):
    """The call service a scorer's model calls go through (``evalkit.run.calls.CallService``):
    the run's response cache, retries, concurrency limits, spend and ``--max-cost``."""

    async def call(
        self,
        provider: Provider,
        request: Request,
        *,
        repeat: int = 0,
        purpose: str = "run",
        context: dict[str, Any] | None = None,
    ) -> CallOutcome: ...


@dataclass(frozen=True, slots=True)
class CallEstimate:
    """Calls a scorer expects to make for a batch, priced before the run (``--dry-run``)."""

    provider: str
    calls: int
    #: Upper-bound USD of all of them; None when the provider has no price.
    usd: float | None


@dataclass
class ScoreContext:
    """What a scorer may need from the run: project defaults, shared resources, and the
    providers (a judge calls a model through the run's call service)."""

    defaults: Mapping[str, Any]
    #: Shared objects (e.g. a loaded embedding model) keyed by name, per process.
    resources: dict[str, Any]
    #: The project root (for files a scorer names, e.g. a JSON schema or a judge prompt).
    root: Path | None = None
    #: The invocation's providers; ``await pool.start(id, n)`` gives a started provider.
    pool: ProviderLookup | None = None
    #: Provider ids under test in this run.
    under_test: tuple[str, ...] = ()
    #: The call service for a scorer's own model calls (required by scorers that call one).
    calls: Caller | None = None
    #: The run's price table (for ``estimate_calls``).
    pricing: Pricing | None = None


_JINJA = re.compile(r"{{|{%")


class Scorer(ABC):
    """Base class of scorer types."""

    type: ClassVar[str]
    version: ClassVar[str] = "1"
    Options: ClassVar[builtins.type[ScorerOptions]] = ScorerOptions
    #: True for scorers whose value is itself pass (1) or fail (0): equals, contains, regex.
    boolean: ClassVar[bool] = False
    #: False for scorers where lower is better (latency, cost): threshold is then a maximum.
    higher_is_better: ClassVar[bool] = True
    #: Options whose strings may use the case's vars through Jinja2.
    templated: ClassVar[tuple[str, ...]] = ()
    #: Valid examples per option, quoted in error messages.
    examples: ClassVar[dict[str, str]] = {}
    #: The option holding the scorer's label (``name``; tool scorers use ``label``, as their
    #: ``name`` is the tool's).
    label_option: ClassVar[str] = "name"
    #: True when the scorer needs ``case.reference``.
    needs_reference: ClassVar[bool] = False
    #: True when the value depends only on the output, the case and the signature (not on
    #: latency, cost, another model's answer or outside state): such scores are reused from
    #: the score cache for an output scored before (``evalkit.score.batch``). Set it where
    #: scoring costs more than a lookup (BLEU/chrF, embeddings, schemas), not on cheap checks.
    cacheable: ClassVar[bool] = False

    def __init__(self, spec: ScorerSpec, context: ScoreContext) -> None:
        self.spec = spec
        self.options = spec.options
        self.context = context

    # -- identity -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def threshold(self) -> float | None:
        threshold: float | None = self.options.threshold
        return threshold

    @property
    def decides(self) -> bool:
        """Whether this scorer has a pass/fail outcome (boolean, or given a threshold)."""
        return self.boolean or self.threshold is not None

    def library_versions(self) -> dict[str, str]:
        """Versions of libraries that affect the value (override to add)."""
        return {}

    def signature(self) -> dict[str, Any]:
        exclude = {self.label_option, "threshold", "weight", "type"}
        if self.options.turn == "last":  # the default: signatures from before turns existed
            exclude.add("turn")
        options = self.options.model_dump(exclude=exclude)
        return {
            "scorer": self.type,
            "version": self.version,
            "options": options,
            "libs": self.library_versions(),
        }

    def signature_hash(self) -> str:
        return content_hash(self.signature())

    # -- load-time checks -----------------------------------------------------------------
    @classmethod
    def resolve(cls, options: ScorerOptions, where: LineMap, suite_path: Path) -> None:
        """Load what the options name (a schema file, a judge prompt, a Python function)
        when the suite is loaded, so a missing or broken file is a file:line error before any
        call. Keep what is loaded on the options' private attributes (not in the signature's
        options: add a content hash to ``signature()`` instead). Raise ``where.error(...)``."""
        return None

    @classmethod
    def check(cls, options: ScorerOptions, cases: Sequence[Case]) -> tuple[Case, str] | None:
        """Return (case, problem) for the first case this scorer cannot score, if any."""
        if cls.needs_reference:
            for case in cases:
                if not case.references:
                    return case, f"scorer '{options.type}' needs a `reference` on every case"
        from evalkit.load.prompts import template_variables

        for key in cls.templated:
            value = getattr(options, key, None)
            templates = value if isinstance(value, list) else [value]
            for template in templates:
                if not isinstance(template, str) or not _JINJA.search(template):
                    continue
                needed = template_variables(template)
                for case in cases:
                    missing = sorted(needed - set(case.vars))
                    if missing:
                        return case, (
                            f"scorer '{options.type}' option `{key}` uses "
                            f"{{{{ {missing[0]} }}}} but case '{case.id}' has no var '{missing[0]}'"
                        )
        return None

    # -- scoring --------------------------------------------------------------------------
    def render(self, value: str, case: Case) -> str:
        """An option string with the case's vars filled in (when it is a template)."""
        if not _JINJA.search(value):
            return value
        from evalkit.load.prompts import render_template

        return render_template(value, case.vars)

    def decide(self, value: float | None) -> bool | None:
        if value is None:
            return None
        if self.boolean and self.threshold is None:
            return value >= 1.0
        if self.threshold is None:
            return None
        return value >= self.threshold if self.higher_is_better else value <= self.threshold

    def estimate_calls(self, results: int, sut_max_tokens: int) -> list[CallEstimate]:
        """Model calls this scorer would make to score ``results`` answers of up to
        ``sut_max_tokens`` tokens each (``--dry-run``'s estimate); none by default."""
        return []

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Called once before the run's first call (start a judge's provider, check that it
        is not the provider under test). Errors here stop the run before it is recorded."""

    @abstractmethod
    async def score_batch(self, items: Sequence[ScoreInput]) -> list[Outcome]:
        """One ``Outcome`` per item, in order."""


class PerItemScorer(Scorer):
    """A scorer that scores one item at a time, synchronously (cheap text checks)."""

    async def score_batch(self, items: Sequence[ScoreInput]) -> list[Outcome]:
        return [self.score_one(item) for item in items]

    @abstractmethod
    def score_one(self, item: ScoreInput) -> Outcome: ...


def project_root(suite_path: Path) -> Path:
    """The project a suite belongs to: the nearest folder above it with an evalkit.yaml
    (else the working directory), for files a scorer names relative to the project."""
    for folder in suite_path.resolve().parents:
        if (folder / "evalkit.yaml").is_file():
            return folder
    return Path.cwd().resolve()


def find_file(name: str, suite_path: Path) -> Path | None:
    """A file a scorer option names: relative to the suite file, else to the project root
    (an absolute path as it is)."""
    given = Path(name).expanduser()
    if given.is_absolute():
        return given if given.is_file() else None
    for base in (suite_path.resolve().parent, project_root(suite_path)):
        if (base / given).is_file():
            return (base / given).resolve()
    return None
