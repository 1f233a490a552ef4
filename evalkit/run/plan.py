"""plan: cases × prompt versions × providers × repeats → work items.

Planning is pure: it checks that every case has the variables every prompt template uses (a
file:line error before any call), applies ``--limit`` and ``--shard``, and gives each item a
deterministic result id, so resuming a run never stores a result twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from evalkit.errors import InputError, did_you_mean
from evalkit.load.prompts import prompt_variables
from evalkit.load.tools import history_problem
from evalkit.records import HISTORY_ROLE, Case, PromptVersion, Suite, WorkItem, content_hash

__all__ = ["Plan", "Shard", "check_variables", "make_plan", "parse_shard", "result_id"]


@dataclass(frozen=True)
class Shard:
    """``--shard I/N``: this process runs the I-th of N disjoint slices of the cases."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def takes(self, case: Case) -> bool:
        # By a hash of the case id, so a case stays in its shard when others are added.
        bucket = int(hashlib.sha256(case.id.encode()).hexdigest()[:8], 16) % self.count
        return bucket == self.index - 1


def parse_shard(text: str) -> Shard:
    try:
        left, right = text.split("/")
        shard = Shard(int(left), int(right))
    except ValueError:
        raise InputError(
            f"--shard {text}: is not I/N (shard I of N)", fix="e.g. --shard 1/4"
        ) from None
    if shard.count < 1:
        raise InputError(f"--shard {text}: N must be at least 1", fix="e.g. --shard 1/4")
    if not 1 <= shard.index <= shard.count:
        raise InputError(
            f"--shard {text}: I must be between 1 and N ({shard.count})",
            fix=f"use --shard 1/{shard.count} … --shard {shard.count}/{shard.count}",
        )
    return shard


@dataclass
class Plan:
    suite: Suite
    run_id: str
    prompts: list[PromptVersion]
    providers: list[str]
    cases: list[Case]
    repeat: int
    items: list[WorkItem] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.items)


def result_id(run_id: str, case: Case, prompt: PromptVersion, provider: str, repeat: int) -> str:
    return content_hash(
        [run_id, case.id, case.hash, prompt.ref, prompt.hash, provider, repeat], length=20
    )


def check_variables(prompts: Sequence[PromptVersion], cases: Sequence[Case]) -> None:
    """Every variable a prompt template uses must be in every case's vars; a ``history``
    placeholder's var must be a list of messages."""
    for prompt in prompts:
        needed = prompt_variables(prompt)
        slots = [m.content for m in prompt.messages if m.role == HISTORY_ROLE]
        for case in cases:
            missing = sorted(needed - set(case.template_vars))
            if missing:
                raise InputError(
                    f"case '{case.id}' has no var '{missing[0]}', which {prompt.ref} uses",
                    path=case.source,
                    line=case.line,
                    fix=did_you_mean(
                        missing[0],
                        case.vars,
                        also=(
                            "give the case its passages in `context:`"
                            if missing[0] == "context"
                            else f"add `{missing[0]}` to the case's vars"
                        )
                        + f", or change {prompt.path.parent.name}/{prompt.path.name}",
                    ),
                )
            for name in slots:
                problem = history_problem(case.vars[name])
                if problem is not None:
                    raise InputError(
                        f"case '{case.id}': var '{name}' (the history {prompt.ref} inserts) "
                        f"{problem}",
                        path=case.source,
                        line=case.line,
                        fix='give a list of messages, e.g. [{"role": "user", "content": "Hi"}]',
                    )


def make_plan(
    suite: Suite,
    run_id: str,
    *,
    prompts: Sequence[PromptVersion] | None = None,
    providers: Sequence[str],
    repeat: int | None = None,
    limit: int | None = None,
    shard: Shard | None = None,
) -> Plan:
    for name, value in (("--limit", limit), ("--repeat", repeat)):
        if value is not None and value < 1:  # the CLI refuses these; the Python API too
            raise InputError(f"{name} {value}: must be at least 1", fix=f"e.g. {name} 10")
    chosen_prompts = list(prompts) if prompts else list(suite.prompts)
    cases = list(suite.cases)
    if shard is not None:
        cases = [c for c in cases if shard.takes(c)]
    if limit is not None:
        cases = cases[:limit]
    check_variables(chosen_prompts, cases)
    repeats = repeat or suite.repeat
    plan = Plan(suite, run_id, chosen_prompts, list(providers), cases, repeats)
    # Order: by repeat, then case, so a partial run (or --limit) covers whole cases first;
    # prompts and providers interleave, so every configuration progresses together.
    for r in range(repeats):
        for case in cases:
            for prompt in chosen_prompts:
                for provider in providers:
                    plan.items.append(
                        WorkItem(
                            suite=suite.name,
                            case=case,
                            prompt=prompt,
                            provider=provider,
                            repeat=r,
                            result_id=result_id(run_id, case, prompt, provider, r),
                        )
                    )
    return plan
