"""report (brief): what ``--quiet`` prints — the summary and verdict lines, and errors.

One line per prompt version × provider (pass rate with its interval), a line for each gate
that failed, errors and incomplete runs, the verdict against a baseline, and the exit line.
Nothing else: no tables, no flips, no per-scorer columns (``evalkit runs show last`` has them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape

__all__ = ["render_brief_comparison", "render_brief_evaluation"]

_STYLE = {"regressed": "red", "improved": "green", "equivalent": "green"}


def _verdict(word: str, text: str | None = None) -> str:
    """``text`` (default: the verdict word) in the verdict's colour."""
    style = _STYLE.get(word)
    shown = escape(text or word)
    return f"[{style}]{shown}[/]" if style else shown


def _group_line(suite: str, group: dict[str, Any]) -> str:
    rate = group.get("pass_rate")
    text = f"{escape(suite)} · {escape(group['prompt'])} · {escape(group['provider'])}: "
    if rate is None:
        text += "pass rate —"
    else:
        low, high = group.get("pass_rate_ci") or (rate, rate)
        text += f"pass rate {rate:.2f} [{low:.2f},{high:.2f}]"
    text += f" · {group.get('passed', 0)}/{group.get('failed', 0)}/{group.get('undecided', 0)}"
    text += " pass/fail/undec."
    if group.get("errors"):
        text += f" · [red]{group['errors']} errors[/]"
    return text


def _pairing_lines(comparison: dict[str, Any], console: Console) -> None:
    from evalkit.contracts import Metric
    from evalkit.report.format import change, metric_value, verdict_text

    for pairing in comparison.get("pairings") or []:
        metrics = pairing.get("metrics") or []
        if not metrics:
            continue
        first = Metric.model_validate(metrics[0])
        console.print(
            f"  {escape(pairing['label'])}: {escape(first.metric)} "
            f"{metric_value(first, 'baseline')} → {metric_value(first, 'candidate')}, "
            f"{escape(change(first))}"
            f" · {_verdict(first.verdict, verdict_text(first))}"
        )


def _run_lines(run: dict[str, Any], console: Console) -> None:
    suite = run["suite"]
    for group in (run.get("summary") or {}).get("groups", []):
        console.print(_group_line(suite, group))
    for gate in run.get("gates") or []:
        if gate.get("passed") is False:
            sign = "≥" if gate["kind"] == "min" else "≤"
            actual = "—" if gate["actual"] is None else f"{gate['actual']:.4g}"
            console.print(
                f"{escape(suite)}: gate {escape(gate['gate'])} {sign} {gate['limit']:g}: "
                f"[red]FAIL[/] ({escape(gate['scope'])}: {actual})"
            )
    for err in (run.get("summary") or {}).get("errors") or []:
        console.print(
            f"{escape(suite)}: [red]{err['n']} calls failed[/] with {escape(err['error_class'])}"
        )
    if run.get("error"):
        console.print(f"{escape(suite)}: [red]run incomplete:[/] {escape(run['error'])}")
    note = (run.get("header") or {}).get("baseline_note")
    if note:
        console.print(f"{escape(suite)}: baseline: {escape(note)}")
    comparison = run.get("comparison")
    if comparison:
        console.print(f"{escape(suite)}: verdict {_verdict(comparison['verdict'])}")
        _pairing_lines(comparison, console)


def _exit_line(code: int, reasons: list[str], console: Console) -> None:
    from evalkit.report.format import exit_meaning

    console.print(f"exit {code} ({exit_meaning(code, list(dict.fromkeys(reasons)))})")


def _plain(data: Any) -> dict[str, Any]:
    """The ``--json`` form of an evaluation or a comparison (a typed record or its dict)."""
    return data.as_json() if hasattr(data, "as_json") else dict(data)


def render_brief_evaluation(
    data: Any, console: Console, footer: Callable[[], None] | None = None
) -> None:
    """``evalkit run --quiet``: the summary lines of every suite run, then the exit line."""
    data = _plain(data)
    if data.get("dry_run"):
        for run in data["runs"]:
            rows = (run.get("summary") or {}).get("dry_run") or []
            calls = sum(r["to_call"] for r in rows)
            cost = sum(r["estimate_usd"] for r in rows)
            console.print(f"{escape(run['suite'])}: {calls} calls to make · at most ${cost:.4f}")
        console.print("dry run: nothing was called or stored")
        return
    for run in data["runs"]:
        _run_lines(run, console)
    if footer:
        footer()
    reasons = [r for run in data["runs"] for r in run.get("exit_reasons") or []]
    _exit_line(data["exit_code"], reasons, console)


def render_brief_comparison(
    data: Any, console: Console, footer: Callable[[], None] | None = None
) -> None:
    """``evalkit compare --quiet``: the verdict, one line per pairing, the exit line."""
    data = _plain(data)
    console.print(f"{escape(data.get('suite') or '')}: verdict {_verdict(data['verdict'])}")
    _pairing_lines(data, console)
    if footer:
        footer()
    _exit_line(data["exit_code"], data.get("exit_reasons") or [], console)
