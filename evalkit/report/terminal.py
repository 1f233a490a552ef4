"""report (terminal): a summary table per suite run (progress while running is in
``report/progress.py``).

Rendering takes a rich ``Console`` so tests can render to a string.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evalkit.contracts import (
    Evaluation,
    Gate,
    Grounding,
    GroupSummary,
    RunOutcome,
    RunSummary,
    ScorerSummary,
    StoredRun,
)
from evalkit.report.transcripts import render_transcripts

__all__ = [
    "render_dry_run",
    "render_evaluation",
    "render_run",
    "render_runs_list",
    "render_stored_run",
]


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _rate(group: GroupSummary) -> str:
    rate = group.pass_rate
    if rate is None or group.pass_rate_ci is None:
        return _num(rate)
    low, high = group.pass_rate_ci
    return f"{rate:.2f} [{low:.2f},{high:.2f}]"


def _score_cell(score: ScorerSummary) -> str:
    """``mean [low,high]`` (95% interval), on the scorer's own scale."""
    mean = score.mean
    digits = 1 if abs(mean or 0) > 1.5 else 2
    text = _num(mean, digits)
    ci = score.ci
    if ci and mean is not None and ci[0] != ci[1]:
        text += f" [{ci[0]:.{digits}f},{ci[1]:.{digits}f}]"
    return text


def _render_notes(groups: Sequence[GroupSummary], console: Console) -> None:
    """Repeats (pass@1, pass^k, flaky cases) and scores that could not be given."""
    for group in groups:
        scope = f"{group.prompt} · {group.provider}"
        rep = group.repeats
        if rep is not None and rep.k > 1 and rep.pass_at_1 is not None:
            k = rep.k
            line = (
                f" repeats ×{k} · {escape(scope)}: pass@1 {rep.pass_at_1:.2f} · "
                f"pass^{k} {_num(rep.pass_hat_k)} · pass@{k} {_num(rep.pass_at_k)}"
            )
            if rep.flaky:
                shown = " ".join(rep.flaky[:5]) + (" …" if len(rep.flaky) > 5 else "")
                line += f" · {len(rep.flaky)} flaky: {escape(shown)}"
            console.print(line)
        for name, score in group.scores.items():
            if score.grounding is not None:
                _render_grounding(name, scope, score.grounding, console)
            missing = score.unscored or 0
            if not missing:
                continue
            total = score.n + missing
            what = "verdicts invalid" if score.type == "judge" else "not scored"
            if missing == total:
                count = f"all {total} {what}" + (
                    ": no judge decision in this run" if score.type == "judge" else ""
                )
            else:
                count = f"{missing} of {total} {what}"
            console.print(
                f" [yellow]{escape(name)}[/] ({escape(scope)}): {count} "
                "(undecided, never counted as pass or fail)"
            )


def _render_grounding(name: str, scope: str, found: Grounding, console: Console) -> None:
    """A faithfulness judge's unsupported claims: how many, and the first answers' claims."""
    if not found.answers:
        return
    where = f" {escape(name)} ({escape(scope)}): "
    if not found.with_unsupported:
        console.print(
            f"{where}no answer makes a claim its context does not support "
            f"({found.answers} answers, {found.claims} claims)"
        )
        return
    console.print(
        f"{where}{found.with_unsupported} of {found.answers} answers make claims their "
        f"context does not support ({found.unsupported} of {found.claims} claims)"
    )
    for example in found.examples:
        claims = " · ".join(f"“{_clip(c, 70)}”" for c in example.claims[:3])
        more = f" (+{len(example.claims) - 3})" if len(example.claims) > 3 else ""
        repeat = f" #{example.repeat}" if example.repeat else ""
        console.print(f"   {escape(example.case_id)}{repeat}: {escape(claims)}{more}")
    if found.with_unsupported > len(found.examples):
        console.print(f"   … {found.with_unsupported - len(found.examples)} more answers")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _groups_table(groups: Sequence[GroupSummary]) -> Table:
    scorer_names: list[str] = []
    for group in groups:
        for name in group.scores:
            if name not in scorer_names:
                scorer_names.append(name)
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("prompt")
    table.add_column("provider")
    table.add_column("pass rate [95% CI]", justify="right")
    table.add_column("pass/fail/undec.", justify="right")
    for name in scorer_names:
        table.add_column(escape(name), justify="right")
    table.add_column("latency p50/p95", justify="right")
    table.add_column("ttft p50", justify="right")
    table.add_column("tokens in/out", justify="right")
    table.add_column("errors", justify="right")
    for group in groups:
        cells = [
            escape(group.prompt),
            escape(group.provider),
            _rate(group),
            f"{group.passed}/{group.failed}/{group.undecided}",
        ]
        for name in scorer_names:
            score = group.scores.get(name)
            cells.append("—" if score is None else _score_cell(score))
        cells += [
            f"{_ms(group.latency_p50_ms)} / {_ms(group.latency_p95_ms)}",
            _ms(group.ttft_p50_ms),
            f"{group.input_tokens}/{group.output_tokens}",
            str(group.errors),
        ]
        table.add_row(*cells)
    return table


def _render_gates(gates: Sequence[Gate], console: Console) -> None:
    for gate in gates:
        mark = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[yellow]n/a[/]"}[gate.passed]
        sign = "≥" if gate.kind == "min" else "≤"
        actual = "—" if gate.actual is None else f"{gate.actual:.4g}"
        console.print(
            f" gate {gate.gate} {sign} {gate.limit:g}: {mark} ({escape(gate.scope)}: {actual})"
        )


def _render_summary(summary: RunSummary, gates: Sequence[Gate], console: Console) -> None:
    """The table of groups, repeats and unscored notes, gates, run stats and errors."""
    console.print(_groups_table(summary.groups))
    _render_notes(summary.groups, console)
    _render_gates(gates, console)
    run = summary.run
    if run:
        spent = f"${run.spent_usd:.4f}" if run.spent_usd else "$0"
        line = f" calls {summary.results} · from cache {run.cache_hits} · retried {run.retries}"
        if run.retries_by_class:
            ranked = sorted(run.retries_by_class.items(), key=lambda kv: (-kv[1], kv[0]))
            line += " (" + ", ".join(f"{escape(k)} {v}" for k, v in ranked) + ")"
        line += f" · spent {spent}"
        if summary.cost_usd:
            line += f" · answers' cost ${summary.cost_usd:.4f}"
        for pid, lowest in run.throttled_to.items():
            line += f" · {escape(pid)} throttled to {lowest} by rate limits"
        console.print(line)
    if summary.errors:
        table = Table(box=None, pad_edge=False, header_style="bold red", title_justify="left")
        table.add_column(" error class")
        table.add_column("calls", justify="right")
        table.add_column("example")
        for err in summary.errors:
            table.add_row(
                " " + escape(err.error_class), str(err.n), escape((err.example or "")[:110])
            )
        console.print(table)


def render_run(outcome: RunOutcome, console: Console, db: str | None = None) -> None:
    """One suite run: header, the table of groups, gates, errors, verdict, footer."""
    header = outcome.header
    line = f"[bold]{escape(outcome.suite)}[/]"
    if header.prompts:
        providers = " ".join(
            f"{pid} ({model})" if model else pid for pid, model in header.providers.items()
        )
        line += (
            f" · {header.cases} cases · {escape(', '.join(header.prompts))} · "
            f"{escape(providers)} · {header.repeat} repeat"
            f"{'s' if header.repeat != 1 else ''}"
        )
    console.print(line)
    _render_summary(outcome.summary, outcome.gates, console)
    render_transcripts(outcome.transcripts, console, limit=3, passed=False, run_id=outcome.run_id)
    if outcome.error:
        console.print(f" [red]run incomplete:[/] {escape(outcome.error)}")
    if header.baseline_note:
        console.print(f" [yellow]baseline:[/] {escape(header.baseline_note)}")
    if outcome.comparison is not None:
        from evalkit.report.verdict import render_comparison

        render_comparison(outcome.comparison, console)
    footer = f" run {outcome.run_id}" if outcome.run_id else ""
    if db:
        footer += f" · store {escape(db)}"
    footer += f" · {outcome.status}"
    console.print(footer)


def render_stored_run(run: StoredRun, console: Console, transcripts: int | None = 10) -> None:
    """``evalkit runs show``: provenance, the summary, gates, up to ``transcripts``
    conversations (None: all), and the stored comparison."""
    console.print(
        f"run {run.id} · started {(run.started_at or '')[:19]} UTC · {run.status} · "
        f"exit {run.exit_code} · evalkit {run.evalkit_version} · commit "
        f"{(run.git_commit or '—')[:10]}{' (dirty)' if run.git_dirty else ''}",
        markup=False,
    )
    for p in run.providers:
        console.print(f" provider {p.provider}: {p.identity}", markup=False)
    console.print(f"[bold]{escape(run.suite)}[/]")
    _render_summary(run.summary, run.gates, console)
    render_transcripts(run.transcripts, console, limit=transcripts, run_id=run.id)
    if run.comparison is not None:
        from evalkit.report.verdict import render_comparison

        ref = f" (--baseline {run.baseline})" if run.baseline else ""
        console.print(f"\n verdict stored when the run was compared{escape(ref)}:")
        render_comparison(run.comparison, console)
    elif run.baseline:
        console.print(f" [yellow]baseline:[/] {escape(run.baseline)} (not compared)")


def render_dry_run(outcome: RunOutcome, console: Console) -> None:
    """``--dry-run``: per provider, calls planned, answered by the cache, to make, and cost."""
    header = outcome.header
    console.print(
        f"[bold]{escape(outcome.suite)}[/] · {header.cases} cases · "
        f"{escape(', '.join(header.prompts))} · {header.repeat} repeat(s)"
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("provider", "planned", "from cache", "to call", "estimated cost (at most)"):
        table.add_column(col, justify="left" if col == "provider" else "right")
    for row in outcome.summary.dry_run or []:
        cost = f"${row.estimate_usd:.4f}"
        if row.unpriced:
            cost += f" + {row.unpriced} calls of unknown price"
        table.add_row(
            escape(row.provider), str(row.planned), str(row.cached), str(row.to_call), cost
        )
    console.print(table)


def render_evaluation(
    evaluation: Evaluation, console: Console, footer: Callable[[], None] | None = None
) -> None:
    """Every suite run of ``evalkit run``, then the exit code and what it means."""
    for i, run in enumerate(evaluation.runs):
        if i:
            console.print()
        if evaluation.dry_run:
            render_dry_run(run, console)
            continue
        render_run(run, console, str(evaluation.db))
    if evaluation.dry_run:
        console.print("\ndry run: nothing was called or stored")
        return
    if footer:
        footer()
    from evalkit.report.format import exit_meaning

    code = evaluation.exit_code
    reasons = [r for run in evaluation.runs for r in run.exit_reasons]
    console.print(f"\nexit {code} ({exit_meaning(code, list(dict.fromkeys(reasons)))})")


def render_runs_list(rows: Sequence[dict[str, Any]], console: Console) -> None:
    """``evalkit runs list``: the newest runs first."""
    table = Table(box=None, header_style="bold")
    for col in (
        "run",
        "suite",
        "started (UTC)",
        "status",
        "results",
        "pass rate",
        "errors",
        "exit",
        "commit",
    ):
        table.add_column(col)
    for row in rows:
        table.add_row(
            row["id"],
            escape(row["suite"]),
            str(row["started_at"])[:19],
            row["status"],
            f"{row['results']}/{row['planned'] or '?'}",
            _num(row["pass_rate"]),
            str(row["errors"]),
            "—" if row["exit_code"] is None else str(row["exit_code"]),
            (row["git_commit"] or "")[:8],
        )
    console.print(table)
