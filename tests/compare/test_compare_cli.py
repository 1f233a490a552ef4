"""Baselines, `run --baseline`, `compare`, `report` and the CI outputs, through Typer's
CliRunner against the loopback fake server (answers scripted per word and prompt version).

A regression is planted the way it happens: a new prompt version (v2, v3) answers some cases
wrongly. (Re-running an unchanged prompt may be answered from the response cache.)"""

from __future__ import annotations

import json
import re
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from fakeserver import FakeServer

WORDS = [f"w{i:02d}" for i in range(40)]
#: (version, word) pairs the fake server answers wrongly; tests edit it.
BROKEN: set[tuple[str, str]] = set()


def _answer(route, body, prompt):
    found = re.search(r"(v\d) say (w\d+)", prompt)
    if not found:
        return None
    version, word = found.groups()
    return "nope" if (version, word) in BROKEN else f"{word}!"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    BROKEN.clear()
    with FakeServer(answer_fn=_answer) as srv:
        yield srv


def _put(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def project(in_tmp: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    _put(
        in_tmp,
        "evalkit.yaml",
        f"""
        providers:
          fake: {{type: openai, base_url: "{server.base_url}/v1", model: fake-model}}
          claude: {{type: anthropic, base_url: "{server.base_url}", model: fake-claude}}
        defaults: {{provider: fake, concurrency: 8}}
    """,
    )
    for v in ("v1", "v2", "v3"):
        _put(
            in_tmp,
            f"prompts/words/{v}.yaml",
            f"""
            messages: [{{role: user, content: "{v} say {{{{ word }}}}"}}]
            params: {{max_tokens: 8}}
        """,
        )
    cases = "".join(f'{{"id": "{w}", "vars": {{"word": "{w}"}}}}\n' for w in WORDS)
    (in_tmp / "suites").mkdir(exist_ok=True)
    (in_tmp / "suites/words.jsonl").write_text(cases)
    _put(
        in_tmp,
        "suites/words.yaml",
        """
        name: words
        prompt: words@v1
        cases: words.jsonl
        scorers:
          - {type: contains, value: "{{ word }}"}
        gates: {pass_rate: 0.5}
    """,
    )
    return in_tmp


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def rows(sql: str) -> list[tuple]:
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def _run_id(result) -> str:
    assert result.exit_code in (0, 1), result.output
    return str(json.loads(result.stdout)["runs"][0]["run_id"])


def test_baseline_set_list_and_rm(project):
    first = _run_id(invoke("run", "--json"))
    result = invoke("baseline", "set", "main", "last")
    assert result.exit_code == 0, result.output
    assert f"baseline main of suite words → run {first}" in result.stdout
    second = _run_id(invoke("run", "--json"))
    result = invoke("baseline", "set", "main", second[:-1])
    assert f"→ run {second} (was {first})" in result.stdout
    listed = json.loads(invoke("baseline", "list", "--json").stdout)
    assert [(b["name"], b["suite"], b["run_id"]) for b in listed["baselines"]] == [
        ("main", "words", second)
    ]
    assert "main" in invoke("baseline", "list").stdout
    assert invoke("runs", "show", "main").exit_code == 0  # a baseline name is a RUN too
    bad = invoke("baseline", "set", "last", first)
    assert bad.exit_code == 2 and "cannot name a baseline" in bad.stderr
    assert invoke("baseline", "set", "main", "nope").exit_code == 2
    assert invoke("baseline", "rm", "main").exit_code == 0
    assert json.loads(invoke("baseline", "list", "--json").stdout)["baselines"] == []
    assert invoke("baseline", "rm", "main").exit_code == 2


def _regressed_run(*extra: str):
    """main = words@v1 (all pass); then words@v2, which gets 12 cases wrong, against it."""
    assert invoke("run").exit_code == 0
    assert invoke("baseline", "set", "main", "last").exit_code == 0
    BROKEN.update(("v2", w) for w in WORDS[:12])
    return invoke("run", "--prompt", "words@v2", "--baseline", "main", *extra)


def test_run_baseline_with_a_planted_regression_exits_1(project):
    result = _regressed_run()
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert re.search(r"pass rate\s+1\.00\s+0\.70\s+−0\.30 \[", out)
    assert "regressed (p<0.001)" in out
    assert "smallest change this suite can detect (80% power" in out
    assert "words@v1 → words@v2 · fake · 40 cases compared" in out
    assert "12 cases went pass → fail (first 10):" in out
    assert "w00: 'w00!' → 'nope'" in out
    assert "exit 1 (regression)" in out
    (base,) = rows("SELECT run_id FROM baselines WHERE name = 'main'")
    recorded = rows(
        "SELECT baseline, baseline_run_id, exit_code, comparison->>'verdict' "
        "FROM runs ORDER BY started_at DESC LIMIT 1"
    )
    assert recorded == [("main", base[0], 1, "regressed")]


def test_fail_on_policies(project):
    v2 = ("--prompt", "words@v2", "--baseline", "main")
    assert _regressed_run("--fail-on", "never").exit_code == 0
    assert invoke("run", *v2, "--fail-on", "threshold").exit_code == 0
    assert invoke("run", *v2, "--fail-on", "regression").exit_code == 1
    bad = invoke("run", "--fail-on", "sometimes")
    assert bad.exit_code == 2 and "not a policy" in bad.stderr
    # one flip is not a significant regression, but `any` fails on it
    BROKEN.add(("v3", "w05"))
    v3 = ("--prompt", "words@v3", "--baseline", "main")
    assert invoke("run", *v3).exit_code == 0
    result = invoke("run", *v3, "--fail-on", "any", "--json")
    assert result.exit_code == 1
    assert "pass→fail" in json.loads(result.stdout)["runs"][0]["exit_reasons"]


def test_unknown_baseline_is_an_input_error_before_any_call(project, server):
    assert invoke("run").exit_code == 0
    server.reset_log()
    result = invoke("run", "--baseline", "nope")
    assert result.exit_code == 2 and "no baseline or run 'nope'" in result.stderr
    assert server.requests == []


def test_a_suite_without_that_baseline_is_reported_not_compared(project):
    assert invoke("run").exit_code == 0
    assert invoke("baseline", "set", "main", "last").exit_code == 0
    _put(
        project,
        "suites/other.yaml",
        """
        prompt: words@v2
        cases: [{id: a, vars: {word: w01}}]
        scorers: [{type: contains, value: "{{ word }}"}]
    """,
    )
    result = invoke("run", "--baseline", "main", "--json")
    assert result.exit_code == 0, result.output
    runs = {r["suite"]: r for r in json.loads(result.stdout)["runs"]}
    # nothing changed, but 40 cases cannot show a change within ±2 points
    assert runs["words"]["comparison"]["verdict"] == "inconclusive"
    assert runs["other"]["comparison"] is None
    assert "suite 'other' has no baseline 'main' yet" in runs["other"]["warnings"][0]


def test_json_junit_markdown_and_html(project, monkeypatch):
    step = project / "step.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    result = _regressed_run(
        "--json",
        "--junit",
        "out/junit.xml",
        "--summary",
        "out/pr.md",
        "--report",
        "out/report.html",
    )
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "evalkit.run/1" and data["exit_code"] == 1
    (run,) = data["runs"]
    comparison = run["comparison"]
    assert comparison["schema"] == "evalkit.compare/1" and run["exit_reasons"] == ["regression"]
    assert comparison["baseline"]["name"] == "main"

    # JUnit: one testcase per case × metric; the 12 regressions fail with their reason
    tree = ET.parse("out/junit.xml").getroot()
    assert tree.tag == "testsuites"
    (group,) = [s for s in tree if s.get("name") == "words · words@v2 · fake"]
    cases = group.findall("testcase")
    assert len(cases) == 40 and group.get("failures") == "12"
    failure = group.find("testcase[@name='w00 · contains']/failure")
    assert failure is not None and failure.get("type") == "regression"
    assert "missing 'w00'" in failure.get("message") and "passed in the baseline" in failure.get(
        "message"
    )
    assert "'nope'" in failure.text
    (verdict,) = [s for s in tree if s.get("name") == "words · verdict"]
    regressed = verdict.find("testcase[@name='words@v1 → words@v2 · fake · pass rate']/failure")
    assert regressed is not None and "w00" in regressed.text
    assert tree.get("failures") == str(12 + 1)

    # Markdown: every flip by case id; a long list collapsed in <details>
    md = Path("out/pr.md").read_text()
    assert "**Verdict: ❌ regressed** · compared with main (run " in md
    assert "**12 cases went pass → fail.**" in md
    details = md[md.index("<details><summary>All 12 cases went pass → fail") :]
    for word in WORDS[:12]:
        assert f"`{word}`" in details
    assert "| `w00` | w00! | nope | contains: missing 'w00' |" in md
    assert step.read_text().startswith("earlier step\n## evalkit")

    # HTML: self-contained, with the flips and both outputs
    html = Path("out/report.html").read_text()
    _assert_self_contained(html)
    assert "12 cases went pass → fail" in html and "w00!" in html and "nope" in html


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "action") and value and not value.startswith("#"):
                self.external.append(value)


def _assert_self_contained(html: str) -> None:
    parser = _Links()
    parser.feed(html)
    assert parser.external == []  # no src/href to a file or URL: inline scripts only
    assert not parser.tags & {"link", "img", "iframe", "object", "embed"}
    assert "@import" not in html and "url(" not in html
    assert "<style>" in html and "default-src &#39;none&#39;" in html  # the CSP


def test_markdown_lists_a_short_flip_list_inline(project):
    assert invoke("run").exit_code == 0
    assert invoke("baseline", "set", "main", "last").exit_code == 0
    BROKEN.update({("v2", "w03"), ("v2", "w07")})
    assert (
        invoke("run", "--prompt", "words@v2", "--baseline", "main", "--summary", "pr.md").exit_code
        == 0
    )
    md = Path("pr.md").read_text()
    assert "**2 cases went pass → fail:** `w03`, `w07`" in md
    assert "<details><summary>Outputs of the 2 cases</summary>" in md


def test_compare_two_runs_and_the_report_command(project):
    first = _run_id(invoke("run", "--json"))
    BROKEN.update(("v2", w) for w in WORDS[:12])
    second = _run_id(invoke("run", "--prompt", "words@v2", "--json"))
    result = invoke("compare", first, second, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["verdict"] == "regressed" and data["exit_reasons"] == ["regression"]
    assert invoke("compare", first, second, "--fail-on", "never").exit_code == 0
    shown = invoke("compare", first, second)
    assert "12 cases went pass → fail" in shown.stdout
    result = invoke("report", second, "--baseline", first, "-o", "r.html")
    assert result.exit_code == 0 and "report: r.html" in result.stdout
    html = Path("r.html").read_text()
    _assert_self_contained(html)
    assert "regressed" in html
    result = invoke("report", "last")
    assert result.exit_code == 0 and Path(f"reports/words-{second}.html").exists()
    usage = invoke("compare", first)
    assert usage.exit_code == 2 and "compare needs two runs" in usage.stderr


def test_compare_prompt_versions_runs_what_it_lacks_then_reuses(project, server):
    BROKEN.update(("v2", w) for w in WORDS[:15])
    result = invoke("compare", "--prompt", "words@v1", "--prompt", "words@v2", "words")
    assert result.exit_code == 1, result.output
    assert re.search(r"fake\s+1\.00\s+0\.62\s+−0\.38 \[.*regressed", result.stdout)
    calls = len(server.requests)
    assert calls == 80  # both versions were missing: one run of 2 × 40 calls
    again = invoke(
        "compare",
        "--prompt",
        "words@v1",
        "--prompt",
        "words@v2",
        "words",
        "--json",
        "--junit",
        "j.xml",
        "--report",
        "r.html",
        "--summary",
        "s.md",
    )
    assert len(server.requests) == calls, "stored runs are reused"
    _assert_self_contained(Path("r.html").read_text())
    junit = ET.parse("j.xml").getroot()
    assert junit.get("failures") == str(15 + 1)  # 15 cases and the pass-rate verdict
    assert "**15 cases went pass → fail.**" in Path("s.md").read_text()
    data = json.loads(again.stdout)
    assert data["matrix"] == {"by": "prompt", "sides": ["words@v1", "words@v2"], "rows": ["fake"]}
    assert data["ran"] == [] and len(data["reused"]) == 1
    # the same two sides, named within the stored run
    within = invoke(
        "compare", data["reused"][0], "--prompt", "words@v1", "--prompt", "words@v2", "--json"
    )
    assert within.exit_code == 1
    assert json.loads(within.stdout)["pairings"][0]["flips"] == data["pairings"][0]["flips"]
    # --no-run refuses to call a provider for what is missing
    missing = invoke(
        "compare",
        "--prompt",
        "words@v1",
        "--prompt",
        "words@v2",
        "words",
        "-p",
        "claude",
        "--no-run",
    )
    assert missing.exit_code == 2 and "words@v1 on claude" in missing.stderr


def test_compare_two_providers_on_every_version(project):
    result = invoke("compare", "--provider", "fake", "--provider", "claude", "words", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["matrix"]["by"] == "provider" and data["matrix"]["rows"] == ["words@v1"]
    (pairing,) = data["pairings"]
    assert pairing["label"] == "words@v1 · fake → claude"
    assert pairing["metrics"][0]["verdict"] == "inconclusive"
