"""report (terminal): a comparison's verdict table, what the suite could detect, and the
per-case flips (pass → fail first), each with both outputs."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evalkit.contracts import Comparison, Flip, PairingResult
from evalkit.report.format import (
    TERMINAL_STYLE,
    budget_value,
    change,
    clip,
    colour,
    detail_text,
    headline,
    mde_text,
    metric_value,
    side_labels,
    verdict_text,
)

__all__ = ["render_comparison", "render_matrix"]

#: Flips shown with their outputs in the terminal (all are in --summary and --report).
SHOWN_FLIPS = 10


def _styled(verdict: str, text: str) -> str:
    return f"[{TERMINAL_STYLE[colour(verdict)]}]{escape(text)}[/]"


def _table(pairing: PairingResult, baseline: str, candidate: str) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, justify in (
        ("metric", "left"),
        (baseline, "right"),
        (candidate, "right"),
        ("change [95% CI]", "right"),
        ("verdict", "left"),
        ("detectable", "right"),
    ):
        table.add_column(escape(col), justify=justify)  # type: ignore[arg-type]
    for m in pairing.metrics:
        table.add_row(
            escape(m.metric),
            metric_value(m, "baseline"),
            metric_value(m, "candidate"),
            change(m),
            _styled(m.verdict, verdict_text(m)),
            "" if m.verdict == "not comparable" or m.same_as else mde_text(m),
        )
    for b in pairing.budgets:
        table.add_row(
            escape(b.metric),
            budget_value(b, "baseline"),
            budget_value(b, "candidate"),
            change(b),
            _styled(b.verdict, verdict_text(b)),
            "",
        )
    return table


def _why(flip: Flip, kind: str) -> str:
    b = flip.candidate
    if kind != "pass_to_fail" or b is None:
        return ""
    if b.error_class:
        return f"call failed ({b.error_class})"
    return "; ".join(
        f"{f.scorer}: {detail_text(f.detail)}" if f.detail else f.scorer for f in b.failed
    )


def _flip_lines(pairing: PairingResult, console: Console) -> None:
    for kind, words in (("pass_to_fail", "pass → fail"), ("fail_to_pass", "fail → pass")):
        flips: list[Flip] = getattr(pairing.flips, kind)
        if not flips:
            continue
        style = "red" if kind == "pass_to_fail" else "green"
        more = f" (first {SHOWN_FLIPS})" if len(flips) > SHOWN_FLIPS else ""
        case = "case" if len(flips) == 1 else "cases"
        if flips[0].baseline is None:  # a stored comparison: case ids only
            ids = "  ".join(f.case_id for f in flips)
            console.print(
                f" [{style}]{len(flips)} {case} went {words}[/]: {escape(clip(ids, 150))}"
            )
            continue
        console.print(f" [{style}]{len(flips)} {case} went {words}[/]{more}:")
        for flip in flips[:SHOWN_FLIPS]:
            a, b = flip.baseline, flip.candidate
            assert a is not None and b is not None
            why = _why(flip, kind)
            reps = f" {a.passes}/{a.repeats} → {b.passes}/{b.repeats}" if a.repeats > 1 else ""
            console.print(
                f"   {escape(flip.case_id)}{reps}: {escape(repr(clip(a.output, 50)))} → "
                f"{escape(repr(clip(b.output, 50)))}"
                + (f"  [dim]({escape(clip(why, 70))})[/]" if why else "")
            )
        if len(flips) > SHOWN_FLIPS:
            rest = "  ".join(f.case_id for f in flips[SHOWN_FLIPS:])
            console.print(f"   … {escape(clip(rest, 150))}")


def render_comparison(comparison: Comparison, console: Console) -> None:
    """Every pairing: the verdict table, the smallest detectable change, notes and flips."""
    tests = comparison.tests
    console.print(
        f" {escape(headline(comparison))} · verdict: "
        f"{_styled(comparison.verdict, comparison.verdict)}"
        f" · {tests} test{'s' if tests != 1 else ''}, Holm-corrected at α={comparison.alpha:g}"
    )
    base_col, cand_col = side_labels(comparison)
    for pairing in comparison.pairings:
        cases = pairing.cases
        console.print(
            f"\n [bold]{escape(pairing.label)}[/] · {cases.compared} cases compared"
            + (f" × {cases.repeats} repeats" if cases.repeats > 1 else "")
        )
        console.print(_table(pairing, base_col, cand_col))
        pass_rate = pairing.metrics[0]
        if pass_rate.verdict != "not comparable":
            console.print(
                f" smallest change this suite can detect (80% power, "
                f"α={pairing.mde.alpha:.3g}): {mde_text(pass_rate)} of pass rate"
            )
        for m in pairing.metrics:
            if m.disagreement:
                console.print(f" [dim]note: {escape(m.metric)}: {escape(m.disagreement)}[/]")
        for note in pairing.notes:
            console.print(f" [dim]note: {escape(note)}[/]")
        _flip_lines(pairing, console)
    unpaired = comparison.unpaired
    for groups, words in (
        (unpaired.baseline, "only in the baseline"),
        (unpaired.candidate, "only in this run"),
    ):
        if groups:
            console.print(f" [yellow]{words} (not compared):[/] {escape(', '.join(groups))}")


def render_matrix(comparison: Comparison, console: Console) -> None:
    """``compare --prompt a --prompt b SUITE``: one row per provider (or prompt version)."""
    matrix = comparison.matrix
    assert matrix is not None
    a, b = matrix.sides
    table = Table(
        box=None,
        pad_edge=False,
        header_style="bold",
        title=f"{escape(comparison.suite)}: {escape(a)} vs {escape(b)}",
        title_justify="left",
    )
    for col in (
        "provider" if matrix.by == "prompt" else "prompt",
        a,
        b,
        "change [95% CI]",
        "verdict",
        "pass→fail",
        "fail→pass",
    ):
        table.add_column(escape(col))
    for row, pairing in zip(matrix.rows, comparison.pairings, strict=True):
        m = pairing.metrics[0]
        table.add_row(
            escape(row),
            metric_value(m, "baseline"),
            metric_value(m, "candidate"),
            change(m),
            _styled(m.verdict, verdict_text(m)),
            str(len(pairing.flips.pass_to_fail)),
            str(len(pairing.flips.fail_to_pass)),
        )
    console.print(table)
