"""The same verdict words and colours in the terminal, Markdown, JUnit and HTML; `runs show`
prints the stored verdict; two named prompt versions are labelled by their versions."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from storeutil import simple_run
from typer.testing import CliRunner

from evalkit.cli.main import app
from evalkit.compare.drift import compare_runs
from evalkit.contracts import Comparison, RunOutcome
from evalkit.report.build import build_page
from evalkit.report.collect import collect, page_entries
from evalkit.report.html import render_page
from evalkit.report.junit import render_junit
from evalkit.report.markdown import render_markdown
from evalkit.report.verdict import render_comparison
from evalkit.store.db import Store
from fakeserver import FakeServer
from projects import RULES, write_project

runner = CliRunner()
ANSI = {"red": "\x1b[1;31m", "green": "\x1b[32m", "amber": "\x1b[33m"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "e.duckdb") as s:
        yield s


def _cases(n: int, passing: set[int]) -> dict[str, list[bool]]:
    return {f"c{i:04d}": [i in passing] for i in range(n)}


def _comparisons(store: Store) -> dict[str, Comparison]:
    """One comparison per overall verdict word (each of one pass-rate metric)."""
    simple_run(store, "base", _cases(120, set(range(100))))
    simple_run(store, "worse", _cases(120, set(range(20, 100))), minutes=1)
    simple_run(store, "same", _cases(120, set(range(100))), minutes=2)
    simple_run(store, "big1", _cases(2000, set(range(1500))), minutes=3)
    simple_run(store, "big2", _cases(2000, set(range(1500))), minutes=4)
    return {
        "regressed": compare_runs(store, "base", "worse"),
        "improved": compare_runs(store, "worse", "base"),
        "inconclusive": compare_runs(store, "base", "same"),
        "equivalent": compare_runs(store, "big1", "big2"),
    }


def _terminal(comparison: Comparison) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="standard", width=200)
    render_comparison(comparison, console)
    return out.getvalue()


def test_each_word_has_its_colour_in_every_report(store, tmp_path):
    comparisons = _comparisons(store)
    colours = {"regressed": "red", "improved": "green", "equivalent": "green"}
    colours["inconclusive"] = "amber"
    icons = {"red": "❌", "green": "✅", "amber": "🟡"}
    for word, comparison in comparisons.items():
        assert comparison.verdict == word
        colour = colours[word]
        text = _terminal(comparison)
        assert f"verdict: {ANSI[colour]}{word}" in text, text
        assert "unchanged" not in text
        md = render_markdown(comparison)
        assert f"**Verdict: {icons[colour]} {word}**" in md
        assert "unchanged" not in md
        outcome = RunOutcome(
            run_id=comparison.candidate.runs[0].id,
            suite="s",
            status="completed",
            exit_code=1 if word == "regressed" else 0,
            planned=0,
            summary={},
            gates=[],
            comparison=comparison,
        )
        report = collect(store, outcome)
        entries, code, reasons = page_entries(store, comparison)
        html = render_page(*build_page(store, entries, exit_code=code, exit_reasons=reasons))
        assert f'<span class="pill {colour}">{word}</span>' in html
        root = ET.fromstring(render_junit([report]).split("\n", 1)[1])
        (case,) = root.findall(
            ".//testsuite[@name='s · verdict']/testcase[@name='p@v1 · x · pass rate']"
        )
        if word == "regressed":
            assert case.find("failure") is not None
        else:
            assert case.find("failure") is None and case.find("skipped") is None
            out = case.find("system-out")
            assert out is not None and out.text is not None and out.text.startswith(word)

    inconclusive = _terminal(comparisons["inconclusive"])
    assert re.search(r"inconclusive: 0 points, this suite detects ≥ \d+", inconclusive)
    assert "equivalent (±2 points)" in _terminal(comparisons["equivalent"])


@pytest.fixture
def project(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    with FakeServer(rules=RULES, latency_ms=2) as server:
        write_project(in_tmp, server.base_url)
        yield in_tmp


def test_runs_show_prints_the_stored_verdict(project):
    assert runner.invoke(app, ["run"]).exit_code == 0
    plain = runner.invoke(app, ["runs", "show", "last"])
    assert plain.exit_code == 0 and "verdict" not in plain.stdout
    assert runner.invoke(app, ["baseline", "set", "main", "last"]).exit_code == 0
    ran = runner.invoke(app, ["run", "--baseline", "main", "--json"])
    stored = json.loads(ran.stdout)["runs"][0]["comparison"]
    shown = runner.invoke(app, ["runs", "show", "last"])
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert "verdict stored when the run was compared (--baseline main)" in text
    assert f"verdict: {stored['verdict']}" in text
    assert "compared with main (run " in text and "capitals@v1 · fake · 8 cases compared" in text


def test_two_prompt_versions_are_labelled_by_their_versions(project):
    result = runner.invoke(
        app,
        [
            "compare",
            "--prompt",
            "capitals@v1",
            "--prompt",
            "capitals@v2",
            "capitals",
            "--summary",
            "s.md",
        ],
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    run_id = json.loads(runner.invoke(app, ["runs", "list", "--json"]).stdout)["runs"][0]["id"]
    assert f"capitals@v2 against capitals@v1 (both from run {run_id})" in text
    assert "this run" not in text and "baseline" not in text
    assert f"against run {run_id}" not in text
    header = next(line for line in text.splitlines() if line.startswith("metric"))
    assert header.split()[1:3] == ["capitals@v1", "capitals@v2"]
    md = Path("s.md").read_text()
    assert "| metric | capitals@v1 | capitals@v2 |" in md
    assert "| case | capitals@v1 output | capitals@v2 output | failed |" in md
    assert "this run" not in md and "baseline" not in md.replace("of the baseline", "")
    # one stored run with two named sides: labelled the same way
    within = runner.invoke(
        app, ["compare", run_id, "--prompt", "capitals@v1", "--prompt", "capitals@v2"]
    )
    assert f"capitals@v2 against capitals@v1 (both from run {run_id})" in within.stdout
    assert "this run" not in within.stdout


def test_judge_details_read_as_words():
    from evalkit.report.format import detail_text

    faithful = json.dumps(
        {"mode": "faithfulness", "verdict": "valid", "total": 3, "unsupported": ["A.", "B."]}
    )
    assert detail_text(faithful) == "2 of 3 claims unsupported: “A.” · “B.”"
    assert detail_text(json.dumps({"verdict": "valid", "total": 2, "unsupported": []})) == (
        "all 2 claims supported by the context"
    )
    assert detail_text(json.dumps({"verdict": "valid", "irrelevant": ["2"]})) == (
        "irrelevant passages: 2"
    )
    assert detail_text(json.dumps({"verdict": "valid", "score": 2, "rationale": "Off."})) == (
        "score 2: Off."
    )
    assert detail_text(json.dumps({"verdict": "invalid", "error": "empty reply"})) == (
        "invalid verdict: empty reply"
    )
    assert detail_text("missing 'Paris'") == "missing 'Paris'"
    assert detail_text('{"not": "a verdict"}') == '{"not": "a verdict"}'
