"""score (batch): a run's scorers over a batch of results → scores, and each result's verdict.

Each scorer sees the batch at once (embedding models and judges batch their work). A scorer
that raises does not lose the results: its scores are stored with the error as detail and no
value. A result *passes* when every scorer with a pass/fail outcome passed (a failed call
fails; one undecided score leaves it undecided), and its *weighted score* is the weighted mean
of those outcomes (each scorer's ``weight``, default 1; undecided ones left out).

**The score cache.** A scorer whose value depends only on the output and the case
(``Scorer.cacheable``: text checks, BLEU/chrF, similarity, JSON schema, guardrails) is looked up
before it runs, by a key of its signature, the case's content hash and the output: an output
scored before with the same scorer signature is not scored again (a re-run answered by the
response cache re-scores nothing). The value and detail are reused; pass/fail is decided again
from the suite's current threshold.

**Turns.** A conversation's result holds one reply per user turn (its ``transcript``). A
scorer scores the last turn's reply by default; ``turn: N`` scores turn N (1-based, or from
the end when negative; a conversation that ended before it leaves the score undecided), and
``turn: all`` scores every turn: the value is the mean over the turns, and it passes when every
turn passes (one undecided turn, and none failed: undecided). Each turn's input carries the
tool calls made in that turn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Protocol

from evalkit.records import Case, Result, Score, ScoreCacheRow, ToolCall
from evalkit.score.base import Outcome, ScoreInput, Scorer

__all__ = ["BatchScorer", "ScoreCache", "score_key", "turn_inputs"]


class ScoreCache(Protocol):
    """Where reusable scores are kept (the store's ``score_cache`` table)."""

    def lookup(self, keys: Sequence[str]) -> dict[str, ScoreCacheRow]: ...


def score_key(signature: str, case_hash: str, output: str) -> str:
    """The score cache key of one (scorer signature, case, output)."""
    digest = hashlib.sha256(f"{signature}\0{case_hash}\0".encode())
    digest.update(output.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


class BatchScorer:
    """The scorers of one run, applied batch by batch."""

    def __init__(
        self,
        scorers: Sequence[Scorer],
        cases: Sequence[Case],
        run_id: str,
        *,
        cache: ScoreCache | None = None,
        read_cache: bool = True,
    ) -> None:
        self.scorers = list(scorers)
        self.run_id = run_id
        self.cache = cache
        self.read_cache = read_cache and cache is not None
        self._cases = {c.id: c for c in cases}
        self._signatures = {s.name: (s.signature_hash(), s.signature()) for s in self.scorers}
        self._weights = {s.name: float(getattr(s.options, "weight", 1.0)) for s in self.scorers}
        #: Fresh reusable scores of the last batch, for the store to write with it.
        self.fresh: list[ScoreCacheRow] = []
        #: Scores served from the score cache so far.
        self.reused = 0

    async def score(self, results: Sequence[Result]) -> list[Score]:
        """Score a batch; sets ``passed`` and ``score`` on each result."""
        answered = [r for r in results if r.error_class is None]
        views = [turn_inputs(r, self._cases[r.case_id]) for r in answered]
        self.fresh = []
        scores: list[Score] = []
        marks: dict[str, list[tuple[bool | None, float]]] = {r.id: [] for r in answered}
        for scorer in self.scorers:
            inputs, chosen = _select(views, getattr(scorer.options, "turn", "last"))
            outcomes, cached = await self._outcomes(scorer, inputs)
            signature, signature_json = self._signatures[scorer.name]
            weight = self._weights[scorer.name]
            for result, picks in zip(answered, chosen, strict=True):
                outcome, passed, hit = _fold(scorer, picks, outcomes, cached)
                if scorer.decides:
                    marks[result.id].append((passed, weight))
                scores.append(
                    Score(
                        result_id=result.id,
                        run_id=self.run_id,
                        scorer=scorer.name,
                        scorer_type=scorer.type,
                        signature=signature,
                        signature_json=signature_json,
                        value=outcome.value,
                        passed=passed,
                        threshold=scorer.threshold,
                        detail=outcome.detail,
                        cache_hit=hit,
                    )
                )
        for result in results:
            if result.error_class is not None:
                result.passed, result.score = False, 0.0
                continue
            result.passed, result.score = _verdict(marks[result.id])
        return scores

    async def _outcomes(
        self, scorer: Scorer, inputs: list[ScoreInput]
    ) -> tuple[list[Outcome], list[bool]]:
        if not inputs:
            return [], []
        if not scorer.cacheable or self.cache is None:
            return await _run(scorer, inputs), [False] * len(inputs)
        signature = self._signatures[scorer.name][0]
        keys = [score_key(signature, i.case.hash, i.output) for i in inputs]
        found = self.cache.lookup(keys) if self.read_cache else {}
        todo = [n for n, key in enumerate(keys) if key not in found]
        fresh = await _run(scorer, [inputs[n] for n in todo]) if todo else []
        outcomes: list[Any] = [None] * len(inputs)
        for n, outcome in zip(todo, fresh, strict=True):
            outcomes[n] = outcome
            if not (outcome.detail or "").startswith("scorer error:"):
                self.fresh.append(
                    ScoreCacheRow(keys[n], scorer.type, signature, outcome.value, outcome.detail)
                )
        cached = [False] * len(inputs)
        for n, key in enumerate(keys):
            if outcomes[n] is None:
                row = found[key]
                outcomes[n] = Outcome(row.value, None, row.detail)
                cached[n] = True
        self.reused += len(inputs) - len(todo)
        return outcomes, cached


def turn_inputs(result: Result, case: Case) -> list[ScoreInput]:
    """One input per turn of an answered result: the turn's last reply (stripped) and the
    tool calls made in it. A single request is one turn (``turn`` None)."""
    steps = result.transcript
    if not steps:
        calls = tuple(ToolCall.from_dict(c) for c in result.tool_calls or ())
        return [ScoreInput((result.output or "").strip(), case, result, calls)]
    turns: dict[int, list[dict[str, Any]]] = {}
    for step in steps:
        turns.setdefault(int(step.get("turn") or 1), []).append(step)
    return [
        ScoreInput(
            (taken[-1].get("output") or "").strip(),
            case,
            result,
            tuple(ToolCall.from_dict(c) for s in taken for c in s.get("tool_calls") or ()),
            number,
        )
        for number, taken in sorted(turns.items())
    ]


#: Where one result's score comes from: indices into the scored inputs, or why none exists.
_Pick = list[int] | str


def _select(views: list[list[ScoreInput]], turn: Any) -> tuple[list[ScoreInput], list[_Pick]]:
    """The inputs a scorer with ``turn`` scores, and which of them each result gets."""
    inputs: list[ScoreInput] = []
    chosen: list[_Pick] = []
    for turns in views:
        if turn == "last":
            taken = turns[-1:]
        elif turn == "all":
            taken = turns
        else:
            index = turn - 1 if turn > 0 else len(turns) + turn
            taken = [turns[index]] if 0 <= index < len(turns) else []
        if not taken:
            ended = turns[-1].turn or 1
            chosen.append(f"the conversation has no turn {turn} (it ended at turn {ended})")
            continue
        chosen.append(list(range(len(inputs), len(inputs) + len(taken))))
        inputs += taken
    return inputs, chosen


def _fold(
    scorer: Scorer, pick: _Pick, outcomes: list[Outcome], cached: list[bool]
) -> tuple[Outcome, bool | None, bool]:
    """(outcome, passed, reused) of one result from its turns' outcomes."""
    if isinstance(pick, str):
        return Outcome(None, None, pick), None, False
    decided = []
    for n in pick:
        passed = outcomes[n].passed
        decided.append(scorer.decide(outcomes[n].value) if passed is None else passed)
    hit = all(cached[n] for n in pick)
    if len(pick) == 1:
        return outcomes[pick[0]], decided[0], hit
    values = [v for v in (outcomes[n].value for n in pick) if v is not None]
    value = sum(values) / len(values) if values else None
    verdict = False if False in decided else (None if None in decided else True)
    details = [
        f"turn {i}: {outcomes[n].detail}" for i, n in enumerate(pick, start=1) if outcomes[n].detail
    ]
    return Outcome(value, verdict, "; ".join(details) or None), verdict, hit


async def _run(scorer: Scorer, inputs: list[ScoreInput]) -> list[Outcome]:
    try:
        return await scorer.score_batch(inputs)
    except Exception as exc:  # a broken (user) scorer must not lose the results
        return [Outcome(None, None, f"scorer error: {type(exc).__name__}: {exc}") for _ in inputs]


def _verdict(marks: list[tuple[bool | None, float]]) -> tuple[bool | None, float | None]:
    """(passed, weighted score) of one answered result from its pass/fail scorers."""
    if not marks:
        return None, None
    decided = [(p, w) for p, w in marks if p is not None]
    total = sum(w for _, w in decided)
    score = sum(w for p, w in decided if p) / total if total > 0 else None
    if any(p is False for p, _ in marks):
        return False, score
    if any(p is None for p, _ in marks):
        return None, score
    return True, score
