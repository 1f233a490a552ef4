"""What does `--otel` cost a run, and what does a receiver that is down cost?

Against a loopback fake OpenAI server (its own process), N cases with three cheap scorers, the
whole-command wall of `evalkit run --no-cache` three ways, alternated for `--rounds` rounds:

1. without --otel (the baseline: no OpenTelemetry package is even imported);
2. with --otel, exporting to a live OTLP/HTTP receiver on loopback (tests/otlp.py) — every
   span is checked to have arrived;
3. with --otel, to a port where nothing listens (a receiver that is down).

Prints the medians and the ratios of 2 and 3 to 1. Single runs on a shared 2-core machine
swing by tens of percent: read the medians, and rerun when the machine is busy.

    python bench/otel.py [--cases 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from calls import ANSWER, make_project  # noqa: E402

from fakeserver import FakeServerProcess  # noqa: E402
from otlp import OTLPReceiver  # noqa: E402


def run(argv: list[str], cwd: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=dict(os.environ))
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[3:])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout)["runs"][0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with socket.create_server(("127.0.0.1", 0)) as sock:
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/traces"
    server = FakeServerProcess(default_answer=ANSWER, max_log=100)
    server.start()
    walls: dict[str, list[float]] = {"without --otel": [], "--otel": [], "--otel, down": []}
    try:
        with tempfile.TemporaryDirectory() as tmp, OTLPReceiver() as receiver:
            root = Path(tmp)
            make_project(root, server.base_url, args.cases, stream=False)
            base = [sys.executable, "-m", "evalkit", "run", "--json", "--no-cache", "-j", "16"]
            config = root / "evalkit.yaml"
            plain = config.read_text()
            for round_ in range(args.rounds):
                for label in walls:
                    endpoint = closed if label.endswith("down") else receiver.endpoint
                    config.write_text(plain + f"otel: {{endpoint: '{endpoint}', timeout_s: 2}}\n")
                    flag = "--no-otel" if label == "without --otel" else "--otel"
                    before = len(receiver.spans())
                    wall, outcome = run([*base, flag, "--db", f"b{round_}.duckdb"], root)
                    walls[label].append(wall)
                    if outcome["status"] != "completed":
                        raise SystemExit(f"{label}: run did not complete: {outcome.get('error')}")
                    arrived = len(receiver.spans()) - before
                    if label == "--otel" and arrived != args.cases + 1:
                        raise SystemExit(f"--otel: {arrived} spans arrived, {args.cases + 1} sent")
                    print(f"round {round_ + 1}: {label}: {wall:.2f} s, {arrived} spans received")
    finally:
        server.stop()
    medians = {label: statistics.median(w) for label, w in walls.items()}
    baseline = medians["without --otel"]
    for label, median in medians.items():
        print(
            f"{label:15} median {median:.2f} s ({args.cases / median:.0f} cases/s), "
            f"{median / baseline:.2f}x the run without --otel"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
