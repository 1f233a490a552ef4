"""The judge's retrieval-grounded modes: an answer checked against the case's ``context``.

* ``faithfulness`` — the judge lists the answer's factual claims and marks each supported by
  a passage (naming it) or not. Value: the share of claims supported (1.0: every claim is
  supported; an answer that makes no claim has nothing unsupported and scores 1.0, with
  ``claims: 0`` in the detail). The detail lists the unsupported claims.
* ``answer_relevance`` — does the answer address the question (not: is it true)? An integer
  ``scale`` (default 1–5), normalised to 0–1 like the rubric mode.
* ``context_relevance`` — which passages help answer the question: every passage marked
  relevant or not. Value: the share of relevant passages (a precision of the retrieval; it
  does not depend on the answer, so it is asked once per case in a run, and the response
  cache answers it in later runs).
  A case whose context is empty has nothing to rate: undecided.

The passages, the answer and the question are quoted line by line between markers
(``verdicts.quote``/``quote_passages``), and the verdict schemas name the case's own passage
ids, so a constrained judge can only cite passages that exist. A verdict that is not valid
is invalid (undecided), as in every mode.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from evalkit.records import Case
from evalkit.score.base import Outcome, ScoreInput
from evalkit.score.verdicts import (
    context_relevance_schema,
    faithfulness_schema,
    quote,
    quote_passages,
    scale_schema,
)

if TYPE_CHECKING:
    from evalkit.score.judge import Judge

__all__ = ["GROUNDED", "NEEDS_CONTEXT", "grade_grounded", "grounded_variables", "schema_for"]

#: The modes of this module.
GROUNDED = ("faithfulness", "answer_relevance", "context_relevance")
#: Modes that need every case to carry ``context:``.
NEEDS_CONTEXT = ("faithfulness", "context_relevance")


def _ids(case: Case) -> list[str]:
    return [p.id for p in case.context or ()]


def schema_for(mode: str, case: Case, scale: tuple[int, int]) -> dict[str, Any]:
    """The verdict schema of a grounded mode for one case (its passage ids in it)."""
    if mode == "faithfulness":
        return faithfulness_schema(_ids(case))
    if mode == "context_relevance":
        return context_relevance_schema(_ids(case))
    return scale_schema(*scale)


def grounded_variables(case: Case, question: str) -> dict[str, Any]:
    """What the grounded judge prompts show besides the answer: the quoted passages and the
    quoted question."""
    return {
        "context": quote_passages(case.context or ()),
        "passage_ids": _ids(case),
        "question_quoted": quote(question) if question else "",
    }


def _faithfulness(verdict: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    claims = verdict["claims"]
    unsupported = [c["claim"] for c in claims if not c["supported"]]
    total = len(claims)
    value = (total - len(unsupported)) / total if total else 1.0
    return value, {
        "claims": claims,
        "total": total,
        "supported": total - len(unsupported),
        "unsupported": unsupported,
    }


def _context_relevance(verdict: dict[str, Any], case: Case) -> tuple[float, dict[str, Any]]:
    marks = verdict["passages"]
    ids = _ids(case)
    relevant = [pid for pid in ids if marks.get(pid)]
    return len(relevant) / len(ids), {
        "relevant": relevant,
        "irrelevant": [pid for pid in ids if not marks.get(pid)],
    }


async def grade_grounded(judge: Judge, item: ScoreInput) -> Outcome:
    """One grounded verdict on one answer."""
    mode = judge.options.mode
    case = item.case
    if mode == "context_relevance" and not case.context:
        return Outcome(
            None,
            None,
            judge._detail(mode=mode, verdict="invalid", error="the case's context is empty"),
        )
    schema = schema_for(mode, case, judge.options.scale)
    if mode == "context_relevance":  # the same verdict for every answer to the case
        task = judge._per_case.get(case.hash)
        if task is None:
            task = asyncio.ensure_future(judge._ask(judge._variables(item), item, schema))
            judge._per_case[case.hash] = task
        reply = await task
    else:
        reply = await judge._ask(judge._variables(item), item, schema)
    cached = {"cached": True} if reply.get("cached") else {}
    if "invalid" in reply:
        return Outcome(
            None,
            None,
            judge._detail(
                mode=mode, verdict="invalid", error=reply["invalid"], raw=reply["raw"], **cached
            ),
        )
    verdict = reply["verdict"]
    if mode == "faithfulness":
        value, fields = _faithfulness(verdict)
    elif mode == "context_relevance":
        value, fields = _context_relevance(verdict, case)
    else:
        low, high = judge.options.scale
        score = int(verdict["score"])
        value = (score - low) / (high - low)
        fields = {"score": score, "rationale": verdict["rationale"]}
    return Outcome(
        value, None, judge._detail(mode=mode, verdict="valid", **fields, raw=reply["raw"], **cached)
    )
