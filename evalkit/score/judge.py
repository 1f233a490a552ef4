"""``judge``: an LLM grades each output. Modes:

* ``rubric`` — a score on an integer ``scale`` (default 1–5) against ``rubric`` (criteria
  text; may use the case's vars), normalised to 0–1 (``threshold: 0.5`` passes the middle).
* ``reference`` — the same scale for "is the output consistent with the reference answer".
* ``faithfulness``, ``answer_relevance``, ``context_relevance`` — an answer checked against
  the case's ``context:`` (retrieved passages) and the question: see ``evalkit.score.grounded``.
* ``pairwise`` — A vs B, asked twice with the two swapped; a verdict that flips with the order
  is position bias and counts as a tie. Value 1 (output wins both orders), 0 (loses both) or
  0.5. **B** is the case's reference (``against: reference``, the default) or the answer of
  another prompt version to the same case from the same provider (``against: support@v1``),
  generated through the run's call path (and cache) at the run's params and stored in the
  detail.

The judge is ``provider:``, else ``defaults.judge`` in evalkit.yaml, else the embedded local
model. It never silently grades its own answers: a judge that is (or has the identity of) a
provider under test is refused unless ``allow_self_judge: true`` says it is meant. Calls run
at temperature 0 with a seed, through the run's call service (its retries, response cache,
spend and ``--max-cost``). The prompt is a versioned prompt: the package's ``judge-<mode>@v1``
(e.g. ``judge-rubric@v1``, ``judge-faithfulness@v1``) or ``prompt:`` naming one in the
project's prompts/; its hash, the judge's identity and params are in the signature.

A reply that is not a valid verdict is *invalid*: value and passed NULL, counted as undecided,
never as a pass or a fail. ``detail`` is JSON: verdict, score, rationale and the raw reply.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from evalkit.errors import InputError, SetupError
from evalkit.load.prompts import render_messages
from evalkit.load.source import LineMap
from evalkit.providers.base import Request
from evalkit.records import CallOutcome, Case, PromptVersion
from evalkit.score.base import (
    CallEstimate,
    Outcome,
    ScoreInput,
    Scorer,
    ScorerOptions,
    project_root,
)
from evalkit.score.grounded import (
    GROUNDED,
    NEEDS_CONTEXT,
    grade_grounded,
    grounded_variables,
)
from evalkit.score.judge_options import (
    PACKAGE_PROMPTS,
    JudgeOptions,
    load_prompts,
    prompt_info,
)
from evalkit.score.verdicts import (
    pairwise_schema,
    parse_verdict,
    quote,
    scale_schema,
    structured_params,
)

__all__ = ["PACKAGE_PROMPTS", "Judge", "JudgeOptions"]


class Judge(Scorer):
    """An LLM judge: rubric, reference-guided, pairwise or grounded in the case's passages;
    invalid verdicts are undecided."""

    type = "judge"
    version = "1"
    Options = JudgeOptions
    templated = ("rubric", "question")
    examples: ClassVar[dict[str, str]] = {
        "rubric": 'rubric: "Does the answer follow the refund policy?"',
        "mode": "mode: reference",
        "provider": "provider: gpt",
        "threshold": "threshold: 0.5",
        "scale": "scale: [1, 5]",
        "against": "against: support@v1",
        "prompt": "prompt: judge@v1",
    }

    def __init__(self, spec: Any, context: Any) -> None:
        super().__init__(spec, context)
        load_prompts(self.options, LineMap(f"scorer '{spec.name}'"), context.root)
        self.prompt: PromptVersion = self.options._prompt
        self.judge_id = self._judge_id()
        self.provider: Any = None
        self.how = "none"
        self._sem: asyncio.Semaphore | None = None
        self._b_answers: dict[tuple[str, str, int], Any] = {}
        #: context_relevance verdicts per case hash: one judge call per case in a run.
        self._per_case: dict[str, asyncio.Task[dict[str, Any]]] = {}
        #: The judge is (the model of) a provider under test, allowed by allow_self_judge.
        self._self_judge = False

    @classmethod
    def resolve(cls, options: ScorerOptions, where: LineMap, suite_path: Path) -> None:
        assert isinstance(options, JudgeOptions)
        load_prompts(options, where, project_root(suite_path))

    @classmethod
    def check(cls, options: Any, cases: Sequence[Case]) -> tuple[Case, str] | None:
        if options.mode == "reference" or (
            options.mode == "pairwise" and options.against == "reference"
        ):
            for case in cases:
                if not case.references:
                    return case, (
                        f"judge mode '{options.mode}' compares with the reference, "
                        f"and case '{case.id}' has no `reference`"
                    )
        if options.mode in NEEDS_CONTEXT:
            for case in cases:
                if case.context is None:
                    return case, (
                        f"judge mode '{options.mode}' checks against the case's retrieved "
                        f"passages, and case '{case.id}' has no `context:`"
                    )
        return super().check(options, cases)

    # -- identity -------------------------------------------------------------------------
    def _judge_id(self) -> str:
        if self.options.provider:
            return str(self.options.provider)
        configured = (self.context.defaults or {}).get("judge")
        if configured:
            return str(configured)
        specs = getattr(self.context.pool, "specs", None) or {}
        return next((pid for pid, s in specs.items() if s.get("type") == "local"), "local")

    def _identity(self, provider_id: str) -> dict[str, Any] | None:
        pool = self.context.pool
        return pool.get(provider_id).identity() if pool is not None else None

    def _params(self) -> dict[str, Any] | None:
        """The judge's effective generation params (without the verdict schema)."""
        pool = self.context.pool
        if pool is None:
            return None
        params = {**self.prompt.params, **self.options.params}
        return dict(pool.get(self.judge_id).effective_params(params))

    @property
    def schema(self) -> dict[str, Any]:
        if self.options.mode == "pairwise":
            return pairwise_schema()
        return scale_schema(*self.options.scale)

    def signature(self) -> dict[str, Any]:
        sig = super().signature()
        sig["judge"] = {
            "provider": self.judge_id,
            "identity": self._identity(self.judge_id),
            "params": self._params(),
        }
        sig["judge_prompt"] = prompt_info(self.prompt)
        if self.options._against is not None:
            sig["against_prompt"] = prompt_info(self.options._against)
        return sig

    # -- start: the judge must not be the provider under test ----------------------------
    async def start(self) -> None:
        pool = self.context.pool
        if pool is None:
            raise SetupError(f"scorer '{self.name}' needs the run's providers to call a judge")
        judge = pool.get(self.judge_id)
        identity = judge.identity()
        for pid in self.context.under_test:
            same = pid == self.judge_id or pool.get(pid).identity() == identity
            self._self_judge = self._self_judge or same
            if same and not self.options.allow_self_judge:
                what = "is" if pid == self.judge_id else "has the same model as"
                raise InputError(
                    f"scorer '{self.name}': the judge '{self.judge_id}' {what} the provider "
                    f"under test '{pid}': a model grading its own answers is not an "
                    f"independent judge",
                    fix="name another judge with `provider:` (or defaults.judge in "
                    "evalkit.yaml), or set `allow_self_judge: true` if this is intended",
                )
        defaults = self.context.defaults or {}
        n = (
            self.options.concurrency
            or judge.options.concurrency
            or int(defaults.get("concurrency") or 4)
        )
        self.provider = await pool.start(self.judge_id, n)
        self._sem = asyncio.Semaphore(n)
        self.how = self.options.structured
        if self.how == "auto":
            self.how = {
                ("local", "completion"): "json_schema",
                ("local", "chat"): "response_format",
                ("openai", "chat"): "response_format",
            }.get((judge.type, judge.mode), "none")

    # -- calls ----------------------------------------------------------------------------
    async def _call(
        self, provider: Any, request: Request, purpose: str, item: ScoreInput
    ) -> CallOutcome:
        """One model call through the run's call service (cache, retries, spend, budget)."""
        calls = self.context.calls
        if calls is None:
            raise SetupError(f"scorer '{self.name}' needs the run's call service to call a judge")
        context = {"scorer": self.name, "case_id": item.case.id, "result_id": item.result.id}
        return await calls.call(provider, request, purpose=purpose, context=context)

    def estimate_calls(self, results: int, sut_max_tokens: int) -> list[CallEstimate]:
        """Judge calls (two per result when pairwise) and pairwise answer-B generations,
        each priced as an upper bound: the judge prompt with an answer of the provider
        under test's ``max_tokens`` (about 4 characters a token), and the judge's own."""
        pool = self.context.pool
        if pool is None or results == 0:
            return []
        judge = pool.get(self.judge_id)
        pricing = self.context.pricing
        params = judge.effective_params({**self.prompt.params, **self.options.params})
        chars = sum(len(m.content) for m in self.prompt.messages) + 8 * sut_max_tokens
        per_call = (
            pricing.estimate(judge.type, judge.model, chars, params.get("max_tokens"))
            if pricing is not None
            else None
        )
        calls = results * (2 if self.options.mode == "pairwise" else 1)
        out = [CallEstimate(self.judge_id, calls, None if per_call is None else per_call * calls)]
        if self.options._against is not None:  # answer B: one per (case, provider, repeat)
            out.append(CallEstimate("(the providers under test)", results, None))
        return out

    async def _ask(
        self, variables: dict[str, Any], item: ScoreInput, schema: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One judge call → ``{"verdict": {...}}`` or ``{"invalid": why}``, with ``raw``."""
        assert self.provider is not None and self._sem is not None
        schema = schema or self.schema
        messages = render_messages(self.prompt, variables)
        params = {
            **self.prompt.params,
            **self.options.params,
            **structured_params(self.how, schema),
        }
        request = Request(messages, self.provider.effective_params(params))
        async with self._sem:
            outcome = await self._call(self.provider, request, "judge", item)
        if outcome.refused:
            return {"invalid": f"judge call not made ({outcome.refused})", "raw": None}
        if outcome.error is not None:
            return {
                "invalid": f"judge call failed ({outcome.error.error_class}): "
                f"{outcome.error.message[:300]}",
                "raw": None,
            }
        assert outcome.generation is not None
        raw = outcome.generation.text
        verdict, why = parse_verdict(raw, schema)
        reply: dict[str, Any] = (
            {"verdict": verdict, "raw": raw} if verdict else {"invalid": why, "raw": raw}
        )
        if outcome.cache_hit:
            reply["cached"] = True
        return reply

    async def _answer_b(self, item: ScoreInput) -> str | None:
        """Pairwise B: the reference, or the ``against`` prompt's answer to the same case."""
        if self.options._against is None:
            return item.case.references[0] if item.case.references else None
        key = (item.case.id, item.result.provider, item.result.repeat)
        if key not in self._b_answers:
            prompt = self.options._against
            pool = self.context.pool
            assert pool is not None
            provider = await pool.start(item.result.provider, 1)
            request = Request(
                render_messages(prompt, item.case.template_vars),
                provider.effective_params(prompt.params),
            )
            outcome = await self._call(provider, request, "pairwise", item)
            text = outcome.generation.text.strip() if outcome.generation else None
            self._b_answers[key] = text
        answer: str | None = self._b_answers[key]
        return answer

    def _variables(self, item: ScoreInput) -> dict[str, Any]:
        opts = self.options
        refs = item.case.references
        question = self.render(opts.question, item.case) if opts.question else ""
        grounded = grounded_variables(item.case, question) if opts.mode in GROUNDED else {}
        return {
            **grounded,
            "rubric": self.render(opts.rubric, item.case) if opts.rubric else "",
            "question": question,
            "output": quote(item.output),
            "output_raw": item.output,
            "reference": quote("\n".join(refs)) if refs else "",
            "scale_min": opts.scale[0],
            "scale_max": opts.scale[1],
            "vars": item.case.vars,
        }

    def _detail(self, **fields: Any) -> str:
        fields["judge"] = self.judge_id
        if self._self_judge:
            fields["self_judge"] = True
        return json.dumps(fields, ensure_ascii=False)

    async def _grade(self, item: ScoreInput) -> Outcome:
        reply = await self._ask(self._variables(item), item)
        cached = {"cached": True} if reply.get("cached") else {}
        if "invalid" in reply:
            return Outcome(
                None,
                None,
                self._detail(verdict="invalid", error=reply["invalid"], raw=reply["raw"], **cached),
            )
        low, high = self.options.scale
        score = int(reply["verdict"]["score"])
        return Outcome(
            (score - low) / (high - low),
            None,
            self._detail(
                verdict="valid",
                score=score,
                rationale=reply["verdict"]["rationale"],
                raw=reply["raw"],
                **cached,
            ),
        )

    async def _compare(self, item: ScoreInput) -> Outcome:
        b = await self._answer_b(item)
        if b is None:
            return Outcome(
                None, None, self._detail(verdict="invalid", error="no answer B to compare with")
            )
        base = self._variables(item)
        first, second = await asyncio.gather(
            self._ask({**base, "a": quote(item.output), "b": quote(b)}, item),
            self._ask({**base, "a": quote(b), "b": quote(item.output)}, item),
        )
        orders = [{"order": "output=A", **first}, {"order": "output=B", **second}]
        if "invalid" in first or "invalid" in second:
            return Outcome(None, None, self._detail(verdict="invalid", orders=orders, b=b))
        # The output's result in each order: win / loss / tie.
        one = {"A": "win", "B": "loss", "tie": "tie"}[first["verdict"]["winner"]]
        two = {"B": "win", "A": "loss", "tie": "tie"}[second["verdict"]["winner"]]
        verdict = one if one == two else "inconsistent"
        value = {"win": 1.0, "loss": 0.0}.get(verdict, 0.5)
        return Outcome(value, None, self._detail(verdict=verdict, orders=orders, b=b))

    async def score_batch(self, items: Sequence[ScoreInput]) -> list[Outcome]:
        if self.provider is None:
            await self.start()
        mode = self.options.mode
        if mode in GROUNDED:
            return list(await asyncio.gather(*(grade_grounded(self, item) for item in items)))
        grade = self._compare if mode == "pairwise" else self._grade
        return list(await asyncio.gather(*(grade(item) for item in items)))
