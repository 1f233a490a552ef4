"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``; ``scripts/test``
installs it when missing) driven by Playwright. The verdict renders, search and filters change
the visible rows, a flip's diff marks the changed words, injected scripts do not run, and the
page makes no network request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import reportdata

from evalkit import api
from evalkit.config import Project

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    reportdata.build(root, cases=120)  # more than one page of the matrix
    project = Project.discover(root)
    return api.render_report("cand", baseline="main", output=root / "r.html", project=project)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium (scripts/test does)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Opened:
    def __init__(self, page: Any, requests: list[str], errors: list[str]) -> None:
        self.page, self.requests, self.errors = page, requests, errors

    def rows(self) -> list[str]:
        return list(
            self.page.eval_on_selector_all(
                "#cases tr.case", "rows => rows.map(r => r.getAttribute('data-case'))"
            )
        )

    def pwned(self) -> Any:
        return self.page.evaluate("window.__pwned")


@pytest.fixture
def opened(browser: Any, report: Path) -> Iterator[Opened]:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" else None,
    )
    page.goto(report.as_uri())
    page.wait_for_selector("#cases tr.case")
    try:
        yield Opened(page, requests, errors)
    finally:
        context.close()


def test_the_verdict_renders_first_in_its_colour(opened: Opened) -> None:
    page = opened.page
    assert page.inner_text("#verdict .overall-word") == "inconclusive"
    assert (
        page.eval_on_selector("#verdict .overall", "e => getComputedStyle(e).backgroundColor")
        == "rgb(254, 240, 199)"
    )  # amber
    row = page.locator('#verdict tr[data-metric="pass rate"]').first
    assert "inconclusive" in row.inner_text() and "this suite detects" in row.inner_text()
    top = page.eval_on_selector("#verdict", "e => e.getBoundingClientRect().top")
    assert top < 200, "the verdict is the first thing on the page"
    assert opened.errors == []


def test_search_filters_and_paging_change_the_visible_rows(opened: Opened) -> None:
    page = opened.page
    assert len(opened.rows()) == 50
    assert page.inner_text("#count") == "120 cases"
    page.click("#next")
    assert opened.rows()[0] == "refund-050"
    page.fill("#search", "order 101?")  # a case's vars (its question) and rendered input
    assert opened.rows() == ["refund-101"]
    page.fill("#search", "14 days for order 11.")  # an output of this run
    assert opened.rows() == ["refund-011"]
    page.fill("#search", "")
    page.check("#only-flipped")
    flipped = opened.rows()
    assert set(flipped) == {
        "refund-001",
        "refund-002",
        "refund-006",
        "refund-009",
        "refund-010",
        "refund-011",
        reportdata.HOSTILE_CASE,
    }
    page.uncheck("#only-flipped")
    page.check("#only-failing")
    failing = opened.rows()
    assert "refund-007" in failing and "refund-000" not in failing
    assert page.inner_text("#count").startswith(f"{len(failing)} of 120")
    page.check("#only-disagreeing")
    assert set(opened.rows()) == set(flipped)
    page.uncheck("#only-failing")
    page.uncheck("#only-disagreeing")
    page.select_option("#tag-filter", "billing")
    assert all(int(c[-3:]) % 3 == 0 for c in opened.rows() if c.startswith("refund"))
    page.select_option("#tag-filter", "")
    page.select_option("#scorer-filter", "closeness")
    page.select_option("#sort", label="closeness · this run · support@v2 · gpt")
    shown = page.eval_on_selector_all(
        "#cases tr.case td.cell:nth-child(3) .sv", "cells => cells.map(c => c.textContent)"
    )
    values = [float(t.split()[-1]) for t in shown if t.split()[-1] != "—"]
    assert len(values) >= 45 and values == sorted(values) and values[0] == 0.4
    page.click("#sort-dir")
    shown = page.eval_on_selector_all(
        "#cases tr.case td.cell:nth-child(3) .sv", "cells => cells.map(c => c.textContent)"
    )
    assert shown[0] == "closeness 0.900"


def test_a_flip_marks_the_changed_words(opened: Opened) -> None:
    page = opened.page
    card = page.locator('#flips article.flip[data-case="refund-009"]')
    assert card.locator("del").all_inner_texts() == ["30"]
    assert card.locator("ins").all_inner_texts() == ["14"]
    assert card.locator("del").evaluate("e => getComputedStyle(e).textDecorationLine") == (
        "line-through"
    )
    # the matrix's detail of a changed case diffs the outputs the same way
    page.fill("#search", "refund-009")
    page.click('#cases tr.case[data-case="refund-009"]')
    detail = page.locator("#cases tr.detail-row")
    assert detail.locator("ins").all_inner_texts() == ["14"]
    assert "judge's rationale: Gives 14 days; policy says 30." in detail.inner_text()


def test_injected_scripts_stay_text_and_nothing_is_fetched(opened: Opened, report: Path) -> None:
    page = opened.page
    for case in ("refund-001", "refund-002", "refund-003", "refund-005", "refund-006"):
        page.fill("#search", case)
        page.click(f'#cases tr.case[data-case="{case}"]')
    page.fill("#search", reportdata.HOSTILE_CASE[:12])
    page.click("#cases tr.case")
    page.fill("#search", "pwned")
    assert len(opened.rows()) >= 4
    page.wait_for_timeout(300)
    assert opened.pwned() is None
    text = page.inner_text("#cases")
    assert "<script>window.__pwned = 1</script>" in text
    assert page.locator("#cases script, #cases img, #cases svg, #flips img").count() == 0
    assert page.locator("#flips a").count() == 0
    assert opened.requests == [report.as_uri()], opened.requests
    assert opened.errors == []
