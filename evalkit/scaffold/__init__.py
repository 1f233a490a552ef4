"""The project ``evalkit init`` creates: the files under ``files/``, copied as they are.

They are real YAML files (not strings in Python), so what a user gets is exactly what the
tests load and run.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from evalkit.errors import InputError

__all__ = ["create_project", "scaffold_files"]


def scaffold_files() -> dict[str, str]:
    """The scaffold's files: path relative to the project root → text."""
    root = resources.files(__package__) / "files"
    found: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            name = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, name + "/")
            elif child.name.endswith((".yaml", ".yml", ".jsonl", ".json", ".md")):
                found[name] = child.read_text(encoding="utf-8")

    walk(root, "")
    return found


def create_project(directory: Path) -> list[Path]:
    """Write the scaffold into ``directory`` (created if needed); refuse to overwrite any file.
    Returns the paths written."""
    files = scaffold_files()
    for name in files:
        path = directory / name
        if path.exists():
            raise InputError(
                "already exists; not overwritten",
                path=path,
                fix="run `evalkit init` in a new or empty folder",
            )
    written = []
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
