"""Provider ids (from evalkit.yaml) → started provider instances, for one invocation.

A pool builds each provider once, validates its entry with the provider type's own options
model (errors point at evalkit.yaml's line), starts it on first use with the concurrency asked
for, and closes every provider (and any llama-server) on exit, error or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from evalkit.config import DEFAULT_PROVIDER_ID, Project
from evalkit.errors import NotFoundError, did_you_mean
from evalkit.load.source import LineMap, validate
from evalkit.providers.base import AnswerSource, Provider, ProviderEnv
from evalkit.registry import PROVIDERS

__all__ = ["ProviderPool", "default_provider_id", "provider_specs"]


def provider_specs(project: Project) -> dict[str, dict[str, Any]]:
    """The project's provider entries, plus the implicit ``local`` one when none is local."""
    specs = dict(project.config.providers)
    if not any(spec.get("type") == "local" for spec in specs.values()):
        specs.setdefault(DEFAULT_PROVIDER_ID, {"type": "local"})
    return specs


def default_provider_id(project: Project) -> str:
    """``defaults.provider``, else the first provider of type ``local``, else ``local``."""
    if project.config.defaults.provider:
        return project.config.defaults.provider
    for pid, spec in project.config.providers.items():
        if spec.get("type") == "local":
            return pid
    return DEFAULT_PROVIDER_ID


class ProviderPool:
    """The providers of one invocation."""

    def __init__(
        self,
        project: Project,
        log_dir: Path | None = None,
        answers: AnswerSource | None = None,
    ) -> None:
        self.project = project
        self.specs = provider_specs(project)
        self.env = ProviderEnv(pool=self, answers=answers, log_dir=log_dir)
        self._providers: dict[str, Provider] = {}
        self._started: dict[str, asyncio.Task[None]] = {}

    def ids(self) -> list[str]:
        return list(self.specs)

    def get(self, provider_id: str) -> Provider:
        """Build (not start) the provider with this id."""
        if provider_id in self._providers:
            return self._providers[provider_id]
        if provider_id not in self.specs:
            raise NotFoundError(
                f"provider '{provider_id}' is not defined in {self.project.shown_config}",
                fix=did_you_mean(
                    provider_id,
                    self.specs,
                    also=f"use one of: {', '.join(self.specs)}, or add it under `providers:`",
                ),
            )
        spec = self.specs[provider_id]
        cls = PROVIDERS.get(spec["type"])
        lines = (
            self.project.lines.sub("providers", provider_id)
            if self.project.lines
            else LineMap(self.project.shown_config)
        )
        options = validate(
            cls.Options, spec, lines, what=f"provider '{provider_id}'", examples=cls.examples
        )
        provider: Provider = cls(provider_id, options)
        provider.attach(self.env)
        self._providers[provider_id] = provider
        return provider

    def replay_all(self, run: str, provider_ids: list[str]) -> None:
        """Answer these provider ids from a stored run instead (``--replay RUN``)."""
        from evalkit.providers.replay import ReplayOptions, ReplayProvider

        for pid in provider_ids:
            provider = ReplayProvider(pid, ReplayOptions(type="replay", run=run, provider=pid))
            provider.attach(self.env)
            self._providers[pid] = provider

    async def start(self, provider_id: str, concurrency: int) -> Provider:
        """Start a provider once; concurrent callers wait for the same start."""
        provider = self.get(provider_id)
        task = self._started.get(provider_id)
        if task is None:
            task = asyncio.ensure_future(provider.start(concurrency))
            self._started[provider_id] = task
        await task
        return provider

    async def aclose(self) -> None:
        for provider in self._providers.values():
            with contextlib.suppress(Exception):  # closing must reach every provider
                await provider.aclose()
        self._providers.clear()
        self._started.clear()

    async def __aenter__(self) -> ProviderPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
