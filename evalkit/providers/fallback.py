"""``fallback``: an ordered chain of providers; the next one answers when one fails.

    providers:
      safe: {type: fallback, chain: [gpt, claude, gemma]}

Each member gets ``member_attempts`` tries (with the run's backoff); on an error or a timeout
the chain moves on. The call service (``evalkit.run.calls``) walks the chain: the chain itself
is never retried as a whole, so a request count is at most the sum of the members' attempts.
The result records which member served it (``served_by``); its stored params are the first
member's, and each member receives params derived from the prompt's own
(so, e.g., Anthropic never gets a ``seed``).
"""

from __future__ import annotations

import builtins
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

    @property
    def chain_ids(self) -> list[str]:
        return list(self.options.chain)  # type: ignore[attr-defined]

    def members(self) -> list[Provider]:
        if self._members is None:
            pool = self.env.pool
            if pool is None:
                raise InputError(f"fallback '{self.id}' has no providers to chain")
            if self.id in self.chain_ids:
                raise InputError(
                    f"fallback '{self.id}' lists itself in its chain",
                    fix="name other providers in `chain:`",
                )
            self._members = [pool.get(member) for member in self.chain_ids]
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

    def accepts_tools(self) -> bool:
        return all(member.accepts_tools() for member in self.members())

    async def tools_problem(self) -> str | None:
        for member in self.members():
            problem = await member.tools_problem()
            if problem is not None:
                return problem
        return None

    def chain(self) -> list[tuple[Provider, int]]:
        attempts: int = self.options.member_attempts  # type: ignore[attr-defined]
        return [(member, attempts) for member in self.members()]

    async def start(self, concurrency: int) -> None:
        assert self.env.pool is not None
        for member in self.members():
            await self.env.pool.start(member.id, concurrency)

    async def generate(self, request: Request) -> Generation:
        """A chain is not called directly: the call service tries its members in turn."""
        raise ProviderCallError(
            "unknown", f"fallback '{self.id}' is called through the call service", retryable=False
        )
