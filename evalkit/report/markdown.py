"""report (Markdown): a summary for a pull-request comment or ``$GITHUB_STEP_SUMMARY``.

Every flip is listed by case id (pass → fail first); a long list, and the outputs of the
flipped cases, go in a collapsed ``<details>`` block so the comment stays short.
"""

from __future__ import annotations

from typing import Any

from evalkit.contracts import Comparison, Evaluation, Flip, PairingResult, RunOutcome
from evalkit.report.format import (
    MARKDOWN_ICON,
    budget_value,
    change,
    clip,
    colour,
    detail_text,
    exit_meaning,
    headline,
    mde_text,
    metric_value,
    side_labels,
    verdict_text,
)

__all__ = ["render_markdown"]

#: Flips listed inline; longer lists are collapsed.
INLINE_FLIPS = 10
#: Flips shown with their outputs (every flip is listed by id; a PR comment holds 65k chars).
OUTPUT_ROWS = 50


def _cell(text: Any, width: int = 120) -> str:
    flat = clip(text, width)
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("`", "'")):
        flat = flat.replace(a, b)
    return flat


def _icon(verdict: str) -> str:
    return MARKDOWN_ICON[colour(verdict)]


def _ids(flips: list[Flip]) -> str:
    return ", ".join(f"`{_cell(f.case_id, 80)}`" for f in flips)


def _why(loser: Any) -> str:
    if loser is None:
        return ""
    if loser.error_class:
        return f"call failed ({loser.error_class})"
    return "; ".join(
        f"{x.scorer}: {detail_text(x.detail)}" if x.detail else x.scorer for x in loser.failed
    )


def _flips(pairing: PairingResult, sides: tuple[str, str]) -> list[str]:
    lines: list[str] = []
    for kind, words in (("pass_to_fail", "pass → fail"), ("fail_to_pass", "fail → pass")):
        flips: list[Flip] = getattr(pairing.flips, kind)
        if not flips:
            continue
        title = f"{len(flips)} case{'s' if len(flips) != 1 else ''} went {words}"
        rows = [
            f"| case | {_cell(sides[0])} output | {_cell(sides[1])} output | failed |",
            "| --- | --- | --- | --- |",
        ]
        for f in flips[:OUTPUT_ROWS]:
            a, b = f.baseline, f.candidate
            if a is None or b is None:  # a stored comparison: ids only
                continue
            why = _why(b if kind == "pass_to_fail" else a)
            reps = f" ({a.passes}/{a.repeats} → {b.passes}/{b.repeats})" if a.repeats > 1 else ""
            rows.append(
                f"| `{_cell(f.case_id, 80)}`{reps} | {_cell(a.output)} | "
                f"{_cell(b.output)} | {_cell(why, 100)} |"
            )
        if len(flips) > OUTPUT_ROWS:
            rows.append(f"| … {len(flips) - OUTPUT_ROWS} more (see the HTML report) | | | |")
        if len(flips) <= INLINE_FLIPS:
            lines += [
                f"**{title}:** {_ids(flips)}",
                "",
                f"<details><summary>Outputs of the {title.split(' went')[0]}</summary>",
                "",
                *rows,
                "",
                "</details>",
                "",
            ]
        else:
            lines += [
                f"**{title}.**",
                "",
                f"<details><summary>All {title}</summary>",
                "",
                _ids(flips),
                "",
                *rows,
                "",
                "</details>",
                "",
            ]
    return lines


def _comparison(comparison: Comparison) -> list[str]:
    tests = comparison.tests
    lines = [
        f"**Verdict: {_icon(comparison.verdict)} {comparison.verdict}** · "
        f"{_cell(headline(comparison), 300)} · "
        f"{tests} test{'s' if tests != 1 else ''}, "
        f"Holm-corrected at α = {comparison.alpha:g}",
        "",
    ]
    a, b = side_labels(comparison)
    for pairing in comparison.pairings:
        cases = pairing.cases
        reps = f" × {cases.repeats} repeats" if cases.repeats > 1 else ""
        lines += [f"#### {_cell(pairing.label)} · {cases.compared} cases{reps}", ""]
        lines += [
            f"| metric | {_cell(a)} | {_cell(b)} | change [95% CI] | verdict | detectable |",
            "| --- | ---: | ---: | ---: | --- | ---: |",
        ]
        for m in pairing.metrics:
            verdict = f"{_icon(m.verdict)} {_cell(verdict_text(m))}"
            if m.verdict == "regressed":
                verdict = f"**{verdict}**"
            mde = "" if m.verdict == "not comparable" or m.same_as else mde_text(m)
            lines.append(
                f"| {_cell(m.metric)} | {metric_value(m, 'baseline')} | "
                f"{metric_value(m, 'candidate')} | {change(m)} | {verdict} | {mde} |"
            )
        for bud in pairing.budgets:
            lines.append(
                f"| {bud.metric} | {budget_value(bud, 'baseline')} | "
                f"{budget_value(bud, 'candidate')} | {change(bud)} | "
                f"{_icon(bud.verdict)} {_cell(verdict_text(bud))} | |"
            )
        lines.append("")
        pass_rate = pairing.metrics[0]
        if pass_rate.verdict != "not comparable":
            lines += [
                f"Smallest change this suite can detect (80% power): "
                f"{mde_text(pass_rate)} of pass rate.",
                "",
            ]
        notes = [f"{m.metric}: {m.disagreement}" for m in pairing.metrics if m.disagreement]
        notes += pairing.notes
        lines += [f"> {_cell(note, 300)}" for note in notes]
        if notes:
            lines.append("")
        lines += _flips(pairing, (a, b))
    only = (a, b) if comparison.matrix is not None else ("the baseline", "this run")
    for groups, words in (
        (comparison.unpaired.baseline, f"Only in {only[0]}"),
        (comparison.unpaired.candidate, f"Only in {only[1]}"),
    ):
        if groups:
            lines += [f"{words} (not compared): {_cell(', '.join(groups))}", ""]
    return lines


def _run(run: RunOutcome) -> list[str]:
    comparison = run.comparison
    code = run.exit_code
    icon = "❌" if code else (_icon(comparison.verdict) if comparison else "✅")
    lines = [
        f"### {icon} {_cell(run.suite)} — exit {code} ({exit_meaning(code, run.exit_reasons)})",
        "",
    ]
    header = run.header
    if header.prompts:
        lines += [
            f"{header.cases} cases · {_cell(', '.join(header.prompts))} · "
            f"{_cell(', '.join(header.providers))} · run `{run.run_id}`",
            "",
        ]
    groups = run.summary.groups
    if groups:
        lines += [
            "| prompt · provider | pass rate | pass / fail / undecided | errors |",
            "| --- | ---: | ---: | ---: |",
        ]
        for g in groups:
            rate = "—" if g.pass_rate is None else f"{g.pass_rate:.2f}"
            lines.append(
                f"| {_cell(g.prompt)} · {_cell(g.provider)} | {rate} | "
                f"{g.passed} / {g.failed} / {g.undecided} | {g.errors} |"
            )
        lines.append("")
    failed = [gate for gate in run.gates if gate.passed is False]
    for gate in failed:
        sign = "≥" if gate.kind == "min" else "≤"
        actual = "—" if gate.actual is None else f"{gate.actual:.4g}"
        lines.append(
            f"- **gate {gate.gate} {sign} {gate.limit:g} failed** ({_cell(gate.scope)}: {actual})"
        )
    if failed:
        lines.append("")
    if header.baseline_note:
        lines += [f"> baseline: {_cell(header.baseline_note, 300)}", ""]
    if run.error:
        lines += [f"> run incomplete: {_cell(run.error, 300)}", ""]
    if comparison is not None:
        lines += _comparison(comparison)
    return lines


def render_markdown(data: Evaluation | Comparison) -> str:
    """``evalkit.run/1`` (every suite run) or ``evalkit.compare/1`` → Markdown."""
    lines = ["## evalkit", ""]
    if isinstance(data, Comparison):
        lines[0] = f"## evalkit compare · {_cell(data.suite)}"
        lines += _comparison(data)
    else:
        for run in data.runs:
            lines += _run(run)
        lines.append(f"exit {data.exit_code}")
    return "\n".join(lines).rstrip() + "\n"
