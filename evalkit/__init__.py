"""evalkit: evaluation and quality-regression CLI for LLM applications.

The public API lives in ``evalkit.api`` (re-exported here lazily, so that importing
``evalkit`` — and running ``evalkit --help`` — stays instant).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "Comparison",
    "EvalkitError",
    "Evaluation",
    "InputError",
    "RunOutcome",
    "__version__",
    "compare",
    "evaluate",
    "get_run",
    "list_baselines",
    "list_runs",
    "query",
    "render_report",
    "results",
    "runs",
    "scores",
    "set_baseline",
]

_API = {
    "Comparison",
    "Evaluation",
    "RunOutcome",
    "evaluate",
    "get_run",
    "list_runs",
    "query",
    "compare",
    "set_baseline",
    "list_baselines",
    "render_report",
    "results",
    "scores",
    "runs",
}
_ERRORS = {"EvalkitError", "InputError"}


def __getattr__(name: str) -> Any:
    # importlib rather than an import statement: the package root depends on no stage (the
    # import layers are checked by `lint-imports`), it only forwards to the api on demand.
    import importlib

    if name in _API:
        return getattr(importlib.import_module("evalkit.api"), name)
    if name in _ERRORS:
        return getattr(importlib.import_module("evalkit.errors"), name)
    raise AttributeError(f"module 'evalkit' has no attribute {name!r}")
