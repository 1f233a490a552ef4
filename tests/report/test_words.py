"""Verdicts in words, diffs, the embedded JSON and the charts, unit by unit."""

from __future__ import annotations

import json

from markupsafe import Markup

from evalkit.report.charts import Point, Series, histogram, line_chart
from evalkit.report.collect import overall_word, read_comparison, verdict_word
from evalkit.report.diff import params_diff, prompt_diff, word_diff
from evalkit.report.html import csp, embed_json
from evalkit.report.words import Measured, metric_row


def _capitals(**kw: object) -> Measured:
    """The issue's case: capitals@v2 → v1 lost 5 cases, gained none, 22 cases."""
    values: dict = {
        "name": "pass rate",
        "kind": "pass_rate",
        "scorer": None,
        "word": "inconclusive",
        "baseline": 0.909,
        "candidate": 0.682,
        "estimate": -0.227,
        "ci": (-0.43, -0.02),
        "p": 0.0625,
        "p_adjusted": 0.1875,
        "test": "exact McNemar",
        "cases": 22,
        "mde": 0.58,
        "pass_to_fail": 5,
        "fail_to_pass": 0,
    }
    values.update(kw)
    return Measured(**values)


def test_a_change_that_is_not_significant_is_inconclusive_with_what_the_suite_detects() -> None:
    assert verdict_word("unchanged") == "inconclusive"
    assert verdict_word("regressed") == "regressed"
    row = metric_row(_capitals(), alpha=0.05, tests=3)
    assert row.cell == "inconclusive: −23 points, this suite detects ≥ 58 points"
    assert row.colour == "amber"
    assert row.change == "−23 [−43, −2] points"
    assert row.p == "p=0.19 (Holm)"
    assert row.sentence.startswith("Pass rate fell 23 points (0.91 → 0.68; 95% interval −43")
    assert "this suite can only reliably detect changes of 58 points or more" in row.sentence
    (why,) = row.notes  # the interval excludes zero, the test is not significant: say why
    assert "Newcombe's interval" in why and "5 discordant cases" in why
    assert "not established" in why


def test_holm_is_named_when_it_is_what_made_the_difference() -> None:
    row = metric_row(_capitals(p=0.02, p_adjusted=0.06), alpha=0.05, tests=3)
    assert "one of 3 tests: after Holm's correction p = 0.060" in row.notes[0]


def test_the_other_words_and_their_colours() -> None:
    regressed = metric_row(_capitals(word="regressed", p_adjusted=0.004), alpha=0.05, tests=1)
    assert (regressed.cell, regressed.colour) == ("regressed (p=0.004)", "red")
    assert "unlikely to be chance (p=0.004 after correction for 1 test)" in regressed.sentence
    improved = metric_row(
        _capitals(word="improved", estimate=0.2, ci=(0.1, 0.3), p_adjusted=0.01),
        alpha=0.05,
        tests=2,
    )
    assert improved.colour == "green" and improved.sentence.startswith("Pass rate rose 20")
    equivalent = metric_row(
        _capitals(word="equivalent", estimate=0.001, ci=(-0.01, 0.012), margin=0.02),
        alpha=0.05,
        tests=1,
    )
    assert (equivalent.cell, equivalent.colour) == ("equivalent (±2 points)", "green")
    refused = metric_row(
        Measured("bleu (mean)", "mean", "bleu", "not comparable", reason="threshold differs"),
        alpha=0.05,
        tests=1,
    )
    assert refused.cell == "not comparable: threshold differs" and refused.colour == "grey"
    assert refused.detectable == "" and refused.p == ""
    mean = metric_row(
        Measured(
            "bleu (mean)",
            "mean",
            "bleu",
            "inconclusive",
            baseline=26.6,
            candidate=24.1,
            estimate=-2.5,
            ci=(-6.1, 1.2),
            p=0.2,
            p_adjusted=0.4,
            test="paired bootstrap",
            cases=20,
            mde=7.3,
        ),
        alpha=0.05,
        tests=2,
    )
    assert mean.cell == "inconclusive: −2.5, this suite detects ≥ 7.3"
    assert mean.change == "−2.5 [−6.1, +1.2]"


def test_overall_word_follows_the_contract() -> None:
    assert overall_word(["inconclusive", "regressed", "improved"]) == "regressed"
    assert overall_word(["inconclusive", "improved"]) == "improved"
    assert overall_word(["equivalent", "equivalent", "not comparable"]) == "equivalent"
    assert overall_word(["equivalent", "inconclusive"]) == "inconclusive"
    assert overall_word(["not comparable"]) == "not comparable"


def test_a_comparison_that_says_unchanged_reads_as_inconclusive() -> None:
    data = {
        "schema": "evalkit.compare/1",
        "verdict": "unchanged",
        "alpha": 0.05,
        "tests": 1,
        "baseline": {"runs": [{"id": "r1"}], "name": "main"},
        "candidate": {"runs": [{"id": "r2"}]},
        "pairings": [
            {
                "label": "p@v1 · x",
                "baseline": {"run_id": "r1", "prompt": "p@v1", "provider": "x"},
                "candidate": {"run_id": "r2", "prompt": "p@v1", "provider": "x"},
                "cases": {"compared": 22, "repeats": 1},
                "metrics": [
                    {
                        "metric": "pass rate",
                        "kind": "pass_rate",
                        "verdict": "unchanged",
                        "baseline": 0.91,
                        "candidate": 0.68,
                        "estimate": -0.23,
                        "ci": [-0.43, -0.02],
                        "p": 0.06,
                        "p_adjusted": 0.06,
                        "test": "exact McNemar",
                        "cases": 22,
                        "mde": 0.58,
                    }
                ],
                "budgets": [],
                "flips": {"pass_to_fail": ["a", "b"], "fail_to_pass": []},
                "notes": [],
            }
        ],
    }
    view = read_comparison(data)
    assert (view.word, view.colour, view.kind) == ("inconclusive", "amber", "baseline")
    assert view.title == "against main (run r1)" and view.sides == ("baseline main", "this run")
    (pairing,) = view.pairings
    assert pairing.pass_to_fail == ["a", "b"]  # a stored comparison names the cases only
    assert "2 cases went pass → fail and none fail → pass." in pairing.summary


def test_word_diff_marks_changed_words_and_escapes_everything() -> None:
    a, b = word_diff("The capital is <b>Paris</b>.", "The capital is <b>Lyon</b>!")
    assert isinstance(a, Markup)
    assert str(a) == "The capital is &lt;b&gt;<del>Paris</del>&lt;/b&gt;<del>.</del>"
    assert str(b) == "The capital is &lt;b&gt;<ins>Lyon</ins>&lt;/b&gt;<ins>!</ins>"
    same = word_diff("<script>x</script>", "<script>x</script>")
    assert str(same[0]) == "&lt;script&gt;x&lt;/script&gt;" == str(same[1])
    long_a = "\n".join(f"line {i} stays" for i in range(3000)) + "\nthe end"
    long_b = long_a.replace("line 1500 stays", "line 1500 moved")
    da, db = word_diff(long_a, long_b)
    assert "<del>stays</del>" in da and "<ins>moved</ins>" in db and da.count("<del>") == 1


def test_prompt_and_params_diffs() -> None:
    lines = prompt_diff("a: 1\nb: 2\n", "a: 1\nb: 3\n")
    assert ("-", "b: 2") in lines and ("+", "b: 3") in lines and lines[0][0] == "@"
    assert params_diff({"t": 0, "m": 64}, {"t": 0, "m": 32, "s": ["\n"]}) == [
        ("m", "64", "32"),
        ("s", "—", "['\\n']"),
    ]


def test_embedded_json_cannot_end_its_script_block_and_round_trips() -> None:
    value = {"o": ["</script><script>alert(1)</script>", "<!-- x -->", "a & b", "\u2028"]}
    text = embed_json(value)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == value
    policy = csp(["x"], ["y"])
    assert policy.startswith("default-src 'none'; script-src 'sha256-")
    assert "unsafe" not in policy


def test_charts_are_plain_svg_with_escaped_text() -> None:
    svg = line_chart(
        [Series("<v1>", "#123456", [Point(0.5, 0.4, 0.6, "a"), Point(None), Point(0.7, tip="b")])],
        ["1", "2", "3"],
        title="pass <rate>",
        y_range=(0.0, 1.0),
        highlight=2,
        markers={0: "main"},
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "&lt;v1&gt;" in svg and "pass &lt;rate&gt;" in svg and "<v1>" not in svg
    assert "style=" not in svg and "<script" not in svg
    assert svg.count("<circle") == 2, "no point where there is no value"
    hist = histogram([1, 2, 2, 9], bins=4, lo=0, hi=10, colour="#000", title="t")
    assert hist.count("<rect") == 4 and "0–2.5: 3</title>" in hist


def test_no_flip_at_all_is_still_inconclusive_not_proof_of_no_change() -> None:
    row = metric_row(
        _capitals(
            baseline=0.68,
            candidate=0.68,
            estimate=0.0,
            ci=(-0.15, 0.15),
            p=1.0,
            p_adjusted=1.0,
            pass_to_fail=0,
            fail_to_pass=0,
        ),
        alpha=0.05,
        tests=2,
    )
    assert row.cell == "inconclusive: +0 points, this suite detects ≥ 58 points"
    assert row.sentence == (
        "Pass rate: no case changed its verdict (0.68 on both sides), yet with 22 cases that "
        "is inconclusive, not proof of no change: this suite can only reliably detect changes "
        "of 58 points or more."
    )
    assert row.notes == []


def test_a_score_that_never_varies_says_so_instead_of_a_zero_detectable_change() -> None:
    row = metric_row(
        Measured(
            "judge (mean)",
            "mean",
            "judge",
            "inconclusive",
            baseline=0.0,
            candidate=0.0,
            estimate=0.0,
            ci=(0.0, 0.0),
            p=1.0,
            p_adjusted=1.0,
            test="paired bootstrap",
            cases=20,
            mde=0.0,
        ),
        alpha=0.05,
        tests=6,
    )
    assert row.cell == "inconclusive: no case's score changed"
    assert row.detectable == "—" and row.quiet
    assert "cannot be estimated" in row.sentence


def test_the_adapter_reads_typed_comparisons_and_the_contracts_fields() -> None:
    """``model_dump(mode="json")`` of a typed comparison; margins as objects, the
    comparison's own disagreement note and warnings, budget words of the contract."""
    metric = {
        "metric": "pass rate",
        "kind": "pass_rate",
        "scorer": None,
        "threshold": None,
        "higher_is_better": True,
        "verdict": "equivalent",
        "reason": None,
        "note": None,
        "same_as": None,
        "baseline": 0.9,
        "candidate": 0.9,
        "estimate": 0.0,
        "ci": [-0.01, 0.01],
        "p": 1.0,
        "p_adjusted": 1.0,
        "test": "exact McNemar",
        "cases": 400,
        "mde": 0.05,
        "discordant": {"pass_to_fail": 1, "fail_to_pass": 1},
        "margin": {"value": 0.02, "relative": None, "source": "default"},
        "disagreement": "as the comparison worded it",
        "warnings": ["few cases"],
    }
    budget = {
        "metric": "latency p95",
        "statistic": "p95",
        "baseline": 800.0,
        "candidate": 820.0,
        "ratio": 1.02,
        "ci": [0.95, 1.1],
        "verdict": "equivalent",
        "budget": None,
        "tolerance": 1.2,
        "worse": False,
        "warnings": ["12 resamples undefined"],
    }

    class Typed:
        def model_dump(self, mode: str, by_alias: bool) -> dict:
            assert mode == "json" and by_alias
            return {
                "schema": "evalkit.compare/1",
                "verdict": "equivalent",
                "alpha": 0.05,
                "tests": 1,
                "baseline": {"runs": [{"id": "a"}]},
                "candidate": {"runs": [{"id": "b"}]},
                "pairings": [
                    {
                        "label": "p@v1 · x",
                        "baseline": {"run_id": "a"},
                        "candidate": {"run_id": "b"},
                        "cases": {"compared": 400, "repeats": 1},
                        "metrics": [metric],
                        "budgets": [budget],
                        "flips": {"pass_to_fail": [], "fail_to_pass": []},
                        "notes": [],
                    }
                ],
            }

    view = read_comparison(Typed())
    assert (view.word, view.colour) == ("equivalent", "green")
    (pairing,) = view.pairings
    (row,) = pairing.metrics
    assert row.cell == "equivalent (±2 points)"
    assert row.notes == ["as the comparison worded it", "few cases"]
    (b,) = pairing.budgets
    assert (b.cell, b.colour, b.notes) == (
        "equivalent (within ×1.2)",
        "green",
        ["12 resamples undefined"],
    )
