"""A fault storm: does `evalkit run` end quickly, and which concurrency controller ends it?

Against a loopback fake OpenAI server in its own process that answers 10% of requests with
429 + `Retry-After: 1`, 5% with 500, and lets 2% reset, 1% hang, 2% return malformed JSON and
2% empty content, 2,000 cases with default settings (4 calls in flight, streaming), every
result stored. Each controller runs as a whole `evalkit run --no-cache` command, the
controllers alternating within each of `--rounds` rounds; the medians are compared:

* `old`      the behaviour this replaced: AIMD halving on every 429 (floor 1, +1 per
             `limit` successes) and no first-token/idle deadlines (a hung call held its slot
             for the whole 120 s timeout). It does not end in minutes: it is stopped (SIGINT,
             which stores what finished) after `--cap` seconds and shown as "capped";
* `halving`  the same AIMD with today's deadlines (what the controller alone costs);
* `paced`    a token bucket: up to 4 in flight, their starts spaced at a rate that a fresh
             429 halves (from the starts of the last second) while the 429'd call waits its
             Retry-After, raised by 10% per success until unpaced again;
* `default`  what evalkit does: AIMD with a floor of half the maximum, one cut per round
             of calls, twice-as-fast increase; adaptive first-token deadline.

    python bench/faults.py [--cases 2000] [--rounds 3] [--cap 240] [--only default,old]

Target (issue 11): `default` completes in <= 120 s, every case stored with an answer or an
error class. Single runs on a shared 2-core machine swing by tens of percent: read medians.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

STORM = {"429": 0.10, "500": 0.05, "reset": 0.02, "hang": 0.01, "malformed": 0.02, "empty": 0.02}
VARIANTS = ("old", "halving", "paced", "default")
ANSWER = "The capital is Paris."


# -- the controllers compared with evalkit's own (installed in the child process) -----------
class HalvingLimit:
    """The AIMD evalkit had: halve on every 429 (floor 1), +1 after `limit` successes."""

    def __init__(self, maximum: int, floor: int | None = None) -> None:
        self.maximum = self.limit = self.lowest = maximum
        self.active = 0
        self._successes = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> int:
        while self.active >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
        self.active += 1
        return 0

    def release(self, rate_limited: bool, cuts: int | None = None) -> None:
        self.active -= 1
        if rate_limited:
            self.limit = max(1, self.limit // 2)
            self.lowest = min(self.lowest, self.limit)
            self._successes = 0
        elif self.limit < self.maximum:
            self._successes += 1
            if self._successes >= self.limit:
                self.limit += 1
                self._successes = 0
        self._wake()

    def _wake(self) -> None:
        free = self.limit - self.active
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1


class PacedLimit(HalvingLimit):
    """Up to `maximum` in flight, their starts paced by a token bucket: a 429 (at most one
    per `Retry-After` period, while the 429'd call waits out its own) halves the rate, taken
    from the starts of the last second; each success raises it by 10%, until unpaced."""

    RETRY_AFTER = 1.0  # the storm's Retry-After, seconds

    def __init__(self, maximum: int, floor: int | None = None) -> None:
        super().__init__(maximum)
        self.rate: float | None = None  # starts per second; None: unpaced
        self._next = self._cut_at = -1e9
        self._starts: collections.deque[float] = collections.deque()

    async def acquire(self) -> int:
        await super().acquire()
        loop = asyncio.get_running_loop()
        if self.rate is not None:
            now = loop.time()
            start = max(now, self._next)
            self._next = start + 1.0 / self.rate
            if start > now:
                try:
                    await asyncio.sleep(start - now)
                except BaseException:
                    self.release(False)
                    raise
        now = loop.time()
        self._starts.append(now)
        while self._starts and self._starts[0] < now - 1.0:
            self._starts.popleft()
        return 0

    def release(self, rate_limited: bool, cuts: int | None = None) -> None:
        self.active -= 1
        now = asyncio.get_running_loop().time()
        if rate_limited and now >= self._cut_at + self.RETRY_AFTER:
            self.rate = max(1.0, (self.rate or len(self._starts) or 1) / 2)
            self.lowest = min(self.lowest, max(1, round(self.rate * self.RETRY_AFTER)))
            self._cut_at = now
        elif not rate_limited and self.rate is not None:
            self.rate *= 1.1
            if self.rate > 4 * max(len(self._starts), 1):
                self.rate = None
        self._wake()


def child(variant: str, argv: list[str]) -> None:
    """Run `evalkit ARGV` with the controller (and deadlines) of VARIANT."""
    import evalkit.run.calls as calls
    from evalkit.providers.base import ClientProvider
    from evalkit.providers.timeouts import Deadlines

    if variant in ("old", "halving"):
        calls.AdaptiveLimit = HalvingLimit  # type: ignore[misc, assignment]
    elif variant == "paced":
        calls.AdaptiveLimit = PacedLimit  # type: ignore[misc, assignment]
    if variant == "old":
        ClientProvider.deadlines = lambda self: Deadlines(120.0)  # type: ignore[method-assign]
    from evalkit.cli.main import app

    app(argv, prog_name="evalkit")


# -- the bench --------------------------------------------------------------------------------
def make_project(root: Path, base_url: str, cases: int) -> None:
    (root / "prompts" / "storm").mkdir(parents=True, exist_ok=True)
    (root / "suites").mkdir(exist_ok=True)
    (root / "evalkit.yaml").write_text(
        f'providers:\n  fake: {{type: openai, base_url: "{base_url}/v1", model: fake-model}}\n'
        "defaults: {provider: fake}\n"
    )
    (root / "prompts/storm/v1.yaml").write_text(
        'messages: [{role: user, content: "Q: {{ q }}\\nA:"}]\nparams: {max_tokens: 16}\n'
    )
    with (root / "suites/storm.jsonl").open("w") as out:
        for i in range(cases):
            out.write(json.dumps({"id": f"c{i}", "vars": {"q": f"question {i}?"}}) + "\n")
    (root / "suites/storm.yaml").write_text(
        "prompt: storm@v1\ncases: storm.jsonl\nscorers:\n  - {type: contains, value: Paris}\n"
    )


def stored(db: Path) -> tuple[int, dict[str, int]]:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        (total,) = con.execute("SELECT count(*) FROM results").fetchone() or (0,)
        classes = con.execute(
            "SELECT error_class, count(*) FROM results WHERE error_class IS NOT NULL "
            "GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
    return int(total), {str(k): int(v) for k, v in classes}


def one_run(variant: str, root: Path, db: Path, cap: float) -> dict[str, Any]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", variant, "--"]
    argv += ["run", "--json", "--no-cache", "--db", str(db)]
    began = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    capped = False
    try:
        out, err = proc.communicate(timeout=cap)
    except subprocess.TimeoutExpired:
        capped = True
        proc.send_signal(signal.SIGINT)  # stores what finished, marks the run interrupted
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    wall = time.perf_counter() - began
    total, classes = stored(db)
    row: dict[str, Any] = {
        "variant": variant,
        "wall": wall,
        "capped": capped,
        "exit": proc.returncode,
        "stored": total,
        "errors": classes,
    }
    if not capped:
        try:
            run = json.loads(out)["runs"][0]
        except (ValueError, KeyError, IndexError):
            message = f"{variant}: no JSON ({proc.returncode}): {err.decode()[-2000:]}"
            raise SystemExit(message) from None
        stats = run["summary"]["run"] or {}
        row.update(
            status=run["status"],
            requests=sum(stats.get("requests", {}).values()),
            retries=stats.get("retries_by_class", {}),
            throttled=stats.get("throttled_to", {}),
        )
    return row


def show(row: dict[str, Any], cases: int) -> str:
    wall = f"{row['wall']:6.1f} s" + (" (capped)" if row["capped"] else "")
    text = f"{row['variant']:8} {wall:>16}  exit {row['exit']}  stored {row['stored']}/{cases}"
    if not row["capped"]:
        retries = ", ".join(f"{k} {v}" for k, v in sorted(row["retries"].items()))
        text += f"  requests {row['requests']}  retries: {retries or '-'}"
        if row["throttled"]:
            text += f"  throttled to {min(row['throttled'].values())}"
    if row["errors"]:
        text += "  errors: " + ", ".join(f"{k} {v}" for k, v in row["errors"].items())
    return text


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[4:])
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cap", type=float, default=240.0, help="seconds before a run is stopped")
    parser.add_argument("--only", default=",".join(VARIANTS), help="variants, comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    variants = [v for v in args.only.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    from fakeserver import FakeServerProcess

    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    server = FakeServerProcess(
        faults=STORM, seed=args.seed, default_answer=ANSWER, max_log=100, retry_after=1
    )
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_project(root, server.base_url, args.cases)
            for round_ in range(args.rounds):
                for variant in variants:
                    db = root / f"{variant}-{round_}.duckdb"
                    row = one_run(variant, root, db, args.cap)
                    results[variant].append(row)
                    print(f"round {round_ + 1}: {show(row, args.cases)}", flush=True)
    finally:
        server.stop()
    print(f"\nmedians over {args.rounds} rounds ({args.cases} cases, storm {STORM}):")
    base = statistics.median(r["wall"] for r in results[variants[0]]) if variants else 0.0
    for variant in variants:
        rows = results[variant]
        wall = statistics.median(r["wall"] for r in rows)
        capped = sum(r["capped"] for r in rows)
        done = statistics.median(r["stored"] for r in rows)
        line = f"  {variant:8} wall {wall:6.1f} s ({base / wall:.2f}x the first)"
        line += f", stored {done:.0f}/{args.cases}"
        if capped:
            line += f", capped at {args.cap:.0f} s in {capped} of {len(rows)} rounds"
        finished = [r for r in rows if not r["capped"]]
        if finished:
            requests = statistics.median(r["requests"] for r in finished)
            classes = sorted({k for r in finished for k in r["retries"]})
            retries = ", ".join(
                f"{k} {statistics.median(r['retries'].get(k, 0) for r in finished):.0f}"
                for k in classes
            )
            line += f", requests {requests:.0f}, retries by class: {retries}"
        print(line)
    if "default" in results:
        walls = [r["wall"] for r in results["default"]]
        complete = all(r["stored"] == args.cases and not r["capped"] for r in results["default"])
        verdict = "met" if complete and statistics.median(walls) <= 120 else "NOT met"
        print(f"target (default <= 120 s, every case stored): {verdict}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "200")
    sys.exit(main())
