"""What does the installed-but-unused pytest plugin cost every pytest session?

evalkit registers a ``pytest11`` entry point, so its plugin loads in every pytest session of
every project that installs evalkit. Without ``--evalkit`` it must do nothing and import
nothing heavy. This benchmark makes a throwaway project with one trivial test and
alternates, for ``--rounds`` rounds, ``pytest -q`` with the plugin disabled
(``-p no:evalkit``, the baseline) and with it loaded (the default), then prints both
medians, their ratio and difference, and what the plugin module itself takes to import
(``python -X importtime``), all from cached bytecode as after ``pip install``. It also
checks that no heavy module is imported in the default session, and exits 1 if one is.

    python bench/pytest_plugin.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ["duckdb", "pandas", "numpy", "yaml", "rich", "pydantic", "jinja2", "openai", "evalkit.api"]

CONFTEST = f"""
import json, sys

def pytest_sessionfinish(session):
    with open("modules.json", "w") as f:
        json.dump({{"heavy": [m for m in {HEAVY!r} if m in sys.modules],
                   "plugin": "evalkit.pytest_plugin" in sys.modules}}, f)
"""


#: As after ``pip install``: modules load from cached bytecode (an environment with
#: PYTHONDONTWRITEBYTECODE would compile evalkit's sources on every start and measure that).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def session_ms(folder: Path, extra: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
        cwd=folder,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    return (time.perf_counter() - start) * 1000


def plugin_import_us() -> int:
    """Cumulative import time of ``evalkit.pytest_plugin`` with pytest already imported."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pytest; import evalkit.pytest_plugin"],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in out.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "evalkit.pytest_plugin":
            return int(parts[1])
    raise SystemExit("evalkit.pytest_plugin did not show in -X importtime")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_one.py").write_text("def test_one():\n    assert True\n")
        (folder / "conftest.py").write_text(CONFTEST)
        session_ms(folder, [])  # warm the file cache once
        without: list[float] = []
        with_plugin: list[float] = []
        for _ in range(args.rounds):
            without.append(session_ms(folder, ["-p", "no:evalkit"]))
            with_plugin.append(session_ms(folder, []))
        seen = json.loads((folder / "modules.json").read_text())
    base, plugged = statistics.median(without), statistics.median(with_plugin)
    print(f"pytest session, one trivial test, median of {args.rounds} alternating rounds:")
    print(f"  without the plugin (-p no:evalkit)  {base:7.1f} ms")
    print(f"  with the plugin (installed, unused) {plugged:7.1f} ms")
    print(f"  ratio {plugged / base:.3f}   difference {plugged - base:+.1f} ms")
    imports = [plugin_import_us() / 1000 for _ in range(args.rounds)]
    print(
        f"  import of evalkit.pytest_plugin once pytest is loaded: median "
        f"{statistics.median(imports):.1f} ms, fastest {min(imports):.1f} ms"
    )
    print(f"  fastest sessions: without {min(without):.1f} ms, with {min(with_plugin):.1f} ms")
    if not seen["plugin"]:
        print("the plugin was not loaded: is evalkit installed (pip install -e .)?")
        return 1
    if seen["heavy"]:
        print(f"heavy modules imported without --evalkit: {', '.join(seen['heavy'])}")
        return 1
    print("  heavy modules imported without --evalkit: none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
