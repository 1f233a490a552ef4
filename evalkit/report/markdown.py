"""report (Markdown): a summary for a pull-request comment or ``$GITHUB_STEP_SUMMARY``.

Every flip is listed by case id (pass → fail first); a long list, and the outputs of the
flipped cases, go in a collapsed ``<details>`` block so the comment stays short.
"""

from __future__ import annotations

from typing import Any

from evalkit.report.format import change, clip, exit_meaning, mde_text, metric_value, verdict_text

__all__ = ["render_markdown"]

#: Flips listed inline; longer lists are collapsed.
INLINE_FLIPS = 10
#: Flips shown with their outputs (every flip is listed by id; a PR comment holds 65k chars).
OUTPUT_ROWS = 50
_ICON = {"regressed": "❌", "improved": "✅", "unchanged": "✅", "not comparable": "⚠️"}


def _cell(text: Any, width: int = 120) -> str:
    flat = clip(text, width)
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("`", "'")):
        flat = flat.replace(a, b)
    return flat


def _ids(flips: list[dict[str, Any]]) -> str:
    return ", ".join(f"`{_cell(f['case_id'], 80)}`" for f in flips)


def _flips(pairing: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for kind, words in (("pass_to_fail", "pass → fail"), ("fail_to_pass", "fail → pass")):
        flips = pairing["flips"][kind]
        if not flips:
            continue
        title = f"{len(flips)} case{'s' if len(flips) != 1 else ''} went {words}"
        rows = [
            "| case | baseline output | this run's output | failed |",
            "| --- | --- | --- | --- |",
        ]
        for f in flips[:OUTPUT_ROWS]:
            a, b = f["baseline"], f["candidate"]
            loser = b if kind == "pass_to_fail" else a
            why = (
                f"call failed ({loser['error_class']})"
                if loser.get("error_class")
                else "; ".join(
                    f"{x['scorer']}: {x['detail']}" if x.get("detail") else x["scorer"]
                    for x in loser["failed"]
                )
            )
            reps = (
                f" ({a['passes']}/{a['repeats']} → {b['passes']}/{b['repeats']})"
                if a["repeats"] > 1
                else ""
            )
            rows.append(
                f"| `{_cell(f['case_id'], 80)}`{reps} | {_cell(a['output'])} | "
                f"{_cell(b['output'])} | {_cell(why, 100)} |"
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


def _comparison(comparison: dict[str, Any]) -> list[str]:
    base = comparison["baseline"]
    runs = ", ".join(f"`{r['id']}`" for r in base["runs"])
    against = f"`{base['name']}` (run {runs})" if base.get("name") else f"run {runs}"
    lines = [
        f"**Verdict: {comparison['verdict']}** against {against} · "
        f"{comparison['tests']} test{'s' if comparison['tests'] != 1 else ''}, "
        f"Holm-corrected at α = {comparison['alpha']:g}",
        "",
    ]
    matrix = comparison.get("matrix")
    for pairing in comparison["pairings"]:
        cases = pairing["cases"]
        reps = f" × {cases['repeats']} repeats" if cases["repeats"] > 1 else ""
        lines += [f"#### {_cell(pairing['label'])} · {cases['compared']} cases{reps}", ""]
        a, b = matrix["sides"] if matrix else ("baseline", "this run")
        lines += [
            f"| metric | {_cell(a)} | {_cell(b)} | change [95% CI] | verdict | detectable |",
            "| --- | ---: | ---: | ---: | --- | ---: |",
        ]
        for m in pairing["metrics"]:
            verdict = verdict_text(m)
            if m["verdict"] == "regressed":
                verdict = f"**{verdict}**"
            mde = "" if m["verdict"] == "not comparable" or m.get("same_as") else mde_text(m)
            lines.append(
                f"| {_cell(m['metric'])} | {metric_value(m, 'baseline')} | "
                f"{metric_value(m, 'candidate')} | {change(m)} | {_cell(verdict)} | "
                f"{mde} |"
            )
        for bud in pairing["budgets"]:
            fmt = (
                (lambda v: f"{v:.0f} ms") if bud["statistic"] == "p95" else (lambda v: f"${v:.5f}")
            )
            lines.append(
                f"| {bud['metric']} | {fmt(bud['baseline'])} | "
                f"{fmt(bud['candidate'])} | {change(bud)} | "
                f"{_cell(verdict_text(bud))} | |"
            )
        lines.append("")
        pass_rate = pairing["metrics"][0]
        if pass_rate["verdict"] != "not comparable":
            lines += [
                f"Smallest change this suite can detect (80% power): "
                f"{mde_text(pass_rate)} of pass rate.",
                "",
            ]
        lines += [f"> {_cell(note, 300)}" for note in pairing["notes"]]
        if pairing["notes"]:
            lines.append("")
        lines += _flips(pairing)
    for side, words in (("baseline", "Only in the baseline"), ("candidate", "Only in this run")):
        if (comparison.get("unpaired") or {}).get(side):
            lines += [
                f"{words} (not compared): {_cell(', '.join(comparison['unpaired'][side]))}",
                "",
            ]
    return lines


def _run(run: dict[str, Any]) -> list[str]:
    comparison = run.get("comparison")
    code = run["exit_code"]
    icon = "❌" if code else (_ICON.get(comparison["verdict"], "✅") if comparison else "✅")
    lines = [
        f"### {icon} {_cell(run['suite'])} — exit {code} "
        f"({exit_meaning(code, run.get('exit_reasons') or [])})",
        "",
    ]
    header = run.get("header") or {}
    if header:
        lines += [
            f"{header['cases']} cases · {_cell(', '.join(header['prompts']))} · "
            f"{_cell(', '.join(header['providers']))} · run `{run['run_id']}`",
            "",
        ]
    groups = (run.get("summary") or {}).get("groups") or []
    if groups:
        lines += [
            "| prompt · provider | pass rate | pass / fail / undecided | errors |",
            "| --- | ---: | ---: | ---: |",
        ]
        for g in groups:
            rate = "—" if g.get("pass_rate") is None else f"{g['pass_rate']:.2f}"
            lines.append(
                f"| {_cell(g['prompt'])} · {_cell(g['provider'])} | {rate} | "
                f"{g['passed']} / {g['failed']} / {g['undecided']} | {g['errors']} |"
            )
        lines.append("")
    for gate in run.get("gates") or []:
        if gate.get("passed") is False:
            sign = "≥" if gate["kind"] == "min" else "≤"
            lines.append(
                f"- **gate {gate['gate']} {sign} {gate['limit']:g} failed** "
                f"({_cell(gate['scope'])}: {gate['actual']:.4g})"
            )
    if any(g.get("passed") is False for g in run.get("gates") or []):
        lines.append("")
    if header.get("baseline_note"):
        lines += [f"> baseline: {_cell(header['baseline_note'], 300)}", ""]
    if run.get("error"):
        lines += [f"> run incomplete: {_cell(run['error'], 300)}", ""]
    if comparison:
        lines += _comparison(comparison)
    return lines


def render_markdown(data: dict[str, Any]) -> str:
    """``evalkit.run/1`` (every suite run) or ``evalkit.compare/1`` data → Markdown."""
    lines = ["## evalkit", ""]
    if data.get("schema") == "evalkit.compare/1":
        lines[0] = f"## evalkit compare · {_cell(data['suite'])}"
        lines += _comparison(data)
    else:
        for run in data["runs"]:
            lines += _run(run)
        lines.append(f"exit {data['exit_code']}")
    return "\n".join(lines).rstrip() + "\n"
