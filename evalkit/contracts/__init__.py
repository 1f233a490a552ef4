"""Typed contracts between the stages, and the ``--json`` outputs they print.

============================  ==========================================================
model                         what it is
============================  ==========================================================
``RunSummary``, ``Gate``      a run's aggregates per prompt version × provider, its gates
``RunOutcome``                one suite's run (summary, gates, comparison, exit code)
``Evaluation``                ``evalkit.run/1``: every run of one ``evalkit run``
``Comparison``                ``evalkit.compare/1``: verdicts, intervals, flips, budgets
``StoredRun``                 ``evalkit.run.show/1``: a stored run read back
``MarginSetting``, ``Margin``  a suite's ``equivalence_margin`` and the margin a metric used
``Transcript``                a conversation's or agent loop's requests (one result)
============================  ==========================================================

This package imports only pydantic: every layer may use it. Each field has a docstring; the
JSON Schemas in ``docs/schemas/`` are generated from the models
(``python -m evalkit.contracts``) and a test keeps them current.
"""

from __future__ import annotations

from evalkit.contracts.base import BUDGET_VERDICTS, VERDICTS, BudgetVerdict, Contract, Verdict
from evalkit.contracts.comparison import (
    Budget,
    BudgetGate,
    CaseCounts,
    ComparedGroup,
    ComparedSide,
    Comparison,
    Counts,
    Discordant,
    FailedScore,
    Flip,
    Flips,
    FlipSide,
    GenerationConstraint,
    GenerationConstraints,
    Matrix,
    Mde,
    Metric,
    PairingResult,
    RanRun,
    RunMeta,
    Unpaired,
)
from evalkit.contracts.margins import Margin, MarginError, MarginSetting, margin_for
from evalkit.contracts.run import Evaluation, RunHeader, RunOutcome, RunProvider, StoredRun
from evalkit.contracts.summary import (
    CaseRepeats,
    DryRunCalls,
    ErrorCount,
    Gate,
    Grounding,
    GroupSummary,
    Repeats,
    RunStats,
    RunSummary,
    ScorerSummary,
    UnsupportedClaims,
)
from evalkit.contracts.transcript import Transcript, TranscriptCall, TranscriptStep

__all__ = [
    "BUDGET_VERDICTS",
    "VERDICTS",
    "Budget",
    "BudgetGate",
    "BudgetVerdict",
    "CaseCounts",
    "CaseRepeats",
    "ComparedGroup",
    "ComparedSide",
    "Comparison",
    "Contract",
    "Counts",
    "Discordant",
    "DryRunCalls",
    "ErrorCount",
    "Evaluation",
    "FailedScore",
    "Flip",
    "FlipSide",
    "Flips",
    "Gate",
    "GenerationConstraint",
    "GenerationConstraints",
    "Grounding",
    "GroupSummary",
    "Margin",
    "MarginError",
    "MarginSetting",
    "Matrix",
    "Mde",
    "Metric",
    "PairingResult",
    "RanRun",
    "Repeats",
    "RunHeader",
    "RunMeta",
    "RunOutcome",
    "RunProvider",
    "RunStats",
    "RunSummary",
    "ScorerSummary",
    "StoredRun",
    "Transcript",
    "TranscriptCall",
    "TranscriptStep",
    "Unpaired",
    "UnsupportedClaims",
    "Verdict",
    "margin_for",
]
