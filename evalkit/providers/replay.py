"""``replay``: answers from a stored run, never the network.

It matches by case id, prompt name@version, provider id and repeat — not by endpoint or key —
so CI can re-score and gate a stored run with no API key and no cost. ``evalkit run --replay
RUN`` replaces every provider of the plan with a replay of the same id; in evalkit.yaml::

    providers:
      gpt-replayed: {type: replay, run: 20261127-234501-123a4f, provider: gpt}
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from evalkit.errors import InputError, ProviderCallError, SetupError
from evalkit.providers.base import Provider, ProviderOptions, Request
from evalkit.records import Generation, ToolCall, WorkItem

__all__ = ["ReplayOptions", "ReplayProvider"]


class ReplayOptions(ProviderOptions):
    #: The stored run to answer from (id, prefix, baseline name, or last), or the folder of
    #: an ``evalkit export``.
    run: str
    #: Provider id in that run (default: this provider's own id).
    provider: str | None = None


class ReplayProvider(Provider):
    """Serves a stored run's answers by (case, prompt, provider, repeat)."""

    type = "replay"
    Options: ClassVar[builtins.type[ProviderOptions]] = ReplayOptions
    examples: ClassVar[dict[str, str]] = {"run": "run: last"}

    def __init__(self, provider_id: str, options: ProviderOptions) -> None:
        super().__init__(provider_id, options)
        self._answers: dict[tuple[str, str, int], Mapping[str, Any]] | None = None
        self.run_id: str | None = None
        self._identity: dict[str, Any] | None = None

    @property
    def opts(self) -> ReplayOptions:
        return self.options  # type: ignore[return-value]

    @property
    def source(self) -> str:
        return self.opts.provider or self.id

    @property
    def needs_network(self) -> bool:
        return False

    def load(self) -> None:
        """Read the stored answers (once)."""
        if self._answers is not None:
            return
        source = self.env.answers
        if source is None:
            raise SetupError(f"provider '{self.id}' (replay) has no store to read from")
        stored = source.stored_run(self.opts.run, self.source)
        self.run_id = stored.run_id
        self._answers = dict(stored.answers)
        self._identity = dict(stored.identity) if stored.identity else None

    @property
    def model(self) -> str | None:
        if self._identity:
            model: str | None = self._identity.get("model")
            return model
        return self.options.model

    def identity(self) -> dict[str, Any]:
        """The replayed provider's identity: a replay is the same system under test."""
        self.load()
        return dict(self._identity) if self._identity else {"type": "replay", "run": self.run_id}

    def missing(self, items: Sequence[WorkItem]) -> list[WorkItem]:
        """Items the stored run has no answer for."""
        self.load()
        assert self._answers is not None
        return [i for i in items if (i.case.id, i.prompt.ref, i.repeat) not in self._answers]

    def check_covers(self, items: Sequence[WorkItem]) -> None:
        lacking = self.missing(items)
        if lacking:
            shown = ", ".join(
                f"{i.case.id} ({i.prompt.ref}, repeat {i.repeat})" for i in lacking[:8]
            )
            more = f" and {len(lacking) - 8} more" if len(lacking) > 8 else ""
            raise InputError(
                f"run {self.run_id} has no answer from provider '{self.source}' for "
                f"{len(lacking)} planned call(s): {shown}{more}",
                fix="replay a run of the same suite, prompts and repeats (or run it live)",
            )

    def accepts_tools(self) -> bool:
        """A replay answers with the calls that were stored, whatever the request holds."""
        return True

    async def start(self, concurrency: int) -> None:
        self.load()

    async def generate(self, request: Request) -> Generation:
        """The stored answer to this request: the result's, or for a conversation or an
        agent loop, its stored step ``request.step``."""
        self.load()
        item = request.item
        assert self._answers is not None
        if item is None:  # a scorer's own call: a judge's verdict, a pairwise answer B
            raise ProviderCallError(
                "not_found",
                f"a replay of run {self.run_id} holds the answers under test, not a judge's "
                "calls: a judge needs a live model (name one with the scorer's `provider:` "
                "or defaults.judge)",
                retryable=False,
            )
        row = self._answers.get((item.case.id, item.prompt.ref, item.repeat))
        if row is None:
            raise ProviderCallError("not_found", "no stored answer to replay", retryable=False)
        steps = row.get("transcript")
        if steps:
            if request.step >= len(steps) or steps[request.step].get("error_class"):
                raise ProviderCallError(
                    "not_found",
                    f"the stored conversation has no answer for request {request.step + 1}",
                    retryable=False,
                )
            row = {**steps[request.step], "model": row["model"]}
        elif request.step > 0:
            raise ProviderCallError(
                "not_found",
                f"the stored answer is one request; this is request {request.step + 1}",
                retryable=False,
            )
        return Generation(
            text=row.get("output") or "",
            input_tokens=row.get("input_tokens"),
            output_tokens=row.get("output_tokens"),
            cached_input_tokens=row.get("cached_input_tokens"),
            latency_ms=row.get("latency_ms"),
            ttft_ms=row.get("ttft_ms"),
            finish_reason=row.get("finish_reason"),
            model=row.get("model"),
            tool_calls=tuple(ToolCall.from_dict(c) for c in row.get("tool_calls") or ()),
        )
