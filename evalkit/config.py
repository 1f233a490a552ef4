"""The project: where ``evalkit.yaml``, ``prompts/``, ``suites/`` and the store are.

Nothing here does I/O at import time. ``Project.discover()`` walks up from the working
directory to the nearest ``evalkit.yaml``; without one, the working directory is the project
and every default applies (the embedded local model, ``.evalkit/evalkit.duckdb``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evalkit.errors import InputError
from evalkit.load.source import LineMap, display_path, read_yaml, validate

__all__ = ["CONFIG_FILE", "DEFAULT_DB", "DEFAULT_PROVIDER_ID", "Project", "ProjectConfig"]

CONFIG_FILE = "evalkit.yaml"
DEFAULT_DB = Path(".evalkit") / "evalkit.duckdb"
#: The id of the embedded local model when evalkit.yaml names no provider of type ``local``.
DEFAULT_PROVIDER_ID = "local"


class Defaults(BaseModel):
    """``defaults:`` in evalkit.yaml."""

    model_config = ConfigDict(extra="forbid")

    #: Provider id used by judge scorers that name none.
    judge: str | None = None
    #: Provider id used when a suite names none (default: the embedded local model).
    provider: str | None = None
    #: Sentence-transformers model (path) for the similarity scorer.
    embedding_model: str | None = None
    #: Per-provider concurrency when ``-j`` is not given.
    concurrency: int = Field(default=4, ge=1, le=256)
    #: Largest share of failed calls a run tolerates before it ends with exit 3.
    error_budget: float = Field(default=0.05, ge=0, le=1)


class CacheConfig(BaseModel):
    """``cache:`` in evalkit.yaml: where the response cache lives (default: in the store)."""

    model_config = ConfigDict(extra="forbid")

    #: ``store`` (the default: the cache table of the store) or ``redis`` (shared by runners).
    backend: Literal["store", "redis"] = "store"
    #: ``redis://[:password@]host:port/db`` (``EVALKIT_CACHE_URL`` overrides it).
    url: str | None = None
    #: Prefix of every Redis key, so several projects can share one Redis.
    prefix: str = "evalkit"


class ProjectConfig(BaseModel):
    """``evalkit.yaml``. Provider specs are validated by each provider type's own options."""

    model_config = ConfigDict(extra="forbid")

    #: The store: a DuckDB file, or ``ducklake:postgres:<conninfo>`` / ``ducklake:<file>``.
    db: str | None = None
    #: Data folder of a DuckLake store (``EVALKIT_DATA_PATH`` overrides it).
    data_path: str | None = None
    #: The response cache (``EVALKIT_CACHE_URL=redis://...`` selects Redis too).
    cache: CacheConfig = Field(default_factory=CacheConfig)
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    #: Prices per 1M tokens, by model name (overrides the built-in table).
    pricing: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("providers")
    @classmethod
    def _each_has_type(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for pid, spec in value.items():
            if not isinstance(spec, dict) or "type" not in spec:
                raise ValueError(f"provider '{pid}' needs a `type` (local, openai, anthropic, ...)")
        return value


@dataclass
class Project:
    """A user's project directory and its parsed ``evalkit.yaml``."""

    root: Path
    config: ProjectConfig = field(default_factory=ProjectConfig)
    config_path: Path | None = None
    lines: LineMap | None = None
    #: Raw text of evalkit.yaml (hashed into each run's config hash).
    config_source: str = ""

    @classmethod
    def discover(cls, start: Path | None = None) -> Project:
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            candidate = folder / CONFIG_FILE
            if candidate.is_file():
                return cls.load(candidate)
        return cls(root=here)

    @classmethod
    def load(cls, path: Path) -> Project:
        data, lines = read_yaml(path)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InputError(
                "evalkit.yaml must be a mapping",
                path=lines.path,
                line=1,
                fix="start with keys such as `providers:` and `defaults:`",
            )
        config = validate(
            ProjectConfig,
            data,
            lines,
            examples={"db": "db: .evalkit/evalkit.duckdb", "concurrency": "concurrency: 4"},
        )
        return cls(
            root=path.parent.resolve(),
            config=config,
            config_path=path,
            lines=lines,
            config_source=path.read_text(encoding="utf-8"),
        )

    @property
    def prompts_dir(self) -> Path:
        return self.root / "prompts"

    @property
    def suites_dir(self) -> Path:
        return self.root / "suites"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def db_location(self, override: str | Path | None = None) -> str | Path:
        """The store's location: a DuckDB file's path, or a ``ducklake:...`` string as given."""
        chosen = override or os.environ.get("EVALKIT_DB") or self.config.db
        if chosen and str(chosen).startswith("ducklake:"):
            return str(chosen)
        return self.db_path(override)

    def data_path(self) -> str | None:
        """A DuckLake store's data folder: ``EVALKIT_DATA_PATH`` > ``data_path:`` (a local
        folder, relative like ``db:``, or an object store URL such as ``s3://bucket/evalkit/``)."""
        from_env = os.environ.get("EVALKIT_DATA_PATH")
        chosen = from_env or self.config.data_path
        if not chosen:
            return None
        if "://" in chosen:
            return chosen
        path = Path(chosen).expanduser()
        return str(path if path.is_absolute() else (Path.cwd() if from_env else self.root) / path)

    def cache_url(self) -> str | None:
        """The shared response cache's URL (``EVALKIT_CACHE_URL`` > ``cache: {backend: redis,
        url: ...}``); None: the cache lives in the store."""
        from_env = os.environ.get("EVALKIT_CACHE_URL")
        if from_env:
            return from_env
        if self.config.cache.backend == "redis":
            return self.config.cache.url or "redis://127.0.0.1:6379/0"
        return None

    def db_path(self, override: str | Path | None = None) -> Path:
        """``--db`` > ``EVALKIT_DB`` > ``db:`` in evalkit.yaml > ``.evalkit/evalkit.duckdb``.

        For a DuckLake store (``ducklake:...``) this is where local files (logs) go:
        ``.evalkit/`` of the project."""
        chosen = override or os.environ.get("EVALKIT_DB") or self.config.db
        if chosen and str(chosen).startswith("ducklake:"):
            return self.root / DEFAULT_DB
        if chosen:
            path = Path(chosen).expanduser()
            # A relative --db/EVALKIT_DB is relative to where the user typed it; a relative
            # `db:` in evalkit.yaml is relative to the project root.
            if not path.is_absolute():
                from_cli = override or os.environ.get("EVALKIT_DB")
                path = (Path.cwd() if from_cli else self.root) / path
            return path
        return self.root / DEFAULT_DB

    def provider_line(self, provider_id: str, *keys: str) -> int | None:
        return self.lines.line(("providers", provider_id, *keys)) if self.lines else None

    @property
    def shown_config(self) -> str:
        return display_path(self.config_path) if self.config_path else CONFIG_FILE
