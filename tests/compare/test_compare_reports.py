"""The file reports of a comparison: hostile outputs stay inert, long lists stay readable."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from storeutil import simple_run

from evalkit import api
from evalkit.config import Project
from evalkit.store.db import Store

HOSTILE = "<script>alert(1)</script> | `x` \x00\x07 & </details>"


@pytest.fixture
def project(in_tmp: Path) -> Project:
    with Store(in_tmp / ".evalkit/evalkit.duckdb") as store:
        cases = {f"c{i:03d}": [True] for i in range(80)}
        simple_run(store, "r1", cases)
        broken = {c: [i >= 60] for i, c in enumerate(cases)}  # 60 flips
        simple_run(store, "r2", broken, outputs={"c000": HOSTILE}, minutes=1)
        store.execute("INSERT INTO baselines VALUES ('main', 'r1', 's', now())")
    return Project.discover(in_tmp)


def test_reports_of_a_comparison_escape_outputs_and_cap_long_lists(project):
    data = api.compare(["main", "r2"], project=project)
    assert data.verdict == "regressed" and data.exit_code == 1
    written = api.write_reports(
        data, junit="j.xml", summary="s.md", report="r.html", project=project
    )
    assert set(written) == {"junit", "summary", "html"}

    md = Path("s.md").read_text()
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert md.count("| `c0") == 50, "the outputs table is capped"
    assert "| … 10 more (see the HTML report) |" in md
    assert all(f"`c{i:03d}`" in md for i in range(60)), "every flip is listed by id"
    assert "</details>" not in md.split("<details><summary>All 60")[1].split("</details>")[0]

    html = Path("r.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script") == 2, "the page's data block and its code, nothing injected"
    assert "60 cases went pass → fail" in html

    root = ET.parse("j.xml").getroot()  # parses: control characters were replaced
    failure = root.find(".//testcase[@name='c000 · check']/failure")
    assert failure is not None and "<script>" in failure.text  # XML-escaped on disk
    assert "\x00" not in Path("j.xml").read_text()


def test_compare_resolves_the_first_run_within_the_second_runs_suite(project):
    with Store(project.db_path()) as store:
        simple_run(store, "r3", {"c000": [True]}, minutes=2)
        store.execute("UPDATE runs SET status = 'interrupted' WHERE id = 'r3'")
        simple_run(store, "r4", {"c000": [True]}, minutes=3)
    # `last` as the first run: the newest *completed* run before the second one
    data = api.compare(["last", "r4"], project=project)
    assert [r.id for r in data.baseline.runs] == ["r2"]
    assert json.dumps(data.as_json())  # plain data
