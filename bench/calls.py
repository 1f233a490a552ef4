"""How close is `evalkit run` to a raw client, and how fast is a fully cached re-run?

Against a loopback fake OpenAI server answering instantly (in its own process), 2,000 cases at
concurrency 16 with three cheap scorers (contains, regex, bleu), every result stored:

1. the floor: an `openai.AsyncOpenAI` loop at the same concurrency doing the same three checks
   and storing nothing, measured in this same run;
2. `evalkit run` (a subprocess; its run phase from the `--json` output, and its whole wall);
3. the same with streaming on (the floor streams too);
4. a fully cached re-run (no request reaches the server);
5. how much the DuckDB file grows per stored result.

    python bench/calls.py [--cases 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
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
            out.write(
                json.dumps(
                    {"id": f"c{i}", "vars": {"q": f"question number {i}?"}, "reference": REFERENCE}
                )
                + "\n"
            )
    (root / "suites/bench.yaml").write_text(
        "prompt: bench@v1\ncases: bench.jsonl\nscorers:\n"
        "  - {type: contains, value: Paris}\n"
        f"  - {{type: regex, pattern: '{PATTERN}'}}\n"
        "  - {type: bleu}\n"
    )


async def floor(base_url: str, cases: int, concurrency: int, stream: bool) -> float:
    """Cases per second of a bare AsyncOpenAI loop doing the same checks, storing nothing."""
    import openai
    from sacrebleu.metrics import BLEU

    bleu = BLEU(effective_order=True)
    pattern = re.compile(PATTERN)
    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(cases):
        queue.put_nowait(i)
    checked = 0

    async def worker() -> None:
        nonlocal checked
        while not queue.empty():
            i = queue.get_nowait()
            messages = [{"role": "user", "content": f"Q: question number {i}?\nA:"}]
            if stream:
                parts = []
                response = await client.chat.completions.create(
                    model="fake-model",
                    messages=messages,
                    max_tokens=32,
                    temperature=0,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                async for chunk in response:
                    for choice in chunk.choices:
                        if choice.delta.content:
                            parts.append(choice.delta.content)
                text = "".join(parts)
            else:
                response = await client.chat.completions.create(
                    model="fake-model", messages=messages, max_tokens=32, temperature=0
                )
                text = response.choices[0].message.content or ""
            text = text.strip()
            ok = "Paris" in text and pattern.search(text) is not None
            bleu.sentence_score(text, [REFERENCE])
            checked += ok

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await client.close()
    assert checked == cases, "the fake server's answer should pass both checks"
    return cases / elapsed


def evalkit_run(root: Path, db: Path, concurrency: int) -> tuple[dict, float]:
    env = {**os.environ, "EVALKIT_DB": str(db)}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "evalkit", "run", "--json", "-j", str(concurrency)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"evalkit run failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout)["runs"][0], wall


def file_size(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="floor and evalkit alternate this many times; medians are compared",
    )
    args = parser.parse_args()
    n, j = args.cases, args.concurrency
    server = FakeServerProcess(default_answer=ANSWER, max_log=100)
    server.start()
    ok = True
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for stream in (False, True):
                label = "streaming on " if stream else "streaming off"
                floors, rates, growths = [], [], []
                for round_ in range(args.rounds):
                    root = Path(tmp) / f"{label.strip()}-{round_}"
                    root.mkdir()
                    make_project(root, server.base_url, n, stream)
                    db = root / "bench.duckdb"
                    from evalkit.store.db import Store

                    Store(db).close()  # an empty store with its schema: growth counts results
                    empty = file_size(db)
                    floors.append(asyncio.run(floor(server.base_url, n, j, stream)))
                    run, wall = evalkit_run(root, db, j)
                    # per-case work: rendering, cache lookup, calls, scoring, storing (not the
                    # provider's start-up, as the floor's client creation is not timed either)
                    busy = run["summary"]["run"]["prepare_s"] + run["elapsed_s"]
                    rates.append(n / busy)
                    growths.append((file_size(db) - empty) / n)
                    print(
                        f"[{label}] round {round_ + 1}: floor {floors[-1]:6.1f} cases/s, "
                        f"evalkit {rates[-1]:6.1f} cases/s (whole command {wall:.2f} s)"
                    )
                floor_rate, rate = statistics.median(floors), statistics.median(rates)
                ratio = rate / floor_rate
                print(
                    f"[{label}] median floor (AsyncOpenAI + 3 checks, nothing stored): "
                    f"{floor_rate:6.1f} cases/s"
                )
                print(
                    f"[{label}] median evalkit run (everything stored): {rate:6.1f} cases/s "
                    f"-> {ratio:.2f}x the floor ({'ok' if ratio >= 0.8 else 'BELOW 0.8x'})"
                )
                per_result = max(growths)
                print(
                    f"[{label}] store growth: {per_result / 1024:.2f} KiB per result "
                    f"({'ok' if per_result <= 2048 else 'OVER 2 KiB'})"
                )
                ok &= ratio >= 0.8 and per_result <= 2048
                if not stream:
                    requests_before = server.stats()["total"]
                    cached, cached_wall = evalkit_run(root, db, j)
                    hits = cached["summary"]["run"]["cache_hits"]
                    reached = server.stats()["total"] - requests_before
                    phase = cached["summary"]["run"]["prepare_s"] + cached["elapsed_s"]
                    print(
                        f"[cached re-run] {hits}/{n} from the cache, {reached} requests reached "
                        f"the server; run phase {phase:.2f} s (target <= 1 s), "
                        f"whole command {cached_wall:.2f} s (target <= 2 s)"
                    )
                    ok &= hits == n and reached == 0
                    ok &= phase <= 1.0 and cached_wall <= 2.0
    finally:
        server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
