"""report (terminal): a comparison's verdict table, what the suite could detect, and the
per-case flips (pass → fail first), each with both outputs."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evalkit.report.format import change, clip, mde_text, metric_value, verdict_text

__all__ = ["render_comparison", "render_matrix"]

_STYLE = {
    "regressed": "bold red",
    "improved": "green",
    "over budget": "bold red",
    "not comparable": "yellow",
}
#: Flips shown with their outputs in the terminal (all are in --summary and --report).
SHOWN_FLIPS = 10


def _run_label(side: dict[str, Any]) -> str:
    runs = side.get("runs") or []
    ids = ", ".join(r["id"] for r in runs)
    name = side.get("name")
    return f"{name} (run {ids})" if name else f"run {ids}"


def _table(pairing: dict[str, Any], baseline: str, candidate: str) -> Table:
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
    for m in pairing["metrics"]:
        style = _STYLE.get(m["verdict"], "")
        verdict = escape(verdict_text(m))
        table.add_row(
            escape(m["metric"]),
            metric_value(m, "baseline"),
            metric_value(m, "candidate"),
            change(m),
            f"[{style}]{verdict}[/]" if style else verdict,
            "" if m["verdict"] == "not comparable" or m.get("same_as") else mde_text(m),
        )
    for b in pairing["budgets"]:
        unit = (
            (lambda v: f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms")
            if b["statistic"] == "p95"
            else (lambda v: f"${v:.5f}")
        )
        style = _STYLE.get(b["verdict"], "")
        verdict = escape(verdict_text(b))
        table.add_row(
            escape(b["metric"]),
            unit(b["baseline"]),
            unit(b["candidate"]),
            change(b),
            f"[{style}]{verdict}[/]" if style else verdict,
            "",
        )
    return table


def _flip_lines(pairing: dict[str, Any], console: Console) -> None:
    for kind, words in (("pass_to_fail", "pass → fail"), ("fail_to_pass", "fail → pass")):
        flips = pairing["flips"][kind]
        if not flips:
            continue
        style = "red" if kind == "pass_to_fail" else "green"
        more = f" (first {SHOWN_FLIPS})" if len(flips) > SHOWN_FLIPS else ""
        case = "case" if len(flips) == 1 else "cases"
        console.print(f" [{style}]{len(flips)} {case} went {words}[/]{more}:")
        for flip in flips[:SHOWN_FLIPS]:
            a, b = flip["baseline"], flip["candidate"]
            why = "; ".join(
                f"{f['scorer']}: {f['detail']}" if f.get("detail") else f["scorer"]
                for f in b["failed"]
                if kind == "pass_to_fail"
            )
            if kind == "pass_to_fail" and b.get("error_class"):
                why = f"call failed ({b['error_class']})"
            reps = (
                f" {a['passes']}/{a['repeats']} → {b['passes']}/{b['repeats']}"
                if a["repeats"] > 1
                else ""
            )
            console.print(
                f"   {escape(flip['case_id'])}{reps}: {escape(repr(clip(a['output'], 50)))} → "
                f"{escape(repr(clip(b['output'], 50)))}"
                + (f"  [dim]({escape(clip(why, 70))})[/]" if why else "")
            )
        if len(flips) > SHOWN_FLIPS:
            rest = "  ".join(f["case_id"] for f in flips[SHOWN_FLIPS:])
            console.print(f"   … {escape(clip(rest, 150))}")


def render_comparison(comparison: dict[str, Any], console: Console) -> None:
    """Every pairing: the verdict table, the smallest detectable change, notes and flips."""
    base = comparison["baseline"]
    matrix = comparison.get("matrix")
    against = (
        f"{matrix['sides'][1]} against {matrix['sides'][0]}"
        if matrix
        else f"compared with {_run_label(base)}"
    )
    console.print(
        f" {escape(against)} · verdict: "
        f"[{_STYLE.get(comparison['verdict'], 'bold')}]{comparison['verdict']}[/]"
        f" · {comparison['tests']} test{'s' if comparison['tests'] != 1 else ''}, "
        "Holm-corrected at "
        f"α={comparison['alpha']:g}"
    )
    for pairing in comparison["pairings"]:
        console.print(
            f"\n [bold]{escape(pairing['label'])}[/] · "
            f"{pairing['cases']['compared']} cases compared"
            + (
                f" × {pairing['cases']['repeats']} repeats"
                if pairing["cases"]["repeats"] > 1
                else ""
            )
        )
        base_col, cand_col = "baseline", "this run"
        if comparison.get("matrix"):
            sides = comparison["matrix"]["sides"]
            base_col, cand_col = sides[0], sides[1]
        console.print(_table(pairing, base_col, cand_col))
        pass_rate = pairing["metrics"][0]
        if pass_rate["verdict"] != "not comparable":
            console.print(
                f" smallest change this suite can detect (80% power, "
                f"α={pairing['mde']['alpha']:.3g}): {mde_text(pass_rate)} of pass rate"
            )
        for note in pairing["notes"]:
            console.print(f" [dim]note: {escape(note)}[/]")
        _flip_lines(pairing, console)
    unpaired = comparison.get("unpaired") or {}
    for side, words in (("baseline", "only in the baseline"), ("candidate", "only in this run")):
        if unpaired.get(side):
            console.print(
                f" [yellow]{words} (not compared):[/] {escape(', '.join(unpaired[side]))}"
            )


def render_matrix(comparison: dict[str, Any], console: Console) -> None:
    """``compare --prompt a --prompt b SUITE``: one row per provider (or prompt version)."""
    matrix = comparison["matrix"]
    a, b = matrix["sides"]
    table = Table(
        box=None,
        pad_edge=False,
        header_style="bold",
        title=f"{comparison['suite']}: {a} vs {b}",
        title_justify="left",
    )
    for col in (
        "provider" if matrix["by"] == "prompt" else "prompt",
        f"{a}",
        f"{b}",
        "change [95% CI]",
        "verdict",
        "pass→fail",
        "fail→pass",
    ):
        table.add_column(escape(col))
    for row, pairing in zip(matrix["rows"], comparison["pairings"], strict=True):
        m = pairing["metrics"][0]
        style = _STYLE.get(m["verdict"], "")
        verdict = escape(verdict_text(m))
        table.add_row(
            escape(row),
            metric_value(m, "baseline"),
            metric_value(m, "candidate"),
            change(m),
            f"[{style}]{verdict}[/]" if style else verdict,
            str(len(pairing["flips"]["pass_to_fail"])),
            str(len(pairing["flips"]["fail_to_pass"])),
        )
    console.print(table)
