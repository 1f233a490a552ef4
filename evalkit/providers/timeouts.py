"""Three deadlines for one call, so that a stalled server never holds a call for minutes.

* ``first_token_timeout`` (streams): seconds from sending the request to the first event of
  its stream (for OpenAI-style servers the first chunk, for Anthropic ``message_start``).
  A server that accepted the request and went silent is caught here.
* ``idle_timeout`` (streams): the longest silence between two events once the stream began.
* ``timeout`` (every call): the whole call, first byte to last. Without streaming it is the
  only bound, since a non-streamed answer arrives all at once at the end.

Each expiry raises ``ProviderCallError`` with its own error class — ``first_token_timeout``,
``idle_timeout`` or ``timeout`` — retried like any timeout and stored with the result.

When the entry sets no ``first_token_timeout``, it adapts to the provider (``FirstTokens``):
a fixed few seconds would cut off models that think before they answer (their first token
can take a minute), while a fixed minute would let every hung call hold a slot for a
minute. So evalkit waits ``cold`` seconds until it has seen ``warm`` first events of the
provider, then ``factor`` times the slowest of the last ``window`` first events, never
less than ``floor`` seconds.

``CallDeadline`` enforces the three with a single timer per call, re-armed lazily: a chunk
only records when it arrived (``tick``), so a 30-chunk stream costs 30 float stores, not 30
timer reschedules. A provider may lend a ``stalled()`` check (the ``local`` provider asks its
llama-server): then a passed first-token or idle deadline cuts the call only if the check
says why the server is stalled, and otherwise waits another round.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from evalkit.errors import ProviderCallError

__all__ = ["CallDeadline", "Deadlines", "FirstTokens", "StallCheck"]

#: ``await stalled()``: None while the server is working on the call, else why it is stalled.
StallCheck = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Deadlines:
    """The three bounds of one call, in seconds (None: no such bound)."""

    total: float
    first_token: float | None = None
    idle: float | None = None


class FirstTokens:
    """The adaptive first-token deadline of one provider (see the module docstring)."""

    __slots__ = ("_recent", "_slowest", "cold", "factor", "floor", "warm")

    def __init__(
        self,
        *,
        cold: float = 60.0,
        floor: float = 5.0,
        factor: float = 4.0,
        warm: int = 10,
        window: int = 100,
    ) -> None:
        self.cold = cold
        self.floor = floor
        self.factor = factor
        self.warm = warm
        self._recent: collections.deque[float] = collections.deque(maxlen=window)
        self._slowest = 0.0

    def record(self, seconds: float) -> None:
        """A stream's first event arrived ``seconds`` after its request was sent."""
        recent = self._recent
        evicted = recent[0] if len(recent) == recent.maxlen else None
        recent.append(seconds)
        if seconds >= self._slowest:
            self._slowest = seconds
        elif evicted is not None and evicted >= self._slowest:
            self._slowest = max(recent)

    @property
    def seen(self) -> int:
        return len(self._recent)

    def deadline(self) -> float:
        """Seconds the next call waits for its first event."""
        if len(self._recent) < self.warm:
            return self.cold
        return max(self.floor, self.factor * self._slowest)


class CallDeadline:
    """``async with CallDeadline(deadlines, stream) as watch:`` around one call;
    ``watch.tick()`` on every event of a stream. An expired deadline cancels the call and
    surfaces as ``ProviderCallError`` (an outer cancellation, e.g. an interrupt, still
    propagates as ``CancelledError``)."""

    __slots__ = (
        "_base",
        "_cancelling",
        "_checking",
        "_expired",
        "_handle",
        "_last",
        "_loop",
        "_reason",
        "_start",
        "_task",
        "_waited",
        "deadlines",
        "on_first",
        "provider",
        "stalled",
        "stream",
    )

    def __init__(
        self,
        deadlines: Deadlines,
        stream: bool,
        provider: str = "",
        *,
        on_first: Callable[[float], None] | None = None,
        stalled: StallCheck | None = None,
    ) -> None:
        self.deadlines = deadlines
        self.stream = stream
        self.provider = provider
        self.on_first = on_first
        self.stalled = stalled
        self._expired: str | None = None
        self._reason: str | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._checking: asyncio.Task[None] | None = None
        self._last: float | None = None
        self._start = self._base = 0.0
        self._cancelling = 0
        self._waited = 0.0

    def tick(self) -> None:
        """An event of the stream arrived (cheap: the timer is re-armed only when it fires)."""
        now = self._loop.time()
        if self._last is None and self.on_first is not None:
            self.on_first(now - self._start)
        self._last = now

    async def __aenter__(self) -> CallDeadline:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None, "CallDeadline needs a task"
        self._task = task
        self._cancelling = task.cancelling()
        self._start = self._base = self._loop.time()
        self._handle = self._loop.call_at(self._next()[0], self._fire)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._checking is not None:
            self._checking.cancel()
            self._checking = None
        if self._expired is None:
            return
        # Our cancel is ours to take back; one requested by someone else still propagates.
        if (
            self._task.uncancel() <= self._cancelling
            and exc_type is not None
            and issubclass(exc_type, asyncio.CancelledError)
        ):
            raise self.error() from exc

    def _next(self) -> tuple[float, str]:
        """(when, which) of the deadline that expires first from what is known now."""
        d = self.deadlines
        when, which = self._start + d.total, "timeout"
        if self.stream:
            if self._last is None:
                if d.first_token is not None and self._base + d.first_token < when:
                    when, which = self._base + d.first_token, "first_token_timeout"
            elif d.idle is not None and max(self._last, self._base) + d.idle < when:
                when, which = max(self._last, self._base) + d.idle, "idle_timeout"
        return when, which

    def _fire(self) -> None:
        self._handle = None
        when, which = self._next()
        if self._loop.time() < when:  # a chunk arrived since: wait for the new deadline
            self._handle = self._loop.call_at(when, self._fire)
        elif which != "timeout" and self.stalled is not None:
            self._checking = self._loop.create_task(self._check(which))
        else:
            self._expire(which)

    async def _check(self, which: str) -> None:
        """Ask the server whether it is still working on the call; wait on if so."""
        try:
            reason = await self.stalled()  # type: ignore[misc]
        except Exception as exc:  # a failed check is no proof of life
            reason = f"its status could not be read ({type(exc).__name__}: {exc})"
        self._checking = None
        if reason is None:
            self._base = self._loop.time()  # working: another round of the same deadline
            self._handle = self._loop.call_at(self._next()[0], self._fire)
        else:
            self._reason = reason
            self._expire(which)

    def _expire(self, which: str) -> None:
        self._expired = which
        self._waited = self._loop.time() - (self._start if self._last is None else self._last)
        self._task.cancel()

    def error(self) -> ProviderCallError:
        """The error of the deadline that expired."""
        d = self.deadlines
        who = f"provider '{self.provider}': " if self.provider else ""
        waited = f"{self._waited:.3g} s"
        if self._expired == "first_token_timeout":
            message = (
                f"{who}no response {waited} after sending the request (first_token_timeout "
                f"{d.first_token:.3g} s; set `first_token_timeout:` on the provider for a model "
                "that thinks before it answers)"
            )
        elif self._expired == "idle_timeout":
            message = f"{who}the stream went silent for {waited} (idle_timeout {d.idle:.3g} s)"
        else:
            message = f"{who}the call took longer than {d.total:.3g} s (timeout)"
        if self._reason:
            message += f": {self._reason}"
        return ProviderCallError(str(self._expired), message, retryable=True)
