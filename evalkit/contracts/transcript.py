"""A conversation's or agent loop's trajectory: each request of one result, what it added to
the conversation, the reply and the tool calls (``transcripts`` of ``evalkit.run/1`` and
``evalkit.run.show/1``; stored in ``results.transcript``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from evalkit.contracts.base import Contract

__all__ = ["Transcript", "TranscriptCall", "TranscriptStep"]


class TranscriptCall(Contract):
    """A tool call the model made."""

    id: str
    """Call id (``call_<step>_<n>``: renumbered, so requests do not depend on server ids)."""
    name: str
    """The tool (function) called."""
    arguments: Any
    """Its arguments: parsed JSON, or the text the model sent when it was not JSON."""


class TranscriptStep(Contract):
    """One request of the exchange and its answer."""

    turn: int
    """The user turn it belongs to (1-based)."""
    step: int
    """Its place among the result's requests (1-based)."""
    messages: list[dict[str, Any]] = Field(default_factory=list)
    """What this request added to the conversation (the first: everything it sent; then a
    user turn, or the tool results answering the previous step's calls), OpenAI chat shape."""
    output: str | None = None
    """The reply's text (None when the request failed)."""
    tool_calls: list[TranscriptCall] = Field(default_factory=list)
    """Tool calls in the reply."""
    finish_reason: str | None = None
    """Why the model stopped (``stop``, ``tool_calls``/``tool_use``, ``length``...)."""
    latency_ms: float | None = None
    """Latency of the request, ms."""
    ttft_ms: float | None = None
    """Time to first token, ms (streaming only)."""
    input_tokens: int | None = None
    """Input tokens of the request."""
    output_tokens: int | None = None
    """Output tokens of the reply."""
    cached_input_tokens: int | None = None
    """Input tokens the server read from its own prompt cache."""
    cost_usd: float | None = None
    """Its cost, USD (None: no price known)."""
    cache_hit: bool | None = None
    """Answered by the response cache."""
    cache_key: str | None = None
    """Its key in the response cache."""
    attempts: int | None = None
    """Requests sent for it (retries included; 0 for a cache hit)."""
    served_by: str | None = None
    """The provider that answered (a fallback chain's member)."""
    error_class: str | None = None
    """Why the request failed, if it did (the exchange ends there)."""
    error: str | None = None
    """The failure's message."""
    stopped: str | None = None
    """Why the exchange ended here with tool calls unanswered (no scripted result for a
    call, or ``max_steps`` reached)."""


class Transcript(Contract):
    """One result's trajectory: every request of a conversation or an agent loop."""

    result_id: str
    """The result (``results.id``)."""
    case_id: str
    """The case."""
    prompt: str
    """Prompt version, ``name@vN``."""
    provider: str
    """Provider id."""
    repeat: int
    """Repeat index."""
    passed: bool | None
    """Whether the result passed (None: undecided)."""
    error_class: str | None = None
    """Why it failed, when a request failed."""
    failures: list[str] = Field(default_factory=list)
    """The scorers it failed, each with its detail (``tool_call: expected get_weather``)."""
    steps: list[TranscriptStep]
    """Each request, in order."""

    @property
    def turns(self) -> int:
        """User turns played."""
        return max((s.turn for s in self.steps), default=0)

    @property
    def calls(self) -> int:
        """Tool calls made."""
        return sum(len(s.tool_calls) for s in self.steps)
