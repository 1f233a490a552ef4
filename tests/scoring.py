"""Build scorers and score inputs the way a suite and a run would."""

from __future__ import annotations

import asyncio
from typing import Any

from evalkit.load.source import LineMap, validate
from evalkit.records import Case, Result, ScorerSpec
from evalkit.registry import SCORERS
from evalkit.score.base import Outcome, ScoreContext, ScoreInput, Scorer


def make_scorer(**options: Any) -> Scorer:
    cls = SCORERS.get(options["type"])
    opts = validate(cls.Options, options, LineMap("test"))
    spec = ScorerSpec(type=options["type"], name=opts.name or options["type"], options=opts)
    return cls(spec, ScoreContext(defaults={}, resources={}))  # type: ignore[no-any-return]


def case(vars: dict[str, Any] | None = None, reference: Any = None, id: str = "c1") -> Case:
    return Case(id=id, hash="h", vars=vars or {}, reference=reference)


def result(output: str, **extra: Any) -> Result:
    base = dict(
        id="r1",
        run_id="run",
        suite="s",
        case_id="c1",
        case_hash="h",
        prompt="p@v1",
        prompt_name="p",
        prompt_version="v1",
        prompt_hash="ph",
        provider="x",
        provider_type="openai",
        model="m",
        params={},
        repeat=0,
        input="",
        output=output,
    )
    base.update(extra)
    return Result(**base)


def score(scorer: Scorer, output: str, the_case: Case | None = None) -> tuple[Outcome, bool | None]:
    item = ScoreInput(output.strip(), the_case or case(), result(output))
    (outcome,) = asyncio.run(scorer.score_batch([item]))
    passed = outcome.passed if outcome.passed is not None else scorer.decide(outcome.value)
    return outcome, passed
