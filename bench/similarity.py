"""How fast is the `similarity` scorer against calling sentence-transformers directly?

Scores N distinct (output, reference) pairs (default 2,000) with evalkit's scorer — fed in
the batches the runner hands it (256 results), and as one batch — and with
``SentenceTransformer.encode`` called directly on the same texts (outputs + references, one
call) with the same batch size, followed by the same cosine. Same process, same loaded model
(loading is not what is measured), rounds interleaved so that load from other processes
hits both alike; each scorer round uses a fresh scorer (no embeddings cached from a previous
round). The direct call is timed on the main thread and on a worker thread (where the scorer
runs it); the ratio is taken against the faster of the two. Prints pairs/s and the ratio;
exits 1 if the runner-batch ratio is under the 0.8 target.

    python bench/similarity.py [--pairs 2000] [--batch-size 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evalkit.load.source import LineMap, validate
from evalkit.records import Case, Result, ScorerSpec
from evalkit.score.base import ScoreContext, ScoreInput
from evalkit.score.similarity import Similarity, default_model_path, load_model

TARGET = 0.8
RUNNER_BATCH = 256  # evalkit.run.runner.Runner's default batch_size

_NAMES = ["Anna", "Omar", "Lena", "Raj", "Sofia", "Tom", "Yuki", "Ines", "Kofi", "Marta"]
_VERBS = ["bought", "sold", "painted", "repaired", "borrowed", "found", "lost", "cleaned"]
_THINGS = [
    "a red bicycle",
    "an old piano",
    "the kitchen table",
    "two blue chairs",
    "a small boat",
    "her grandfather's watch",
    "a broken laptop",
    "the garden fence",
]
_WHEN = ["yesterday", "last week", "on Monday", "in the spring", "after lunch", "at dawn"]
_WHERE = [
    "in Berlin",
    "near the river",
    "at the market",
    "in a quiet village",
    "downtown",
    "by the old harbour",
    "behind the station",
]


def make_pairs(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """``n`` distinct pairs: an output and a reference that paraphrases or changes it."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    while len(pairs) < n:
        who, verb, thing = rng.choice(_NAMES), rng.choice(_VERBS), rng.choice(_THINGS)
        when, where = rng.choice(_WHEN), rng.choice(_WHERE)
        output = f"{who} {verb} {thing} {where} {when}."
        if rng.random() < 0.5:
            reference = f"{when.capitalize()}, {who} {verb} {thing} {where}."
        else:
            reference = (
                f"{rng.choice(_NAMES)} {rng.choice(_VERBS)} {rng.choice(_THINGS)} "
                f"{rng.choice(_WHERE)}."
            )
        if (output, reference) not in seen:
            seen.add((output, reference))
            pairs.append((output, reference))
    return pairs


def _items(pairs: list[tuple[str, str]]) -> list[ScoreInput]:
    items = []
    for i, (output, reference) in enumerate(pairs):
        case = Case(id=f"c{i}", hash="h", vars={}, reference=reference)
        result = Result(
            id=f"r{i}",
            run_id="bench",
            suite="bench",
            case_id=case.id,
            case_hash="h",
            prompt="p@v1",
            prompt_name="p",
            prompt_version="v1",
            prompt_hash="h",
            provider="x",
            provider_type="local",
            model="m",
            params={},
            repeat=0,
            input="",
            output=output,
        )
        items.append(ScoreInput(output, case, result))
    return items


def _scorer(batch_size: int) -> Similarity:
    options = validate(
        Similarity.Options, {"type": "similarity", "batch_size": batch_size}, LineMap("bench")
    )
    spec = ScorerSpec(type="similarity", name="similarity", options=options)
    return Similarity(spec, ScoreContext(defaults={}, resources={}))


def run_scorer(items: list[ScoreInput], batch_size: int, chunk: int) -> tuple[float, list[float]]:
    scorer = _scorer(batch_size)  # fresh: nothing cached from an earlier round

    async def go() -> list[float]:
        values: list[float] = []
        for start in range(0, len(items), chunk):
            outcomes = await scorer.score_batch(items[start : start + chunk])
            values += [o.value for o in outcomes if o.value is not None]
        return values

    began = time.perf_counter()
    values = asyncio.run(go())
    return time.perf_counter() - began, values


def run_direct(
    model: object, pairs: list[tuple[str, str]], batch_size: int
) -> tuple[float, list[float]]:
    outputs = [o for o, _ in pairs]
    references = [r for _, r in pairs]
    began = time.perf_counter()
    vectors = model.encode(
        outputs + references,
        batch_size=batch_size,  # type: ignore[attr-defined]
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    n = len(pairs)
    sims = (vectors[:n] * vectors[n:]).sum(axis=1)
    return time.perf_counter() - began, [float(s) for s in sims]


def run_direct_in_thread(
    model: object, pairs: list[tuple[str, str]], batch_size: int
) -> tuple[float, list[float]]:
    """The direct call on a worker thread, as the scorer runs it (``asyncio.to_thread``):
    on a loaded machine torch's thread pool behaves differently there than on the main
    thread, so the fair baseline is the faster of the two."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(run_direct, model, pairs, batch_size).result()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pairs = make_pairs(args.pairs)
    items = _items(pairs)
    model = load_model(str(default_model_path()))
    run_direct(model, pairs[:128], args.batch_size)  # warm up both paths
    run_scorer(items[:128], args.batch_size, RUNNER_BATCH)
    times: dict[str, list[float]] = {"direct": [], "thread": [], "runner": [], "one": []}
    values: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name in ("direct", "thread", "runner", "one"):
            if name == "direct":
                took, got = run_direct(model, pairs, args.batch_size)
            elif name == "thread":
                took, got = run_direct_in_thread(model, pairs, args.batch_size)
            else:
                chunk = RUNNER_BATCH if name == "runner" else len(items)
                took, got = run_scorer(items, args.batch_size, chunk)
            times[name].append(took)
            values[name] = got
    worst = max(abs(a - b) for a, b in zip(values["direct"], values["runner"], strict=True))
    rate = {name: args.pairs / statistics.median(t) for name, t in times.items()}
    base = max(rate["direct"], rate["thread"])
    print(f"{args.pairs} pairs, batch size {args.batch_size}, median of {args.rounds} rounds")
    print(f"SentenceTransformer.encode, main thread    {rate['direct']:8.1f} pairs/s")
    print(f"SentenceTransformer.encode, worker thread  {rate['thread']:8.1f} pairs/s")
    print(
        f"evalkit similarity, runner batches         {rate['runner']:8.1f} pairs/s   "
        f"({rate['runner'] / base:.2f}x the faster direct call; {RUNNER_BATCH} results "
        "per batch)"
    )
    print(
        f"evalkit similarity, one batch              {rate['one']:8.1f} pairs/s   "
        f"({rate['one'] / base:.2f}x)"
    )
    print(f"largest difference from the direct cosine: {worst:.2e}")
    ratio = rate["runner"] / base
    print(f"target ≥ {TARGET:.1f}x -> {'ok' if ratio >= TARGET else 'UNDER'}")
    return 0 if ratio >= TARGET and worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
