"""Presets for the serving systems teams run: one line in evalkit.yaml each.

A preset is the ``openai`` provider with the usual ``base_url``, key variable and mode filled
in; every option can still be given (``base_url`` for another host or port)::

    providers:
      local-vllm: {type: vllm, model: meta-llama/Llama-3.1-8B-Instruct}
      ollama:     {type: ollama, model: llama3.2}
      mixtral:    {type: together, model: mistralai/Mixtral-8x7B-Instruct-v0.1}
      flash:      {type: gemini, model: gemini-2.0-flash}
      azure:      {type: azure, deployment: gpt-4o-mini, endpoint: "https://my.openai.azure.com"}

Servers on your own machine need no key (one is sent if the variable is set); hosted services
require theirs. Proxies and custom CA bundles work through the usual environment variables
(``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``, ``SSL_CERT_FILE``/``SSL_CERT_DIR``), which the
HTTP client (httpx2) reads.
"""

from __future__ import annotations

import builtins
import os
from typing import Any, ClassVar

from pydantic import create_model

from evalkit.errors import SetupError
from evalkit.providers.base import ProviderOptions
from evalkit.providers.openai import OpenAIOptions, OpenAIProvider

__all__ = ["PRESETS", "AzureOpenAIProvider", "AzureOptions"]

#: preset -> (base_url, key variable, key required)
PRESETS: dict[str, tuple[str, str, bool]] = {
    "vllm": ("http://localhost:8000/v1", "VLLM_API_KEY", False),
    "tgi": ("http://localhost:8080/v1", "TGI_API_KEY", False),
    "ollama": ("http://localhost:11434/v1", "OLLAMA_API_KEY", False),
    "llamacpp": ("http://127.0.0.1:8080/v1", "LLAMA_API_KEY", False),
    "together": ("https://api.together.xyz/v1", "TOGETHER_API_KEY", True),
    "mistral": ("https://api.mistral.ai/v1", "MISTRAL_API_KEY", True),
    "gemini": ("https://generativelanguage.googleapis.com/v1beta/openai", "GEMINI_API_KEY", True),
    "baseten": ("https://inference.baseten.co/v1", "BASETEN_API_KEY", True),
    "replicate": ("https://openai-proxy.replicate.com/v1", "REPLICATE_API_TOKEN", True),
}


#: Deadlines of the servers teams run themselves (``evalkit.providers.timeouts``): they queue
#: requests behind their own batch, load a model on its first request and may run on CPU,
#: where a long prompt takes minutes to its first token — so they get longer bounds than
#: hosted APIs, which answer in seconds.
_SELF_HOSTED: dict[str, float] = {
    "first_token_cold": 300.0,
    "first_token_floor": 30.0,
    "default_idle_timeout": 120.0,
}


def _make(name: str, base_url: str, key_env: str, required: bool) -> type[OpenAIProvider]:
    options = create_model(
        f"{name.title()}Options",
        __base__=OpenAIOptions,
        base_url=(str | None, base_url),
        api_key_env=(str, key_env),
        require_key=(bool | None, required),
    )
    doc = f"``{name}``: OpenAI-compatible endpoint at {base_url} (key from ${key_env})."
    attributes: dict[str, Any] = {"type": name, "Options": options, "__doc__": doc}
    if not required:
        attributes.update(_SELF_HOSTED)
    provider: type[OpenAIProvider] = builtins.type(
        f"{name.title()}Provider", (OpenAIProvider,), attributes
    )
    return provider


for _name, (_url, _env, _required) in PRESETS.items():
    globals()[_name] = _make(_name, _url, _env, _required)


class AzureOptions(OpenAIOptions):
    api_key_env: str = "AZURE_OPENAI_API_KEY"
    #: ``https://<resource>.openai.azure.com`` (default: $AZURE_OPENAI_ENDPOINT).
    endpoint: str | None = None
    api_version: str = "2024-10-21"
    #: The deployment name (default: ``model``).
    deployment: str | None = None
    require_key: bool | None = True


class AzureOpenAIProvider(OpenAIProvider):
    """Azure OpenAI: deployments addressed by endpoint, deployment and API version."""

    type = "azure"
    Options: ClassVar[builtins.type[ProviderOptions]] = AzureOptions
    examples: ClassVar[dict[str, str]] = {"deployment": "deployment: gpt-4o-mini"}

    @property
    def opts(self) -> AzureOptions:
        return self.options  # type: ignore[return-value]

    @property
    def endpoint(self) -> str:
        endpoint = self.opts.endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if not endpoint:
            raise SetupError(
                f"provider '{self.id}' (azure) has no endpoint",
                fix="set `endpoint:` or $AZURE_OPENAI_ENDPOINT",
            )
        return endpoint

    @property
    def model(self) -> str | None:
        return self.opts.model or self.opts.deployment

    def identity(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "model": self.model,
            "mode": self.mode,
            "base_url": self.endpoint,
            "deployment": self.opts.deployment or self.model,
            "api_version": self.opts.api_version,
        }

    def make_client(self) -> Any:
        """Azure's addressing: ``{endpoint}/openai/deployments/{deployment}``, the API version
        as a query parameter, the key in an ``api-key`` header."""
        from evalkit.providers.wire import JSONClient

        deployment = self.opts.deployment or self.opts.model
        return JSONClient(
            f"{self.endpoint.rstrip('/')}/openai/deployments/{deployment}",
            {"api-key": self.api_key(), **(self.opts.headers or {})},
            self._total,
            self.opts.keepalive_expiry,
            query={"api-version": self.opts.api_version},
        )
