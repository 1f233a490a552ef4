"""The public API is pinned: adding or removing a name is a deliberate change of this test.

Also: every public function has a docstring, and importing ``evalkit`` stays cheap (no
pandas, duckdb or SDK behind a bare import).
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import evalkit
from evalkit import api

EVALKIT_ALL = [
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

API_ALL = [
    "Comparison",
    "Evaluation",
    "Progress",
    "RunOutcome",
    "compact_store",
    "compare",
    "delete_baseline",
    "describe_suite",
    "evaluate",
    "export_runs",
    "failures",
    "get_run",
    "import_export",
    "import_promptfoo",
    "init_project",
    "list_baselines",
    "list_prompts",
    "list_runs",
    "merge",
    "open_store",
    "query",
    "render_report",
    "results",
    "runs",
    "scores",
    "set_baseline",
    "show_prompt",
    "write_reports",
]


def test_evalkit_all_is_pinned():
    assert sorted(evalkit.__all__) == sorted(EVALKIT_ALL)
    for name in evalkit.__all__:
        assert getattr(evalkit, name) is not None, name


def test_api_all_is_pinned():
    assert sorted(api.__all__) == sorted(API_ALL)
    for name in api.__all__:
        assert hasattr(api, name), name


#: Names the subpackage of the same name shadows once it is imported (Python sets
#: ``evalkit.compare`` to the module ``evalkit.compare``): use ``evalkit.api.compare``.
SHADOWED = {"compare"}


def test_top_level_names_are_the_api_objects():
    for name in set(evalkit.__all__) & set(api.__all__) - SHADOWED:
        assert getattr(evalkit, name) is getattr(api, name), name


def test_every_public_function_and_class_has_a_docstring():
    missing = [
        name
        for name in api.__all__
        if (inspect.isfunction(getattr(api, name)) or inspect.isclass(getattr(api, name)))
        and not (inspect.getdoc(getattr(api, name)) or "").strip()
    ]
    assert missing == []
    for cls in (api.Evaluation, api.Comparison):
        for name, member in vars(cls).items():
            if inspect.isfunction(member) and not name.startswith("_"):
                assert inspect.getdoc(member), f"{cls.__name__}.{name}"


def test_importing_evalkit_and_its_api_loads_nothing_heavy():
    code = (
        "import sys, evalkit, evalkit.api; "
        "heavy = [m for m in ('pandas', 'duckdb', 'numpy', 'openai', 'anthropic', 'torch') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
