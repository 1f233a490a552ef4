"""What a comparison says it cannot tell, as carried in its JSON: warnings on a metric from
a suite too small for a bootstrap, and undefined ratios in a budget's interval."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from storeutil import make_result, make_score, write_run

from evalkit.compare.drift import compare_runs
from evalkit.store.db import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "e.duckdb") as s:
        yield s


def _run(store: Store, run_id: str, cases: int, minutes: int, *, cost: float = 0.001) -> None:
    items = []
    for i in range(cases):
        r = make_result(
            run_id,
            f"c{i:02d}",
            latency_ms=100.0 + i + minutes,
            cost_usd=0.0 if i < cases - 2 else cost,  # mostly cached / free calls
        )
        passed = i % 3 != 0
        items.append(
            (
                r,
                [
                    make_score(r, "check", passed),
                    make_score(
                        r, "sim", None, value=0.5 + i / 100 + minutes / 1000, scorer_type="bleu"
                    ),
                ],
            )
        )
    write_run(store, run_id, items, minutes=minutes)


def test_a_small_suite_carries_a_warning_on_its_bootstrapped_metrics(store):
    _run(store, "r1", 12, 0)
    _run(store, "r2", 12, 1)
    (pairing,) = compare_runs(store, "r1", "r2").pairings
    by_name = {m.metric: m for m in pairing.metrics}
    assert by_name["pass rate"].warnings == []  # exact test, Newcombe: no bootstrap
    (warning,) = by_name["sim (mean)"].warnings
    assert "only 12 cases" in warning and "bootstrap" in warning
    latency = pairing.budgets[0]
    assert latency.metric == "latency p95"
    assert any("only 12 cases" in w for w in latency.warnings)


def test_a_budget_says_how_many_resamples_had_no_ratio(store):
    _run(store, "r1", 30, 0)
    _run(store, "r2", 30, 1, cost=0.002)
    (pairing,) = compare_runs(store, "r1", "r2").pairings
    cost = next(b for b in pairing.budgets if b.metric == "cost per result")
    # 28 of 30 baseline calls cost nothing: a resample without the 2 paid ones has no ratio
    assert cost.ratio == pytest.approx(2.0)
    assert cost.resamples == 2000 and cost.undefined_resamples > 50
    assert cost.ci is None
    assert any(w.startswith("no interval") for w in cost.warnings)
    latency = next(b for b in pairing.budgets if b.metric == "latency p95")
    assert latency.undefined_resamples == 0 and latency.warnings == []
