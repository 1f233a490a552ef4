"""Shell completion of the project's names: suites, prompt versions, provider ids.

Typer calls these while the user presses Tab (``evalkit --install-completion`` sets the shell
up). They read only file names and evalkit.yaml, never the store, and never fail: a broken
project completes nothing rather than printing an error into the shell's prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["complete_prompts", "complete_providers", "complete_suites"]


def _root() -> Path:
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / "evalkit.yaml").is_file():
            return folder
    return here


def _matching(candidates: Iterable[str], incomplete: str) -> list[str]:
    return sorted({c for c in candidates if c.startswith(incomplete)})


def _quietly(find: Callable[[], Iterable[str]], incomplete: str) -> list[str]:
    try:
        return _matching(find(), incomplete)
    except Exception:  # completion must never print a traceback into the shell
        return []


def complete_suites(incomplete: str) -> list[str]:
    """Suite names in suites/ (``evalkit run <Tab>``)."""

    def find() -> Iterable[str]:
        folder = _root() / "suites"
        return (p.stem for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))

    return _quietly(find, incomplete)


def complete_prompts(incomplete: str) -> list[str]:
    """``NAME@vN`` for every version in prompts/, and ``NAME@latest``."""

    def find() -> Iterable[str]:
        refs: list[str] = []
        for folder in (_root() / "prompts").iterdir():
            versions = [p.stem for p in folder.glob("v*.y*ml") if p.stem[1:].isdigit()]
            if versions:
                refs += [f"{folder.name}@{v}" for v in versions] + [f"{folder.name}@latest"]
        return refs

    return _quietly(find, incomplete)


def complete_providers(incomplete: str) -> list[str]:
    """Provider ids from evalkit.yaml."""

    def find() -> Iterable[str]:
        import yaml

        data: Any = yaml.safe_load((_root() / "evalkit.yaml").read_text(encoding="utf-8"))
        providers = (data or {}).get("providers") or {}
        return [str(pid) for pid in providers] if isinstance(providers, dict) else []

    return _quietly(find, incomplete)
