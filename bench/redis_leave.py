"""How long does an interrupted run take to leave while it waits for calls another runner has
claimed in the shared (Redis) cache? Against the same interrupt of a run whose calls are all
its own (in flight), alternated, on a redis-server and a slow fake server started here.

Each trial: ``evalkit run`` of a 40-case suite against a server that answers after two
minutes. *waiting*: a first runner claims its calls, a second one (the one interrupted) starts
on another store and waits for them. *own calls*: a single runner, interrupted once its calls
are claimed. Measured: from SIGINT to the interrupted process's exit (exit code 130).

    python bench/redis_leave.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import redis

from fakeserver import FakeServer
from scaleproject import write_numbers_project
from services import redis_server


def until(condition, what: str, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.05)


def trial(url: str, base_url: str, prefix: str, mode: str) -> float:
    r = redis.Redis.from_url(url, decode_responses=True)
    root = Path(tempfile.mkdtemp(prefix="evalkit-leave-"))
    write_numbers_project(
        root, base_url, extra_config=f"cache: {{backend: redis, url: '{url}', prefix: {prefix}}}\n"
    )

    def start(store: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "evalkit", "run", "--prompt", "numbers@v1", "--db", store],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    first = start("first.duckdb")
    try:
        until(lambda: r.keys(f"{prefix}:cache:claim:*"), "the first runner's claims")
        interrupted = first
        if mode == "waiting":
            interrupted = start("second.duckdb")
            until(lambda: r.pubsub_channels(f"{prefix}:cache:done:*"), "the second's waits")
        began = time.perf_counter()
        interrupted.send_signal(signal.SIGINT)
        code = interrupted.wait(timeout=900)
        took = time.perf_counter() - began
        if code != 130:
            raise SystemExit(f"{mode}: the interrupted run exited {code}, not 130")
        return took
    finally:
        first.kill()
        first.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"own calls": [], "waiting": []}
    with redis_server() as url, FakeServer(latency_ms=120_000) as server:
        for n in range(args.rounds):
            for mode, got in times.items():
                got.append(trial(url, server.base_url, f"b{n}{mode[0]}", mode))
                print(f"round {n + 1}: {mode}: {got[-1]:.2f} s", flush=True)
    base = statistics.median(times["own calls"])
    waiting = statistics.median(times["waiting"])
    print(f"{args.rounds} alternating rounds; from SIGINT to exit, medians:")
    print(f"  own calls in flight          {base:6.2f} s")
    print(f"  waiting for another runner   {waiting:6.2f} s  ({waiting / base:.2f}×)")


if __name__ == "__main__":
    main()
