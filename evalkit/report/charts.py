"""report (charts): small inline SVG charts, drawn as text when the report is built.

Hand-written SVG rather than a plotting library: the report needs three kinds of chart (a
metric over runs with its 95% band, a few ratios over runs, score histograms per column),
each a few dozen elements. Written directly they cost nothing to import, render the same
bytes on every machine (matplotlib's SVG backend embeds glyph paths and ids that change with
its version and fonts; vl-convert is a ~60 MB binary), keep the file small, and need no
script or network at view time. Every text is escaped; colours are presentation attributes
(the page's Content-Security-Policy forbids inline ``style`` attributes); tooltips are SVG
``<title>`` elements, which browsers show on hover without any script.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import escape

__all__ = ["PALETTE", "Point", "Series", "histogram", "line_chart", "share_bar"]

#: Series colours (distinct from the verdict reds and greens where possible).
PALETTE = ["#2563eb", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4d7c0f", "#475569"]


@dataclass
class Point:
    value: float | None
    low: float | None = None
    high: float | None = None
    tip: str = ""
    #: Do not join this point to the previous one (e.g. the scorer changed in between).
    breaks: bool = False


@dataclass
class Series:
    name: str
    colour: str
    points: list[Point] = field(default_factory=list)


def _e(text: object) -> str:
    return str(escape(str(text)))


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    out = []
    x = start
    while x <= hi + 1e-9 * step:
        out.append(round(x, 10))
        x += step
    return out


def line_chart(
    series: Sequence[Series],
    labels: Sequence[str],
    *,
    title: str,
    fmt: Callable[[float], str] = lambda v: f"{v:.2f}",
    y_range: tuple[float, float] | None = None,
    highlight: int | None = None,
    markers: dict[int, str] | None = None,
    width: int = 560,
    height: int = 190,
) -> str:
    """A metric over runs: one line per series with its 95% band, the run at ``highlight``
    ringed, and ``markers`` (run index -> e.g. a baseline name) as dashed verticals."""
    left, right, top, bottom = 48, 12, 22, 30
    inner_w, inner_h = width - left - right, height - top - bottom
    values = [
        v
        for s in series
        for p in s.points
        for v in (p.value, p.low, p.high)
        if v is not None and math.isfinite(v)
    ]
    if y_range is not None:
        lo, hi = y_range
    elif values:
        lo, hi = min(values), max(values)
        pad = (hi - lo) * 0.08 or (abs(hi) * 0.1 or 1.0)
        lo, hi = lo - pad, hi + pad
        if min(values) >= 0 > lo:
            lo = 0.0
    else:
        lo, hi = 0.0, 1.0
    n = max(len(labels), 1)

    def x(i: int) -> float:
        return left + (inner_w * (i + 0.5) / n)

    def y(v: float) -> float:
        return top + inner_h * (1 - (v - lo) / (hi - lo or 1.0))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
        f'<text x="{left}" y="14" class="ct">{_e(title)}</text>',
    ]
    for t in _ticks(lo, hi):
        ty = _n(y(t))
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{ty}" y2="{ty}" stroke="#eaecf0"/>'
            f'<text x="{left - 5}" y="{ty}" dy="3" text-anchor="end" class="ca">{_e(fmt(t))}'
            "</text>"
        )
    if highlight is not None and 0 <= highlight < n:
        band = inner_w / n
        out.append(
            f'<rect x="{_n(x(highlight) - band / 2)}" y="{top}" width="{_n(band)}" '
            f'height="{inner_h}" fill="#fef3c7" opacity="0.7"><title>the reported run</title>'
            "</rect>"
        )
    for i, name in (markers or {}).items():
        if 0 <= i < n:
            out.append(
                f'<line x1="{_n(x(i))}" x2="{_n(x(i))}" y1="{top}" y2="{top + inner_h}" '
                'stroke="#344054" stroke-dasharray="3 3"/>'
                f'<text x="{_n(x(i) + 3)}" y="{top + 9}" class="cm">{_e(name)}</text>'
            )
    step = max(1, math.ceil(n / 8))
    for i, label in enumerate(labels):
        if i % step == 0 or i == n - 1 or i == highlight:
            out.append(
                f'<text x="{_n(x(i))}" y="{height - 10}" text-anchor="middle" class="ca">'
                f"{_e(label)}</text>"
            )
    for s in series:
        segments: list[list[tuple[int, Point]]] = [[]]
        for i, p in enumerate(s.points):
            if p.value is None or not math.isfinite(p.value) or p.breaks:
                if segments[-1]:
                    segments.append([])
                if p.value is None or not math.isfinite(p.value):
                    continue
            segments[-1].append((i, p))
        for seg in segments:
            banded = [(i, p) for i, p in seg if p.low is not None and p.high is not None]
            if len(banded) >= 2:
                upper = " ".join(f"{_n(x(i))},{_n(y(p.high or 0))}" for i, p in banded)
                lower = " ".join(f"{_n(x(i))},{_n(y(p.low or 0))}" for i, p in reversed(banded))
                out.append(f'<polygon points="{upper} {lower}" fill="{s.colour}" opacity="0.14"/>')
            elif len(banded) == 1:
                i, p = banded[0]
                out.append(
                    f'<line x1="{_n(x(i))}" x2="{_n(x(i))}" y1="{_n(y(p.low or 0))}" '
                    f'y2="{_n(y(p.high or 0))}" stroke="{s.colour}" stroke-width="6" '
                    'opacity="0.2"/>'
                )
            if len(seg) >= 2:
                path = " ".join(f"{_n(x(i))},{_n(y(p.value or 0))}" for i, p in seg)
                out.append(
                    f'<polyline points="{path}" fill="none" stroke="{s.colour}" '
                    'stroke-width="1.6"/>'
                )
        for i, p in enumerate(s.points):
            if p.value is None or not math.isfinite(p.value):
                continue
            ring = i == highlight
            out.append(
                f'<circle cx="{_n(x(i))}" cy="{_n(y(p.value))}" r="{4.5 if ring else 2.6}" '
                f'fill="{"#fff" if ring else s.colour}" stroke="{s.colour}" '
                f'stroke-width="{2.2 if ring else 1}"><title>{_e(s.name)}: {_e(p.tip)}</title>'
                "</circle>"
            )
    out.append("</svg>")
    return "".join(out)


def histogram(
    values: Sequence[float],
    *,
    bins: int,
    lo: float,
    hi: float,
    colour: str,
    title: str,
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    width: int = 220,
    height: int = 90,
) -> str:
    """Counts of ``values`` in ``bins`` equal bins over [lo, hi] (the same for every column
    of a scorer, so columns can be compared by eye)."""
    counts = [0] * bins
    span = (hi - lo) or 1.0
    for v in values:
        if v is None or not math.isfinite(v):
            continue
        k = min(bins - 1, max(0, int((v - lo) / span * bins)))
        counts[k] += 1
    top = max(counts) or 1
    left, bottom, head = 4, 16, 4
    inner_w, inner_h = width - 2 * left, height - bottom - head
    bw = inner_w / bins
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="hist" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_e(title)}">'
        f"<title>{_e(title)}</title>"
    ]
    for k, c in enumerate(counts):
        h = inner_h * c / top
        a, b = lo + span * k / bins, lo + span * (k + 1) / bins
        out.append(
            f'<rect x="{_n(left + k * bw + 0.5)}" y="{_n(head + inner_h - h)}" '
            f'width="{_n(max(bw - 1, 1))}" height="{_n(h)}" fill="{colour}">'
            f"<title>{_e(fmt(a))}–{_e(fmt(b))}: {c}</title></rect>"
        )
    out.append(
        f'<line x1="{left}" x2="{width - left}" y1="{head + inner_h}" y2="{head + inner_h}" '
        'stroke="#98a2b3"/>'
        f'<text x="{left}" y="{height - 3}" class="ca">{_e(fmt(lo))}</text>'
        f'<text x="{width - left}" y="{height - 3}" text-anchor="end" class="ca">{_e(fmt(hi))}'
        "</text></svg>"
    )
    return "".join(out)


def share_bar(
    parts: Sequence[tuple[str, int, str]], *, title: str, width: int = 220, height: int = 22
) -> str:
    """One horizontal bar split into (label, count, colour) parts, e.g. pass / fail /
    undecided, each part's share of the whole."""
    total = sum(c for _, c, _ in parts) or 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="share" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_e(title)}">'
        f"<title>{_e(title)}</title>"
    ]
    x = 0.0
    for label, count, colour in parts:
        w = width * count / total
        if w <= 0:
            continue
        out.append(
            f'<rect x="{_n(x)}" y="2" width="{_n(w)}" height="{height - 4}" fill="{colour}">'
            f"<title>{_e(label)}: {count} ({count / total:.0%})</title></rect>"
        )
        if w > 34:
            out.append(f'<text x="{_n(x + 4)}" y="{height / 2 + 4:.0f}" class="cw">{count}</text>')
        x += w
    out.append("</svg>")
    return "".join(out)
