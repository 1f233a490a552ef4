"""How fast is `evalkit --help`, and what does it import?

Prints the median wall time of `evalkit --help` next to a bare `python -c pass` measured in
the same run (the ratio is what to compare across machines), and checks that no heavy
module (torch, sentence-transformers, openai, anthropic, duckdb, pandas, ...) is imported on
that path. Exits 1 if one is, or if the median is over the 250 ms budget.

    python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

HEAVY = [
    "torch",
    "sentence_transformers",
    "openai",
    "anthropic",
    "duckdb",
    "pandas",
    "numpy",
    "scipy",
    "sacrebleu",
    "jinja2",
    "pydantic",
    "yaml",
    "httpx",
    "httpx2",
    "opentelemetry",
]
BUDGET_MS = 250.0


def wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def imported_on_help() -> list[str]:
    probe = (
        "import contextlib, io, sys\n"
        "from evalkit.cli.main import app\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    app(['--help'])\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    return [m for m in line.split(",") if m]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    exe = shutil.which("evalkit") or sys.executable
    cmd = [exe, "--help"] if exe.endswith("evalkit") else [exe, "-m", "evalkit", "--help"]
    wall([sys.executable, "-c", "pass"], 2)  # warm the page cache
    wall(cmd, 2)
    python_ms = wall([sys.executable, "-c", "pass"], args.runs)
    help_ms = wall(cmd, args.runs)
    heavy = imported_on_help()
    print(f"python -c pass     median {python_ms:7.1f} ms")
    print(f"evalkit --help     median {help_ms:7.1f} ms   ({help_ms / python_ms:.1f}x bare python)")
    print(f"budget             {BUDGET_MS:7.1f} ms   -> {'ok' if help_ms <= BUDGET_MS else 'OVER'}")
    print(f"heavy imports on the --help path: {', '.join(heavy) or 'none'}")
    return 0 if help_ms <= BUDGET_MS and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
