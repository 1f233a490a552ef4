"""compare.drift on runs written to a real store: alignment, refusals, verdicts, flips."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from storeutil import make_result, make_score, simple_run, write_run

from evalkit import stats
from evalkit.compare.align import Sides
from evalkit.compare.drift import compare_runs
from evalkit.errors import InputError
from evalkit.store.db import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "e.duckdb") as s:
        yield s


def _cases(n: int, passing: set[int]) -> dict[str, list[bool]]:
    return {f"c{i:03d}": [i in passing] for i in range(n)}


def test_planted_flips_are_listed_exactly_pass_to_fail_first(store):
    base = set(range(70))
    lost = {3, 17, 42, 55, 60, 61, 68}
    gained = {71, 80, 99}
    simple_run(store, "r1", _cases(100, base))
    simple_run(store, "r2", _cases(100, (base - lost) | gained), minutes=1)
    out = compare_runs(store, "r1", "r2")
    (pairing,) = out.pairings
    flips = pairing.flips
    assert list(flips.model_dump()) == ["pass_to_fail", "fail_to_pass"]
    assert [f.case_id for f in flips.pass_to_fail] == [f"c{i:03d}" for i in sorted(lost)]
    assert [f.case_id for f in flips.fail_to_pass] == [f"c{i:03d}" for i in sorted(gained)]
    first = flips.pass_to_fail[0]
    assert first.baseline is not None and first.candidate is not None
    assert first.baseline.output == "c003:good:r1"
    assert first.candidate.output == "c003:bad:r2"
    assert [f.model_dump() for f in first.candidate.failed] == [
        {"scorer": "check", "value": 0.0, "detail": "missing in check"}
    ]
    assert out.counts.pass_to_fail == 7 and out.counts.fail_to_pass == 3
    pass_rate = pairing.metrics[0]
    assert pass_rate.discordant is not None
    assert pass_rate.discordant.model_dump() == {"pass_to_fail": 7, "fail_to_pass": 3}
    assert pass_rate.estimate == pytest.approx(-0.04)
    assert pass_rate.p == pytest.approx(stats.mcnemar_exact(7, 3))
    # 7 vs 3 is not significant, and the interval is far wider than ±2 points
    assert pass_rate.verdict == "inconclusive"
    assert out.verdict == "inconclusive" and out.counts.inconclusive == 1


def test_a_real_regression_is_flagged_and_identical_runs_are_not_called_unchanged(store):
    simple_run(store, "r1", _cases(120, set(range(100))))
    simple_run(store, "r2", _cases(120, set(range(20, 100))), minutes=1)
    simple_run(store, "r3", _cases(120, set(range(100))), minutes=2)
    bad = compare_runs(store, "r1", "r2")
    assert bad.verdict == "regressed" and bad.counts.regressed == 1
    pass_rate = bad.pairings[0].metrics[0]
    assert pass_rate.verdict == "regressed" and pass_rate.p_adjusted is not None
    assert pass_rate.p_adjusted < 1e-5
    assert pass_rate.ci is not None and pass_rate.ci[1] < 0
    same = compare_runs(store, "r1", "r3")
    # nothing changed, yet 120 cases cannot show a change under 2 points: inconclusive
    assert same.verdict == "inconclusive"
    assert same.pairings[0].flips.model_dump() == {"pass_to_fail": [], "fail_to_pass": []}
    # what this suite could detect: a deterministic suite needs ~8 flipped cases of 120
    mde = same.pairings[0].mde.pass_rate
    assert mde is not None and 0.04 < mde < 0.10
    improved = compare_runs(store, "r2", "r1")
    assert improved.verdict == "improved"


def test_repeats_flip_by_majority_and_use_the_cluster_statistics(store):
    simple_run(
        store,
        "r1",
        {
            "a": [True, True, True],
            "b": [True, True, False],
            "c": [False, False, True],
            "d": [True] * 3,
        },
    )
    simple_run(
        store,
        "r2",
        {
            "a": [False, False, True],
            "b": [True, False, True],
            "c": [True, True, False],
            "d": [True] * 3,
        },
        minutes=1,
    )
    (pairing,) = compare_runs(store, "r1", "r2").pairings
    assert pairing.cases.repeats == 3
    assert [f.case_id for f in pairing.flips.pass_to_fail] == ["a"]
    assert [f.case_id for f in pairing.flips.fail_to_pass] == ["c"]
    flip = pairing.flips.pass_to_fail[0]
    assert flip.baseline is not None and flip.candidate is not None
    assert (flip.baseline.passes, flip.candidate.passes, flip.baseline.repeats) == (3, 1, 3)
    assert pairing.metrics[0].test == "exact sign-flip over cases"


def test_failed_calls_count_as_failures_and_undecided_pairs_are_left_out(store):
    items1, items2 = [], []
    for case in ("a", "b", "c"):
        r = make_result("r1", case)
        items1.append((r, [make_score(r, "check", True)]))
    r = make_result("r2", "a", error_class="timeout")
    items2.append((r, []))
    r = make_result("r2", "b")
    items2.append((r, [make_score(r, "check", None, value=None, detail="invalid verdict")]))
    r = make_result("r2", "c")
    items2.append((r, [make_score(r, "check", True)]))
    write_run(store, "r1", items1)
    write_run(store, "r2", items2, minutes=1)
    (pairing,) = compare_runs(store, "r1", "r2").pairings
    pass_rate = pairing.metrics[0]
    assert pass_rate.cases == 2  # b is undecided in r2
    (flip,) = pairing.flips.pass_to_fail
    assert flip.case_id == "a" and flip.candidate is not None
    assert flip.candidate.error_class == "timeout"


def _two_scorer_run(
    store, run_id, *, judge_version="1", threshold=None, minutes=0, passing=range(30)
):
    items = []
    for i in range(40):
        r = make_result(run_id, f"c{i}")
        items.append(
            (
                r,
                [
                    make_score(r, "check", i in passing),
                    make_score(
                        r,
                        "judge",
                        i in passing,
                        scorer_type="judge",
                        version=judge_version,
                        threshold=threshold,
                        options={"model": "gemma"},
                    ),
                ],
            )
        )
    return write_run(store, run_id, items, minutes=minutes)


def test_a_changed_signature_is_refused_with_the_reason(store):
    _two_scorer_run(store, "r1")
    _two_scorer_run(store, "r2", judge_version="2", minutes=1)
    (pairing,) = compare_runs(store, "r1", "r2").pairings
    metrics = {m.metric: m for m in pairing.metrics}
    judge = metrics["judge"]
    assert judge.verdict == "not comparable"
    assert judge.reason == "scorer signature differs (version: 1 → 2)"
    # the pass rate is still compared, over the scorers both runs share, and says so
    assert metrics["pass rate"].verdict == "inconclusive"
    assert metrics["pass rate"].note == "over check (the scorers both runs share)"
    assert any("not comparable" in n and "judge" in n for n in pairing.notes)


def test_a_changed_threshold_is_refused(store):
    _two_scorer_run(store, "r1", threshold=0.5)
    _two_scorer_run(store, "r2", threshold=0.7, minutes=1)
    (pairing,) = compare_runs(store, "r1", "r2").pairings
    judge = next(m for m in pairing.metrics if m.scorer == "judge")
    assert judge.verdict == "not comparable"
    assert judge.reason == "threshold differs (0.5 → 0.7)"


def test_prompt_version_provider_and_model_are_what_is_compared(store):
    items = []
    for run_id, prompt, model in (("r1", "p@v1", "m1"), ("r2", "p@v2", "m2")):
        items = []
        for i in range(30):
            r = make_result(run_id, f"c{i}", prompt=prompt, model=model, prompt_hash=prompt)
            items.append((r, [make_score(r, "check", i < 20)]))
        write_run(store, run_id, items, minutes=int(run_id[1]))
    out = compare_runs(store, "r1", "r2")
    (pairing,) = out.pairings
    assert pairing.label == "p@v1 → p@v2 · x"
    assert all(m.verdict != "not comparable" for m in pairing.metrics)
    assert "model m1 → m2" in pairing.notes


def test_cases_added_removed_and_changed_are_reported_not_compared(store):
    simple_run(store, "r1", {"keep": [True], "gone": [True], "edit": [True]})
    items = []
    for case, case_hash in (("keep", None), ("new", None), ("edit", "other-hash")):
        r = make_result("r2", case, case_hash=case_hash)
        items.append((r, [make_score(r, "check", False)]))
    write_run(store, "r2", items, minutes=1)
    (pairing,) = compare_runs(store, "r1", "r2").pairings
    assert pairing.cases.model_dump() == {
        "compared": 1,
        "repeats": 1,
        "added": ["new"],
        "removed": ["gone"],
        "changed": ["edit"],
    }
    assert [f.case_id for f in pairing.flips.pass_to_fail] == ["keep"]
    assert any("changed since the baseline" in n and "edit" in n for n in pairing.notes)


def test_like_with_like_pairs_groups_and_reports_the_rest(store):
    def run(run_id, groups, minutes):
        items = []
        for prompt, provider in groups:
            for i in range(5):
                r = make_result(run_id, f"c{i}", prompt=prompt, provider=provider)
                items.append((r, [make_score(r, "check", True)]))
        write_run(store, run_id, items, minutes=minutes)

    run("r1", [("p@v1", "x"), ("p@v2", "x"), ("q@v1", "x"), ("p@v1", "y")], 0)
    run("r2", [("p@v1", "x"), ("p@v2", "x"), ("q@v3", "x"), ("p@v1", "z")], 1)
    out = compare_runs(store, "r1", "r2")
    assert [p.label for p in out.pairings] == ["p@v1 · x", "p@v2 · x", "q@v1 → q@v3 · x"]
    assert out.unpaired.model_dump() == {"baseline": ["p@v1 · y"], "candidate": ["p@v1 · z"]}
    # named sides: two versions within one run, per provider
    within = compare_runs(store, "r1", "r1", sides=Sides(prompts=("p@v1", "p@v2")))
    assert [p.label for p in within.pairings] == ["p@v1 → p@v2 · x"]
    providers = compare_runs(store, "r1", "r1", sides=Sides(providers=("x", "y")))
    assert [p.label for p in providers.pairings] == ["p@v1 · x → y"]


def test_runs_of_different_suites_or_nothing_in_common_are_input_errors(store):
    simple_run(store, "r1", {"a": [True]})
    r = make_result("r2", "a")
    write_run(store, "r2", [(r, [make_score(r, "check", True)])], suite="other", minutes=1)
    with pytest.raises(InputError, match="of suite 'other'"):
        compare_runs(store, "r1", "r2")
    simple_run(store, "r3", {"a": [True]}, prompt="zzz@v1", minutes=2)
    with pytest.raises(InputError, match="nothing to compare") as info:
        compare_runs(store, "r1", "r3")
    assert "--prompt" in (info.value.fix or "")


def test_continuous_scores_use_the_paired_bootstrap(store):
    def run(run_id, shift, minutes):
        items = []
        for i in range(60):
            r = make_result(run_id, f"c{i}")
            value = 30 + (i % 7) * 3 + shift * (i % 3 > 0)
            items.append((r, [make_score(r, "bleu", None, value=value, scorer_type="bleu")]))
        write_run(store, run_id, items, minutes=minutes)

    run("r1", 0.0, 0)
    run("r2", -4.0, 1)
    (pairing,) = compare_runs(store, "r1", "r2").pairings
    metrics = {m.metric: m for m in pairing.metrics}
    assert metrics["pass rate"].verdict == "not comparable"
    assert metrics["pass rate"].reason == "the suite has no pass/fail scorer"
    bleu = metrics["bleu (mean)"]
    assert bleu.test == "paired bootstrap" and bleu.verdict == "regressed"
    assert bleu.estimate == pytest.approx(-4.0 * 40 / 60)
    assert bleu.ci is not None and bleu.ci[0] < bleu.estimate < bleu.ci[1] < 0


def test_holm_runs_over_every_tested_metric(store):
    _two_scorer_run(store, "r1", passing=range(30), threshold=0.5)
    items = []
    for i in range(40):  # check and judge disagree, so both are tested
        r = make_result("r2", f"c{i}")
        items.append(
            (
                r,
                [
                    make_score(r, "check", i < 24 or i == 35),
                    make_score(
                        r,
                        "judge",
                        i < 30 or i > 36,
                        scorer_type="judge",
                        threshold=0.5,
                        options={"model": "gemma"},
                    ),
                ],
            )
        )
    write_run(store, "r2", items, minutes=1)
    out = compare_runs(store, "r1", "r2")
    tested = [m for p in out.pairings for m in p.metrics]
    tested = [m for m in tested if m.verdict != "not comparable" and not m.same_as]
    assert out.tests == len(tested) == 3
    assert [m.p_adjusted for m in tested] == pytest.approx(stats.holm([m.p for m in tested]))
    assert out.pairings[0].mde.alpha == pytest.approx(0.05 / 3)


def test_latency_and_cost_are_budget_comparisons(store):
    def run(run_id, factor, minutes, gates=None):
        items = []
        for i in range(50):
            r = make_result(run_id, f"c{i}", latency_ms=(100 + i) * factor, cost_usd=0.001 * factor)
            items.append((r, [make_score(r, "check", True)]))
        write_run(store, run_id, items, minutes=minutes, gates=gates)

    run("r1", 1.0, 0)
    run("r2", 2.0, 1)
    run(
        "r3",
        2.0,
        2,
        gates=[
            {
                "gate": "latency_p95_ms",
                "scope": "p@v1 · x",
                "limit": 150,
                "actual": 290,
                "passed": False,
                "kind": "max",
            }
        ],
    )
    (pairing,) = compare_runs(store, "r1", "r2").pairings
    latency, cost = pairing.budgets
    assert latency.metric == "latency p95" and latency.ratio == pytest.approx(2.0)
    assert latency.verdict == "slower" and latency.worse
    assert cost.verdict == "costlier" and cost.ratio == pytest.approx(2.0)
    (pairing,) = compare_runs(store, "r1", "r3").pairings
    assert pairing.budgets[0].verdict == "over budget"
    budget = pairing.budgets[0].budget
    assert budget is not None and budget.limit == 150
