"""A comparison of two runs (or two sides of runs): ``evalkit.compare/1``.

Produced by ``compare.drift.compare_pairings``; read by every report, by ``--fail-on`` and,
compacted (flips as case ids only, no outputs), stored in ``runs.comparison``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from evalkit.contracts.base import BudgetVerdict, Contract, Verdict, legacy_verdict
from evalkit.contracts.margins import Margin

__all__ = [
    "Budget",
    "BudgetGate",
    "CaseCounts",
    "ComparedGroup",
    "ComparedSide",
    "Comparison",
    "Counts",
    "Discordant",
    "FailedScore",
    "Flip",
    "FlipSide",
    "Flips",
    "GenerationConstraint",
    "GenerationConstraints",
    "Matrix",
    "Mde",
    "Metric",
    "PairingResult",
    "RanRun",
    "RunMeta",
    "Unpaired",
]


class Discordant(Contract):
    """Cases whose pass/fail outcome differs between the sides (one repeat only)."""

    pass_to_fail: int
    """Cases that passed in the baseline and fail in the candidate."""
    fail_to_pass: int
    """Cases that failed in the baseline and pass in the candidate."""


class GenerationConstraint(Contract):
    """How one side's answers were constrained when they were generated."""

    kind: Literal["none", "json_schema", "json_object", "grammar", "mixed"]
    """``none`` (free text), ``json_schema`` (a schema the server enforced), ``json_object``
    (any JSON object), ``grammar`` (a llama.cpp grammar), ``mixed`` (several within the
    group)."""
    via: str | None = None
    """The request param that carried it: ``response_format``, ``json_schema`` (llama.cpp)
    or ``output_config`` (Anthropic)."""
    schema_hash: str | None = None
    """Content hash of the enforcing schema."""
    same_schema: bool | None = None
    """Whether it is the schema the ``json_schema`` scorer checks against (None: no
    schema)."""


class GenerationConstraints(Contract):
    """Both sides' constraints, on a ``json_schema`` metric."""

    baseline: GenerationConstraint
    """The baseline's."""
    candidate: GenerationConstraint
    """The candidate's."""


class Metric(Contract):
    """One quality metric of a pairing: the pass rate, a pass/fail scorer or a mean score."""

    metric: str
    """Its name as shown: ``pass rate``, a scorer name, ``bleu ≥ 20``, ``bleu (mean)``."""
    kind: Literal["pass_rate", "pass_fail", "mean"]
    """``pass_rate`` (over every shared pass/fail scorer), ``pass_fail`` (one scorer with a
    pass/fail outcome), or ``mean`` (a continuous score without threshold)."""
    scorer: str | None
    """The scorer's name (None for the pass rate)."""
    threshold: float | None
    """The scorer's threshold, when it has one."""
    higher_is_better: bool
    """Whether a higher value is an improvement."""
    verdict: Verdict
    """``regressed`` / ``improved`` (significant after Holm), ``equivalent`` (the 95%
    interval inside ± the margin), ``inconclusive`` (neither), ``not comparable``
    (refused: see ``reason``)."""
    reason: str | None
    """Why the metric is not comparable (a scorer signature or threshold that differs, ...)."""
    note: str | None
    """What the metric was computed over, when that differs from the usual."""
    same_as: str | None
    """The metric whose paired values equal this one's: tested once, reported as that one."""
    baseline: float | None = None
    """The baseline's value (pass rate, or mean) over the compared cases."""
    candidate: float | None = None
    """The candidate's value over the compared cases."""
    estimate: float | None = None
    """candidate − baseline."""
    ci: tuple[float, float] | None = None
    """95% interval of the difference (Newcombe for one repeat; cluster bootstrap else)."""
    p: float | None = None
    """p-value of the paired test, before correction."""
    p_adjusted: float | None = None
    """p-value after Holm's correction over every tested metric of the comparison."""
    test: str | None = None
    """The paired test: ``exact McNemar``, ``exact sign-flip over cases``,
    ``paired bootstrap``."""
    cases: int | None = None
    """Cases decided on both sides."""
    pairs: int | None = None
    """(case, repeat) pairs decided on both sides."""
    mde: float | None = None
    """Smallest change the comparison could detect with 80% power, in the metric's units
    (None: too few cases to detect any)."""
    discordant: Discordant | None = None
    """Discordant cases (pass/fail metrics with one repeat)."""
    margin: Margin | None = None
    """The equivalence margin the verdict used."""
    disagreement: str | None = None
    """Why the interval and the test disagree, when they do (the interval excludes 0 but
    the test is not significant after Holm, or the reverse)."""
    warnings: list[str] = Field(default_factory=list)
    """What the interval cannot be trusted for, e.g. a bootstrap over too few cases."""
    constraints: GenerationConstraints | None = None
    """``json_schema`` metrics: how each side's answers were constrained at generation
    (``response_format``), so that a change reads as constrained against unconstrained."""

    @field_validator("verdict", mode="before")
    @classmethod
    def read_legacy_verdict(cls, value: Any) -> Any:
        """``unchanged`` (stored by older versions) reads as ``inconclusive``."""
        return legacy_verdict(value)

    @property
    def tested(self) -> bool:
        """Whether the metric has a test result of its own or by ``same_as``."""
        return self.verdict != "not comparable" and self.estimate is not None


class BudgetGate(Contract):
    """The suite's gate that bounds a budget, as checked on the candidate."""

    limit: float | None
    """The limit."""
    actual: float | None
    """The candidate's value."""
    passed: bool | None
    """Whether the gate was met (None: n/a)."""


class Budget(Contract):
    """Latency p95 or cost per result: this side over the baseline, as a ratio."""

    metric: Literal["latency p95", "cost per result"]
    """Which budget."""
    statistic: Literal["p95", "mean"]
    """The statistic the ratio compares."""
    baseline: float
    """The baseline's statistic (ms, or USD)."""
    candidate: float
    """The candidate's statistic."""
    ratio: float | None
    """candidate / baseline (None: the baseline is 0)."""
    ci: tuple[float, float] | None
    """95% cluster-bootstrap interval of the ratio."""
    verdict: BudgetVerdict
    """``slower``/``costlier`` or ``faster``/``cheaper`` (the whole interval beyond the
    tolerance), ``equivalent`` (inside it), ``inconclusive``, or ``over budget``."""
    budget: BudgetGate | None
    """The suite's gate on it, if any."""
    tolerance: float
    """Ratios within ×tolerance (and its inverse) count as equivalent."""
    worse: bool
    """Whether it counts as worse under ``--fail-on any``."""
    resamples: int = 0
    """Bootstrap resamples drawn for the interval."""
    undefined_resamples: int = 0
    """Resamples with no defined ratio (a zero or missing baseline statistic): counted in
    whichever tail widens the interval, or no interval when there are too many."""
    warnings: list[str] = Field(default_factory=list)
    """What the interval cannot tell: too few cases, undefined resamples."""

    @field_validator("verdict", mode="before")
    @classmethod
    def read_legacy_verdict(cls, value: Any) -> Any:
        """``unchanged`` (stored by older versions) reads as ``inconclusive``."""
        return legacy_verdict(value)


class FailedScore(Contract):
    """A score that failed on one side of a flip."""

    scorer: str
    """The scorer's name."""
    value: float | None
    """Its value."""
    detail: str | None
    """Why it failed, as the scorer said."""


class FlipSide(Contract):
    """One side of a flipped case: a representative result."""

    result_id: str
    """The result's id (``evalkit cache explain`` takes it)."""
    repeat: int
    """Its repeat index."""
    output: str | None
    """The model's output (None when the call failed)."""
    passes: int
    """Repeats of the case that passed on this side."""
    repeats: int
    """Repeats decided on both sides."""
    error_class: str | None
    """The call's error class, when it failed."""
    error: str | None
    """The call's error message."""
    failed: list[FailedScore]
    """The scores that failed."""


class Flip(Contract):
    """A case that went pass → fail (or fail → pass)."""

    case_id: str
    """The case's id."""
    baseline: FlipSide | None = None
    """The baseline side (None in the compact form stored with a run)."""
    candidate: FlipSide | None = None
    """The candidate side (None in the compact form)."""

    @model_validator(mode="before")
    @classmethod
    def _compact(cls, value: Any) -> Any:
        return {"case_id": value} if isinstance(value, str) else value


class Flips(Contract):
    """The flipped cases of a pairing, pass → fail first."""

    pass_to_fail: list[Flip] = Field(default_factory=list)
    """Cases that passed in the baseline and fail now."""
    fail_to_pass: list[Flip] = Field(default_factory=list)
    """Cases that failed in the baseline and pass now."""


class CaseCounts(Contract):
    """Which cases a pairing compared."""

    compared: int
    """Cases in both groups with the same content."""
    repeats: int
    """Repeats compared per case."""
    added: list[str]
    """Case ids only in the candidate (not compared)."""
    removed: list[str]
    """Case ids only in the baseline (not compared)."""
    changed: list[str]
    """Case ids whose content changed (not compared)."""


class Mde(Contract):
    """What a pairing could detect."""

    pass_rate: float | None
    """Smallest pass-rate change detectable with ``power`` at ``alpha`` (None: none)."""
    alpha: float
    """The level: α over the number of tests (what Holm applies to the smallest p)."""
    power: float
    """The power (0.8)."""
    cases: int
    """Cases behind the pass rate."""


class ComparedGroup(Contract):
    """One side of a pairing: a prompt version on a provider in one run."""

    run_id: str
    """The run."""
    prompt: str
    """Prompt version ``name@vN``."""
    provider: str
    """Provider id."""
    model: str | None
    """Model(s) that answered."""
    prompt_hash: str | None
    """Hash(es) of the prompt version's templates and params."""
    params: Any
    """Effective params (a list when they varied within the group)."""


class PairingResult(Contract):
    """Two groups compared case by case."""

    label: str
    """``prompt · provider``, with ``a → b`` where the sides differ."""
    baseline: ComparedGroup
    """The baseline side."""
    candidate: ComparedGroup
    """The candidate side."""
    cases: CaseCounts
    """Which cases were compared."""
    metrics: list[Metric]
    """The pass rate first, then one per scorer."""
    budgets: list[Budget]
    """Latency and cost (each left out when neither side has any)."""
    flips: Flips
    """Flipped cases, with both outputs (ids only when stored)."""
    mde: Mde
    """What this pairing could detect."""
    notes: list[str]
    """Provenance changes, cases not compared, scorers left out of the pass rate."""


class RunMeta(Contract):
    """A run taking part in a comparison."""

    id: str
    """Run id."""
    suite: str | None
    """Its suite."""
    started_at: str | None
    """When it started (UTC)."""
    status: str | None
    """``completed``, ``incomplete``, ..."""
    git_commit: str | None
    """The project's commit when it ran."""
    git_dirty: bool | None
    """Whether the checkout had changes."""


class ComparedSide(Contract):
    """The runs of one side of a comparison."""

    runs: list[RunMeta]
    """The runs (several when ``compare --prompt`` took versions from different runs)."""
    ref: str | None = None
    """The reference the user gave (``main``, ``last``, a run id)."""
    name: str | None = None
    """The baseline name, when the reference was one."""


class Counts(Contract):
    """Totals over every pairing."""

    regressed: int
    """Metrics that regressed."""
    improved: int
    """Metrics that improved."""
    equivalent: int = 0
    """Metrics shown equivalent within their margin."""
    inconclusive: int = 0
    """Metrics the data could not decide."""
    unchanged: int
    """Deprecated: equivalent + inconclusive (metrics not significant), kept so that
    ``--json`` only grows; it never means that nothing changed."""
    not_comparable: int
    """Metrics refused."""
    pass_to_fail: int
    """Flipped cases, pass → fail."""
    fail_to_pass: int
    """Flipped cases, fail → pass."""
    budgets_worse: int
    """Budgets slower, costlier or over budget."""


class Unpaired(Contract):
    """Groups left without a partner (not compared)."""

    baseline: list[str]
    """Only in the baseline."""
    candidate: list[str]
    """Only in the candidate."""


class Matrix(Contract):
    """Two named sides (``--prompt A --prompt B`` or ``--provider A --provider B``)."""

    by: Literal["prompt", "provider"]
    """What the two sides are."""
    sides: tuple[str, str]
    """The two names, baseline side first."""
    rows: list[str]
    """Per pairing, what it is over (the provider, or the prompt version)."""


class RanRun(Contract):
    """A run ``compare`` made because the store lacked it."""

    run_id: str
    """The new run."""
    prompts: list[str]
    """Its prompt versions."""
    providers: list[str]
    """Its providers."""


class Comparison(Contract):
    """``evalkit.compare/1``: the verdict of a comparison and everything behind it."""

    schema_: Literal["evalkit.compare/1"] = Field(default="evalkit.compare/1", alias="schema")
    """Always ``evalkit.compare/1``."""
    suite: str
    """The suite."""
    verdict: Verdict
    """Overall: regressed if any metric regressed, else improved if any improved, else
    equivalent if every tested metric is, else inconclusive; not comparable when nothing
    could be tested."""
    alpha: float
    """Family-wise level of Holm's correction."""
    power: float
    """Power the detectable changes are computed for."""
    correction: Literal["holm"]
    """The multiple-comparison correction."""
    tests: int
    """Metrics tested (one Holm family)."""
    baseline: ComparedSide
    """The baseline side's runs."""
    candidate: ComparedSide
    """The candidate side's runs."""
    counts: Counts
    """Totals."""
    pairings: list[PairingResult]
    """One per pair of groups compared."""
    unpaired: Unpaired
    """Groups not compared."""
    matrix: Matrix | None = None
    """The two named sides, when the user named them."""
    ran: list[RanRun] | None = None
    """``compare SUITE``: runs made for the comparison."""
    reused: list[str] | None = None
    """``compare SUITE``: stored runs it reused."""
    exit_code: int | None = None
    """``evalkit compare``: the exit code under ``--fail-on``."""
    exit_reasons: list[str] | None = None
    """Why the exit code is 1 (``regression``, ``pass→fail``, ``budget``)."""

    @field_validator("verdict", mode="before")
    @classmethod
    def read_legacy_verdict(cls, value: Any) -> Any:
        """``unchanged`` (stored by older versions) reads as ``inconclusive``."""
        return legacy_verdict(value)

    def to_pandas(self) -> Any:
        """One row per metric per pairing, budgets included (``evalkit.frames``)."""
        from evalkit.frames import comparison_frame

        return comparison_frame(self)

    def compact(self) -> dict[str, Any]:
        """As stored with a run (``runs.comparison``): flips as case ids, no outputs."""
        data = self.as_json()
        for pairing in data["pairings"]:
            pairing["flips"] = {
                kind: [flip["case_id"] for flip in flips]
                for kind, flips in pairing["flips"].items()
            }
        return data
