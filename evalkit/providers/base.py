"""The provider interface.

A provider type is a class registered in ``evalkit.registry.PROVIDERS`` (or by entry point
``evalkit.providers``) with an ``Options`` model for its entry in evalkit.yaml. One instance
serves one provider id for a whole ``evalkit run`` invocation: ``start()`` once (open a client,
start a server), ``generate()`` for each call (concurrently), ``aclose()`` at the end.

``generate`` either returns a ``Generation`` or raises ``ProviderCallError`` with an
``error_class``; the runner owns retries, so SDK clients are created with their own retries off.
"""

from __future__ import annotations

import builtins
import email.utils
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from evalkit.errors import ProviderCallError
from evalkit.providers.timeouts import CallDeadline, Deadlines, FirstTokens, StallCheck
from evalkit.records import Generation, Message, StoredRun

__all__ = [
    "DEFAULT_PARAMS",
    "AnswerSource",
    "ClientProvider",
    "Provider",
    "ProviderEnv",
    "ProviderLookup",
    "ProviderOptions",
    "Request",
    "classify_sdk_error",
    "completion_text",
    "retry_after_seconds",
]

#: Generation params evalkit applies unless the provider entry or the prompt version sets them:
#: greedy decoding, so a run can be reproduced, and a bound on output length.
DEFAULT_PARAMS: dict[str, Any] = {"temperature": 0.0, "max_tokens": 256}


class ProviderOptions(BaseModel):
    """Keys every provider entry in evalkit.yaml accepts."""

    model_config = ConfigDict(extra="forbid")

    type: str
    model: str | None = None
    #: ``chat`` sends messages; ``completion`` renders them into one text prompt.
    mode: Literal["chat", "completion"] = "chat"
    #: Stream responses (measures time to first token).
    stream: bool = True
    #: Default generation params; a prompt version's own params win.
    params: dict[str, Any] = Field(default_factory=dict)
    #: Seconds before one call is abandoned, first byte to last (the only bound of a call
    #: that does not stream). Default: the provider type's (``Provider.default_timeout``).
    timeout: float | None = Field(default=None, gt=0)
    #: Streams: seconds from sending a request to the first event of its stream. Default:
    #: adaptive (``evalkit.providers.timeouts.FirstTokens``).
    first_token_timeout: float | None = Field(default=None, gt=0)
    #: Streams: the longest silence between two events of a stream, seconds. Default: the
    #: provider type's (``Provider.default_idle_timeout``).
    idle_timeout: float | None = Field(default=None, gt=0)
    #: Concurrency for this provider when ``-j`` is not given.
    concurrency: int | None = Field(default=None, ge=1, le=512)
    #: Jinja2 template turning messages into the completion prompt (completion mode only);
    #: default: the message contents joined by newlines.
    completion_template: str | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """One call: rendered messages and effective params."""

    messages: Sequence[Message]
    params: Mapping[str, Any]
    #: The prompt version's own params (a fallback chain derives each member's from them).
    prompt_params: Mapping[str, Any] = field(default_factory=dict)
    #: The work item, for providers that answer by identity rather than by text (replay).
    item: Any = None
    #: Which request of the item's conversation or agent loop this is (0: the first).
    step: int = 0


class ProviderLookup(Protocol):
    """The invocation's providers by id (``evalkit.providers.pool.ProviderPool``): what a
    fallback chain and a judge need to find and start other providers."""

    @property
    def specs(self) -> Mapping[str, Mapping[str, Any]]: ...

    def ids(self) -> list[str]: ...
    def get(self, provider_id: str) -> Provider: ...
    async def start(self, provider_id: str, concurrency: int) -> Provider: ...


class AnswerSource(Protocol):
    """Reads stored answers (the store implements it; providers never run SQL)."""

    def stored_run(self, run: str, provider: str) -> StoredRun: ...


@dataclass
class ProviderEnv:
    """What the invocation lends its providers: the pool (for chains), stored answers (for
    replay) and a folder for server logs."""

    pool: ProviderLookup | None = None
    answers: AnswerSource | None = None
    log_dir: Path | None = None


def completion_text(messages: Sequence[Message], template: str | None = None) -> str:
    """Messages → one prompt for completion mode.

    Default: the contents joined by newlines, in order, with no role labels, so a few-shot
    prompt is written as the base model should see it (``Q: ...`` / ``A: ...`` turns).
    """
    if template is None:
        return "\n".join(m.content for m in messages)
    from evalkit.load.prompts import render_template

    return render_template(template, {"messages": [m.as_dict() for m in messages]})


class Provider(ABC):
    """Base class of provider types."""

    type: ClassVar[str]
    Options: ClassVar[builtins.type[ProviderOptions]] = ProviderOptions
    examples: ClassVar[dict[str, str]] = {}
    #: Defaults of the call's deadlines for this provider type (``evalkit.providers.timeouts``):
    #: ``timeout`` without streaming (the old default) and with it (stalls are caught by the
    #: first-token and idle deadlines; this bounds the longest answer)...
    default_timeout: ClassVar[float] = 120.0
    default_stream_timeout: ClassVar[float] = 600.0
    #: ... the adaptive first-token deadline: this long until ``FirstTokens.warm`` first
    #: events were seen, then never shorter than the floor ...
    first_token_cold: ClassVar[float] = 60.0
    first_token_floor: ClassVar[float] = 5.0
    #: ... and the longest silence inside a stream.
    default_idle_timeout: ClassVar[float] = 30.0

    def __init__(self, provider_id: str, options: ProviderOptions) -> None:
        self.id = provider_id
        self.options = options
        self.env = ProviderEnv()

    def attach(self, env: ProviderEnv) -> None:
        """Receive the invocation's pool, store and log folder (before ``start``)."""
        self.env = env

    @property
    def model(self) -> str | None:
        return self.options.model

    def chain(self) -> list[tuple[Provider, int]] | None:
        """For a fallback chain: its members in order, each with its number of attempts.
        The call service tries them in turn; a plain provider returns None."""
        return None

    @property
    def needs_network(self) -> bool:
        """False for providers that answer without calling anything (replay)."""
        return True

    @property
    def mode(self) -> str:
        return self.options.mode

    def identity(self) -> dict[str, Any]:
        """What identifies the system under test (provenance and cache key; never a key)."""
        return {"type": self.type, "model": self.model, "mode": self.mode}

    def total_timeout(self) -> float:
        """``timeout`` of the entry, else this provider type's default."""
        if self.options.timeout is not None:
            return self.options.timeout
        return self.default_stream_timeout if self.options.stream else self.default_timeout

    def default_concurrency(self) -> int | None:
        """Calls in flight when neither ``-j`` nor the provider entry says: None leaves it to
        ``defaults.concurrency``. A server that decodes N requests at a time says N, so that
        latency measures the provider rather than time spent queueing at it."""
        return None

    def default_params(self) -> dict[str, Any]:
        """Params this provider type adds to ``DEFAULT_PARAMS`` (e.g. a seed)."""
        return {}

    def effective_params(self, prompt_params: Mapping[str, Any]) -> dict[str, Any]:
        params = {**DEFAULT_PARAMS, **self.default_params(), **self.options.params}
        params.update(prompt_params)
        return params

    def accepts_tools(self) -> bool:
        """Whether requests may declare tools: chat mode (a completion prompt has none)."""
        return self.mode == "chat"

    async def tools_problem(self) -> str | None:
        """After ``start``: why this provider cannot really take tools (e.g. a server whose
        chat template would drop them), or None."""
        return None

    def request_input(self, request: Request) -> Any:
        """The rendered request as stored on the result."""
        if self.mode == "completion":
            return completion_text(request.messages, self.options.completion_template)
        return [m.as_dict() for m in request.messages]

    async def start(self, concurrency: int) -> None:  # noqa: B027 - optional hook
        """Prepare to serve up to ``concurrency`` calls at once."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release clients, servers and connections."""

    @abstractmethod
    async def generate(self, request: Request) -> Generation:
        """One call. Raise ``ProviderCallError`` on failure."""


class ClientProvider(Provider):
    """A provider that talks to an HTTP API through an SDK client made in ``start()``: the
    endpoint is part of its identity, and closing it closes the client."""

    #: Asked before a passed first-token or idle deadline cuts a call (see
    #: ``evalkit.providers.timeouts``); None: the deadlines are plain clocks.
    stalled: StallCheck | None = None

    def __init__(self, provider_id: str, options: ProviderOptions) -> None:
        super().__init__(provider_id, options)
        self._client: Any = None
        self._total = self.total_timeout()
        self._idle = options.idle_timeout or self.default_idle_timeout
        self._first_tokens: FirstTokens | None = None
        if options.first_token_timeout is None:
            self._first_tokens = FirstTokens(
                cold=self.first_token_cold, floor=self.first_token_floor
            )

    def deadlines(self) -> Deadlines:
        """The bounds of the next call (the first-token one may adapt between calls)."""
        first = self.options.first_token_timeout
        if self._first_tokens is not None:
            first = self._first_tokens.deadline()
        return Deadlines(self._total, first, self._idle)

    def deadline(self) -> CallDeadline:
        """The watch of one call: ``async with self.deadline() as watch`` and
        ``watch.tick()`` on every event of a stream."""
        return CallDeadline(
            self.deadlines(),
            self.options.stream,
            self.id,
            on_first=self._first_tokens.record if self._first_tokens is not None else None,
            stalled=self.stalled,
        )

    @property
    def base_url(self) -> str | None:
        url: str | None = getattr(self.options, "base_url", None)
        return url

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "base_url": self.base_url}

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


class Stopwatch:
    """Latency and time-to-first-token of one call, in milliseconds."""

    __slots__ = ("first", "start")

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None

    def mark_first(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    @property
    def ttft_ms(self) -> float | None:
        return (self.first - self.start) * 1000 if self.first is not None else None

    def total_ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``, as seconds."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        if parsed is None:
            return None
        return max(parsed.timestamp() - time.time(), 0.0)


_STATUS_CLASSES = {
    400: ("bad_request", False),
    401: ("auth", False),
    403: ("auth", False),
    404: ("not_found", False),
    408: ("timeout", True),
    409: ("server_error", True),
    413: ("bad_request", False),
    422: ("bad_request", False),
    429: ("rate_limit", True),
}


def status_error(status: int, headers: Mapping[str, str] | None, message: str) -> ProviderCallError:
    """The error of an HTTP error status: its class (and whether to retry) by the status,
    the server's Retry-After."""
    error_class, retryable = _STATUS_CLASSES.get(status, ("server_error", status >= 500))
    if status >= 500:
        error_class, retryable = "server_error", True
    return ProviderCallError(
        error_class,
        f"HTTP {status}: {message}",
        retryable=retryable,
        retry_after=retry_after_seconds(headers),
        status=status,
    )


def classify_sdk_error(exc: BaseException) -> ProviderCallError:
    """Map an OpenAI/Anthropic SDK (or transport) exception to a ``ProviderCallError``.

    Both SDKs share the shape: ``APIStatusError`` with ``status_code`` and ``response``,
    ``APITimeoutError`` ⊂ ``APIConnectionError``, ``APIResponseValidationError``.
    """
    if isinstance(exc, ProviderCallError):
        return exc
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    message = str(exc) or name
    if isinstance(status, int):
        response = getattr(exc, "response", None)
        return status_error(status, getattr(response, "headers", None), message)
    if "Timeout" in name:
        return ProviderCallError("timeout", message, retryable=True)
    if name == "APIError":  # an error event inside a stream (both SDKs)
        return ProviderCallError("server_error", f"error in stream: {message}", retryable=True)
    if "ResponseValidation" in name or isinstance(exc, ValueError | KeyError):
        return ProviderCallError("malformed", f"{name}: {message}", retryable=True)
    transport = type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "h11")
    if "Connection" in name or transport or isinstance(exc, OSError):
        cause = exc.__cause__ or exc.__context__
        detail = f" ({type(cause).__name__}: {cause})" if cause else ""
        return ProviderCallError("connection", message + detail, retryable=True)
    return ProviderCallError("unknown", f"{name}: {message}", retryable=False)
