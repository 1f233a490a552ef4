"""store.summaries: per-case totals aggregated in DuckDB agree with the per-result values,
and the run summary built on them agrees with the statistics computed result by result."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from evalkit.records import Result, Score
from evalkit.run.summary import summarize_run
from evalkit.stats import mean_interval
from evalkit.store import runs as store_runs
from evalkit.store import summaries
from evalkit.store.db import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "e.duckdb") as s:
        yield s


def _write(store: Store, cases: int, repeats: int, seed: int = 0) -> list[tuple]:
    """A run of two prompt versions; returns (prompt, case, passed, bleu value) per result."""
    rng = np.random.default_rng(seed)
    store_runs.insert_run(store, {"id": "r1", "suite": "s"})
    results, scores, rows = [], [], []
    for prompt in ("p@v1", "p@v2"):
        for c in range(cases):
            p = rng.uniform()
            for rep in range(repeats):
                rid = f"{prompt}/{c}/{rep}"
                passed = None if rng.random() < 0.1 else bool(rng.random() < p)
                value = float(rng.uniform(0, 100))
                if rng.random() < 0.05:
                    value = math.nan  # never counted in a mean or an interval
                results.append(
                    Result(
                        id=rid,
                        run_id="r1",
                        suite="s",
                        case_id=f"case-{c:03d}",
                        case_hash="h",
                        prompt=prompt,
                        prompt_name="p",
                        prompt_version=prompt[-2:],
                        prompt_hash="ph",
                        provider="x",
                        provider_type="openai",
                        model="m",
                        params={},
                        repeat=rep,
                        input="",
                        output="o",
                        passed=passed,
                        latency_ms=100.0,
                    )
                )
                for name, kind, v, ok in (
                    ("check", "contains", None if passed is None else float(passed), passed),
                    ("bleu", "bleu", value, None),
                ):
                    scores.append(
                        Score(
                            result_id=rid,
                            run_id="r1",
                            scorer=name,
                            scorer_type=kind,
                            signature=kind,
                            signature_json={},
                            value=v,
                            passed=ok,
                            threshold=None,
                            detail=None,
                        )
                    )
                rows.append((prompt, f"case-{c:03d}", passed, value))
    store.write_batch(results, scores)
    return rows


def test_case_totals_match_the_results(store):
    rows = _write(store, 25, 3)
    outcomes = summaries.case_outcomes(store, "r1")
    values = summaries.case_values(store, "r1")
    assert set(outcomes) == {("p@v1", "x"), ("p@v2", "x")}
    for prompt in ("p@v1", "p@v2"):
        got = outcomes[(prompt, "x")]
        mine = [r for r in rows if r[0] == prompt]
        ids = sorted({r[1] for r in mine})
        assert got.case_ids.tolist() == ids
        assert got.results.tolist() == [sum(r[1] == i for r in mine) for i in ids]
        assert got.passed.tolist() == [sum(r[1] == i and r[2] is True for r in mine) for i in ids]
        assert got.failed.tolist() == [sum(r[1] == i and r[2] is False for r in mine) for i in ids]
        bleu = values[(prompt, "x", "bleu")]
        assert not bleu.binary and values[(prompt, "x", "check")].binary
        for case_id, total, count in zip(bleu.case_ids, bleu.sums, bleu.counts, strict=True):
            finite = [r[3] for r in mine if r[1] == case_id and math.isfinite(r[3])]
            assert count == len(finite) and total == pytest.approx(sum(finite))


def test_summary_intervals_equal_the_ones_computed_result_by_result(store):
    rows = _write(store, 30, 3)
    summary = summarize_run(store, "r1")
    for group in summary["groups"]:
        mine = [r for r in rows if r[0] == group["prompt"]]
        decided = [(r[1], float(r[2])) for r in mine if r[2] is not None]
        low, high, method = mean_interval([v for _, v in decided], [c for c, _ in decided])
        assert method == group["pass_rate_ci_method"] == "wilson-clustered"
        assert group["pass_rate_ci"] == pytest.approx([low, high], rel=1e-12)
        finite = [(r[1], r[3]) for r in mine if math.isfinite(r[3])]
        rng = np.random.default_rng(20240607)  # the summary's seed
        low, high, method = mean_interval(
            [v for _, v in finite], [c for c, _ in finite], binary=False, rng=rng
        )
        bleu = group["scores"]["bleu"]
        assert bleu["ci_method"] == method == "bootstrap-clustered"
        assert bleu["ci"] == pytest.approx([low, high], rel=1e-9)
        repeats = group["repeats"]
        assert repeats["k"] == 3 and len(repeats["per_case"]) == 30


def test_a_run_without_results_summarises_to_nothing(store):
    store_runs.insert_run(store, {"id": "r0", "suite": "s"})
    assert summaries.case_outcomes(store, "r0") == {}
    assert summaries.case_values(store, "r0") == {}
    assert summarize_run(store, "r0")["groups"] == []
