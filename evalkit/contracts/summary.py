"""A run's summary (per prompt version × provider) and its gates: the ``summary`` and
``gates`` of ``evalkit.run/1``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from evalkit.contracts.base import Contract

__all__ = [
    "CaseRepeats",
    "DryRunCalls",
    "ErrorCount",
    "Gate",
    "Grounding",
    "GroupSummary",
    "Repeats",
    "RunStats",
    "RunSummary",
    "ScorerSummary",
    "UnsupportedClaims",
]


class UnsupportedClaims(Contract):
    """One answer's claims that a faithfulness judge found unsupported by its context."""

    case_id: str
    """The case's id."""
    repeat: int
    """The answer's repeat index."""
    claims: list[str]
    """The unsupported claims, as the judge stated them."""


class Grounding(Contract):
    """What a ``faithfulness`` judge found in one group's answers (valid verdicts only)."""

    answers: int
    """Answers with a valid verdict."""
    with_unsupported: int
    """Answers with at least one unsupported claim."""
    claims: int
    """Claims the judge found in those answers."""
    unsupported: int
    """Claims it found unsupported by the case's passages."""
    examples: list[UnsupportedClaims] = Field(default_factory=list)
    """The first answers with unsupported claims (by case id; at most 5)."""


class ScorerSummary(Contract):
    """One scorer's scores within one group."""

    type: str
    """The scorer type (``contains``, ``bleu``, ``judge``, ...)."""
    mean: float | None
    """Mean value over the scores that have one (None: no value at all)."""
    n: int
    """Scores with a value."""
    passed: int
    """Scores that passed (a pass/fail outcome of True)."""
    failed: int
    """Scores that failed."""
    undecided: int
    """Scores with no pass/fail outcome: a scorer without threshold, or an invalid verdict."""
    threshold: float | None
    """The scorer's threshold (None: boolean scorers and scorers without one)."""
    unscored: int
    """Scores without a value (e.g. invalid judge verdicts)."""
    ci: tuple[float, float] | None = None
    """95% interval of the mean (None: too little to say anything)."""
    ci_method: str | None = None
    """How the interval was computed: ``wilson``, ``wilson-clustered``, ``bootstrap``,
    ``bootstrap-clustered``."""
    grounding: Grounding | None = None
    """A ``faithfulness`` judge's findings: unsupported claims (None for other scorers)."""


class CaseRepeats(Contract):
    """One case's repeats within a group (listed only when the run had repeats)."""

    case_id: str
    """The case's id."""
    n: int
    """Answers to this case (its repeats)."""
    passed: int
    """Answers that passed."""
    failed: int
    """Answers that failed."""
    undecided: int
    """Answers no scorer could decide."""
    mean: float | None
    """Share of the decided answers that passed (None: none was decided)."""


class Repeats(Contract):
    """What repeated answers say about a group (``-n N``)."""

    k: int
    """Repeats per case (the most any case has)."""
    cases: int
    """Cases with at least one decided answer."""
    pass_at_1: float | None
    """Mean over cases of the share of answers that passed."""
    pass_hat_k: float | None
    """Share of cases whose every decided answer passed (pass^k)."""
    pass_at_k: float | None
    """Share of cases with at least one passing answer (pass@k)."""
    flaky: list[str]
    """Cases that both passed and failed across their repeats."""
    per_case: list[CaseRepeats] | None
    """Each case's repeats (None with one repeat)."""


class GroupSummary(Contract):
    """One system under test within a run: one prompt version on one provider."""

    prompt: str
    """Prompt version, ``name@vN``."""
    provider: str
    """Provider id (from evalkit.yaml)."""
    model: str | None
    """Model that answered (one of them, if several)."""
    results: int
    """Results (calls) in the group."""
    cases: int
    """Distinct cases."""
    passed: int
    """Results that passed every scorer with a pass/fail outcome."""
    failed: int
    """Results that failed (a failed call fails)."""
    undecided: int
    """Results no scorer could decide; never counted as pass or fail."""
    errors: int
    """Failed calls."""
    latency_p50_ms: float | None
    """Median latency of a call, ms."""
    latency_p95_ms: float | None
    """95th percentile latency of a call, ms."""
    ttft_p50_ms: float | None
    """Median time to first token, ms (streaming only)."""
    ttft_p95_ms: float | None
    """95th percentile time to first token, ms."""
    input_tokens: int
    """Input tokens, summed."""
    output_tokens: int
    """Output tokens, summed."""
    cost_usd: float | None
    """Cost of the answers, USD (None: no price known)."""
    cache_hits: int
    """Results answered from the response cache."""
    retries: int
    """Retried attempts."""
    pass_rate: float | None
    """passed / (passed + failed); None when nothing was decided."""
    pass_rate_ci: tuple[float, float] | None
    """95% interval of the pass rate (Wilson; clustered by case with repeats)."""
    pass_rate_ci_method: str | None = None
    """How the pass-rate interval was computed (``wilson`` or ``wilson-clustered``)."""
    score: float | None = None
    """Mean weighted score: per result, the share (by each scorer's ``weight``) of its
    pass/fail scorers that passed; a failed call scores 0; None when nothing decided."""
    scores: dict[str, ScorerSummary]
    """Per scorer name, in the suite's order."""
    repeats: Repeats | None = None
    """pass@1, pass^k, pass@k and the flaky cases."""


class ErrorCount(Contract):
    """Failed calls of one error class."""

    error_class: str
    """``timeout``, ``rate_limit``, ``server``, ``auth``, ..."""
    n: int
    """How many calls failed with it."""
    example: str | None
    """One of their messages."""


class RunStats(Contract):
    """How the run went (not recomputed from the store: measured while it ran)."""

    cache_hits: int
    """Results answered from the response cache."""
    spent_usd: float
    """What this run's calls cost, judges' included (cache hits cost nothing)."""
    retries: int
    """Retried attempts, judges' included."""
    spent_by_purpose: dict[str, float] = Field(default_factory=dict)
    """USD per purpose of the calls: ``run`` (the answers), ``judge``, ``pairwise``."""
    retries_by_class: dict[str, int] = Field(default_factory=dict)
    """Retried attempts per error class of the attempt that failed."""
    requests: dict[str, int] = Field(default_factory=dict)
    """Requests sent per provider id that received them (fallback members by their id)."""
    calls_by_purpose: dict[str, int] = Field(default_factory=dict)
    """Calls per purpose, cached or not."""
    cache_hits_by_purpose: dict[str, int] = Field(default_factory=dict)
    """Calls per purpose answered by the response cache."""
    scores_reused: int = 0
    """Scores reused from the score cache (same scorer signature, case and output)."""
    shards: int | None = None
    """For a run merged from shards: how many (its numbers are the shards' sums; its
    elapsed time is the slowest shard's)."""
    throttled_to: dict[str, int] = Field(default_factory=dict)
    """Per provider, the lowest concurrency rate limits forced."""
    elapsed_s: float
    """Wall time of the calls, seconds."""
    prepare_s: float | None = None
    """Time spent answering from the cache before the first call, seconds."""


class DryRunCalls(Contract):
    """What ``--dry-run`` found for one provider."""

    provider: str
    """Provider id."""
    purpose: str = "run"
    """``run`` (the answers of the providers under test) or ``judge`` (a judge's calls: how
    many is known, their answers are not, so none is counted as cached)."""
    planned: int
    """Calls planned."""
    cached: int
    """Planned calls the response cache answers."""
    to_call: int
    """Calls that would be made."""
    estimate_usd: float
    """Upper estimate of their cost, USD (priced calls only)."""
    unpriced: int
    """Calls of unknown price."""


class RunSummary(Contract):
    """A run's aggregates, recomputed from the store (a resumed run summarises the same)."""

    groups: list[GroupSummary] = Field(default_factory=list)
    """One per prompt version × provider."""
    errors: list[ErrorCount] = Field(default_factory=list)
    """Failed calls by error class, most frequent first."""
    results: int | None = None
    """Results in the run (None: nothing was summarised — a dry run, or a run that never
    started)."""
    cost_usd: float | None = None
    """Cost of every answer, USD (None: nothing was summarised)."""
    tokens: int | None = None
    """Input + output tokens of every answer (None: nothing was summarised)."""
    run: RunStats | None = None
    """How the run went (absent for an interrupted or incomplete run)."""
    dry_run: list[DryRunCalls] | None = None
    """``--dry-run`` only: the planned calls per provider (then there are no groups)."""


class Gate(Contract):
    """One suite gate checked on one scope."""

    gate: str
    """The gate's key under ``gates:`` in the suite (``pass_rate``, ``score``,
    ``latency_p95_ms``, ``ttft_p95_ms``, ``cost_usd``, ``tokens``)."""
    scope: str
    """``prompt · provider`` for per-group gates, ``run`` for run totals."""
    limit: float
    """The limit the suite set."""
    actual: float | None
    """The measured value (None: nothing to measure)."""
    passed: bool | None
    """Whether it was met (None: n/a, neither passed nor failed)."""
    kind: Literal["min", "max"]
    """``min``: actual must be ≥ limit; ``max``: ≤ limit."""
