"""The HTML report as text: its structure and stable ids, escaping in every context (HTML
text, attributes, the embedded JSON), the embedded data round trip, and the words."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import reportdata

from evalkit import api
from evalkit.config import Project
from evalkit.report.cases import input_text
from evalkit.report.collect import plain
from evalkit.store.db import Store


class Tree(HTMLParser):
    """Every start tag with its attributes, the text of each <script>, and the ids."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self._in: str | None = None
        self._attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in, self._attrs = tag, dict(attrs)

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append((self._attrs, data))
        elif self._in == "style":
            self.styles.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def ids(self) -> list[str]:
        return [str(a["id"]) for _, a in self.tags if a.get("id")]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, str]:
    root = tmp_path_factory.mktemp("report")
    reportdata.build(root)
    project = Project.discover(root)
    path = api.render_report("cand", baseline="main", output=root / "r.html", project=project)
    return project, path.read_text(encoding="utf-8")


@pytest.fixture
def project(built: tuple[Project, str]) -> Project:
    return built[0]


@pytest.fixture
def page(built: tuple[Project, str]) -> str:
    return built[1]


def _data(html: str) -> dict:
    tree = Tree()
    tree.feed(html)
    (text,) = [t for a, t in tree.scripts if a.get("id") == "report-data"]
    return json.loads(text)


def test_the_report_has_its_stable_parts_once_and_the_verdict_first(page: str) -> None:
    tree = Tree()
    tree.feed(page)
    ids = tree.ids()
    for part in ("verdict", "flips", "matrix", "history", "cases", "search"):
        assert ids.count(part) == 1, part
    assert len(ids) == len(set(ids)), "ids are unique"
    assert ("input", {"id": "search"}) in [(t, {"id": a.get("id")}) for t, a in tree.tags]
    order = [page.index(f'id="{p}"') for p in ("verdict", "flips", "matrix", "history")]
    assert order == sorted(order), "verdict, flips, matrix, history in that order"
    verdict = page[page.index('id="verdict"') : page.index('id="flips"')]
    # the contract's words, never "unchanged"; amber for inconclusive
    assert '<div class="overall amber">' in verdict
    assert "inconclusive: −12 points, this suite detects ≥ 58 points" in verdict
    assert "unchanged" not in page
    assert "equivalent (within ×1.2)" in verdict  # latency: a ratio inside its tolerance
    # what the run measured: a column per scorer
    for scorer in ("mentions", "closeness", "judge"):
        assert f'<th class="num">{scorer}</th>' in verdict


def test_escaping_in_text_attributes_and_the_embedded_json(page: str) -> None:
    tree = Tree()
    tree.feed(page)
    # Exactly the two scripts the page writes: the data block and the code. An output that
    # says "</script><script>" did not open a third one.
    assert [a.get("type") for a, _ in tree.scripts] == ["application/json", None]
    for tag, attrs in tree.tags:
        assert tag not in ("img", "a") or attrs.get("href", "#").startswith("#"), (tag, attrs)
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        if tag == "svg":  # charts only: an <svg onload> from a case id stayed text
            assert "onload" not in attrs
    assert not re.search(r"<script>window|<img src=x|<svg onload", page)
    # HTML text: the output, the judge's rationale and the case's vars as text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    # attribute: the hostile case id round-trips through data-case
    cases = [a["data-case"] for t, a in tree.tags if "data-case" in a]
    assert reportdata.HOSTILE_CASE in cases
    # the embedded JSON: nothing that could end the block, and the text intact
    (raw,) = [t for a, t in tree.scripts if a.get("id") == "report-data"]
    assert "<" not in raw and ">" not in raw and "&" not in raw and "\u2028" not in raw
    data = json.loads(raw)
    outputs = json.dumps(data, ensure_ascii=False)
    for payload in reportdata.HOSTILE[:4]:
        assert payload.replace('"', '\\"') in outputs


def test_content_security_policy_allows_no_network_and_only_this_code(page: str) -> None:
    import base64
    import hashlib

    tree = Tree()
    tree.feed(page)
    (csp,) = [
        str(a["content"])
        for t, a in tree.tags
        if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert page.index("Content-Security-Policy") < page.index("<style>"), "before any code"
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    code = next(t for a, t in tree.scripts if a.get("type") is None)
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    style = base64.b64encode(hashlib.sha256(tree.styles[0].encode()).digest()).decode()
    assert f"style-src 'sha256-{style}'" in csp
    assert ' style="' not in page, "no inline style attributes (the policy would block them)"


def test_the_embedded_cases_round_trip_to_the_store(project: Project, page: str) -> None:
    data = _data(page)
    (suite,) = data["suites"]
    columns = suite["columns"]
    assert [(c["sideLabel"], c["prompt"]) for c in columns] == [
        ("baseline main", "support@v1"),
        ("this run", "support@v2"),
    ]
    assert columns[1]["versus"] == 0
    ids = suite["cases"]["id"]
    with Store(project.db_path(), read_only=True) as store:
        rows = store.records(
            "SELECT run_id, case_id, output, input, passed, error_class FROM results "
            "WHERE run_id IN ('base', 'cand')"
        )
    resolved: list[list] = []
    for c, cell in enumerate(suite["cells"]):
        outs = [resolved[o][k] if isinstance(o, int) else o for k, o in enumerate(cell["o"])]
        resolved.append(outs)
        inputs = suite["inputs"][cell["in"]]
        for row in (r for r in rows if r["run_id"] == ("base", "cand")[c]):
            k = ids.index(row["case_id"])
            assert outs[k] == row["output"]
            assert inputs["pre"] + inputs["mid"][k] + inputs["suf"] == input_text(row["input"])
            want = "f" if row["error_class"] or row["passed"] is False else "p"
            assert cell["s"][k] == want, row["case_id"]
    flips = dict(zip(ids, suite["cases"]["flip"], strict=True))
    assert {c for c, f in flips.items() if f == "1"} == {
        "refund-01",
        "refund-02",
        "refund-06",
        "refund-09",
        reportdata.HOSTILE_CASE,
    }
    assert {c for c, f in flips.items() if f == "2"} == {"refund-10", "refund-11"}
    assert suite["cases"]["tags"][ids.index("refund-04")] == ["shipping", "<i>tag</i>"]


def test_flips_pass_to_fail_first_with_word_diff_scores_rationale_and_errors(page: str) -> None:
    flips = page[page.index('id="flips"') : page.index('id="matrix"')]
    assert flips.index("5 cases went pass → fail") < flips.index("2 cases went fail → pass")
    card = flips[flips.index('data-case="refund-09"') :]
    card = card[: card.index("</article>")]
    assert "<del>30</del>" in card and "<ins>14</ins>" in card
    assert "judge's rationale: Gives 14 days; policy says 30." in card
    assert "pass → fail" in card and "&#39;30 days&#39; not found in the output" in card
    assert "input the model saw (differs between the sides)" in card
    assert "The refund window is 30 days for order 9." in card  # the reference
    failed = flips[flips.index('data-case="refund-06"') :]
    assert (
        "call failed (timeout): read timed out after 30 s" in failed[: failed.index("</article>")]
    )
    # the prompt diff, shown once for the pairing, and the changed params
    assert flips.count('class="prompt-diff"') == 1
    assert '<span class="dadd">+   - {role: system, content: &#34;Be brief.&#34;}</span>' in flips
    assert "max_tokens: 64 → 32" in flips


def test_history_marks_the_baseline_and_highlights_this_run(page: str) -> None:
    history = page[page.index('id="history"') : page.index('id="methods"')]
    assert "the last 5 runs up to this one" in history
    assert history.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 6
    assert ">main</text>" in history  # the named baseline
    assert "the reported run" in history
    assert "run cand: 0.67 [0.47, 0.82] · 16/24 passed" in history


def test_a_run_with_two_versions_compares_them_without_a_baseline(in_tmp: Path) -> None:
    reportdata.build_versions(in_tmp)
    project = Project.discover(in_tmp)
    path = api.render_report("both", output="v.html", project=project)
    assert path == Path("v.html")
    html = path.read_text(encoding="utf-8")
    assert '<div class="overall grey">' in html and ">not compared</div>" in html
    assert "Prompt versions in this run: support@v1 → support@v2" in html
    assert "5 cases went pass → fail" in html and "<del>30</del>" in html
    data = _data(html)
    (suite,) = data["suites"]
    assert [c["prompt"] for c in suite["columns"]] == ["support@v1", "support@v2"]
    assert suite["columns"][1]["versus"] == 0
    assert suite["cases"]["flip"].count("1") == 5


def test_a_multi_suite_report_sums_up_at_the_top(project: Project, in_tmp: Path) -> None:
    comparison = plain(api.compare(["main", "cand"], project=project))
    run = plain(api.get_run("cand", project=project))
    base = plain(api.get_run("base", project=project))
    runs = [
        {
            "run_id": "cand",
            "suite": "support",
            "status": "completed",
            "exit_code": 0,
            "summary": run["summary"],
            "gates": run["gates"],
            "comparison": comparison,
            "warnings": [],
        },
        {
            "run_id": "base",
            "suite": "support",
            "status": "completed",
            "exit_code": 0,
            "summary": base["summary"],
            "gates": base["gates"],
            "comparison": None,
            "warnings": ["baseline 'main' not found for suite 'support'"],
        },
        {"run_id": "", "suite": "broken", "status": "incomplete", "error": "server died"},
    ]
    data = {"schema": "evalkit.run/1", "exit_code": 0, "runs": runs}
    api.write_reports(data, report="m.html", project=project)
    html = Path("m.html").read_text(encoding="utf-8")
    top = html[html.index('id="verdict"') : html.index('id="suite-1"')]
    assert "1 of 2 suites compared: support inconclusive." in top
    assert "support: not compared with a baseline" in top
    assert "broken: not run (server died)" in top
    assert '<table class="summary">' in top
    tree = Tree()
    tree.feed(html)
    assert len(tree.ids()) == len(set(tree.ids()))
    assert len(_data(html)["suites"]) == 2


def test_compare_report_of_two_versions_names_the_sides(in_tmp: Path) -> None:
    reportdata.build_versions(in_tmp)
    project = Project.discover(in_tmp)
    data = api.compare(["both"], prompts=["support@v1", "support@v2"], project=project)
    api.write_reports(data, report="c.html", project=project)
    html = Path("c.html").read_text(encoding="utf-8")
    assert "Verdict support@v1 → support@v2" in html
    assert '<th class="num">support@v1</th><th class="num">support@v2</th>' in html
    assert "Prompt versions in this run" not in html, "the comparison is not repeated"
    assert "baseline" not in html[html.index('id="verdict"') : html.index('id="flips"')]
    (suite,) = _data(html)["suites"]
    assert [c["sideLabel"] for c in suite["columns"]] == ["run both", "run both"]


def test_the_report_command_shows_as_many_runs_as_asked(project: Project, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from evalkit.cli.main import app

    out = tmp_path / "h.html"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "cand",
            "--baseline",
            "main",
            "-o",
            str(out),
            "--history",
            "2",
            "--db",
            str(project.db_path()),
        ],
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "the last 2 runs up to this one" in html
    assert "Verdict against main (run base)" in html


def test_the_report_of_a_compared_run_shows_the_verdict_it_printed(in_tmp: Path) -> None:
    from evalkit.compare.service import judge_runs
    from evalkit.report.collect import run_summary
    from evalkit.run.session import RunOutcome

    reportdata.build(in_tmp)
    project = Project.discover(in_tmp)
    with Store(project.db_path()) as store:
        outcome = RunOutcome(
            run_id="cand",
            suite="support",
            status="completed",
            summary=run_summary(store, {"id": "cand"}),
            gates=[],
            exit_code=0,
            planned=24,
        )
        judge_runs(store, [outcome], "main", "regression")  # what `run --baseline main` does
        # mark the stored comparison, to see that the report reads it rather than recompute
        store.execute(
            "UPDATE runs SET comparison = json_merge_patch(comparison, '{\"alpha\": 0.01}') "
            "WHERE id = 'cand'"
        )
    html = api.render_report("cand", output="s.html", project=project).read_text("utf-8")
    assert "Holm-corrected at α = 0.01" in html
    assert "Verdict against main (run base)" in html
    flips = html[html.index('id="flips"') : html.index('id="matrix"')]
    card = flips[flips.index('data-case="refund-09"') :]
    assert "<del>30</del>" in card[: card.index("</article>")], "flips named by case id only"
    assert flips.count('<article class="flip') == 7
