"""The verdict words on constructed comparisons: regressed, improved, equivalent (within the
margin, which is shown), inconclusive (with what the suite could detect), not comparable —
never "unchanged" — and the overall verdict and the notes where interval and test disagree."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from storeutil import make_result, make_score, simple_run, write_run

from evalkit.compare.drift import compare_runs
from evalkit.compare.equivalence import overall_verdict
from evalkit.contracts import VERDICTS, Metric
from evalkit.report.format import colour, verdict_text
from evalkit.store.db import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "e.duckdb") as s:
        yield s


def _cases(n: int, passing: set[int]) -> dict[str, list[bool]]:
    return {f"c{i:04d}": [i in passing] for i in range(n)}


def _margin(store: Store, run_id: str, setting: dict) -> None:
    """What a suite's ``equivalence_margin:`` stores with the run."""
    options = json.dumps({"equivalence_margin": setting})
    store.execute("UPDATE runs SET options = ? WHERE id = ?", [options, run_id])


def _pass_rate(comparison) -> Metric:
    return comparison.pairings[0].metrics[0]


def test_the_vocabulary_has_no_unchanged():
    assert set(VERDICTS) == {
        "regressed",
        "improved",
        "equivalent",
        "inconclusive",
        "not comparable",
    }
    assert {colour(v) for v in VERDICTS} == {"red", "green", "amber", "grey"}
    assert colour("equivalent") == colour("improved") == "green"
    assert colour("inconclusive") == "amber" and colour("regressed") == "red"


def test_regressed_and_improved_are_significant_after_holm(store):
    simple_run(store, "r1", _cases(120, set(range(100))))
    simple_run(store, "r2", _cases(120, set(range(20, 100))), minutes=1)
    down = compare_runs(store, "r1", "r2")
    up = compare_runs(store, "r2", "r1")
    assert down.verdict == "regressed" and _pass_rate(down).verdict == "regressed"
    assert up.verdict == "improved" and _pass_rate(up).verdict == "improved"
    assert verdict_text(_pass_rate(down)).startswith("regressed (p<0.001")


def test_equivalent_needs_the_whole_interval_inside_the_margin(store):
    """2,000 cases that did not change: the interval is about ±0.2 points, inside the default
    ±2 points — equivalent. The same data with 120 cases is not."""
    simple_run(store, "big1", _cases(2000, set(range(1500))))
    simple_run(store, "big2", _cases(2000, set(range(1500))), minutes=1)
    big = compare_runs(store, "big1", "big2")
    metric = _pass_rate(big)
    assert metric.verdict == "equivalent" and big.verdict == "equivalent"
    assert metric.margin is not None and metric.margin.value == 0.02
    assert metric.margin.source == "default"
    assert metric.ci is not None and -0.02 <= metric.ci[0] <= metric.ci[1] <= 0.02
    assert verdict_text(metric) == "equivalent (±2 points)"
    assert big.counts.equivalent == 1 and big.counts.inconclusive == 0


def test_inconclusive_says_what_the_suite_could_have_seen(store):
    """The README's case: 22 cases, 5 went fail → pass, none the other way. Not significant
    (exact McNemar p = 2 × 0.5⁵), and the interval is far wider than the margin."""
    simple_run(store, "a", _cases(22, set(range(15))))
    simple_run(store, "b", _cases(22, set(range(20))), minutes=1)
    comparison = compare_runs(store, "a", "b")
    metric = _pass_rate(comparison)
    assert metric.p == pytest.approx(2 * 0.5**5)
    assert metric.verdict == "inconclusive" and comparison.verdict == "inconclusive"
    assert metric.mde is not None
    points = round(metric.mde * 100)
    assert verdict_text(metric) == f"inconclusive: +23 points, this suite detects ≥ {points}"
    # Newcombe's interval excludes 0 here while the exact test does not reach α: said why
    assert metric.ci is not None and metric.ci[0] > 0
    assert metric.disagreement is not None
    assert "excludes 0" in metric.disagreement and "p=0.062" in metric.disagreement
    assert '"verdict": "unchanged"' not in json.dumps(comparison.as_json())


def test_not_comparable_carries_the_reason_and_nothing_tested_is_not_comparable(store):
    def run(run_id, version, minutes):
        items = []
        for i in range(30):
            r = make_result(run_id, f"c{i}")
            items.append(
                (r, [make_score(r, "judge", None, value=0.7, scorer_type="judge", version=version)])
            )
        write_run(store, run_id, items, minutes=minutes)

    run("j1", "1", 0)
    run("j2", "2", 1)
    comparison = compare_runs(store, "j1", "j2")
    judge = comparison.pairings[0].metrics[1]
    assert judge.verdict == "not comparable"
    assert verdict_text(judge) == "not comparable: scorer signature differs (version: 1 → 2)"
    assert comparison.verdict == "not comparable" and comparison.tests == 0


def test_the_suites_margin_is_used_and_shown(store):
    """The candidate run's ``equivalence_margin`` decides: ±10 points makes 120 unchanged
    cases equivalent; a relative margin on a mean is shown with its share."""
    simple_run(store, "m1", _cases(120, set(range(90))))
    simple_run(store, "m2", _cases(120, set(range(90))), minutes=1)
    assert _pass_rate(compare_runs(store, "m1", "m2")).verdict == "inconclusive"
    _margin(store, "m2", {"rates": 0.1, "metrics": {}})
    metric = _pass_rate(compare_runs(store, "m1", "m2"))
    assert metric.verdict == "equivalent" and metric.margin is not None
    assert metric.margin.source == "suite" and verdict_text(metric) == "equivalent (±10 points)"
    # the baseline's margin plays no part
    _margin(store, "m1", {"rates": 0.001, "metrics": {}})
    assert _pass_rate(compare_runs(store, "m1", "m2")).verdict == "equivalent"

    def scores(run_id, minutes, noise=0.0):
        items = []
        for i in range(60):
            r = make_result(run_id, f"c{i}")
            value = 30 + (i % 7) * 3 + noise * ((i * 7) % 5 - 2)
            items.append((r, [make_score(r, "bleu", None, value=value, scorer_type="bleu")]))
        write_run(store, run_id, items, minutes=minutes)

    scores("s1", 10)
    scores("s2", 11, noise=0.1)  # per-case differences of −0.2 … +0.2, mean 0
    bleu = compare_runs(store, "s1", "s2").pairings[0].metrics[1]
    assert bleu.kind == "mean" and bleu.margin is not None and bleu.baseline is not None
    assert bleu.margin.relative == 0.02
    assert bleu.margin.value == pytest.approx(0.02 * bleu.baseline)
    assert bleu.verdict == "equivalent", bleu
    assert verdict_text(bleu) == f"equivalent (±{bleu.margin.value:.1f}, 2% of the baseline)"
    _margin(store, "s2", {"rates": None, "metrics": {"bleu": 0.01}})
    bleu = compare_runs(store, "s1", "s2").pairings[0].metrics[1]
    assert bleu.verdict == "inconclusive" and bleu.margin is not None
    assert bleu.margin.value == 0.01 and bleu.margin.source == "suite"
    assert verdict_text(bleu).startswith("inconclusive: +0.0, this suite detects ≥ ")


def test_the_overall_verdict():
    assert overall_verdict(["equivalent", "regressed", "improved"]) == "regressed"
    assert overall_verdict(["equivalent", "improved", "inconclusive"]) == "improved"
    assert overall_verdict(["equivalent", "equivalent", "not comparable"]) == "equivalent"
    assert overall_verdict(["equivalent", "inconclusive"]) == "inconclusive"
    assert overall_verdict(["not comparable"]) == overall_verdict([]) == "not comparable"


def test_a_significant_test_whose_interval_includes_zero_says_why():
    from evalkit.compare.equivalence import disagreement

    note = disagreement(
        test="exact sign-flip over cases",
        ci=(-0.01, 0.2),
        p=0.01,
        p_adjusted=0.02,
        alpha=0.05,
        tests=2,
    )
    assert note is not None and "includes 0" in note and "cluster bootstrap" in note
    holm = disagreement(
        test="exact McNemar", ci=(0.01, 0.2), p=0.02, p_adjusted=0.06, alpha=0.05, tests=3
    )
    assert holm is not None and "Holm's correction over 3 tests" in holm
    assert (
        disagreement(
            test="exact McNemar", ci=(0.01, 0.2), p=0.001, p_adjusted=0.003, alpha=0.05, tests=3
        )
        is None
    )
