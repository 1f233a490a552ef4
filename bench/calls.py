"""How close is `evalkit run` to a raw client, as a user feels it: whole-command wall.

Against a loopback fake OpenAI server answering instantly (in its own process), 2,000 cases at
concurrency 16 with three cheap scorers (contains, regex, bleu), every result stored:

1. the floor: `bench/floor.py`, a bare `openai.AsyncOpenAI` loop at the same concurrency doing
   the same three checks and storing nothing, run as its own command;
2. the transport floor: `bench/floor.py --transport`, the same loop over `httpx2` with JSON
   read by `json.loads` (evalkit's `openai` provider talks to the server this way, not through
   the SDK, so this is the floor of evalkit's own transport; shown, not a target);
3. `evalkit run --no-cache` on a fresh store (every call made, everything stored);

alternating the three for `--rounds` rounds with streaming off, then on, comparing the medians
of their whole-command walls (interpreter start, imports, calls, scoring, storing) and their
peak resident memory; then

4. a fully cached re-run (no request reaches the server; stored scores are reused), whole
   command, median of the rounds, alternating with its import floor: a process that only
   starts the interpreter and imports the modules the cached re-run imports, then exits
   (what is left of the re-run is evalkit's work; shown, not a target);
5. how much the DuckDB file grows per stored result.

    python bench/calls.py [--cases 2000] [--concurrency 16] [--rounds 3]

Targets (issue: the call path): evalkit >= 0.95x the floor's cases/s, streaming off and on;
peak RSS <= 150 MB at 2,000 cases; cached re-run <= 1.0 s. Single runs on a shared 2-core
machine swing by tens of percent: read the medians, and rerun when the machine is busy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fakeserver import FakeServerProcess  # noqa: E402

ANSWER = "The capital is Paris, founded around 250 BC; population 2102650 in 2023."
REFERENCE = "Paris is the capital, with 2102650 inhabitants in 2023."
PATTERN = r"[0-9]{4}"


def make_project(root: Path, base_url: str, cases: int, stream: bool) -> None:
    (root / "prompts" / "bench").mkdir(parents=True, exist_ok=True)
    (root / "suites").mkdir(exist_ok=True)
    (root / "evalkit.yaml").write_text(
        "providers:\n"
        f'  fake: {{type: openai, base_url: "{base_url}/v1", model: fake-model, '
        f"stream: {str(stream).lower()}}}\n"
        "defaults: {provider: fake}\n"
    )
    (root / "prompts/bench/v1.yaml").write_text(
        'messages: [{role: user, content: "Q: {{ q }}\\nA:"}]\nparams: {max_tokens: 32}\n'
    )
    with (root / "suites/bench.jsonl").open("w") as out:
        for i in range(cases):
            case = {"id": f"c{i}", "vars": {"q": f"question number {i}?"}, "reference": REFERENCE}
            out.write(json.dumps(case) + "\n")
    (root / "suites/bench.yaml").write_text(
        "prompt: bench@v1\ncases: bench.jsonl\nscorers:\n"
        "  - {type: contains, value: Paris}\n"
        f"  - {{type: regex, pattern: '{PATTERN}'}}\n"
        "  - {type: bleu}\n"
    )


def peak_rss_mb(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """(whole wall in s, peak RSS in MB, stdout) of one command, run under a tiny wrapper
    process so that ``RUSAGE_CHILDREN`` reports that command's own peak."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "sys.stdout.write(p.stdout)\n"
        "sys.stderr.write(p.stderr)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "sys.stderr.write(f'\\n@@ {wall} {peak}\\n')\n"
        "sys.exit(p.returncode)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv[:4])} … failed ({proc.returncode}): {proc.stderr[-2000:]}"
        )
    marker = proc.stderr.rsplit("@@ ", 1)[1].split()
    return float(marker[0]), float(marker[1]), proc.stdout


#: Runs ``evalkit ARGS`` in this process, then prints the modules it imported.
_LIST_IMPORTS = (
    "import json, sys\n"
    "sys.argv = ['evalkit', *sys.argv[1:]]\n"
    "from evalkit.cli.main import app\n"
    "try:\n    app()\nexcept SystemExit:\n    pass\n"
    "sys.stdout.write('\\n@@modules ' + json.dumps(sorted(sys.modules)))\n"
)
#: Imports the modules named on its command line, then exits as evalkit does (no teardown).
_IMPORT_ONLY = (
    "import importlib, os, sys\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n        importlib.import_module(name)\n"
    "    except Exception:\n        pass\n"
    "os._exit(0)\n"
)


def import_floor_argv(run_args: list[str], cwd: Path, env: dict[str, str]) -> list[str]:
    """A command that imports what ``evalkit RUN_ARGS`` imports, and does nothing else."""
    out = peak_rss_mb([sys.executable, "-c", _LIST_IMPORTS, *run_args], cwd, env)[2]
    modules = json.loads(out.rsplit("@@modules ", 1)[1])
    modules = [m for m in modules if m not in ("__main__", "evalkit.__main__")]
    return [sys.executable, "-c", _IMPORT_ONLY, *modules]


def file_size(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n, j = args.cases, args.concurrency
    evalkit = [sys.executable, "-m", "evalkit"]
    server = FakeServerProcess(default_answer=ANSWER, max_log=100)
    server.start()
    ok = True
    env = {**os.environ}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for stream in (False, True):
                label = "streaming on " if stream else "streaming off"
                floor_walls, floor_rss, walls, rss, growths = [], [], [], [], []
                bare_walls: list[float] = []
                root = Path(tmp) / label.strip().replace(" ", "-")
                root.mkdir()
                make_project(root, server.base_url, n, stream)
                for round_ in range(args.rounds):
                    db = root / f"bench-{round_}.duckdb"
                    floor_argv = [sys.executable, str(HERE / "floor.py"), server.base_url]
                    floor_argv += [str(n), str(j)] + (["--stream"] if stream else [])
                    wall, peak, _ = peak_rss_mb(floor_argv, root, env)
                    floor_walls.append(wall)
                    floor_rss.append(peak)
                    bare_walls.append(peak_rss_mb([*floor_argv, "--transport"], root, env)[0])
                    run_argv = [*evalkit, "run", "--json", "--no-cache", "-j", str(j)]
                    wall, peak, out = peak_rss_mb([*run_argv, "--db", str(db)], root, env)
                    walls.append(wall)
                    rss.append(peak)
                    run = json.loads(out)["runs"][0]
                    if run["status"] != "completed":
                        raise SystemExit(f"evalkit run did not complete: {run.get('error')}")
                    growths.append(file_size(db) / n)
                    print(
                        f"[{label}] round {round_ + 1}: floor {floor_walls[-1]:.2f} s "
                        f"({floor_rss[-1]:.0f} MB), transport floor {bare_walls[-1]:.2f} s, "
                        f"evalkit run {walls[-1]:.2f} s ({rss[-1]:.0f} MB)"
                    )
                floor_wall, wall = statistics.median(floor_walls), statistics.median(walls)
                ratio = floor_wall / wall  # = evalkit's cases/s over the floor's
                peak = statistics.median(rss)
                print(
                    f"[{label}] median whole command: floor {floor_wall:.2f} s "
                    f"({n / floor_wall:.0f} cases/s), evalkit {wall:.2f} s "
                    f"({n / wall:.0f} cases/s) -> {ratio:.2f}x the floor "
                    f"({'ok' if ratio >= 0.95 else 'BELOW 0.95x'})"
                )
                bare = statistics.median(bare_walls)
                print(
                    f"[{label}] median transport floor (httpx2, no SDK): {bare:.2f} s "
                    f"({n / bare:.0f} cases/s) -> evalkit at {bare / wall:.2f}x of it "
                    "(what evalkit costs on top of its own transport; no target)"
                )
                print(
                    f"[{label}] median peak RSS: floor {statistics.median(floor_rss):.0f} MB, "
                    f"evalkit {peak:.0f} MB ({'ok' if peak <= 150 else 'OVER 150 MB'})"
                )
                print(f"[{label}] store: {max(growths) / 1024:.2f} KiB per result (whole file)")
                ok &= ratio >= 0.95 and peak <= 150
                if stream:
                    continue
                db = root / "bench-0.duckdb"
                cached_walls, import_walls = [], []
                rerun = ["run", "--json", "-j", str(j), "--db", str(db)]
                imports_only = import_floor_argv(rerun, root, env)
                before = server.stats()["total"]
                for _ in range(args.rounds):
                    import_walls.append(peak_rss_mb(imports_only, root, env)[0])
                    cached_wall, _, out = peak_rss_mb([*evalkit, *rerun], root, env)
                    cached_walls.append(cached_wall)
                run = json.loads(out)["runs"][0]
                reached = server.stats()["total"] - before
                hits = run["summary"]["run"]["cache_hits"]
                reused = run["summary"]["run"].get("scores_reused", 0)
                cached = statistics.median(cached_walls)
                print(
                    f"[cached re-run] {hits}/{n} answers from the cache, {reused} scores "
                    f"reused, {reached} requests reached the server; whole command "
                    f"{cached:.2f} s median ({', '.join(f'{w:.2f}' for w in cached_walls)}) "
                    f"({'ok' if cached <= 1.0 else 'OVER 1.0 s'})"
                )
                floor_imports = statistics.median(import_walls)
                print(
                    f"[cached re-run] its import floor (the interpreter and the "
                    f"{len(imports_only) - 2} modules it imports, nothing run): "
                    f"{floor_imports:.2f} s median; the re-run's own work: "
                    f"{cached - floor_imports:.2f} s"
                )
                ok &= hits == n and reached == 0 and cached <= 1.0
    finally:
        server.stop()
    print("all targets met" if ok else "some targets not met (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
