"""Build judge scorers the way `evalkit run` does: a project on disk, a suite, a pool."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

from evalkit.config import Project
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import load_suite
from evalkit.providers.pool import ProviderPool
from evalkit.registry import SCORERS
from evalkit.run.calls import CallService
from evalkit.score.base import Outcome, ScoreContext, ScoreInput
from scoring import result


def judge_project(
    root: Path,
    base_url: str,
    scorers: str,
    *,
    cases: str | None = None,
    extra_prompts: dict[str, str] | None = None,
    defaults: str = "",
) -> Path:
    """evalkit.yaml with `sut` (under test) and `judge` (another model id on the same
    llama-server), prompts/qa/v1.yaml, suites/qa.yaml with the given scorer list."""

    def put(name: str, text: str) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")

    put(
        "evalkit.yaml",
        f"""
        providers:
          sut: {{type: openai, base_url: "{base_url}/v1", model: gemma-sut, mode: completion,
                stream: false}}
          judge: {{type: openai, base_url: "{base_url}/v1", model: gemma-judge, mode: completion,
                  stream: false}}
        defaults: {{provider: sut, concurrency: 2 {defaults}}}
    """,
    )
    put(
        "prompts/qa/v1.yaml",
        """
        messages: [{role: user, content: "Q: {{ question }}\\nA:"}]
        params: {max_tokens: 16, stop: ["\\n"]}
    """,
    )
    put(
        "prompts/qa/v2.yaml",
        """
        messages:
          - {role: user, content: "Q: What is the capital of France?\\nA: Paris"}
          - {role: user, content: "Q: {{ question }}\\nA:"}
        params: {max_tokens: 16, stop: ["\\n"]}
    """,
    )
    for name, text in (extra_prompts or {}).items():
        put(f"prompts/{name}", text)
    scorers = textwrap.dedent(scorers).strip("\n")
    if not scorers.lstrip().startswith("-"):
        scorers = "- " + scorers
    put(
        "suites/qa.yaml",
        "name: qa\nprompt: qa@v1\nproviders: [sut]\ncases:\n"
        + (
            cases
            or (
                '  - {id: italy, vars: {question: "What is the capital of Italy?"}, '
                "reference: Rome}\n"
            )
        )
        + "scorers:\n"
        + textwrap.indent(scorers, "  ")
        + "\n",
    )
    return root


def build(root: Path, pool: ProviderPool, under_test: tuple[str, ...] = ("sut",)) -> list[Any]:
    project = Project.discover(root)
    suite = load_suite(root / "suites/qa.yaml", PromptLibrary([project.prompts_dir]), pool.ids())
    context = ScoreContext(
        defaults=project.config.defaults.model_dump(),
        resources={},
        root=project.root,
        pool=pool,
        under_test=under_test,
        calls=CallService(),
    )
    return [SCORERS.get(s.type)(s, context) for s in suite.scorers]


def judge_outputs(
    root: Path,
    outputs: list[tuple[str, Any]],
    scorer_index: int = 0,
    under_test: tuple[str, ...] = ("sut",),
) -> list[tuple[Outcome, dict[str, Any]]]:
    """Score (output, case) pairs with the suite's judge; returns outcomes and parsed details."""

    async def go() -> list[Outcome]:
        async with ProviderPool(Project.discover(root)) as pool:
            scorer = build(root, pool, under_test)[scorer_index]
            await scorer.start()
            items = [
                ScoreInput(text, case, result(text, case_id=case.id, provider="sut"))
                for text, case in outputs
            ]
            return await scorer.score_batch(items)

    outcomes = asyncio.run(go())
    return [(o, json.loads(o.detail) if o.detail else {}) for o in outcomes]
