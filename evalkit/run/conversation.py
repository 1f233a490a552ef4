"""run (conversation): a work item that takes more than one request — user turns, or tool
calls answered from the suite's script — played request by request.

A *scripted* item is one whose case has ``turns:`` or whose prompt version declares
``tools:``. Its requests are, in order:

1. the prompt's messages (rendered), the case's ``messages:``, then the first user turn;
2. when the reply calls tools and every call has a scripted result (``tool_results:``), the
   assistant's calls and one ``tool`` message per result are appended and the model asked
   again — at most ``max_steps`` requests per turn;
3. the reply closes the turn: it is appended, then the next user turn, and so on.

The exchange ends after the last turn, at a failed call, or at tool calls the script does not
answer (then later turns are not played: a conversation cannot go on past unanswered calls).

Each request is one call through the call service — its own cache key (the request holds
everything said before it), retries, budget and accounting — and one entry of the result's
``transcript``::

    {"turn": 1, "step": 2,              # 1-based: the user turn, and the request in the item
     "messages": [...],                 # what this request added (step 1: all it sent)
     "output": "...", "tool_calls": [{"id", "name", "arguments"}],
     "finish_reason", "latency_ms", "ttft_ms", "input_tokens", "output_tokens",
     "cached_input_tokens", "cost_usd", "cache_hit", "cache_key", "attempts",
     "served_by", "error_class", "error",   # the last two only for a failed request
     "stopped": "..."}                  # on the last entry, when tool calls went unanswered

A reply goes back into the conversation whitespace-stripped (a base model's reply often starts
with a space its completion template already puts after the speaker's name); the transcript
keeps it as it came. Tool call ids are renumbered ``call_<step>_<n>``, so a follow-up request
(and its cache key) does not depend on ids a server drew at random. The result's ``output`` is
the last reply, ``input`` the last request, its tokens, cost, latency and attempts the sums
over the requests, ``ttft_ms`` the first request's, ``cache_hit`` true when every request was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evalkit.providers.base import Provider, Request
from evalkit.records import CallOutcome, Message, Result, ToolCall, WorkItem

__all__ = ["Conversation", "is_scripted"]


def is_scripted(item: WorkItem) -> bool:
    """Whether an item takes the conversation path (turns, or tools the model may call)."""
    return bool(item.case.turns) or bool(item.prompt.tools)


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sum(values: list[Any]) -> Any:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


@dataclass
class Conversation:
    """One scripted item's exchange: the next request, and what each answer adds."""

    item: WorkItem
    provider: Provider
    #: The effective params (shared by the provider's items of this prompt version).
    params: Mapping[str, Any]
    #: The conversation so far: what the next request sends.
    messages: list[Message]
    steps: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    #: Index of the current turn (0-based).
    turn: int = 0
    #: Requests made in the current turn.
    in_turn: int = 0
    #: Messages added since the last request (the next transcript entry's ``messages``).
    added: list[Message] = field(default_factory=list)
    last: Request | None = None

    @classmethod
    def start(
        cls,
        item: WorkItem,
        provider: Provider,
        params: Mapping[str, Any],
        opening: list[Message],
    ) -> Conversation:
        """The exchange from its opening messages (the prompt's, then the case's history)."""
        messages = list(opening)
        if item.case.turns:
            messages.append(Message("user", item.case.turns[0]))
        return cls(item, provider, params, messages, added=list(messages))

    def request(self) -> Request | None:
        """The next request, or None when the exchange is over."""
        if self.done:
            return None
        self.last = Request(
            tuple(self.messages),
            self.params,
            self.item.prompt.params,
            self.item,
            step=len(self.steps),
        )
        return self.last

    def take(self, outcome: CallOutcome, key: str | None) -> None:
        """Record the answer to the last request and decide what comes next."""
        step = len(self.steps) + 1
        entry: dict[str, Any] = {
            "turn": self.turn + 1,
            "step": step,
            "messages": [m.as_dict() for m in self.added],
            "cache_key": key,
            "attempts": outcome.attempts,
        }
        self.steps.append(entry)
        self.added = []
        if outcome.error is not None or outcome.generation is None:
            error = outcome.error
            entry["error_class"] = error.error_class if error else "refused"
            entry["error"] = error.message[:2000] if error else outcome.refused
            self.done = True
            return
        gen = outcome.generation
        calls = tuple(
            ToolCall(f"call_{step}_{n}", call.name, call.arguments)
            for n, call in enumerate(gen.tool_calls, start=1)
        )
        entry.update(
            output=gen.text,
            tool_calls=[c.as_dict() for c in calls],
            finish_reason=gen.finish_reason,
            latency_ms=gen.latency_ms,
            ttft_ms=gen.ttft_ms,
            input_tokens=gen.input_tokens,
            output_tokens=gen.output_tokens,
            cached_input_tokens=gen.cached_input_tokens,
            cost_usd=outcome.cost_usd,
            cache_hit=outcome.cache_hit,
            served_by=outcome.served_by or gen.served_by,
        )
        self.calls += [{**c.as_dict(), "turn": self.turn + 1, "step": step} for c in calls]
        self.in_turn += 1
        if calls:
            self._answer_calls(entry, gen.text, calls)
            return
        self.messages.append(Message("assistant", gen.text.strip()))
        self._next_turn()

    def _answer_calls(self, entry: dict[str, Any], text: str, calls: tuple[ToolCall, ...]) -> None:
        case = self.item.case
        answers = []
        for call in calls:
            found = next((r for r in case.tool_results if r.matches(call)), None)
            if found is None:
                if case.tool_results or self.turn + 1 < len(case.turns):
                    entry["stopped"] = (
                        f"no scripted result for {call.name}({_short(call.arguments)})"
                    )
                self.done = True
                return
            answers.append(Message("tool", found.result, tool_call_id=call.id, name=call.name))
        if self.in_turn >= case.steps_per_turn:
            entry["stopped"] = f"max_steps ({case.steps_per_turn}) reached with calls unanswered"
            self.done = True
            return
        self.messages.append(Message("assistant", text.strip(), tool_calls=calls))
        self.messages += answers
        self.added = answers

    def _next_turn(self) -> None:
        self.turn += 1
        self.in_turn = 0
        turns = self.item.case.turns
        if self.turn >= len(turns):
            self.done = True
            return
        message = Message("user", turns[self.turn])
        self.messages.append(message)
        self.added = [message]

    def fill(self, result: Result) -> Result:
        """The result of the whole exchange (see the module docstring)."""
        steps = self.steps
        last = steps[-1]
        result.transcript = steps
        result.tool_calls = self.calls or None
        result.attempts = sum(int(s.get("attempts") or 0) for s in steps)
        result.cache_key = last.get("cache_key")
        if self.last is not None:
            result.input = self.provider.request_input(self.last)
        result.latency_ms = _sum([s.get("latency_ms") for s in steps])
        result.ttft_ms = steps[0].get("ttft_ms")
        result.input_tokens = _sum([s.get("input_tokens") for s in steps])
        result.output_tokens = _sum([s.get("output_tokens") for s in steps])
        result.cached_input_tokens = _sum([s.get("cached_input_tokens") for s in steps])
        result.cost_usd = _sum([s.get("cost_usd") for s in steps])
        result.cache_hit = all(s.get("cache_hit") for s in steps)
        if "error_class" in last:
            result.error_class = last["error_class"]
            result.error = last["error"]
            return result
        result.output = last["output"]
        result.finish_reason = last.get("finish_reason")
        result.served_by = last.get("served_by") or result.provider
        return result
