"""The project: where ``evalkit.yaml``, ``prompts/``, ``suites/`` and the store are.

Nothing here does I/O at import time. ``Project.discover()`` walks up from the working
directory to the nearest ``evalkit.yaml``; without one, the working directory is the project
and every default applies (the embedded local model, ``.evalkit/evalkit.duckdb``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evalkit.errors import InputError, did_you_mean, register_secret_env
from evalkit.load.source import LineMap, display_path, read_text, read_yaml, validate

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_DB",
    "DEFAULT_PROVIDER_ID",
    "OtelConfig",
    "Project",
    "ProjectConfig",
]

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


class _Price(BaseModel):
    """One entry of ``pricing:`` (checked here, so errors carry the line)."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)


class CacheConfig(BaseModel):
    """``cache:`` in evalkit.yaml: where the response cache lives (default: in the store)."""

    model_config = ConfigDict(extra="forbid")

    #: ``store`` (the default: the cache table of the store) or ``redis`` (shared by runners).
    backend: Literal["store", "redis"] = "store"
    #: ``redis://[:password@]host:port/db`` (``EVALKIT_CACHE_URL`` overrides it).
    url: str | None = None
    #: Prefix of every Redis key, so several projects can share one Redis.
    prefix: str = "evalkit"


class OtelConfig(BaseModel):
    """``otel:`` in evalkit.yaml: export each run as an OpenTelemetry trace over OTLP/HTTP
    (docs/opentelemetry.md). ``evalkit run --otel`` / ``--no-otel`` override ``enabled``."""

    model_config = ConfigDict(extra="forbid")

    #: Export every ``evalkit run`` of the project (``--no-otel`` turns it off for one run).
    enabled: bool = True
    #: The OTLP/HTTP traces URL (default: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, else
    #: ``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``/v1/traces``, else ``http://localhost:4318/v1/traces``).
    endpoint: str | None = None
    #: Request headers, each taken from an environment variable: ``{header: ENV_VAR}``. The
    #: values are never written to a file (``OTEL_EXPORTER_OTLP_HEADERS`` works too).
    headers_env: dict[str, str] = Field(default_factory=dict)
    #: ``service.name`` of the exported resource.
    service_name: str = "evalkit"
    #: Longest wait for one export, retries included; a receiver that is down costs at most
    #: this once per command (then export stops, with one warning).
    timeout_s: float = Field(default=3.0, gt=0, le=60)
    #: Also export prompts and answers (``gen_ai.input.messages`` / ``gen_ai.output.messages``).
    capture_content: bool = False


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
    #: OpenTelemetry export of runs (off unless present or ``--otel`` is given).
    otel: OtelConfig | None = None

    def provider_ids(self) -> list[str]:
        """The ids a suite or option may name: the entries, plus the implicit ``local`` when
        no entry is of type ``local``."""
        ids = list(self.providers)
        if not any(spec.get("type") == "local" for spec in self.providers.values()):
            ids.append(DEFAULT_PROVIDER_ID)
        return ids


def _check_providers(config: ProjectConfig, lines: LineMap) -> None:
    """Every provider entry has a known ``type``, and every id the file names is defined —
    each error at its own line, with the closest valid name."""
    from evalkit.registry import PROVIDERS

    ids = config.provider_ids()
    for spec in config.providers.values():
        if isinstance(spec.get("api_key_env"), str):
            register_secret_env(spec["api_key_env"])
    for pid, spec in config.providers.items():
        kind = spec.get("type")
        if not isinstance(kind, str) or not kind:
            raise lines.error(
                ("providers", pid),
                f"provider '{pid}' needs a `type`",
                fix=f"e.g. `{pid}: {{type: openai, model: gpt-4o-mini}}`; types: "
                + ", ".join(PROVIDERS.names()),
            )
        if kind not in PROVIDERS:
            raise lines.error(
                ("providers", pid, "type"),
                f"provider '{pid}': unknown provider type '{kind}'",
                fix=did_you_mean(
                    kind, PROVIDERS.names(), also="types: " + ", ".join(PROVIDERS.names())
                ),
            )
        chain = spec.get("chain") if kind == "fallback" else None
        for i, member in enumerate(chain if isinstance(chain, list) else []):
            if isinstance(member, str) and member not in ids:
                raise _undefined(lines, ("providers", pid, "chain", i), member, ids)
    for key in ("provider", "judge"):
        named = getattr(config.defaults, key)
        if named is not None and named not in ids:
            raise _undefined(lines, ("defaults", key), named, ids)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_otel(config: ProjectConfig, lines: LineMap) -> None:
    """``otel.headers_env`` names environment variables, never the secrets themselves."""
    if config.otel is None:
        return
    for header, env in config.otel.headers_env.items():
        if not _ENV_NAME.fullmatch(env):
            raise lines.error(
                ("otel", "headers_env", header),
                f"otel header '{header}' must name an environment variable, not hold its value",
                fix=f"put the value in an environment variable, e.g. `{header}: OTLP_TOKEN`, and "
                "export OTLP_TOKEN=... (secrets never go into evalkit.yaml)",
            )
        register_secret_env(env)


def _undefined(lines: LineMap, loc: tuple[str | int, ...], pid: str, ids: list[str]) -> InputError:
    return lines.error(
        loc,
        f"provider '{pid}' is not defined",
        fix=did_you_mean(pid, ids, also=f"define it under `providers:` (ids: {', '.join(ids)})"),
    )


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
        if data is None:  # an empty evalkit.yaml: every default applies
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
            examples={
                "db": "db: .evalkit/evalkit.duckdb",
                "concurrency": "concurrency: 4",
                "error_budget": "error_budget: 0.05",
                "providers": "providers: {gpt: {type: openai, model: gpt-4o-mini}}",
            },
        )
        _check_providers(config, lines)
        _check_otel(config, lines)
        for model, price in config.pricing.items():
            validate(
                _Price,
                price,
                lines.sub("pricing", model),
                what=f"pricing for '{model}'",
                examples={"input": "input: 0.15", "output": "output: 0.60"},
            )
        return cls(
            root=path.parent.resolve(),
            config=config,
            config_path=path,
            lines=lines,
            config_source=read_text(path, shown=lines.path),
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

    def db_origin(self, override: str | Path | None = None) -> str:
        """Where ``db_path(override)`` came from, as a user would change it."""
        if override:
            return "--db"
        if os.environ.get("EVALKIT_DB"):
            return "EVALKIT_DB"
        if self.config.db:
            line = self.lines.line(("db",)) if self.lines else None
            return f"`db:` in {self.shown_config}" + (f" (line {line})" if line else "")
        return "--db"

    @property
    def shown_config(self) -> str:
        return display_path(self.config_path) if self.config_path else CONFIG_FILE
