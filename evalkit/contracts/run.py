"""A run as ``evalkit run`` returns it (``evalkit.run/1``) and as ``evalkit runs show`` reads
it back from the store (``evalkit.run.show/1``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, computed_field, field_validator, model_validator

from evalkit.contracts.base import Contract
from evalkit.contracts.comparison import Comparison
from evalkit.contracts.summary import Gate, RunSummary
from evalkit.contracts.transcript import Transcript

__all__ = ["Evaluation", "RunHeader", "RunOutcome", "RunProvider", "StoredRun"]


class RunHeader(Contract):
    """What a run was: printed above its table (empty when the run never started)."""

    suite: str | None = None
    """The suite."""
    cases: int | None = None
    """Cases planned."""
    repeat: int | None = None
    """Repeats per case."""
    prompts: list[str] = Field(default_factory=list)
    """Prompt versions, ``name@vN``."""
    providers: dict[str, str | None] = Field(default_factory=dict)
    """Provider id → model (None before the provider started, or for a dry run)."""
    baseline_note: str | None = None
    """Why the run was not compared with the baseline it was given, when it was not."""
    merged_from: list[str] = Field(default_factory=list)
    """For a run merged from shards (``evalkit merge``): ``I/N RUN`` of each shard."""


class RunOutcome(Contract):
    """One suite's run: its id, summary, gates, verdict against a baseline and exit code."""

    model_config = ConfigDict(validate_assignment=False)

    run_id: str
    """Run id ("" for a dry run or a run that never started)."""
    suite: str
    """The suite."""
    status: str
    """``completed``, ``incomplete``, ``interrupted``, or ``planned`` (dry run)."""
    exit_code: int
    """0 ok, 1 a gate failed or a regression (per ``--fail-on``), 3 incomplete."""
    planned: int
    """Calls planned."""
    elapsed_s: float = 0.0
    """Wall time of the calls, seconds."""
    header: RunHeader = Field(default_factory=RunHeader)
    """What the run was."""
    summary: RunSummary
    """Aggregates per prompt version × provider."""
    gates: list[Gate]
    """Every gate on every scope."""
    warnings: list[str] = Field(default_factory=list)
    """Prompt versions edited in place, baselines missing, ..."""
    error: str | None = None
    """Why the run is incomplete."""
    exit_reasons: list[str] = Field(default_factory=list)
    """Why the exit code is 1 under ``--fail-on`` (``gate``, ``regression``, ...)."""
    comparison: Comparison | None = None
    """The verdict against the baseline (``--baseline``)."""
    transcripts: list[Transcript] = Field(default_factory=list)
    """Every conversation's or agent loop's requests, one per result of a case with
    ``turns`` or a prompt with ``tools`` (empty for a suite of single requests)."""

    if TYPE_CHECKING:  # producers pass plain data (a summary dict, gate dicts): validated

        def __init__(
            self,
            *,
            run_id: str,
            suite: str,
            status: str,
            exit_code: int,
            planned: int,
            summary: RunSummary | dict[str, Any],
            gates: Sequence[Gate | dict[str, Any]],
            elapsed_s: float = 0.0,
            header: RunHeader | dict[str, Any] = ...,
            warnings: list[str] = ...,
            error: str | None = None,
            exit_reasons: list[str] = ...,
            comparison: Comparison | dict[str, Any] | None = None,
            transcripts: Sequence[Transcript | dict[str, Any]] = ...,
        ) -> None: ...


class Evaluation(Contract):
    """``evalkit.run/1``: every suite run of one ``evalkit run``."""

    runs: list[RunOutcome]
    """One per suite, in order."""
    db: Path
    """The store."""
    dry_run: bool = False
    """Whether nothing was called (``--dry-run``)."""

    @model_validator(mode="before")
    @classmethod
    def read_json(cls, value: Any) -> Any:
        """Read back printed ``--json`` output: ``schema`` and ``exit_code`` are derived."""
        if isinstance(value, dict) and ("schema" in value or "exit_code" in value):
            if value.get("schema", "evalkit.run/1") != "evalkit.run/1":
                raise ValueError(f"not evalkit.run/1 data (schema {value['schema']!r})")
            value = {k: v for k, v in value.items() if k not in ("schema", "exit_code")}
        return value

    @computed_field(alias="schema")  # type: ignore[prop-decorator]
    @property
    def schema_(self) -> Literal["evalkit.run/1"]:
        """Always ``evalkit.run/1``."""
        return "evalkit.run/1"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exit_code(self) -> int:
        """The command's exit code: the worst of the runs' (2, then 3, then 1, else 0)."""
        codes = {r.exit_code for r in self.runs}
        for code in (2, 3, 1):
            if code in codes:
                return code
        return 0

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` output."""
        data = super().as_json()
        return {key: data[key] for key in ("schema", "exit_code", "db", "dry_run", "runs")}

    def to_pandas(self, *, scores: bool = True) -> Any:
        """The results of these runs as a pandas DataFrame, one row per result, with one
        column per scorer unless ``scores`` is false (``evalkit.frames``)."""
        from evalkit.frames import evaluation_frame

        return evaluation_frame(self, scores=scores)


class RunProvider(Contract):
    """A provider a stored run used."""

    provider: str
    """Provider id."""
    type: str
    """Provider type."""
    model: str | None
    """Model."""
    identity: Any
    """What identifies it (type, model, base_url, mode, weights; never a key)."""


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, datetime) else value


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class StoredRun(Contract):
    """``evalkit.run.show/1``: a stored run with its summary recomputed from the store.

    Columns added to ``runs`` by later migrations are carried through as they are."""

    model_config = ConfigDict(extra="allow")

    schema_: Literal["evalkit.run.show/1"] = Field(default="evalkit.run.show/1", alias="schema")
    """Always ``evalkit.run.show/1``."""
    id: str
    """Run id."""
    suite: str
    """The suite."""
    suite_path: str | None = None
    """The suite file, relative to the project."""
    suite_hash: str | None = None
    """Hash of the suite file and its case file."""
    started_at: str | None = None
    """When it started (UTC)."""
    ended_at: str | None = None
    """When it ended (UTC)."""
    status: str
    """``running``, ``completed``, ``incomplete``, ``interrupted``."""
    git_commit: str | None = None
    """The project's commit."""
    git_dirty: bool | None = None
    """Whether the checkout had changes."""
    evalkit_version: str | None = None
    """evalkit's version."""
    config_hash: str | None = None
    """Hash of evalkit.yaml, the suite and the provider identities."""
    options: dict[str, Any] | None = None
    """How it was run (providers, prompts, repeat, concurrency, ...)."""
    tags: dict[str, str] | None = None
    """``--tag`` labels."""
    planned: int | None = None
    """Calls planned."""
    exit_code: int | None = None
    """Its exit code."""
    baseline: str | None = None
    """The ``--baseline`` reference it was given."""
    baseline_run_id: str | None = None
    """The run that reference resolved to."""
    providers: list[RunProvider] = Field(default_factory=list)
    """The providers it used."""
    summary: RunSummary
    """Aggregates, recomputed from the store."""
    gates: list[Gate] = Field(default_factory=list)
    """The gates as checked when it ran."""
    comparison: Comparison | None = None
    """The verdict against its baseline, as stored when it ran (flips as case ids)."""
    transcripts: list[Transcript] = Field(default_factory=list)
    """Its conversations' and agent loops' requests (``runs show --case`` keeps one case's)."""
    same_command: list[str] = Field(default_factory=list)
    """The runs the same ``evalkit run`` started, in order, this one included (one id for a
    single suite)."""

    @field_validator("started_at", "ended_at", mode="before")
    @classmethod
    def timestamp_text(cls, value: Any) -> Any:
        """Timestamps as the store prints them (``2026-01-01 12:00:00.123``)."""
        return _text(value)

    @field_validator("options", "tags", "comparison", mode="before")
    @classmethod
    def parse_json(cls, value: Any) -> Any:
        """JSON columns may arrive as text."""
        return _json(value)
