"""``fallback``: an ordered chain of providers; the next one answers when one fails.

    providers:
      safe: {type: fallback, chain: [gpt, claude, gemma]}

Each member gets ``member_attempts`` tries (with the run's backoff); on an error or a timeout
the chain moves on. The result records which member served it (``served_by``); its stored
params are the first member's, and each member receives params derived from the prompt's own
(so, e.g., Anthropic never gets a ``seed``).
"""

from __future__ import annotations

import builtins
import random
from typing import Any, ClassVar

from pydantic import Field

from evalkit.errors import InputError, ProviderCallError
from evalkit.providers.base import Provider, ProviderOptions, Request
from evalkit.records import Generation

__all__ = ["FallbackOptions", "FallbackProvider"]


class FallbackOptions(ProviderOptions):
    chain: list[str] = Field(min_length=2)
    #: Tries per member before moving on.
    member_attempts: int = Field(default=1, ge=1, le=10)


class FallbackProvider(Provider):
    """Tries its members in order."""

    type = "fallback"
    Options: ClassVar[builtins.type[ProviderOptions]] = FallbackOptions
    examples: ClassVar[dict[str, str]] = {"chain": "chain: [gpt, claude, gemma]"}

    def __init__(self, provider_id: str, options: ProviderOptions) -> None:
        super().__init__(provider_id, options)
        self._members: list[Provider] | None = None
        self._rng = random.Random(0)

    @property
    def chain(self) -> list[str]:
        return list(self.options.chain)  # type: ignore[attr-defined]

    def members(self) -> list[Provider]:
        if self._members is None:
            pool = self.env.pool
            if self.id in self.chain:
                raise InputError(
                    f"fallback '{self.id}' lists itself in its chain",
                    fix="name other providers in `chain:`",
                )
            self._members = [pool.get(member) for member in self.chain]
        return self._members

    @property
    def model(self) -> str | None:
        return self.members()[0].model

    def identity(self) -> dict[str, Any]:
        return {"type": self.type, "chain": [m.identity() for m in self.members()]}

    def effective_params(self, prompt_params: Any) -> dict[str, Any]:
        return self.members()[0].effective_params(prompt_params)

    def request_input(self, request: Request) -> Any:
        return self.members()[0].request_input(request)

    async def start(self, concurrency: int) -> None:
        for member in self.members():
            await self.env.pool.start(member.id, concurrency)

    async def generate(self, request: Request) -> Generation:
        from evalkit.run.calls import RetryPolicy, call_with_retries

        policy = RetryPolicy(max_attempts=self.options.member_attempts)  # type: ignore[attr-defined]
        failures: list[str] = []
        last: ProviderCallError | None = None
        for member in self.members():
            member_request = Request(
                request.messages,
                member.effective_params(request.prompt_params),
                request.prompt_params,
                request.item,
            )
            outcome = await call_with_retries(member, member_request, policy, self._rng)
            if outcome.generation is not None:
                outcome.generation.served_by = member.id
                return outcome.generation
            assert outcome.error is not None
            last = outcome.error
            failures.append(f"{member.id}: {last.error_class}")
        assert last is not None
        raise ProviderCallError(
            last.error_class,
            f"every provider of the chain failed ({', '.join(failures)})",
            retryable=last.retryable,
            retry_after=last.retry_after,
            status=last.status,
        )
