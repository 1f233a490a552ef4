"""The pytest plugin (entry point ``pytest11``): ``pytest --evalkit suites/`` and the
``evalkit`` fixture.

It loads in every pytest session of every project that installs evalkit, so it imports
nothing but pytest and the standard library, collects nothing without ``--evalkit``, and on
a pytest older than 7 (which lacks the hooks it uses) it registers nothing at all rather
than break the session. The hooks live in ``evalkit._pytest_hooks``.
"""

from __future__ import annotations

import pytest

if getattr(pytest, "version_tuple", (0,)) >= (7,):
    from evalkit._pytest_hooks import (
        evalkit,
        pytest_addoption,
        pytest_collect_file,
        pytest_configure,
        pytest_terminal_summary,
    )

    __all__ = [
        "evalkit",
        "pytest_addoption",
        "pytest_collect_file",
        "pytest_configure",
        "pytest_terminal_summary",
    ]
