"""Every runnable snippet in README.md and docs/ runs, in order, the way a reader would run it.

The convention (also in DEVELOPERS.md, "Docs"): an HTML comment on the line before a fenced
block says what to do with it.

* ``<!-- run -->`` — run it: ``python`` blocks in one namespace per page (a notebook),
  ``bash`` blocks in a shell; the page's folder is the working directory.
  ``<!-- run: exit=1 -->`` expects that exit code from a bash block.
* ``<!-- file: PATH -->`` — write the block to PATH (relative to the page's folder) first;
  any language. The reader creates the same file.
* ``<!-- no-run: why -->`` — shown, never run; the reason is required.

A ``python``/``bash``/``sh``/``shell`` block without one of these fails the test. Other
languages (``yaml``, ``text``, ``csv``, …) are illustrations unless marked ``file:``.

A page starts in an empty folder, or with ``<!-- docs: project=bundled -->`` in a copy of
this repository's example project (evalkit.yaml, prompts/, suites/), shared by every page
that asks for it (so a later page reuses the response cache, as in a reader's clone).
``server`` in that comment marks a page that calls the local model (slow: ``-m server``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: The README first: its tour is what a new user runs before any docs page.
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

_FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_MARK = re.compile(r"<!--\s*(run|no-run|file)\s*(?::\s*(.*?))?\s*-->\s*$", re.S)
_PAGE = re.compile(r"<!--\s*docs:\s*(.*?)\s*-->")
_CODE = {"python", "py", "bash", "sh", "shell", "console"}


@dataclass
class Block:
    lang: str
    code: str
    mark: str | None
    arg: str
    line: int


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a page with the marker comment right before each."""
    out = []
    previous_end = 0
    for match in _FENCE.finditer(text):
        before = text[previous_end : match.start()].rstrip()
        mark = _MARK.search(before[-300:]) if before.endswith("-->") else None
        out.append(
            Block(
                lang=match.group(1).lower(),
                code=match.group(2),
                mark=mark.group(1) if mark else None,
                arg=(mark.group(2) or "").strip() if mark else "",
                line=text.count("\n", 0, match.start()) + 1,
            )
        )
        previous_end = match.end()
    return out


def page_options(text: str) -> set[str]:
    match = _PAGE.search(text)
    return set(re.split(r"[\s,]+", match.group(1))) if match else set()


def test_there_are_docs_pages():
    assert {p.name for p in PAGES} >= {
        "README.md",
        "python-api.md",
        "pytest.md",
        "promptfoo.md",
        "projects.md",
        "calls.md",
        "cli.md",
        "store.md",
        "comparing.md",
        "report.md",
        "scaling-out.md",
        "reliability.md",
    }


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return {_anchor(m.group(1)) for m in re.finditer(r"^#{1,6} (.*)$", text, re.M)}


#: Pages whose links are checked: the executed pages, and the other Markdown a reader opens.
LINKED = [
    *PAGES,
    ROOT / "DEVELOPERS.md",
    ROOT / "reports" / "README.md",
    *sorted(ROOT.glob("examples/*/README.md")),
]


@pytest.mark.parametrize("page", LINKED, ids=[str(p.relative_to(ROOT)) for p in LINKED])
def test_links_resolve(page):
    """Every relative link of a page names a file that exists, and a heading that does."""
    problems = []
    for match in _LINK.finditer(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        target = match.group(1)
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            problems.append(f"{page.name}: {target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            problems.append(f"{page.name}: {target}: no such heading")
    assert problems == []


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_code_block_is_marked(page):
    problems = []
    for block in blocks(page.read_text(encoding="utf-8")):
        where = f"{page.name}:{block.line}"
        if block.lang in _CODE and block.mark is None:
            problems.append(
                f"{where}: a {block.lang} block needs <!-- run --> or <!-- no-run: why -->"
            )
        if block.mark == "no-run" and not block.arg:
            problems.append(f"{where}: <!-- no-run --> needs a reason")
        if block.mark == "run" and block.lang not in _CODE:
            problems.append(
                f"{where}: only python/bash blocks can run (use file: for {block.lang})"
            )
        if block.mark == "file" and not block.arg:
            problems.append(f"{where}: <!-- file: PATH --> needs the path")
    assert problems == []


@pytest.fixture(scope="session")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example project, shared by the pages that use it."""
    folder = tmp_path_factory.mktemp("docs-bundled")
    shutil.copy(ROOT / "evalkit.yaml", folder / "evalkit.yaml")
    for name in ("prompts", "suites"):
        shutil.copytree(ROOT / name, folder / name)
    return folder


def _params() -> list[object]:
    out = []
    for page in PAGES:
        options = page_options(page.read_text(encoding="utf-8"))
        marks = [pytest.mark.server] if "server" in options else []
        out.append(pytest.param(page, id=page.name, marks=marks))
    return out


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.pop("EVALKIT_DB", None)
    return env


@pytest.mark.parametrize("page", _params())
def test_page_runs(page, tmp_path, monkeypatch, request):
    text = page.read_text(encoding="utf-8")
    options = page_options(text)
    folder = request.getfixturevalue("bundled") if "project=bundled" in options else tmp_path
    monkeypatch.chdir(folder)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in blocks(text):
        where = f"{page.name}:{block.line}"
        if block.mark == "file":
            path = folder / block.arg
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.code, encoding="utf-8")
        elif block.mark == "run" and block.lang in ("python", "py"):
            try:
                exec(compile(block.code, where, "exec"), namespace)  # the page's own code
            except Exception as exc:  # the block and its error, not a long traceback
                pytest.fail(f"{where}: {type(exc).__name__}: {exc}\n{block.code}")
        elif block.mark == "run":
            want = int(block.arg.removeprefix("exit=")) if block.arg.startswith("exit=") else 0
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block.code],
                cwd=folder,
                env=_env(),
                capture_output=True,
                text=True,
                timeout=1800,
            )
            assert done.returncode == want, (
                f"{where}: exit {done.returncode} (expected {want})\n{block.code}\n"
                f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
            )
