"""A loopback fake LLM server for tests and benchmarks (stdlib only).

It speaks plain HTTP/1.1 with keep-alive (asyncio streams, one task per
connection, no threads per request) and serves just enough of two APIs for the
official SDKs to parse every answer:

* OpenAI: ``POST /v1/chat/completions``, ``POST /v1/completions`` (both as JSON
  and as ``stream: true`` SSE ending in ``data: [DONE]``, honouring
  ``stream_options.include_usage``) and ``GET /v1/models[/{id}]``.
* Anthropic: ``POST /v1/messages`` (JSON, or the SSE event sequence
  ``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``
  x n, ``content_block_stop``, ``message_delta``, ``message_stop``),
  ``POST /v1/messages/count_tokens`` and ``GET /v1/models`` (Anthropic shape when
  the request carries an ``anthropic-version`` header).

Answers are deterministic: the first *rule* whose substring occurs in the
prompt (system + all messages) wins, then ``answer_fn``, then
``default_answer``, else ``echo_prefix + last_user_text[:echo_chars]``. Token
counts are whitespace-split word counts. ``max_tokens`` (words) and stop
sequences are honoured (``finish_reason`` ``length``/``stop``, Anthropic
``max_tokens``/``stop_sequence``).

Tool calls: when a chat/messages request declares ``tools``, the first *tool
rule* that applies answers with tool calls instead (OpenAI ``tool_calls`` with
``finish_reason: tool_calls``; Anthropic ``tool_use`` blocks with
``stop_reason: tool_use``; streamed as the SDKs expect: OpenAI
``delta.tool_calls`` pieces, Anthropic ``content_block_start`` +
``input_json_delta``). A tool rule is ``{"match": substring, "calls": [{"name":
..., "arguments": {...}}], "text": optional text before the calls,
"after_tool": false}``: it applies when every called name is declared and
``match`` occurs in the prompt — and, by default, only when the last message is
not a tool result (so the follow-up request is answered by the text rules,
which see the tool results); with ``after_tool: true`` it applies only right
after a tool result, matching that result's text (a second step of an agent
loop). ``--tool-rules FILE`` (a JSON list) in a separate process.

Fault model
-----------
Every request to a *generation* route (chat, completions, messages) gets one
outcome, a *fault kind*:

``ok``
    a normal answer.
``"400"`` ... ``"599"``
    that HTTP status with the route's error body (OpenAI
    ``{"error": {"message", "type", "param", "code"}}``, Anthropic
    ``{"type": "error", "error": {"type", "message"}, "request_id"}``); statuses
    in ``retry_after_statuses`` (default 429 only) carry ``Retry-After``.
``reset``
    the TCP connection is closed with an RST (SO_LINGER 0) and no response.
``hang``
    nothing is ever sent; the server waits until the client gives up.
``stall``
    streams: headers and ``midstream_chunks`` content chunks, then silence;
    JSON: headers only, then silence (a read timeout on the client).
``malformed``
    200 whose body (or first SSE event) is not valid JSON.
``empty``
    200, valid JSON, no choices (OpenAI) / no content blocks (Anthropic).
``blank``
    200, valid JSON, one choice / text block whose text is ``""``.
``midstream``
    streams: headers and ``midstream_chunks`` content chunks, then the
    connection is closed before the chunked body ends; JSON: half the body.
``stream_error``
    streams: some chunks, then an in-band error event (OpenAI ``data:
    {"error": ...}``, Anthropic ``event: error``); JSON requests get a 500.

The kind is chosen, first match wins, by:

1. the request header ``X-Fake-Fault: KIND`` (``ok`` forces success);
2. a prompt marker ``[[fault:KIND]]`` (always) or ``[[fault:KIND*N]]`` (the
   first N times that exact prompt is seen) when ``prompt_faults`` is on;
3. the planner (:class:`FaultPlanner`), which numbers requests with an index
   ``i``: by arrival order (``fault_by="order"``) or, with
   ``fault_by="content"``, by how many times this same prompt was seen
   before (so the outcome of a prompt does not depend on concurrency). Then
   ``i < fail_first_n`` gives ``fail_first_kind``; else a ``schedule`` entry
   (``schedule[i]``, or ``schedule[i % len]`` with ``schedule_cycle``); else
   one seeded draw against the ``faults`` rates (e.g. ``{"429": 0.1}``), walked
   in a canonical order so the same seed always gives the same sequence.
   Requests decided by 1 or 2 do not advance the planner.

Non-generation routes (models, count_tokens) obey only the header, and only its
status codes, ``reset`` and ``hang``; other kinds answer normally there. An
unknown kind in the header or a marker is answered with a 400 (logged fault
``invalid``); a wrong key when ``api_key`` is set gets a 401 (logged fault
``auth``). Every request (except the ``/_fake/`` admin routes) is recorded in
:class:`RequestLog`; ``stats()["connections"]`` counts every accepted TCP
connection, admin ones included.

Timing: ``latency_ms`` delays JSON answers (and error statuses); streams wait
``ttft_ms`` (default: ``latency_ms``) before the response headers and first
event, then ``chunk_delay_ms`` before each content chunk. Nothing else sleeps.

SDK notes (openai 3.57, anthropic 2.14, both on httpx2)
--------------------------------------------------------
* ``malformed`` surfaces as a bare ``json.JSONDecodeError`` in both SDKs.
* The anthropic SDK does not wrap transport errors raised while a stream is
  being iterated: ``midstream``/``stall`` on an Anthropic stream raise
  ``httpx2.RemoteProtocolError``/``httpx2.ReadTimeout``; the openai SDK turns
  them into ``APIConnectionError``/``APITimeoutError``.
* The sync openai ``Stream`` stops reading at ``[DONE]`` without draining the
  chunked body, so every sync streaming call opens a new connection (the async
  client drains and keeps the connection).
* anthropic 2.x sends the API key as ``Authorization: Bearer`` (not
  ``x-api-key``) and has no ``temperature``/``top_p`` parameters on
  ``messages.create`` (pass them in ``extra_body``).

Ways to run
-----------
* In-process: ``with FakeServer(seed=1, faults={"429": 0.1}) as srv:`` then
  ``OpenAI(base_url=srv.openai_base_url)`` / ``Anthropic(base_url=srv.base_url)``;
  ``srv.requests``, ``srv.reset_log()``, ``srv.configure(latency_ms=5)``.
* Separate process: ``python tests/fakeserver.py --port 0 --seed 1 --faults
  429=0.1,500=0.05 --latency-ms 0 --rules rules.json`` prints
  ``READY http://127.0.0.1:PORT`` and serves until killed;
  :class:`FakeServerProcess` wraps that and talks to the admin routes
  (``GET /_fake/stats``, ``GET /_fake/requests``, ``POST /_fake/configure``,
  ``POST /_fake/reset``).
* pytest: ``fake_server_fixture(**config)`` builds a fixture; when pytest is
  already imported the module also defines a ready ``fake_server`` fixture.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "SPECIAL_FAULTS",
    "AnswerFn",
    "FakeConfig",
    "FakeLLMApp",
    "FakeServer",
    "FakeServerProcess",
    "FaultPlanner",
    "RequestLog",
    "RequestRecord",
    "fake_server_fixture",
    "load_rules",
    "load_tool_rules",
    "main",
    "parse_faults",
]

#: ``answer_fn(route, body, prompt_text) -> answer or None`` (None: fall through).
AnswerFn = Callable[[str, Mapping[str, Any], str], "str | None"]

#: Fault kinds that are not an HTTP status code.
SPECIAL_FAULTS: tuple[str, ...] = (
    "reset",
    "hang",
    "stall",
    "malformed",
    "empty",
    "blank",
    "midstream",
    "stream_error",
)

_GENERATION_ROUTES = frozenset({"chat", "completions", "messages"})
_ANTHROPIC_ROUTES = frozenset({"messages", "count_tokens"})
_FAULT_CONFIG_KEYS = frozenset(
    {"seed", "faults", "schedule", "schedule_cycle", "fail_first_n", "fail_first_kind", "fault_by"}
)
_MARKER_RE = re.compile(r"\[\[fault:([A-Za-z0-9_]+)(?:\*(\d+))?\]\]")
_PIECE_RE = re.compile(r"\s+|\S+\s*")
_SYSTEM_FINGERPRINT = "fp_fakeserver"
_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_LINGER_RST = struct.pack("ii", 1, 0)


def _dumps(obj: Any) -> bytes:
    return _encode_json(obj).encode("utf-8")


def _sse_chunk(
    base: dict[str, Any],
    include_usage: bool,
    choices: list[dict[str, Any]],
    usage_value: Any = None,
) -> bytes:
    """One OpenAI streaming event: ``base`` with these choices (and usage, when asked for)."""
    chunk = dict(base, choices=choices)
    if include_usage:
        chunk["usage"] = usage_value
    return b"data: " + _dumps(chunk) + b"\n\n"


def _is_status_kind(kind: str) -> bool:
    return len(kind) == 3 and kind.isdigit() and 400 <= int(kind) <= 599


def _check_kind(kind: str) -> str:
    kind = str(kind).strip().lower()
    if kind == "ok" or kind in SPECIAL_FAULTS or _is_status_kind(kind):
        return kind
    raise ValueError(
        f"unknown fault kind {kind!r}: use 'ok', a status 400-599 or one of {SPECIAL_FAULTS}"
    )


def _kind_order(kind: str) -> tuple[int, int]:
    return (0, int(kind)) if _is_status_kind(kind) else (1, SPECIAL_FAULTS.index(kind))


def parse_faults(spec: str | Mapping[str, float] | None) -> dict[str, float]:
    """Parse ``"429=0.1,500=0.05"`` (or a mapping) into validated fault rates."""
    if not spec:
        return {}
    items: list[tuple[str, float]]
    if isinstance(spec, str):
        items = []
        for part in spec.split(","):
            if not part.strip():
                continue
            name, sep, rate = part.partition("=")
            if not sep:
                raise ValueError(f"bad fault spec {part!r}; expected KIND=RATE")
            items.append((name, float(rate)))
    else:
        items = [(str(k), float(v)) for k, v in spec.items()]
    out: dict[str, float] = {}
    for name, rate in items:
        kind = _check_kind(name)
        if kind == "ok":
            continue
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate for {kind} must be within [0, 1], got {rate}")
        out[kind] = out.get(kind, 0.0) + rate
    if sum(out.values()) > 1.0 + 1e-9:
        raise ValueError(f"fault rates add up to more than 1: {out}")
    return out


def load_rules(
    source: str | os.PathLike[str] | Mapping[str, Any] | Sequence[Any],
) -> tuple[list[tuple[str, str]], str | None]:
    """Normalise answer rules; return ``(rules, default_answer)``.

    Accepted: a path to a JSON file holding any of the forms below; a mapping
    ``{substring: answer}``; a mapping ``{"rules": [...], "default": "..."}``;
    a list of ``{"match": substring, "answer": text}`` or ``[substring, text]``.
    """
    data: Any = source
    if isinstance(source, (str, os.PathLike)):
        data = json.loads(Path(source).read_text(encoding="utf-8"))
    default: str | None = None
    if isinstance(data, Mapping) and ("rules" in data or "default" in data):
        default = data.get("default")
        data = data.get("rules", [])
    rules: list[tuple[str, str]] = []
    if isinstance(data, Mapping):
        rules = [(str(k), str(v)) for k, v in data.items()]
    else:
        for item in data:
            if isinstance(item, Mapping):
                rules.append((str(item["match"]), str(item["answer"])))
            else:
                match, answer = item
                rules.append((str(match), str(answer)))
    return rules, (None if default is None else str(default))


def load_tool_rules(source: str | os.PathLike[str] | Sequence[Any]) -> list[dict[str, Any]]:
    """Tool rules (see the module docstring) from a JSON file or a list, checked."""
    data: Any = source
    if isinstance(source, (str, os.PathLike)):
        data = json.loads(Path(source).read_text(encoding="utf-8"))
    rules: list[dict[str, Any]] = []
    for item in data:
        calls = item.get("calls")
        if not isinstance(item.get("match"), str) or not isinstance(calls, list) or not calls:
            raise ValueError(f"a tool rule needs `match` (text) and `calls` (a list): {item!r}")
        for call in calls:
            if not isinstance(call.get("name"), str):
                raise ValueError(f"a tool rule's call needs a `name`: {call!r}")
        rules.append(
            {
                "match": item["match"],
                "calls": [{"name": c["name"], "arguments": c.get("arguments", {})} for c in calls],
                "text": str(item.get("text") or ""),
                "after_tool": bool(item.get("after_tool", False)),
            }
        )
    return rules


@dataclass
class FakeConfig:
    """Everything that shapes the fake server's answers (see the module docstring)."""

    seed: int = 0
    faults: dict[str, float] = field(default_factory=dict)
    schedule: list[str] | None = None
    schedule_cycle: bool = False
    fail_first_n: int = 0
    fail_first_kind: str = "500"
    fault_by: str = "order"
    prompt_faults: bool = True
    retry_after: float | None = 1.0
    retry_after_statuses: tuple[int, ...] = (429,)
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    chunk_delay_ms: float = 0.0
    chunk_words: int = 1
    midstream_chunks: int = 2
    rules: list[tuple[str, str]] = field(default_factory=list)
    tool_rules: list[dict[str, Any]] = field(default_factory=list)
    default_answer: str | None = None
    answer_fn: AnswerFn | None = None
    echo_prefix: str = "echo: "
    echo_chars: int = 200
    models: list[str] = field(default_factory=lambda: ["fake-model", "fake-claude"])
    api_key: str | None = None
    max_log: int | None = None

    def normalised(self) -> FakeConfig:
        """Return a validated copy (fault names checked, rules loaded)."""
        cfg = dataclasses.replace(self)
        cfg.faults = parse_faults(cfg.faults)
        if cfg.schedule is not None:
            sched = cfg.schedule.split(",") if isinstance(cfg.schedule, str) else list(cfg.schedule)
            cfg.schedule = [_check_kind(k) for k in sched if str(k).strip()]
        cfg.fail_first_kind = _check_kind(cfg.fail_first_kind)
        if cfg.fault_by not in ("order", "content"):
            raise ValueError("fault_by must be 'order' or 'content'")
        if not isinstance(cfg.rules, list) or any(not isinstance(r, tuple) for r in cfg.rules):
            rules, default = load_rules(cfg.rules)  # type: ignore[arg-type]
            cfg.rules = rules
            if cfg.default_answer is None:
                cfg.default_answer = default
        cfg.tool_rules = load_tool_rules(cfg.tool_rules)
        cfg.retry_after_statuses = tuple(int(s) for s in cfg.retry_after_statuses)
        cfg.chunk_words = max(1, int(cfg.chunk_words))
        cfg.midstream_chunks = max(0, int(cfg.midstream_chunks))
        cfg.models = list(cfg.models)
        return cfg


class FaultPlanner:
    """Deterministic chooser of fault kinds (step 3 of the module's fault model).

    In ``order`` mode one ``random.Random(seed)`` draw is consumed per decision,
    whether or not a ``fail_first_n``/``schedule`` entry overrides it, so the
    rate-based part of the sequence depends only on the seed and the index. In
    ``content`` mode the index is the number of earlier decisions for the same
    key and the draw comes from ``Random(f"{seed}:{key}:{index}")``.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        faults: Mapping[str, float] | str | None = None,
        schedule: Sequence[str] | None = None,
        schedule_cycle: bool = False,
        fail_first_n: int = 0,
        fail_first_kind: str = "500",
        fault_by: str = "order",
    ) -> None:
        self.seed = seed
        rates = parse_faults(faults)
        self._table: list[tuple[float, str]] = []
        acc = 0.0
        for kind in sorted(rates, key=_kind_order):
            acc += rates[kind]
            self._table.append((acc, kind))
        self.schedule = [_check_kind(k) for k in schedule] if schedule else []
        self.schedule_cycle = schedule_cycle
        self.fail_first_n = fail_first_n
        self.fail_first_kind = _check_kind(fail_first_kind)
        self.fault_by = fault_by
        self._rng = random.Random(seed)
        self._count = 0
        self._occurrences: dict[str, int] = {}

    @classmethod
    def from_config(cls, cfg: FakeConfig) -> FaultPlanner:
        return cls(
            seed=cfg.seed,
            faults=cfg.faults,
            schedule=cfg.schedule,
            schedule_cycle=cfg.schedule_cycle,
            fail_first_n=cfg.fail_first_n,
            fail_first_kind=cfg.fail_first_kind,
            fault_by=cfg.fault_by,
        )

    def next(self, key: str = "") -> tuple[str, int]:
        """Return ``(kind, index)`` for the next request (``key``: prompt digest)."""
        if self.fault_by == "content":
            index = self._occurrences.get(key, 0)
            self._occurrences[key] = index + 1
            draw = random.Random(f"{self.seed}:{key}:{index}").random() if self._table else 1.0
        else:
            index = self._count
            self._count += 1
            draw = self._rng.random()
        return self._pick(index, draw), index

    def _pick(self, index: int, draw: float) -> str:
        if index < self.fail_first_n:
            return self.fail_first_kind
        if self.schedule:
            if self.schedule_cycle:
                return self.schedule[index % len(self.schedule)]
            if index < len(self.schedule):
                return self.schedule[index]
        for cum, kind in self._table:
            if draw < cum:
                return kind
        return "ok"

    @classmethod
    def preview(cls, n: int, **kwargs: Any) -> list[str]:
        """The first ``n`` kinds an order-mode planner built from ``kwargs`` yields."""
        planner = cls(**kwargs)
        return [planner.next()[0] for _ in range(n)]


@dataclass
class RequestRecord:
    """One request as the server saw it (headers lower-cased)."""

    seq: int
    method: str
    path: str
    query: str
    route: str
    headers: dict[str, str]
    body: Any
    stream: bool = False
    fault: str = "ok"
    fault_index: int | None = None
    status: int | None = None
    request_id: str = ""
    received_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class RequestLog:
    """Thread-safe request log: records (optionally bounded) and counters."""

    def __init__(self, max_log: int | None = None) -> None:
        self._lock = threading.Lock()
        self._records: collections.deque[RequestRecord] = collections.deque(maxlen=max_log)
        self.total = 0
        self.connections = 0
        self.route_counts: collections.Counter[str] = collections.Counter()
        self.fault_counts: collections.Counter[str] = collections.Counter()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            self.total += 1
            self.route_counts[record.route] += 1

    def count_fault(self, kind: str) -> None:
        with self._lock:
            self.fault_counts[kind] += 1

    def set_max_log(self, max_log: int | None) -> None:
        with self._lock:
            self._records = collections.deque(self._records, maxlen=max_log)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self.total = 0
            self.connections = 0
            self.route_counts.clear()
            self.fault_counts.clear()

    @property
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def for_route(self, route: str) -> list[RequestRecord]:
        return [r for r in self.records if r.route == route]

    def bodies(self, route: str | None = None) -> list[Any]:
        return [r.body for r in self.records if route is None or r.route == route]

    def faults(self, route: str | None = None) -> list[str]:
        """Fault kinds in arrival order (generation routes unless ``route`` given)."""
        return [
            r.fault
            for r in self.records
            if (r.route == route if route is not None else r.route in _GENERATION_ROUTES)
        ]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "connections": self.connections,
                "routes": dict(self.route_counts),
                "faults": dict(self.fault_counts),
            }


# --------------------------------------------------------------------------- helpers


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
                elif part.get("type") == "tool_result":
                    parts.append(_content_text(part.get("content")))
        return "\n".join(parts)
    return str(content)


def _chat_prompt(messages: Any, system: Any = None) -> tuple[str, str]:
    """``(full prompt text, last user text)`` of a chat/messages request."""
    texts: list[str] = []
    if system:
        texts.append(_content_text(system))
    last_user = ""
    if isinstance(messages, list):
        for msg in messages:
            if not isinstance(msg, Mapping):
                continue
            text = _content_text(msg.get("content"))
            texts.append(text)
            if msg.get("role") == "user":
                last_user = text
    return "\n".join(texts), last_user


def _declared_tools(body: Mapping[str, Any]) -> set[str]:
    """Names of the tools a request declares (OpenAI function format or Anthropic's)."""
    names: set[str] = set()
    for tool in body.get("tools") or ():
        if isinstance(tool, Mapping):
            function = tool.get("function")
            name = function.get("name") if isinstance(function, Mapping) else tool.get("name")
            if isinstance(name, str):
                names.add(name)
    return names


def _last_tool_result(messages: Any) -> str | None:
    """The text of the request's last message when it is a tool result, else None."""
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], Mapping):
        return None
    last = messages[-1]
    if last.get("role") == "tool":
        return _content_text(last.get("content"))
    content = last.get("content")
    if last.get("role") == "user" and isinstance(content, list):
        results = [
            _content_text(part.get("content"))
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "tool_result"
        ]
        if results:
            return "\n".join(results)
    return None


def _prompt_list(prompt: Any) -> list[str]:
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list):
        if not prompt:
            return [""]
        if all(isinstance(p, int) for p in prompt):
            return [" ".join(str(p) for p in prompt)]
        return [p if isinstance(p, str) else " ".join(str(t) for t in p) for p in prompt]
    return [str(prompt)]


def _count_tokens(text: str) -> int:
    return len(text.split())


def _stop_list(stop: Any) -> list[str]:
    if isinstance(stop, str):
        return [stop] if stop else []
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s]
    return []


def _apply_limits(answer: str, stops: list[str], max_tokens: Any) -> tuple[str, str, str | None]:
    """Cut ``answer`` at the earliest stop sequence, then at ``max_tokens`` words.

    Returns ``(text, reason, matched_stop)`` with reason ``stop``, ``stop_sequence``
    (a stop sequence matched) or ``length``.
    """
    reason, matched = "stop", None
    best = -1
    for s in stops:
        pos = answer.find(s)
        if pos != -1 and (best == -1 or pos < best):
            best, matched = pos, s
    if matched is not None:
        answer, reason = answer[:best], "stop_sequence"
    limited = isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens >= 0
    if limited and _count_tokens(answer) > max_tokens:
        kept: list[str] = []
        words = 0
        for piece in _PIECE_RE.findall(answer):
            if not piece.isspace():
                if words == max_tokens:
                    break
                words += 1
            kept.append(piece)
        answer, reason, matched = "".join(kept).rstrip(), "length", None
    return answer, reason, matched


def _pieces(text: str, words_per_chunk: int) -> list[str]:
    pieces = _PIECE_RE.findall(text)
    if words_per_chunk <= 1:
        return pieces
    return [
        "".join(pieces[i : i + words_per_chunk]) for i in range(0, len(pieces), words_per_chunk)
    ]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Overloaded" if status == 529 else "Error"


_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Bad request"),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided"),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden"),
    404: ("invalid_request_error", "not_found", "Not found"),
    408: ("timeout", None, "Request timed out"),
    409: ("invalid_request_error", "conflict", "Conflict"),
    422: ("invalid_request_error", None, "Unprocessable entity"),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests (fake)"),
}
_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Bad request"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Forbidden"),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request too large"),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit (fake)"),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def _error_body(status: int, anthropic: bool, request_id: str, message: str | None = None) -> bytes:
    if anthropic:
        etype, msg = _ANTHROPIC_ERRORS.get(status, ("api_error", f"Fake error {status}"))
        return _dumps(
            {
                "type": "error",
                "error": {"type": etype, "message": message or msg},
                "request_id": request_id,
            }
        )
    if status >= 500:
        etype, code, msg = "server_error", None, f"The server had an error (fake {status})"
    else:
        etype, code, msg = _OPENAI_ERRORS.get(
            status, ("invalid_request_error", None, f"Fake error {status}")
        )
    return _dumps(
        {"error": {"message": message or msg, "type": etype, "param": None, "code": code}}
    )


def _chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk (nothing for empty data: a zero-size chunk ends the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data) if data else b""


_LAST_CHUNK = b"0\r\n\r\n"
_CLOSE = "connection: close\r\n"
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


@dataclass
class _Stream:
    """Pre-built SSE events: ``events[:first]`` precede content, ``events[end:]`` follow it."""

    events: list[bytes]
    first: int
    end: int
    error_event: bytes


@dataclass
class _Answer:
    status: int
    body: bytes | None = None
    stream: _Stream | None = None


# --------------------------------------------------------------------------- app


class FakeLLMApp:
    """The asyncio server itself (no thread). Used by FakeServer and the CLI."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = (config or FakeConfig()).normalised()
        self.planner = FaultPlanner.from_config(self.config)
        self.log = RequestLog(self.config.max_log)
        self._marker_counts: dict[str, int] = {}
        self._seq = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    # ---- lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(
            self._connection, host, port, limit=1 << 20, backlog=1024, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # ---- configuration
    def configure(self, **changes: Any) -> FakeConfig:
        """Apply changes; a change to any fault setting restarts the planner."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(FakeConfig)}
        if unknown:
            raise TypeError(f"unknown fake server settings: {sorted(unknown)}")
        if "rules" in changes and "default_answer" not in changes:
            rules, default = load_rules(changes["rules"])
            changes["rules"] = rules
            if default is not None:
                changes["default_answer"] = default
        cfg = dataclasses.replace(self.config, **changes).normalised()
        if _FAULT_CONFIG_KEYS & set(changes):
            self.planner = FaultPlanner.from_config(cfg)
            self._marker_counts = {}
        if "max_log" in changes:
            self.log.set_max_log(cfg.max_log)
        self.config = cfg
        return cfg

    def reset_faults(self) -> None:
        """Restart the fault sequence (planner index, RNG, prompt-marker counts)."""
        self.planner = FaultPlanner.from_config(self.config)
        self._marker_counts = {}

    # ---- connection handling
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        transport = writer.transport
        self.log.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head[:-4].decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    transport.write(_BAD_REQUEST)
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    value = value.strip()
                    if name in headers:
                        headers[name] = f"{headers[name]}, {value}"
                    else:
                        headers[name] = value
                try:
                    clen = headers.get("content-length")
                    if clen:
                        raw = await reader.readexactly(int(clen))
                    elif "chunked" in headers.get("transfer-encoding", "").lower():
                        raw = await self._read_chunked(reader)
                    else:
                        raw = b""
                except (
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                    ConnectionError,
                    ValueError,
                ):
                    return
                conn = headers.get("connection", "").lower()
                keep_alive = (
                    ("close" not in conn) if version == "HTTP/1.1" else ("keep-alive" in conn)
                )
                try:
                    keep = await self._request(
                        method, target, headers, raw, reader, transport, keep_alive
                    )
                except (asyncio.CancelledError, ConnectionError):
                    raise
                except Exception as exc:  # a bug in the fake: answer 500 and say why
                    traceback.print_exc()
                    if not transport.is_closing():
                        body = _dumps(
                            {
                                "error": {
                                    "message": f"fakeserver bug: {exc!r}",
                                    "type": "server_error",
                                }
                            }
                        )
                        self._write_response(transport, 500, body, "", False)
                    return
                if not keep:
                    return
        except (ConnectionError, asyncio.CancelledError):
            # Swallow our own shutdown cancellation: asyncio 3.11 logs a cancelled
            # client_connected_cb task as an error.
            return
        finally:
            if task is not None:
                self._tasks.discard(task)
            if not transport.is_closing():
                transport.close()

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    @staticmethod
    def _write_response(
        transport: asyncio.Transport,
        status: int,
        body: bytes,
        extra: str,
        keep_alive: bool,
        content_type: str = "application/json",
    ) -> None:
        head = (
            f"HTTP/1.1 {status} {_reason(status)}\r\ncontent-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\n{extra}{'' if keep_alive else _CLOSE}\r\n"
        )
        transport.write(head.encode("latin-1") + body)

    # ---- request dispatch
    async def _request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        raw: bytes,
        reader: asyncio.StreamReader,
        transport: asyncio.Transport,
        keep_alive: bool,
    ) -> bool:
        path, _, query = target.partition("?")
        if path.startswith("/_fake/"):
            status, body = self._admin(method, path, raw)
            self._write_response(transport, status, body, "", keep_alive)
            return keep_alive

        route = _route(method, path)
        is_anthropic = route in _ANTHROPIC_ROUTES or (
            route == "models" and "anthropic-version" in headers
        )
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        self._seq += 1
        seq = self._seq
        request_id = f"req_fake_{seq:08d}"
        record = RequestRecord(
            seq=seq,
            method=method,
            path=path,
            query=query,
            route=route,
            headers=headers,
            body=body if body is not None else (raw.decode("utf-8", "replace") if raw else None),
            stream=isinstance(body, dict) and body.get("stream") is True,
            request_id=request_id,
            received_at=time.time(),
        )
        self.log.add(record)
        cfg = self.config
        rid_header = (
            f"request-id: {request_id}\r\n" if is_anthropic else f"x-request-id: {request_id}\r\n"
        )

        if route == "unknown":
            return self._send_error(
                transport,
                record,
                404,
                is_anthropic,
                rid_header,
                keep_alive,
                f"Unknown route {method} {path}",
            )
        if cfg.api_key is not None and not _authorized(headers, cfg.api_key, is_anthropic):
            record.fault = "auth"
            self.log.count_fault("auth")
            return self._send_error(transport, record, 401, is_anthropic, rid_header, keep_alive)

        if route in _GENERATION_ROUTES:
            if not isinstance(body, dict):
                return self._send_error(
                    transport,
                    record,
                    400,
                    is_anthropic,
                    rid_header,
                    keep_alive,
                    "Request body is not a JSON object",
                )
            problem = _validate(route, body)
            if problem:
                return self._send_error(
                    transport, record, 400, is_anthropic, rid_header, keep_alive, problem
                )

        try:
            kind = self._decide(route, record, cfg, raw)
        except ValueError as exc:
            record.fault = "invalid"
            return self._send_error(
                transport, record, 400, is_anthropic, rid_header, keep_alive, str(exc)
            )
        record.fault = kind
        self.log.count_fault(kind)

        if kind == "reset":
            _rst(transport)
            return False
        if kind == "hang":
            await _wait_eof(reader)
            return False
        if _is_status_kind(kind) or (kind == "stream_error" and not record.stream):
            status = 500 if kind == "stream_error" else int(kind)
            if cfg.latency_ms:
                await asyncio.sleep(cfg.latency_ms / 1000)
            extra = rid_header
            if status in cfg.retry_after_statuses and cfg.retry_after is not None:
                extra += f"retry-after: {cfg.retry_after:g}\r\n"
            if is_anthropic and status == 529:
                extra += "x-should-retry: true\r\n"
            return self._send_error(transport, record, status, is_anthropic, extra, keep_alive)

        if route == "models":
            return self._send_json(
                transport, record, _models_body(cfg.models, is_anthropic), rid_header, keep_alive
            )
        if route == "model":
            model_id = path[len("/v1/models/") :]
            if model_id not in cfg.models:
                return self._send_error(
                    transport,
                    record,
                    404,
                    is_anthropic,
                    rid_header,
                    keep_alive,
                    f"The model '{model_id}' does not exist",
                )
            return self._send_json(
                transport, record, _model_body(model_id, is_anthropic), rid_header, keep_alive
            )
        if route == "count_tokens":
            prompt, _ = _chat_prompt(
                body.get("messages") if isinstance(body, dict) else None,
                body.get("system") if isinstance(body, dict) else None,
            )
            return self._send_json(
                transport,
                record,
                _dumps({"input_tokens": _count_tokens(prompt)}),
                rid_header,
                keep_alive,
            )

        answer = self._build(route, body, kind, seq)
        if answer.stream is None:
            if cfg.latency_ms:
                await asyncio.sleep(cfg.latency_ms / 1000)
            assert answer.body is not None
            payload = answer.body
            if kind == "malformed":
                payload = payload[: max(1, len(payload) // 2)]
            if kind in ("midstream", "stall"):
                record.status = 200
                head = (
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(payload)}\r\n{rid_header}\r\n"
                ).encode("latin-1")
                if kind == "stall":
                    transport.write(head)
                    await _wait_eof(reader)
                    return False
                transport.write(head + payload[: len(payload) // 2])
                await _drain(transport)
                transport.abort()
                return False
            record.status = 200
            self._write_response(transport, 200, payload, rid_header, keep_alive)
            if transport.get_write_buffer_size() > 1 << 16:
                await _drain(transport)
            return keep_alive
        return await self._send_stream(
            transport, reader, record, answer.stream, kind, rid_header, keep_alive, cfg
        )

    def _decide(self, route: str, record: RequestRecord, cfg: FakeConfig, raw: bytes) -> str:
        forced = record.headers.get("x-fake-fault")
        if forced:
            return _check_kind(forced)  # ValueError: answered with a 400
        if route not in _GENERATION_ROUTES:
            return "ok"
        body = record.body
        prompt_text: str | None = None
        if cfg.prompt_faults and b"[[fault:" in raw:
            prompt_text = _prompt_key_text(route, body)
            if "[[fault:" in prompt_text:
                match = _MARKER_RE.search(prompt_text)
                if match:
                    kind = _check_kind(match.group(1))
                    times = match.group(2)
                    if times is None:
                        return kind
                    key = _digest(route, prompt_text)
                    seen = self._marker_counts.get(key, 0)
                    self._marker_counts[key] = seen + 1
                    if seen < int(times):
                        return kind
        planner = self.planner
        key = ""
        if planner.fault_by == "content":
            if prompt_text is None:
                prompt_text = _prompt_key_text(route, body)
            key = _digest(route, prompt_text)
        kind, index = planner.next(key)
        record.fault_index = index
        return kind

    def _send_error(
        self,
        transport: asyncio.Transport,
        record: RequestRecord,
        status: int,
        anthropic: bool,
        extra: str,
        keep_alive: bool,
        message: str | None = None,
    ) -> bool:
        record.status = status
        self._write_response(
            transport,
            status,
            _error_body(status, anthropic, record.request_id, message),
            extra,
            keep_alive,
        )
        return keep_alive

    def _send_json(
        self,
        transport: asyncio.Transport,
        record: RequestRecord,
        body: bytes,
        extra: str,
        keep_alive: bool,
    ) -> bool:
        record.status = 200
        self._write_response(transport, 200, body, extra, keep_alive)
        return keep_alive

    async def _send_stream(
        self,
        transport: asyncio.Transport,
        reader: asyncio.StreamReader,
        record: RequestRecord,
        stream: _Stream,
        kind: str,
        rid_header: str,
        keep_alive: bool,
        cfg: FakeConfig,
    ) -> bool:
        ttft = cfg.ttft_ms if cfg.ttft_ms is not None else cfg.latency_ms
        if ttft:
            await asyncio.sleep(ttft / 1000)
        record.status = 200
        head = (
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            "transfer-encoding: chunked\r\ncache-control: no-cache\r\n"
            f"{rid_header}{'' if keep_alive else _CLOSE}\r\n"
        ).encode("latin-1")
        events = stream.events
        cut = len(events)
        if kind in ("midstream", "stall", "stream_error"):
            cut = min(stream.first + cfg.midstream_chunks, stream.end)
        delay = cfg.chunk_delay_ms / 1000
        finished = kind not in ("midstream", "stall")
        tail = b""
        if finished:
            tail = _chunk(stream.error_event) if kind == "stream_error" else b""
            tail += _LAST_CHUNK
        if not delay:
            transport.write(head + _chunk(b"".join(events[:cut])) + tail)
        else:
            transport.write(head + _chunk(b"".join(events[: stream.first])))
            content_end = min(cut, stream.end)
            for i in range(stream.first, content_end):
                await asyncio.sleep(delay)
                if transport.is_closing():
                    return False
                transport.write(_chunk(events[i]))
            # whatever follows the content goes out in one write, so a client that
            # stops reading at [DONE] has also received the end of the chunked body
            transport.write(_chunk(b"".join(events[content_end:cut])) + tail)
        if kind == "midstream":
            await _drain(transport)
            transport.abort()
            return False
        if kind == "stall":
            await _drain(transport)
            await _wait_eof(reader)
            return False
        if transport.get_write_buffer_size() > 1 << 16:
            await _drain(transport)
        return keep_alive

    # ---- answers
    def _answer_text(self, route: str, body: Mapping[str, Any], prompt: str, last: str) -> str:
        cfg = self.config
        for match, answer in cfg.rules:
            if match in prompt:
                return answer
        if cfg.answer_fn is not None:
            produced = cfg.answer_fn(route, body, prompt)
            if produced is not None:
                return produced
        if cfg.default_answer is not None:
            return cfg.default_answer
        return cfg.echo_prefix + last[: cfg.echo_chars]

    def _tool_rule(self, body: Mapping[str, Any], prompt: str, kind: str) -> dict[str, Any] | None:
        """The tool rule that answers this request, if any (see the module docstring)."""
        declared = _declared_tools(body)
        if not declared or kind in ("blank", "empty"):
            return None
        after = _last_tool_result(body.get("messages"))
        for rule in self.config.tool_rules:
            if rule["after_tool"] != (after is not None):
                continue
            if any(call["name"] not in declared for call in rule["calls"]):
                continue
            if rule["match"] in (after if after is not None else prompt):
                return rule
        return None

    def _build(self, route: str, body: dict[str, Any], kind: str, seq: int) -> _Answer:
        if route == "chat":
            return self._build_chat(body, kind, seq)
        if route == "completions":
            return self._build_completions(body, kind, seq)
        return self._build_messages(body, kind, seq)

    def _build_chat(self, body: dict[str, Any], kind: str, seq: int) -> _Answer:
        cfg = self.config
        model = str(body.get("model") or "fake-model")
        prompt, last = _chat_prompt(body.get("messages"))
        text = "" if kind == "blank" else self._answer_text("chat", body, prompt, last)
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        text, reason, _ = _apply_limits(text, _stop_list(body.get("stop")), max_tokens)
        finish = "length" if reason == "length" else "stop"
        rule = self._tool_rule(body, prompt, kind)
        calls: list[dict[str, Any]] = []
        if rule is not None:
            text, finish = rule["text"], "tool_calls"
            calls = [
                {
                    "id": f"call_fake{seq:08d}_{i}",
                    "type": "function",
                    "function": {
                        "name": c["name"],
                        "arguments": json.dumps(c["arguments"], ensure_ascii=False),
                    },
                }
                for i, c in enumerate(rule["calls"])
            ]
        n = body.get("n") if isinstance(body.get("n"), int) and body.get("n", 1) > 0 else 1
        n_choices = 0 if kind == "empty" else n
        prompt_tokens = _count_tokens(prompt)
        completion_tokens = (
            _count_tokens(text) + sum(_count_tokens(c["function"]["arguments"]) for c in calls)
        ) * n_choices
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        cid = f"chatcmpl-fake{seq:08d}"
        created = int(time.time())
        if body.get("stream") is not True:
            choices = [
                {
                    "index": i,
                    "message": {
                        "role": "assistant",
                        "content": text if text or not calls else None,
                        "refusal": None,
                        "annotations": [],
                        **({"tool_calls": calls} if calls else {}),
                    },
                    "logprobs": None,
                    "finish_reason": finish,
                }
                for i in range(n_choices)
            ]
            return _Answer(
                200,
                _dumps(
                    {
                        "id": cid,
                        "object": "chat.completion",
                        "created": created,
                        "model": model,
                        "choices": choices,
                        "usage": usage,
                        "service_tier": "default",
                        "system_fingerprint": _SYSTEM_FINGERPRINT,
                    }
                ),
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": _SYSTEM_FINGERPRINT,
        }

        event = functools.partial(_sse_chunk, base, include_usage)

        if kind == "malformed":
            bad = b'data: {"id": "' + cid.encode() + b'", "choices": [{"delta": \n\n'
            return _Answer(200, stream=_Stream([bad, b"data: [DONE]\n\n"], 1, 1, b""))
        events: list[bytes] = []
        for i in range(n_choices):
            events.append(
                event(
                    [
                        {
                            "index": i,
                            "delta": {"role": "assistant", "content": "", "refusal": None},
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    ]
                )
            )
        first = len(events)
        for piece in _pieces(text, cfg.chunk_words):
            for i in range(n_choices):
                events.append(
                    event(
                        [
                            {
                                "index": i,
                                "delta": {"content": piece},
                                "logprobs": None,
                                "finish_reason": None,
                            }
                        ]
                    )
                )
        for number, call in enumerate(calls):
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            deltas = [
                {**call, "index": number, "function": {**call["function"], "arguments": ""}},
                {"index": number, "function": {"arguments": arguments[:half]}},
                {"index": number, "function": {"arguments": arguments[half:]}},
            ]
            for delta in deltas:
                for i in range(n_choices):
                    events.append(
                        event(
                            [
                                {
                                    "index": i,
                                    "delta": {"tool_calls": [delta]},
                                    "logprobs": None,
                                    "finish_reason": None,
                                }
                            ]
                        )
                    )
        end = len(events)
        for i in range(n_choices):
            events.append(
                event([{"index": i, "delta": {}, "logprobs": None, "finish_reason": finish}])
            )
        if include_usage:
            events.append(event([], usage))
        events.append(b"data: [DONE]\n\n")
        error = (
            b"data: "
            + _error_body(500, False, cid, "The model had an error mid-stream (fake)")
            + b"\n\n"
        )
        return _Answer(200, stream=_Stream(events, first, end, error))

    def _build_completions(self, body: dict[str, Any], kind: str, seq: int) -> _Answer:
        cfg = self.config
        model = str(body.get("model") or "fake-model")
        prompts = _prompt_list(body.get("prompt", ""))
        n = body.get("n") if isinstance(body.get("n"), int) and body.get("n", 1) > 0 else 1
        stops = _stop_list(body.get("stop"))
        max_tokens = body.get("max_tokens", 16)
        texts: list[tuple[str, str]] = []
        for p in prompts:
            text = "" if kind == "blank" else self._answer_text("completions", body, p, p)
            text, reason, _ = _apply_limits(text, stops, max_tokens)
            if body.get("echo") is True:
                text = p + text
            texts.append((text, "length" if reason == "length" else "stop"))
        if kind == "empty":
            texts = []
        prompt_tokens = sum(_count_tokens(p) for p in prompts)
        completion_tokens = sum(_count_tokens(t) for t, _ in texts) * n
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        cid = f"cmpl-fake{seq:08d}"
        created = int(time.time())
        indexed = [(pi * n + j, t, r) for pi, (t, r) in enumerate(texts) for j in range(n)]
        if body.get("stream") is not True:
            choices = [
                {"text": t, "index": i, "logprobs": None, "finish_reason": r} for i, t, r in indexed
            ]
            return _Answer(
                200,
                _dumps(
                    {
                        "id": cid,
                        "object": "text_completion",
                        "created": created,
                        "model": model,
                        "choices": choices,
                        "usage": usage,
                        "system_fingerprint": _SYSTEM_FINGERPRINT,
                    }
                ),
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base: dict[str, Any] = {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": _SYSTEM_FINGERPRINT,
        }

        event = functools.partial(_sse_chunk, base, include_usage)

        if kind == "malformed":
            bad = b'data: {"id": "' + cid.encode() + b'", "choices": [{"text": \n\n'
            return _Answer(200, stream=_Stream([bad, b"data: [DONE]\n\n"], 1, 1, b""))
        events: list[bytes] = []
        finals: list[bytes] = []
        for i, t, r in indexed:
            for piece in _pieces(t, cfg.chunk_words):
                events.append(
                    event([{"text": piece, "index": i, "logprobs": None, "finish_reason": None}])
                )
            finals.append(event([{"text": "", "index": i, "logprobs": None, "finish_reason": r}]))
        end = len(events)
        events.extend(finals)
        if include_usage:
            events.append(event([], usage))
        events.append(b"data: [DONE]\n\n")
        error = (
            b"data: "
            + _error_body(500, False, cid, "The model had an error mid-stream (fake)")
            + b"\n\n"
        )
        return _Answer(200, stream=_Stream(events, 0, end, error))

    def _build_messages(self, body: dict[str, Any], kind: str, seq: int) -> _Answer:
        cfg = self.config
        model = str(body.get("model") or "fake-claude")
        prompt, last = _chat_prompt(body.get("messages"), body.get("system"))
        text = "" if kind == "blank" else self._answer_text("messages", body, prompt, last)
        text, reason, matched = _apply_limits(
            text, _stop_list(body.get("stop_sequences")), body.get("max_tokens")
        )
        stop_reason = {"length": "max_tokens", "stop_sequence": "stop_sequence"}.get(
            reason, "end_turn"
        )
        rule = self._tool_rule(body, prompt, kind)
        uses: list[dict[str, Any]] = []
        if rule is not None:
            text, stop_reason, matched = rule["text"], "tool_use", None
            uses = [
                {"type": "tool_use", "id": f"toolu_fake{seq:08d}_{i}", "name": c["name"]}
                | {"input": c["arguments"]}
                for i, c in enumerate(rule["calls"])
            ]
        input_tokens = _count_tokens(prompt)
        output_tokens = _count_tokens(text) + sum(
            _count_tokens(json.dumps(u["input"])) for u in uses
        )
        mid = f"msg_fake{seq:08d}"
        content: list[dict[str, Any]] = [] if kind == "empty" else [{"type": "text", "text": text}]
        if uses:
            content = ([{"type": "text", "text": text}] if text else []) + uses
        if body.get("stream") is not True:
            return _Answer(
                200,
                _dumps(
                    {
                        "id": mid,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": content,
                        "stop_reason": stop_reason,
                        "stop_sequence": matched,
                        "usage": {
                            "input_tokens": input_tokens,
                            "output_tokens": output_tokens,
                            "cache_creation_input_tokens": 0,
                            "cache_read_input_tokens": 0,
                            "service_tier": "standard",
                        },
                    }
                ),
            )

        def event(name: str, data: dict[str, Any]) -> bytes:
            return b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n"

        start = event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": mid,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": input_tokens,
                        "output_tokens": 1,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "service_tier": "standard",
                    },
                },
            },
        )
        if kind == "malformed":
            bad = b'event: message_start\ndata: {"type": "message_start", "message": {"id": \n\n'
            return _Answer(200, stream=_Stream([bad], 1, 1, b""))
        events = [start]
        has_text = bool(content) and not (uses and not text)
        if has_text:
            events.append(
                event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
        events.append(event("ping", {"type": "ping"}))
        first = len(events)
        if has_text:
            for piece in _pieces(text, cfg.chunk_words):
                events.append(
                    event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                    )
                )
            if uses:
                events.append(
                    event("content_block_stop", {"type": "content_block_stop", "index": 0})
                )
        for number, use in enumerate(uses, start=1 if has_text else 0):
            block = {"type": "tool_use", "id": use["id"], "name": use["name"], "input": {}}
            arguments = json.dumps(use["input"], ensure_ascii=False)
            half = len(arguments) // 2
            events.append(
                event(
                    "content_block_start",
                    {"type": "content_block_start", "index": number, "content_block": block},
                )
            )
            for piece in (arguments[:half], arguments[half:]):
                events.append(
                    event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": number,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
                )
            events.append(
                event("content_block_stop", {"type": "content_block_stop", "index": number})
            )
        end = len(events)
        if has_text and not uses:
            events.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
        events.append(
            event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": matched},
                    "usage": {"output_tokens": output_tokens},
                },
            )
        )
        events.append(event("message_stop", {"type": "message_stop"}))
        error = event(
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        )
        return _Answer(200, stream=_Stream(events, first, end, error))

    # ---- admin routes (not logged)
    def _admin(self, method: str, path: str, raw: bytes) -> tuple[int, bytes]:
        if path == "/_fake/health":
            return 200, b'{"status":"ok"}'
        if path == "/_fake/stats":
            return 200, _dumps(self.log.stats())
        if path == "/_fake/requests":
            return 200, _dumps([r.to_dict() for r in self.log.records])
        if path == "/_fake/config":
            cfg = dataclasses.asdict(dataclasses.replace(self.config, answer_fn=None))
            return 200, _dumps(cfg)
        if method == "POST" and path == "/_fake/reset":
            self.log.clear()
            self.reset_faults()
            return 200, b'{"reset":true}'
        if method == "POST" and path == "/_fake/reset_log":
            self.log.clear()
            return 200, b'{"reset":true}'
        if method == "POST" and path == "/_fake/configure":
            try:
                changes = json.loads(raw or b"{}")
                if "rules" in changes and isinstance(changes["rules"], list):
                    changes["rules"] = [
                        tuple(r) if isinstance(r, list) else r for r in changes["rules"]
                    ]
                self.configure(**changes)
            except (TypeError, ValueError) as exc:
                return 400, _dumps(
                    {"error": {"message": str(exc), "type": "invalid_request_error"}}
                )
            return 200, b'{"configured":true}'
        return 404, _dumps(
            {"error": {"message": f"unknown admin route {method} {path}", "type": "not_found"}}
        )


def _route(method: str, path: str) -> str:
    # OpenAI routes by suffix, so the prefixes of compatible services work too
    # (Azure's /openai/deployments/<name>/..., Gemini's /v1beta/openai/...).
    if method == "POST":
        if path.endswith("/chat/completions"):
            return "chat"
        if path.endswith("/completions") and not path.endswith("/chat/completions"):
            return "completions"
        if path == "/v1/messages":
            return "messages"
        if path == "/v1/messages/count_tokens":
            return "count_tokens"
    elif method == "GET":
        if path == "/v1/models":
            return "models"
        if path.startswith("/v1/models/"):
            return "model"
    return "unknown"


def _validate(route: str, body: Mapping[str, Any]) -> str | None:
    if route == "chat":
        if not isinstance(body.get("messages"), list):
            return "'messages' is a required property"
    elif route == "completions":
        if "prompt" not in body:
            return "'prompt' is a required property"
    elif route == "messages":
        if not isinstance(body.get("messages"), list):
            return "messages: Field required"
        if not isinstance(body.get("max_tokens"), int):
            return "max_tokens: Field required"
    if not body.get("model"):
        return "'model' is a required property" if route != "messages" else "model: Field required"
    return None


def _authorized(headers: Mapping[str, str], key: str, anthropic: bool) -> bool:
    if headers.get("authorization") == f"Bearer {key}":
        return True
    return anthropic and headers.get("x-api-key") == key


def _prompt_key_text(route: str, body: Any) -> str:
    if not isinstance(body, Mapping):
        return ""
    if route == "completions":
        return "\n".join(_prompt_list(body.get("prompt", "")))
    return _chat_prompt(body.get("messages"), body.get("system"))[0]


def _digest(route: str, text: str) -> str:
    return hashlib.blake2b(f"{route}\0{text}".encode(), digest_size=12).hexdigest()


def _models_body(models: Sequence[str], anthropic: bool) -> bytes:
    if anthropic:
        data = [json.loads(_model_body(m, True)) for m in models]
        return _dumps(
            {
                "data": data,
                "has_more": False,
                "first_id": models[0] if models else None,
                "last_id": models[-1] if models else None,
            }
        )
    return _dumps({"object": "list", "data": [json.loads(_model_body(m, False)) for m in models]})


def _model_body(model: str, anthropic: bool) -> bytes:
    if anthropic:
        return _dumps(
            {
                "type": "model",
                "id": model,
                "display_name": model,
                "created_at": "2025-01-01T00:00:00Z",
            }
        )
    return _dumps({"id": model, "object": "model", "created": 1700000000, "owned_by": "fakeserver"})


def _rst(transport: asyncio.Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    transport.abort()


async def _wait_eof(reader: asyncio.StreamReader) -> None:
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass


async def _drain(transport: asyncio.Transport) -> None:
    for _ in range(200):
        if transport.is_closing() or transport.get_write_buffer_size() == 0:
            return
        await asyncio.sleep(0.005)


# --------------------------------------------------------------------------- in-process server


class FakeServer:
    """The fake server on a background thread with its own event loop.

    ``FakeServer(**config)`` takes :class:`FakeConfig` fields as keywords plus
    ``host``/``port``. Use it as a context manager (or ``start()``/``stop()``);
    point ``openai.OpenAI(base_url=srv.openai_base_url)`` and
    ``anthropic.Anthropic(base_url=srv.base_url)`` at it. Faults follow the
    model in the module docstring; ``requests``/``log`` expose what arrived.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **config: Any) -> None:
        self.host = host
        self._requested_port = port
        self.app = FakeLLMApp(FakeConfig(**config))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle
    def start(self) -> FakeServer:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.app.start(self.host, self._requested_port))
            except BaseException as exc:  # report to the starting thread
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.app.close())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=run, name="fakeserver", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake server did not start within 10 s")
        if errors:
            raise errors[0]
        self._loop, self._thread = loop, thread
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = self._loop = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- addresses
    @property
    def port(self) -> int:
        return self.app.port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``: the Anthropic SDK's ``base_url``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``http://HOST:PORT/v1``: the OpenAI SDK's ``base_url``."""
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    # ---- configuration and log
    @property
    def config(self) -> FakeConfig:
        return self.app.config

    def configure(self, **changes: Any) -> FakeConfig:
        """Change settings at runtime; fault settings restart the fault sequence."""
        return self.app.configure(**changes)

    @property
    def log(self) -> RequestLog:
        return self.app.log

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the logged requests, oldest first."""
        return self.app.log.records

    @property
    def last_request(self) -> RequestRecord | None:
        records = self.app.log.records
        return records[-1] if records else None

    def stats(self) -> dict[str, Any]:
        return self.app.log.stats()

    def reset_log(self) -> None:
        self.app.log.clear()

    def reset_faults(self) -> None:
        self.app.reset_faults()

    def reset(self) -> None:
        """Clear the log and restart the fault sequence."""
        self.reset_log()
        self.reset_faults()


# --------------------------------------------------------------------------- separate process


class FakeServerProcess:
    """The fake server in a child process (``python tests/fakeserver.py``).

    Keywords become CLI flags (``latency_ms=5`` -> ``--latency-ms 5``; a dict of
    faults -> ``429=0.1,...``; a list -> comma-joined; ``True`` -> bare flag;
    non-path ``rules`` are written to a temporary JSON file). The log lives in
    the child: read it with :meth:`stats` / :meth:`requests`.
    """

    def __init__(
        self, *args: str, python: str | None = None, startup_timeout: float = 15.0, **options: Any
    ) -> None:
        self._argv = [python or sys.executable, str(Path(__file__).resolve()), *args]
        self._tmp: str | None = None
        self._tmp_tools: str | None = None
        for name, value in options.items():
            if name == "answer_fn":
                raise TypeError("answer_fn cannot cross a process boundary; use rules")
            if name == "prompt_faults":
                value = None if value else True
                name = "no_prompt_faults"
            elif name == "retry_after" and value is None:
                value = -1
            if value is None or value is False:
                continue
            flag = "--" + name.replace("_", "-")
            if name == "rules" and not isinstance(value, (str, os.PathLike)):
                rules, default = load_rules(value)
                fd, self._tmp = tempfile.mkstemp(suffix=".json", prefix="fakeserver-rules-")
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(
                        {
                            "rules": [{"match": m, "answer": a} for m, a in rules],
                            "default": default,
                        },
                        fh,
                    )
                value = self._tmp
            if name == "tool_rules" and not isinstance(value, (str, os.PathLike)):
                fd, path = tempfile.mkstemp(suffix=".json", prefix="fakeserver-tools-")
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(load_tool_rules(value), fh)
                self._tmp_tools = value = path
            if value is True:
                self._argv.append(flag)
            elif isinstance(value, Mapping):
                self._argv += [flag, ",".join(f"{k}={v}" for k, v in value.items())]
            elif isinstance(value, (list, tuple)):
                self._argv += [flag, ",".join(str(v) for v in value)]
            else:
                self._argv += [flag, str(value)]
        self._startup_timeout = startup_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def start(self) -> FakeServerProcess:
        argv = self._argv if "--port" in self._argv else [*self._argv, "--port", "0"]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self._startup_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise RuntimeError("fake server process did not print READY in time")
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if not line:
                code = self.proc.wait(5)
                raise RuntimeError(f"fake server process exited with {code} before READY")
            if line.startswith("READY "):
                self.base_url = line.split(None, 1)[1].strip()
                return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        for tmp in (self._tmp, self._tmp_tools):
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
        self._tmp = self._tmp_tools = None

    def __enter__(self) -> FakeServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    def _admin(self, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method="GET" if data is None else "POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        """``{"total", "connections", "routes": {...}, "faults": {...}}`` from the child."""
        return self._admin("/_fake/stats")

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The child's request log as dicts (:class:`RequestRecord` fields)."""
        return self._admin("/_fake/requests")

    def configure(self, **changes: Any) -> None:
        """Change JSON-serialisable settings of the running child."""
        if "rules" in changes and not isinstance(changes["rules"], (list, dict)):
            rules, default = load_rules(changes["rules"])
            changes["rules"] = rules
            if default is not None:
                changes.setdefault("default_answer", default)
        self._admin("/_fake/configure", changes)

    def reset_log(self) -> None:
        self._admin("/_fake/reset_log", {})

    def reset(self) -> None:
        """Clear the log and restart the fault sequence."""
        self._admin("/_fake/reset", {})


# --------------------------------------------------------------------------- pytest helpers


def fake_server_fixture(scope: str = "function", **config: Any) -> Any:
    """Build a pytest fixture yielding a started :class:`FakeServer` with ``config``.

    In a conftest: ``fake_llm = fake_server_fixture(latency_ms=0)``.
    """
    import pytest

    @pytest.fixture(scope=scope)  # type: ignore[misc]
    def _fixture() -> Iterator[FakeServer]:
        with FakeServer(**config) as server:
            yield server

    return _fixture


if "pytest" in sys.modules and __name__ != "__main__":
    fake_server = fake_server_fixture()
    __all__.append("fake_server")


# --------------------------------------------------------------------------- CLI


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Loopback fake OpenAI/Anthropic server (see module docstring)."
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--faults", default="", help="e.g. 429=0.1,500=0.05,reset=0.01")
    p.add_argument(
        "--schedule", default=None, help="e.g. ok,429,ok (then all ok unless --schedule-cycle)"
    )
    p.add_argument("--schedule-cycle", action="store_true")
    p.add_argument("--fail-first-n", type=int, default=0)
    p.add_argument("--fail-first-kind", default="500")
    p.add_argument("--fault-by", choices=("order", "content"), default="order")
    p.add_argument(
        "--no-prompt-faults", action="store_true", help="ignore [[fault:KIND]] prompt markers"
    )
    p.add_argument(
        "--retry-after", type=float, default=1.0, help="Retry-After seconds; negative: no header"
    )
    p.add_argument("--retry-after-statuses", default="429")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--ttft-ms", type=float, default=None)
    p.add_argument("--chunk-delay-ms", type=float, default=0.0)
    p.add_argument("--chunk-words", type=int, default=1)
    p.add_argument("--midstream-chunks", type=int, default=2)
    p.add_argument("--rules", default=None, help="JSON rules file")
    p.add_argument("--tool-rules", default=None, help="JSON file: a list of tool rules")
    p.add_argument("--default-answer", default=None)
    p.add_argument("--echo-prefix", default="echo: ")
    p.add_argument("--echo-chars", type=int, default=200)
    p.add_argument("--models", default="fake-model,fake-claude")
    p.add_argument("--api-key", default=None)
    p.add_argument("--max-log", type=int, default=10000, help="records kept (0: unbounded)")
    return p


def config_from_args(args: argparse.Namespace) -> FakeConfig:
    rules: list[tuple[str, str]] = []
    default = args.default_answer
    if args.rules:
        rules, file_default = load_rules(args.rules)
        default = default if default is not None else file_default
    return FakeConfig(
        seed=args.seed,
        faults=parse_faults(args.faults),
        schedule=[s for s in args.schedule.split(",") if s.strip()] if args.schedule else None,
        schedule_cycle=args.schedule_cycle,
        fail_first_n=args.fail_first_n,
        fail_first_kind=args.fail_first_kind,
        fault_by=args.fault_by,
        prompt_faults=not args.no_prompt_faults,
        retry_after=None if args.retry_after < 0 else args.retry_after,
        retry_after_statuses=tuple(
            int(s) for s in args.retry_after_statuses.split(",") if s.strip()
        ),
        latency_ms=args.latency_ms,
        ttft_ms=args.ttft_ms,
        chunk_delay_ms=args.chunk_delay_ms,
        chunk_words=args.chunk_words,
        midstream_chunks=args.midstream_chunks,
        rules=rules,
        tool_rules=load_tool_rules(args.tool_rules) if args.tool_rules else [],
        default_answer=default,
        echo_prefix=args.echo_prefix,
        echo_chars=args.echo_chars,
        models=[m for m in args.models.split(",") if m],
        api_key=args.api_key,
        max_log=args.max_log or None,
    )


async def _serve(config: FakeConfig, host: str, port: int) -> None:
    app = FakeLLMApp(config)
    bound = await app.start(host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"READY http://{shown}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await app.close()


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: serve until SIGTERM/SIGINT."""
    args = _build_parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config_from_args(args), args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
