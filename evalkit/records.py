"""Typed records shared by every stage of the pipeline.

load → ``PromptVersion``, ``Case``, ``Suite``; plan → ``WorkItem``; the call service →
``Generation`` inside a ``CallOutcome``; run → ``Result``; score → ``Score``. The store writes
``Result`` and ``Score`` rows field by field (``RESULT_COLUMNS``/``SCORE_COLUMNS`` in
``evalkit.store.db``, columns added by ``evalkit.store.migrations``): a field added here needs
its column there, or it is not stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import ProviderCallError

__all__ = [
    "HISTORY_ROLE",
    "CallOutcome",
    "Case",
    "Gates",
    "Generation",
    "Message",
    "Passage",
    "Passages",
    "PromptVersion",
    "Result",
    "Score",
    "ScoreCacheRow",
    "ScorerSpec",
    "ScriptedToolResult",
    "StoredRun",
    "Suite",
    "ToolCall",
    "WorkItem",
    "canonical_json",
    "content_hash",
    "flatten",
    "parse_arguments",
]


#: One encoder for every content hash (``json.dumps`` with options builds one per call).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the input of every content hash."""
    return _CANONICAL.encode(value)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings → ``{"a.b.c": leaf}`` (to say which part of two records differs)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def content_hash(value: Any, length: int = 16) -> str:
    """A short SHA-256 of ``value``'s canonical JSON."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call of a declared tool (function) the model made: its name and arguments."""

    #: Call id, renumbered ``call_<step>_<n>`` by the run (so a conversation's requests, and
    #: their cache keys, do not depend on ids a server drew at random).
    id: str
    name: str
    #: The parsed JSON arguments (usually a mapping); the raw text when it is not JSON.
    arguments: Any

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        return cls(str(data.get("id") or ""), str(data["name"]), data.get("arguments"))

    def arguments_json(self) -> str:
        """The arguments as the JSON text an OpenAI request carries."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False, sort_keys=True)


def parse_arguments(text: Any) -> Any:
    """A tool call's arguments as the model sent them: parsed JSON, ``{}`` for an empty
    string, else the text itself (a scorer then says it is not JSON)."""
    if not isinstance(text, str):
        return text
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


#: The role of a prompt message that is a placeholder for a conversation held in a case var
#: (``- {history: VAR}`` in a prompt file); rendering replaces it with the var's messages.
HISTORY_ROLE = "history"


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn. In a ``PromptVersion`` ``content`` is a Jinja2 template; after
    rendering it is plain text.

    An assistant turn may carry the ``tool_calls`` it made; a ``tool`` turn is the result
    of one call (``tool_call_id``). ``as_dict`` gives the OpenAI chat shape."""

    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    #: The tool's name, on a ``tool`` turn.
    name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json()},
                }
                for call in self.tool_calls
            ]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass(frozen=True)
class PromptVersion:
    """``prompts/<name>/v<N>.yaml``: templates and params, identified by name, version, hash."""

    name: str
    #: ``"v2"``: taken from the file name.
    version: str
    #: ``2``: the number in the version, for ordering and ``@latest``.
    number: int
    path: Path
    #: The file's text as it was read (stored with the version).
    source: str
    messages: tuple[Message, ...]
    params: dict[str, Any]
    description: str | None = None
    parent: str | None = None
    #: Content hash of the message templates and params (not of comments or description).
    hash: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tools it declares (OpenAI function format; kept in ``params``, so they are
        part of every request's params, its cache key and the stored provenance)."""
        tools: list[dict[str, Any]] = self.params.get("tools") or []
        return tools


@dataclass(frozen=True, slots=True)
class ScriptedToolResult:
    """What a tool returns in a suite's script (``tool_results:``): for a call of ``name``
    whose arguments contain ``arguments`` (every key given, equal), the text ``result``."""

    name: str
    result: str
    arguments: dict[str, Any] | None = None

    def matches(self, call: ToolCall) -> bool:
        if call.name != self.name:
            return False
        if self.arguments is None:
            return True
        given = call.arguments if isinstance(call.arguments, dict) else {}
        return all(key in given and given[key] == want for key, want in self.arguments.items())

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "result": self.result}
        if self.arguments is not None:
            out["arguments"] = self.arguments
        return out


#: Requests per turn at most in an agent loop when neither the case nor the suite says.
DEFAULT_MAX_STEPS = 5


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrieved passage of a case's ``context``: the id citations name, and its text."""

    id: str
    text: str
    #: Anything else the retriever knows (title, source URL, score), for templates.
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "text": self.text}
        if self.metadata:
            data["metadata"] = self.metadata
        return data


class Passages(tuple[Passage, ...]):
    """A case's passages as a prompt template sees ``context``: ``{{ context }}`` renders
    them one per line as ``[id] text``; ``{% for p in context %}`` walks them (``p.id``,
    ``p.text``, ``p.metadata``)."""

    __slots__ = ()

    def __str__(self) -> str:
        return "\n".join(f"[{p.id}] {p.text}" for p in self)


@dataclass(frozen=True)
class Case:
    """One test case of a suite."""

    #: Stable id: given in the file, or derived from the content when absent.
    id: str
    #: Content hash of ``vars`` and ``reference``: a changed case gets a new hash.
    hash: str
    vars: dict[str, Any]
    reference: str | list[str] | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Where the case was read from (for error messages).
    source: str = ""
    line: int | None = None
    #: The conversation so far (``messages:``), sent after the prompt's messages.
    messages: tuple[Message, ...] = ()
    #: User turns (``turns:``), rendered: each is appended in turn and answered (one request
    #: per turn, in order).
    turns: tuple[str, ...] = ()
    #: Scripted tool results (the case's, then the suite's), for an agent loop.
    tool_results: tuple[ScriptedToolResult, ...] = ()
    #: Requests per turn at most when tool calls are answered from ``tool_results``
    #: (None: ``DEFAULT_MAX_STEPS``).
    max_steps: int | None = None
    #: Retrieved passages the answer should be grounded in (``context:``); None when the
    #: case has none, ``()`` when retrieval found nothing.
    context: Passages | None = None

    @property
    def references(self) -> list[str]:
        if self.reference is None:
            return []
        return [self.reference] if isinstance(self.reference, str) else list(self.reference)

    @property
    def conversation(self) -> dict[str, Any] | None:
        """The conversation script (history, turns, tool results, max steps) as stored with
        the case and hashed into it; None for a plain case."""
        out: dict[str, Any] = {}
        if self.messages:
            out["messages"] = [m.as_dict() for m in self.messages]
        if self.turns:
            out["turns"] = list(self.turns)
        if self.tool_results:
            out["tool_results"] = [t.as_dict() for t in self.tool_results]
            out["max_steps"] = self.steps_per_turn
        return out or None

    @property
    def steps_per_turn(self) -> int:
        """Requests per turn at most (tool calls answered from the script, then a reply)."""
        return self.max_steps or DEFAULT_MAX_STEPS

    @property
    def template_vars(self) -> dict[str, Any]:
        """What a prompt template sees: the vars, and ``context`` when the case has one."""
        if self.context is None:
            return self.vars
        return {**self.vars, "context": self.context}


@dataclass(frozen=True)
class ScorerSpec:
    """A scorer as a suite declares it: its type, its label and its validated options."""

    type: str
    #: Label used in reports and the ``scores.scorer`` column; unique within a suite.
    name: str
    #: The validated options model of the scorer type (includes threshold and weight).
    options: Any
    line: int | None = None


@dataclass(frozen=True)
class Gates:
    """Suite-level requirements; any failed gate makes ``evalkit run`` exit 1.

    Each applies to every (prompt version × provider) group of the run separately, except
    ``cost_usd`` and ``tokens`` which are totals for the whole run.
    """

    pass_rate: float | None = None
    #: Lowest mean weighted score per group (see ``Result.score``).
    score: float | None = None
    latency_p95_ms: float | None = None
    ttft_p95_ms: float | None = None
    cost_usd: float | None = None
    tokens: int | None = None


@dataclass(frozen=True)
class Suite:
    """``suites/<name>.yaml`` with its cases loaded and its scorers validated."""

    name: str
    path: Path
    #: The prompt versions the suite names, resolved (``@latest`` → the newest version).
    prompts: tuple[PromptVersion, ...]
    #: Provider ids; empty means the default local model.
    providers: tuple[str, ...]
    cases: tuple[Case, ...]
    scorers: tuple[ScorerSpec, ...]
    repeat: int = 1
    gates: Gates = field(default_factory=Gates)
    #: ``equivalence_margin:`` as stored with the run (``contracts.MarginSetting`` data).
    equivalence_margin: dict[str, Any] | None = None
    description: str | None = None
    #: Hash of the suite file and its case file.
    hash: str = ""
    shown_path: str = ""


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One planned call: a case × a prompt version × a provider × a repeat index."""

    suite: str
    case: Case
    prompt: PromptVersion
    provider: str
    repeat: int
    #: Deterministic id of the result this item produces (so a resumed run adds no duplicates).
    result_id: str


@dataclass(slots=True)
class Generation:
    """What a provider returns for one successful call."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    finish_reason: str | None = None
    #: The model name the server reported, if any.
    model: str | None = None
    #: Input tokens the server read from its own prompt cache (billed at a lower price).
    cached_input_tokens: int | None = None
    #: Which provider id answered (set by fallback chains).
    served_by: str | None = None
    #: Tool calls the model made (empty when it answered in text only).
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(slots=True)
class Result:
    """One stored answer (or failure) for a ``WorkItem``; a row of the ``results`` table."""

    id: str
    run_id: str
    suite: str
    case_id: str
    case_hash: str
    #: ``name@vN``
    prompt: str
    prompt_name: str
    prompt_version: str
    prompt_hash: str
    #: Provider id as named in evalkit.yaml (``gemma``, ``gpt``).
    provider: str
    provider_type: str
    model: str | None
    #: Effective generation params (temperature, max_tokens, seed, stop, ...).
    params: dict[str, Any]
    repeat: int
    #: The rendered request: messages (chat) or prompt text (completion).
    input: Any
    output: str | None = None
    error: str | None = None
    error_class: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    cache_hit: bool = False
    #: Which provider answered (differs from ``provider`` behind a fallback chain).
    served_by: str | None = None
    attempts: int = 1
    finish_reason: str | None = None
    #: Key of the response cache entry this answer is (or would be) stored under.
    cache_key: str | None = None
    cached_input_tokens: int | None = None
    #: All pass/fail scorers passed (True), one failed or the call failed (False), or no
    #: scorer could decide (None).
    passed: bool | None = None
    created_at: float = 0.0
    #: Weighted mean of the pass/fail outcomes of the scorers that decided (each scorer's
    #: ``weight``); 0 for a failed call; None when no scorer decided.
    score: float | None = None
    #: Every tool call the model made, in order (``ToolCall.as_dict`` plus ``turn`` and
    #: ``step``); None when it made none.
    tool_calls: list[dict[str, Any]] | None = None
    #: A conversation's or agent loop's requests, one entry per request (see
    #: ``evalkit.run.conversation``); None for a single plain request.
    transcript: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class Score:
    """One scorer's verdict on one result; a row of the ``scores`` table."""

    result_id: str
    run_id: str
    #: The scorer's label in the suite.
    scorer: str
    scorer_type: str
    #: Hash of ``signature_json``: equal signatures are comparable scores.
    signature: str
    signature_json: dict[str, Any]
    value: float | None
    #: None where the scorer has no pass/fail outcome or could not decide.
    passed: bool | None
    threshold: float | None = None
    detail: str | None = None
    #: The value was reused from the score cache (same signature, case and output).
    cache_hit: bool = False


@dataclass
class CallOutcome:
    """How one call through the call service (``evalkit.run.calls``) ended: a generation, or
    the error of its last attempt, or ``refused`` without any request (e.g. ``max_cost``)."""

    generation: Generation | None
    error: ProviderCallError | None
    #: Requests sent (0 when the cache answered or the call was refused).
    attempts: int
    #: Answered by the response cache (no request was made).
    cache_hit: bool = False
    #: USD the call cost (0 for a cache hit: it was paid when first made); None if unpriced.
    cost_usd: float | None = None
    #: Which provider answered (a fallback chain's member, else the provider called).
    served_by: str | None = None
    #: Why no request was made, e.g. ``"max_cost"``.
    refused: str | None = None


@dataclass(frozen=True)
class StoredRun:
    """A stored run's successful answers of one provider (what ``replay`` serves)."""

    run_id: str
    #: (case id, prompt ``name@vN``, repeat) → the stored result's columns.
    answers: Mapping[tuple[str, str, int], Mapping[str, Any]]
    #: The replayed provider's identity as recorded with the run.
    identity: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class ScoreCacheRow:
    """A reusable score: what a scorer of this signature gave this output of this case."""

    key: str
    scorer_type: str
    signature: str
    value: float | None
    detail: str | None
