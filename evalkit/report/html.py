"""report (HTML): one self-contained file per report — the verdict first, then the flipped
cases with their diffs, the matrix of cases × prompt versions × providers, and the suite's
history — that opens offline from a CI artifact.

Layout (the ids are the report's contract, see docs/report.md): ``#verdict`` (the overall
verdict, a summary row per suite, then per suite the verdict table in words and what the run
measured), ``#flips`` (pass → fail first, then fail → pass), ``#matrix`` (filters, the
column headers, ``input#search``; its rows are in ``#cases``), ``#history``.

Safety: every piece of model, case or user text is escaped for its context by Jinja's
autoescaping (HTML text and attributes) or, in the embedded case data, by ``embed_json`` (no
``<``, ``>`` or ``&`` survives, so ``</script>`` or ``<!--`` in an output cannot end the
block); the page's script only ever writes text nodes. A Content-Security-Policy meta tag
allows no network source at all: the one inline script and the one inline style are allowed
by their SHA-256 hashes, images only as ``data:`` URIs.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.report.page import Page

__all__ = ["csp", "embed_json", "render_page"]

TEMPLATES = Path(__file__).parent / "templates"


def embed_json(data: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: ``<``, ``>``, ``&`` and the
    JavaScript line separators are written as ``\\uXXXX`` escapes (valid JSON, same value)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def csp(scripts: Sequence[str], styles: Sequence[str]) -> str:
    """The page's Content-Security-Policy: nothing from the network, inline code by hash."""
    script = " ".join(f"'{_sha256(s)}'" for s in scripts) or "'none'"
    style = " ".join(f"'{_sha256(s)}'" for s in styles) or "'none'"
    return (
        "default-src 'none'; "
        f"script-src {script}; style-src {style}; img-src data:; font-src 'none'; "
        "connect-src 'none'; media-src 'none'; object-src 'none'; frame-src 'none'; "
        "worker-src 'none'; manifest-src 'none'; base-uri 'none'; form-action 'none'"
    )


def render_page(page: Page, data: dict[str, Any]) -> str:
    """The HTML of a page, with ``data`` (the matrix of each suite) embedded once."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    script = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    style = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return env.get_template("report.html.j2").render(
        page=page,
        script=script,
        style=style,
        data=embed_json(data),
        csp=csp([script], [style]),
        version=__version__,
    )
