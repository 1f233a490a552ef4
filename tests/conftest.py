"""Shared fixtures: a throwaway project, and the real llama-server with the local model.

Nothing here is skipped when a dependency is missing: the local model and llama-server are
part of the test install (README, .ci/run), and a test that needs them fails loudly without.
"""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # `import fakeserver` from any test folder

# Tests must never reach a hosted API, whatever the developer's shell exports.
for _key in (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "EVALKIT_DB",
    "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL",
):
    os.environ.pop(_key, None)


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a dedented text file under tmp_path; returns its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test with tmp_path as the working directory (the project root)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def local_model() -> Path:
    """The bundled GGUF, assembled into evalkit's cache once."""
    from evalkit.providers.local import default_model_path

    return default_model_path()


@pytest.fixture(scope="session")
def llama(local_model: Path) -> Iterator[str]:
    """A real llama-server on loopback for the whole session; yields its base URL."""
    from evalkit.providers import llama_server

    key = llama_server.ServerKey(
        binary=llama_server.find_binary(),
        model=local_model,
        threads=os.cpu_count() or 2,
        ctx_per_slot=1024,
    )
    server = asyncio.run(llama_server.acquire(key, slots=4))
    try:
        yield server.base_url
    finally:
        llama_server.release(server)


def _team_installed() -> bool:
    """The team extra's packages: DuckDB with its DuckLake extension packages, and redis."""
    import importlib.util

    from evalkit.store.ducklake import extension_directory

    return extension_directory() is not None and importlib.util.find_spec("redis") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``team`` need the team extra (DuckDB 1.4.4): in an install without it they
    are deselected, and said so; ``scripts/test`` runs them in .venv-team (``-m team``), where
    a missing package fails them loudly."""
    if "team" in (config.getoption("markexpr") or "") or _team_installed():
        return
    team = [item for item in items if item.get_closest_marker("team")]
    if team:
        items[:] = [item for item in items if not item.get_closest_marker("team")]
        config.hook.pytest_deselected(items=team)
        config._evalkit_team_deselected = len(team)  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    count = getattr(config, "_evalkit_team_deselected", 0)
    if count:
        terminalreporter.write_line(
            f"{count} team-store tests need the team extra (DuckDB 1.4.4): run them with "
            "`VENV=.venv-team scripts/setup dev,team && .venv-team/bin/pytest -m team` "
            "(scripts/test does)"
        )
