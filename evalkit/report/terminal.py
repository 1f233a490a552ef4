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

__all__ = ["render_evaluation", "render_run", "render_runs_list"]


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _rate(group: dict[str, Any]) -> str:
    rate = group.get("pass_rate")
    if rate is None:
        return "—"
    low, high = group["pass_rate_ci"]
    return f"{rate:.2f} [{low:.2f},{high:.2f}]"


def _score_cell(score: dict[str, Any]) -> str:
    """``mean [low,high]`` (95% interval), on the scorer's own scale."""
    mean = score["mean"]
    digits = 1 if abs(mean or 0) > 1.5 else 2
    text = _num(mean, digits)
    ci = score.get("ci")
    if ci and mean is not None and ci[0] != ci[1]:
        text += f" [{ci[0]:.{digits}f},{ci[1]:.{digits}f}]"
    return text


def _render_notes(groups: Sequence[dict[str, Any]], console: Console) -> None:
    """Repeats (pass@1, pass^k, flaky cases) and scores that could not be given."""
    for group in groups:
        scope = f"{group['prompt']} · {group['provider']}"
        rep = group.get("repeats") or {}
        if rep.get("k", 1) > 1 and rep.get("pass_at_1") is not None:
            k = rep["k"]
            line = (
                f" repeats ×{k} · {escape(scope)}: pass@1 {rep['pass_at_1']:.2f} · "
                f"pass^{k} {rep['pass_hat_k']:.2f} · pass@{k} {rep['pass_at_k']:.2f}"
            )
            if rep["flaky"]:
                shown = " ".join(rep["flaky"][:5]) + (" …" if len(rep["flaky"]) > 5 else "")
                line += f" · {len(rep['flaky'])} flaky: {escape(shown)}"
            console.print(line)
        for name, score in group["scores"].items():
            missing = score.get("unscored") or 0
            if not missing:
                continue
            total = score["n"] + missing
            what = "verdicts invalid" if score["type"] == "judge" else "not scored"
            if missing == total:
                count = f"all {total} {what}" + (
                    ": no judge decision in this run" if score["type"] == "judge" else ""
                )
            else:
                count = f"{missing} of {total} {what}"
            console.print(
                f" [yellow]{escape(name)}[/] ({escape(scope)}): {count} "
                "(undecided, never counted as pass or fail)"
            )


def render_run(outcome: dict[str, Any], console: Console, db: str | None = None) -> None:
    """One suite run: header, the table of groups, gates, errors, footer."""
    header = outcome.get("header") or {}
    summary = outcome["summary"]
    groups = summary.get("groups", [])
    models = header.get("providers", {})
    providers = " ".join(f"{pid} ({model})" if model else pid for pid, model in models.items())
    line = f"[bold]{escape(outcome['suite'])}[/]"
    if header:
        line += (
            f" · {header['cases']} cases · {escape(', '.join(header['prompts']))} · "
            f"{escape(providers)} · {header['repeat']} repeat"
            f"{'s' if header['repeat'] != 1 else ''}"
        )
    console.print(line)
    scorer_names: list[str] = []
    for group in groups:
        for name in group["scores"]:
            if name not in scorer_names:
                scorer_names.append(name)
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("prompt")
    table.add_column("provider")
    table.add_column("pass rate [95% CI]", justify="right")
    table.add_column("pass/fail/undec.", justify="right")
    for name in scorer_names:
        table.add_column(name, justify="right")
    table.add_column("latency p50/p95", justify="right")
    table.add_column("ttft p50", justify="right")
    table.add_column("tokens in/out", justify="right")
    table.add_column("errors", justify="right")
    for group in groups:
        cells = [
            escape(group["prompt"]),
            escape(group["provider"]),
            _rate(group),
            f"{group['passed']}/{group['failed']}/{group['undecided']}",
        ]
        for name in scorer_names:
            score = group["scores"].get(name)
            if score is None:
                cells.append("—")
            else:
                cells.append(_score_cell(score))
        cells += [
            f"{_ms(group['latency_p50_ms'])} / {_ms(group['latency_p95_ms'])}",
            _ms(group["ttft_p50_ms"]),
            f"{group['input_tokens']}/{group['output_tokens']}",
            str(group["errors"]) if group["errors"] else "0",
        ]
        table.add_row(*cells)
    console.print(table)
    _render_notes(groups, console)
    for gate in outcome.get("gates", []):
        mark = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[yellow]n/a[/]"}[
            gate["passed"]
        ]
        sign = "≥" if gate["kind"] == "min" else "≤"
        actual = "—" if gate["actual"] is None else f"{gate['actual']:.4g}"
        console.print(
            f" gate {gate['gate']} {sign} {gate['limit']:g}: {mark} "
            f"({escape(gate['scope'])}: {actual})"
        )
    run = summary.get("run")
    if run:
        spent = f"${run['spent_usd']:.4f}" if run.get("spent_usd") else "$0"
        cost = summary.get("cost_usd")
        line = (
            f" calls {summary.get('results', 0)} · from cache {run['cache_hits']} · "
            f"retried {run['retries']} · spent {spent}"
        )
        if cost:
            line += f" · answers' cost ${cost:.4f}"
        for pid, lowest in (run.get("throttled_to") or {}).items():
            line += f" · {escape(pid)} throttled to {lowest} by rate limits"
        console.print(line)
    errors = summary.get("errors", [])
    if errors:
        table = Table(box=None, pad_edge=False, header_style="bold red", title_justify="left")
        table.add_column(" error class")
        table.add_column("calls", justify="right")
        table.add_column("example")
        for err in errors:
            table.add_row(
                " " + escape(err["error_class"]),
                str(err["n"]),
                escape((err["example"] or "")[:110]),
            )
        console.print(table)
    if outcome.get("error"):
        console.print(f" [red]run incomplete:[/] {escape(outcome['error'])}")
    if header.get("baseline_note"):
        console.print(f" [yellow]baseline:[/] {escape(header['baseline_note'])}")
    if outcome.get("comparison"):
        from evalkit.report.verdict import render_comparison

        render_comparison(outcome["comparison"], console)
    footer = f" run {outcome['run_id']}" if outcome.get("run_id") else ""
    if db:
        footer += f" · store {escape(db)}"
    footer += f" · {outcome['status']}"
    console.print(footer)


def render_dry_run(outcome: dict[str, Any], console: Console) -> None:
    header = outcome["header"]
    console.print(
        f"[bold]{escape(outcome['suite'])}[/] · {header['cases']} cases · "
        f"{escape(', '.join(header['prompts']))} · {header['repeat']} repeat(s)"
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("provider", "planned", "from cache", "to call", "estimated cost (at most)"):
        table.add_column(col, justify="left" if col == "provider" else "right")
    for row in outcome["summary"]["dry_run"]:
        cost = f"${row['estimate_usd']:.4f}"
        if row["unpriced"]:
            cost += f" + {row['unpriced']} calls of unknown price"
        table.add_row(
            escape(row["provider"]),
            str(row["planned"]),
            str(row["cached"]),
            str(row["to_call"]),
            cost,
        )
    console.print(table)


def render_evaluation(
    data: dict[str, Any], console: Console, footer: Callable[[], None] | None = None
) -> None:
    for i, run in enumerate(data["runs"]):
        if i:
            console.print()
        if data.get("dry_run"):
            render_dry_run(run, console)
            continue
        render_run(run, console, data.get("db"))
    if data.get("dry_run"):
        console.print("\ndry run: nothing was called or stored")
        return
    if footer:
        footer()
    from evalkit.report.format import exit_meaning

    code = data["exit_code"]
    reasons = [r for run in data["runs"] for r in run.get("exit_reasons") or []]
    console.print(f"\nexit {code} ({exit_meaning(code, list(dict.fromkeys(reasons)))})")


def render_runs_list(rows: Sequence[dict[str, Any]], console: Console) -> None:
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
