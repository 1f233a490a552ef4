"""report (page): the typed records the HTML page is drawn from.

``report.collect`` fills them from the run and comparison data (``evalkit.run/1``,
``evalkit.compare/1``) and the store; the template reads only these. Numbers arrive already
worded (``"0.68"``, ``"−0.23 [−0.43, −0.02]"``) where the page shows them as text, and raw
where the page computes with them (charts, sorting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BudgetRow",
    "ComparisonView",
    "FlipRef",
    "FlipView",
    "GateView",
    "GroupView",
    "MetricRow",
    "Page",
    "PairingView",
    "ScoreCell",
    "SideView",
    "SuiteView",
]


@dataclass
class MetricRow:
    """One quality metric of a comparison, in words and numbers."""

    name: str
    kind: str  #: pass_rate | pass_fail | mean
    scorer: str | None
    baseline: str
    candidate: str
    change: str  #: estimate with its 95% interval, in the metric's units
    p: str  #: "p=0.004 (Holm)", or "" when not tested
    word: str  #: regressed | improved | equivalent | inconclusive | not comparable
    colour: str  #: red | green | amber | grey
    cell: str  #: the verdict cell, e.g. "inconclusive: −23 points, this suite detects ≥ 58"
    detectable: str  #: the smallest change the comparison could detect ("58 points")
    sentence: str  #: the plain-words reading of this metric
    notes: list[str] = field(default_factory=list)  #: disagreement, reason, same-as
    quiet: bool = False  #: no case changed its verdict (or its score) at all


@dataclass
class BudgetRow:
    """Latency p95 or cost per result: a ratio with its interval and tolerance."""

    name: str
    baseline: str
    candidate: str
    change: str
    word: str
    colour: str
    cell: str
    notes: list[str] = field(default_factory=list)  #: what the interval cannot tell


@dataclass
class ScoreCell:
    """One scorer's score of one result, for the flip detail."""

    scorer: str
    value: str
    passed: bool | None
    detail: str | None
    rationale: str | None  #: a judge's rationale (from the score detail JSON)
    number: float | None = None  #: the value as a number


@dataclass
class SideView:
    """One side of a flip: its output (with the diff marks as safe HTML), input, scores."""

    label: str
    prompt: str
    output_html: str
    input_text: str
    error: str | None
    passes: int
    repeats: int
    scores: list[ScoreCell] = field(default_factory=list)


@dataclass
class FlipView:
    """A case whose verdict changed between the two sides of a pairing."""

    case_id: str
    direction: str  #: pass_to_fail | fail_to_pass
    tags: list[str]
    reference: str | None
    vars_text: str
    same_input: bool  #: both sides saw the same rendered input
    baseline: SideView
    candidate: SideView
    score_changes: list[tuple[str, str, str, str]]  #: (scorer, before, after, what changed)


@dataclass
class FlipRef:
    """A flip as the comparison names it: the case and one result of each side."""

    case_id: str
    direction: str  #: pass_to_fail | fail_to_pass
    baseline_result: str
    candidate_result: str
    baseline_passes: int
    candidate_passes: int
    repeats: int


@dataclass
class PairingView:
    """One pairing of a comparison (a prompt version × provider against its counterpart)."""

    label: str
    baseline_label: str
    candidate_label: str
    cases: int
    repeats: int
    metrics: list[MetricRow]
    budgets: list[BudgetRow]
    summary: str  #: one plain sentence: what happened to the pass rate, and the flips
    detectable: str
    notes: list[str]
    pass_to_fail: list[str]
    fail_to_pass: list[str]
    baseline_run: str = ""
    candidate_run: str = ""
    refs: list[FlipRef] = field(default_factory=list)  #: every flip, pass → fail first
    flips: list[FlipView] = field(default_factory=list)  #: those shown in full
    baseline_prompt_hash: str | None = None
    candidate_prompt_hash: str | None = None
    baseline_params: Any = None
    candidate_params: Any = None
    prompt_diff: list[tuple[str, str]] | None = None  #: (kind, line): kind in ' +-@'
    params_diff: list[tuple[str, str, str]] | None = None  #: (param, before, after)


@dataclass
class ComparisonView:
    """A comparison: against a baseline, or between the prompt versions of one run."""

    kind: str  #: baseline | versions
    title: str
    word: str
    colour: str
    tests: int
    alpha: float
    sides: tuple[str, str]
    pairings: list[PairingView]
    unpaired: list[str]


@dataclass
class GateView:
    text: str
    passed: bool | None


@dataclass
class GroupView:
    """What one prompt version × provider of the run measured."""

    prompt: str
    provider: str
    model: str | None
    pass_rate: str
    counts: str
    scores: dict[str, str]
    latency: str
    ttft: str
    tokens: str
    cost: str
    errors: int
    notes: list[str] = field(default_factory=list)


@dataclass
class SuiteView:
    """One suite's run in the report."""

    suite: str
    run_id: str
    status: str
    started_at: str
    commit: str | None
    exit_code: int
    exit_words: str
    word: str  #: the suite's verdict word (or "not compared")
    colour: str
    headline: str  #: one sentence for the overall summary
    scorers: list[str]
    groups: list[GroupView]
    gates: list[GateView]
    notes: list[str]
    comparison: ComparisonView | None
    versions: list[ComparisonView] = field(default_factory=list)
    history: Any = None  #: report.history.History
    matrix: Any = None  #: report.cases.Matrix
    distributions: list[tuple[str, str]] = field(default_factory=list)  #: (title, svg)


@dataclass
class Page:
    title: str
    version: str
    word: str
    colour: str
    exit_code: int
    exit_words: str
    headline: str
    suites: list[SuiteView]
    notes: list[str]
