"""How fast does a runner waiting for another runner's claimed call get the answer, and how
many Redis commands does the waiting cost? ``RedisCache.wait_for`` (pub/sub, 1 s re-check)
against polling the entry every 20 ms, alternated, on a redis-server started here.

Each trial: a claimer claims a key, a waiter thread calls ``wait_for``, the claimer stores
the answer after ``--delay`` seconds; measured is the time from the store to the waiter's
return, and the server's command count during the wait (``INFO commandstats``).

    python bench/redis_wait.py [--trials 40] [--delay 0.3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from evalkit.store.cache import CacheEntry
from evalkit.store.redis_cache import RedisCache
from evalkit.store.response_cache import CacheRow
from services import redis_server


def poll_wait(cache: RedisCache, key: str, timeout_s: float, every_s: float = 0.02) -> Any:
    """The alternative: GET the entry (and the claim) every ``every_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = cache.r.get(cache._entry(key))
        if text:
            return cache._decode(key, text)
        if not cache.r.exists(cache._claim(key)):
            return None
        time.sleep(every_s)
    return None


def commands(cache: RedisCache) -> int:
    stats = cache.r.info("commandstats")
    return sum(int(v["calls"]) for v in stats.values())


def trial(claimer: RedisCache, waiter: RedisCache, key: str, delay: float, mode: str) -> tuple:
    assert claimer.claim(key, 30)
    got: list[float] = []

    def wait() -> None:
        if mode == "pubsub":
            waiter.wait_for(key, 20)
        else:
            poll_wait(waiter, key, 20)
        got.append(time.perf_counter())

    before = commands(claimer)
    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(delay)
    stored = time.perf_counter()
    entry = CacheEntry(key, "answer", 1, 1, None, 1.0, None, "stop", "p", None)
    claimer.put([CacheRow(entry, "openai", "m", {}, datetime.utcnow())])
    thread.join()
    return got[0] - stored, commands(claimer) - before - 2  # less the put's own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--delay", type=float, default=0.3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with redis_server() as url:
        claimer, waiter = RedisCache(url, "bench"), RedisCache(url, "bench")
        results: dict[str, list[tuple[float, int]]] = {"pubsub": [], "poll 20 ms": []}
        n = 0
        for _ in range(args.rounds):
            for mode in results:
                for _ in range(args.trials):
                    n += 1
                    results[mode].append(trial(claimer, waiter, f"k{n}", args.delay, mode))
    print(
        f"{args.rounds} alternating rounds × {args.trials} waits; the answer is stored "
        f"{args.delay:.1f} s after the wait starts"
    )
    print(f"{'waiting':<12} {'wake-up p50 ms':>15} {'p95 ms':>8} {'commands/wait':>14}")
    base = statistics.median(w for w, _ in results["pubsub"])
    for mode, rows in results.items():
        wakes = sorted(w * 1000 for w, _ in rows)
        p95 = wakes[int(0.95 * (len(wakes) - 1))]
        print(
            f"{mode:<12} {statistics.median(wakes):>15.2f} {p95:>8.2f} "
            f"{statistics.median(c for _, c in rows):>14.0f}"
        )
    poll = statistics.median(w for w, _ in results["poll 20 ms"])
    print(f"polling wakes {poll / base:.1f}× later than pub/sub (medians)")


if __name__ == "__main__":
    main()
