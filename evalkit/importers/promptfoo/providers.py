"""promptfoo ``providers`` → ``evalkit.yaml`` provider entries.

``openai:<model>``, ``openai:chat:<model>``, ``openai:completion:<model>`` (and
``openai:responses:<model>``, called through Chat Completions), ``anthropic:messages:<model>``,
``azure:chat:<deployment>``, ``ollama:[chat:]<model>``, ``google:<model>`` (Gemini's
OpenAI-compatible endpoint), ``mistral:``, ``togetherai:``, ``openrouter:``, ``groq:``,
``deepseek:`` and ``llama:`` — as strings, as ``{id, label, config}`` objects or
``{<id>: {config}}`` mappings, inline or in ``file://`` YAML/JSON files. From ``config``:
``apiBaseUrl``/``apiHost`` (the endpoint), ``apiKeyEnvar``, ``organization``, ``headers``,
generation params (``temperature``, ``max_tokens``, ``top_p``, ``stop``, ``seed``, …) and
``cost`` (a price per token). Keys are never written: evalkit reads them from the
environment only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from evalkit.importers.promptfoo.source import FILE, Config, Findings, Where

__all__ = ["PARAMS", "RENAMED", "Provider", "Providers"]

#: promptfoo prefix -> (evalkit type, extra options)
_OPENAI_LIKE: dict[str, tuple[str, dict[str, Any]]] = {
    "openai": ("openai", {}),
    "ollama": ("ollama", {}),
    "google": ("gemini", {}),
    "mistral": ("mistral", {}),
    "togetherai": ("together", {}),
    "llama": ("llamacpp", {}),
    "openrouter": (
        "openai",
        {"base_url": "https://openrouter.ai/api/v1", "api_key_env": "OPENROUTER_API_KEY"},
    ),
    "groq": (
        "openai",
        {"base_url": "https://api.groq.com/openai/v1", "api_key_env": "GROQ_API_KEY"},
    ),
    "deepseek": (
        "openai",
        {"base_url": "https://api.deepseek.com/v1", "api_key_env": "DEEPSEEK_API_KEY"},
    ),
}
_MODES = {"chat": "chat", "completion": "completion", "responses": "chat", "messages": "chat"}
#: Generation params passed as they are (``num_predict`` is Ollama's ``max_tokens``).
PARAMS = {
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "top_p",
    "top_k",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stop",
    "response_format",
    "reasoning_effort",
    "logit_bias",
}
RENAMED = {"num_predict": "max_tokens", "stop_sequences": "stop", "max_new_tokens": "max_tokens"}
_SKIPPED_QUIETLY = {"label", "id", "config"}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "provider"


@dataclass
class Provider:
    """One converted provider: its evalkit id and ``evalkit.yaml`` entry."""

    id: str
    spec: dict[str, Any]
    source: str
    where: Where
    #: USD per 1M tokens for ``pricing:`` (from promptfoo's ``cost``), by model.
    pricing: dict[str, dict[str, float]] = field(default_factory=dict)


def _parse(ident: str) -> tuple[str, str, str, dict[str, Any]] | str:
    """(evalkit type, mode, model, extra options) for a promptfoo provider id, or why not."""
    vendor, _, rest = ident.partition(":")
    if vendor in ("azure", "azureopenai"):
        sub, _, deployment = rest.partition(":")
        if sub not in ("chat", "completion") or not deployment:
            return "only azure:chat:<deployment> and azure:completion:<deployment>"
        return "azure", _MODES[sub], deployment, {"deployment": deployment}
    if vendor == "anthropic":
        sub, _, model = rest.partition(":")
        if sub == "messages" and model:
            return "anthropic", "chat", model, {}
        if sub == "completion":
            return "Anthropic's legacy completion API (use anthropic:messages:<model>)"
        return ("anthropic", "chat", rest, {}) if rest else "no model named"
    if vendor not in _OPENAI_LIKE:
        if ident.startswith(FILE) or vendor in ("python", "exec", "http", "https", "webhook"):
            return (
                "custom providers (code, scripts, HTTP endpoints) have no evalkit equivalent: "
                "evalkit calls model APIs (OpenAI-compatible, Anthropic, the local model)"
            )
        return f"evalkit has no '{vendor}' provider"
    kind, extra = _OPENAI_LIKE[vendor]
    sub, _, model = rest.partition(":")
    if sub in _MODES and model:
        mode = _MODES[sub]
    elif sub in ("embedding", "embeddings", "assistant", "realtime", "image", "moderation"):
        return f"{vendor}:{sub} models do not generate text answers to evaluate"
    else:
        model = rest
        mode = "completion" if vendor in ("ollama", "llama") else "chat"
    if not model:
        return "no model named"
    return kind, mode, model, dict(extra)


def _endpoint(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = config.get("apiBaseUrl")
    host = config.get("apiHost")
    if kind == "azure":
        if host or base:
            endpoint = str(host or base)
            out["endpoint"] = endpoint if "://" in endpoint else f"https://{endpoint}"
        if config.get("apiVersion"):
            out["api_version"] = str(config["apiVersion"])
        return out
    if base:
        out["base_url"] = str(base)
    elif host:
        out["base_url"] = str(host) if "://" in str(host) else f"https://{host}/v1"
    return out


class Providers:
    """Converts providers, giving each a unique evalkit id (its label, else its model)."""

    def __init__(self, config: Config, findings: Findings) -> None:
        self.config = config
        self.findings = findings
        self.converted: list[Provider] = []

    def _unique(self, wanted: str) -> str:
        taken = {p.id for p in self.converted}
        pid, n = _slug(wanted), 2
        while pid in taken:
            pid = f"{_slug(wanted)}-{n}"
            n += 1
        return pid

    def convert(self, value: Any, where: Where, *, role: str = "provider") -> Provider | None:
        """One provider (string, object or ``{id: options}``), added to ``converted``; an
        identical one already converted is reused."""
        if (
            isinstance(value, str)
            and value.startswith(FILE)
            and value.endswith((".yaml", ".yml", ".json"))
        ):
            data, _ = self.config.read_data(self.config.path_of(value))
            return self.convert(data, where, role=role)
        options: dict[str, Any] = {}
        if isinstance(value, str):
            ident = value
        elif isinstance(value, dict) and isinstance(value.get("id"), str):
            ident, options = value["id"], value
        elif isinstance(value, dict) and len(value) == 1:
            ((ident, options),) = value.items()
            options = options if isinstance(options, dict) else {}
        else:
            self.findings.drop(where, role, f"not a provider id or object: {value!r}")
            return None
        what = f"{role} '{ident}'"
        parsed = _parse(ident)
        if isinstance(parsed, str):
            self.findings.drop(where, what, parsed)
            return None
        kind, mode, model, spec = parsed
        config = options.get("config") or {}
        spec = {"type": kind, "model": model, **spec}
        if mode != "chat":
            spec["mode"] = mode
        spec.update(_endpoint(kind, config))
        params: dict[str, Any] = {}
        headers = dict(config.get("headers") or {})
        pricing: dict[str, dict[str, float]] = {}
        for key, val in config.items():
            if key in ("apiBaseUrl", "apiHost", "apiVersion", "headers"):
                continue
            if key in PARAMS or key in RENAMED:
                params[RENAMED.get(key, key)] = val
            elif key == "apiKeyEnvar":
                spec["api_key_env"] = str(val)
            elif key == "apiKey":
                self.findings.note(
                    where,
                    what,
                    "its key is written in the config: evalkit reads keys only from the "
                    f"environment (${spec.get('api_key_env', _default_key(kind))}); it was not "
                    "copied",
                )
            elif key == "organization":
                headers["OpenAI-Organization"] = str(val)
            elif key in ("cost", "inputCost", "outputCost"):
                price = pricing.setdefault(model, {})
                per_million = float(val) * 1_000_000
                if key in ("cost", "inputCost"):
                    price["input"] = per_million
                if key in ("cost", "outputCost"):
                    price["output"] = per_million
            else:
                self.findings.drop(where, f"{what}: config.{key}", "no evalkit equivalent")
        if headers:
            spec["headers"] = headers
        if params:
            spec["params"] = params
        for key in options:
            if key in _SKIPPED_QUIETLY:
                continue
            reasons = {
                "prompts": "evalkit runs every prompt version of a suite on every provider",
                "transform": "output transforms are code; the assertions see the raw output",
                "delay": "evalkit paces calls itself (concurrency, rate-limit back-off)",
                "env": "set environment variables in the shell",
            }
            self.findings.drop(where, f"{what}: {key}", reasons.get(key, "no evalkit equivalent"))
        for earlier in self.converted:
            if earlier.spec == spec:
                return earlier
        label = options.get("label") if isinstance(options.get("label"), str) else None
        provider = Provider(self._unique(label or model), spec, ident, where, pricing)
        self.converted.append(provider)
        return provider

    def convert_all(self) -> list[Provider]:
        """The config's ``providers`` (a string, a list, or a mapping of id → options)."""
        spec = self.config.data.get("providers") or self.config.data.get("targets")
        key = "providers" if "providers" in self.config.data else "targets"
        if spec is None:
            return []
        out: list[Provider] = []
        items: list[tuple[Any, Where]]
        if isinstance(spec, str):
            items = [(spec, self.config.where(key))]
        elif isinstance(spec, dict):
            items = [({k: v}, self.config.where(key, k)) for k, v in spec.items()]
        else:
            items = [(item, self.config.where(key, i)) for i, item in enumerate(spec)]
        for value, where in items:
            provider = self.convert(value, where)
            if provider is not None and provider not in out:
                out.append(provider)
        return out


def _default_key(kind: str) -> str:
    return {"anthropic": "ANTHROPIC_API_KEY", "azure": "AZURE_OPENAI_API_KEY"}.get(
        kind, "OPENAI_API_KEY"
    )
