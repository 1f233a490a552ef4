"""report (HTML): one self-contained file per report — inline CSS, no script, font or image
from the network — that can be uploaded as a CI artifact and opened anywhere.

It shows each run's summary and gates, the verdict against the baseline (the same table as
the terminal, with what the suite could detect), every flipped case with both outputs side by
side, and every case's outputs and scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.contracts import Budget, Comparison, Metric, PairingResult
from evalkit.report.collect import RunReport, case_outcome, unsupported_claims
from evalkit.report.format import (
    HTML_CLASS,
    budget_value,
    change,
    colour,
    detail_text,
    exit_meaning,
    headline,
    mde_text,
    metric_value,
    side_labels,
    verdict_text,
)

__all__ = ["render_html"]

TEMPLATES = Path(__file__).parent / "templates"


def _metric_view(m: Metric | Budget) -> dict[str, Any]:
    if isinstance(m, Budget):
        a, b = budget_value(m, "baseline"), budget_value(m, "candidate")
    else:
        a, b = metric_value(m, "baseline"), metric_value(m, "candidate")
    return {
        "name": m.metric,
        "baseline": a,
        "candidate": b,
        "change": change(m),
        "verdict": m.verdict,
        "css": HTML_CLASS[colour(m.verdict)],
        "text": verdict_text(m),
        "mde": ""
        if isinstance(m, Budget) or m.verdict == "not comparable" or m.same_as
        else mde_text(m),
    }


def _checks(p: PairingResult) -> list[Metric | Budget]:
    """A pairing's metrics, then its budgets."""
    return [*p.metrics, *p.budgets]


def _comparison_view(comparison: Comparison) -> dict[str, Any]:
    pairings = []
    for p in comparison.pairings:
        pass_rate = p.metrics[0]
        pairings.append(
            {
                "label": p.label,
                "cases": p.cases,
                "notes": [f"{m.metric}: {m.disagreement}" for m in p.metrics if m.disagreement]
                + p.notes,
                "metrics": [_metric_view(m) for m in _checks(p)],
                "mde": mde_text(pass_rate) if pass_rate.verdict != "not comparable" else None,
                "flips": [
                    ("pass → fail", p.flips.pass_to_fail),
                    ("fail → pass", p.flips.fail_to_pass),
                ],
            }
        )
    return {
        "verdict": comparison.verdict,
        "css": HTML_CLASS[colour(comparison.verdict)],
        "headline": headline(comparison),
        "tests": comparison.tests,
        "alpha": comparison.alpha,
        "sides": side_labels(comparison),
        "pairings": pairings,
        "unpaired": comparison.unpaired.as_json(),
    }


def _cases_view(report: RunReport) -> list[dict[str, Any]]:
    groups = []
    for group in report.data.groups.values():
        cases = []
        for case in dict.fromkeys(c for c, _ in sorted(group.results)):
            overall = case_outcome(group, case, None)
            rows = []
            for row in group.case_rows(case):
                scores = group.scores.get(row["id"], {})
                rows.append(
                    {
                        "repeat": row["repeat"],
                        "output": row["output"],
                        "error": row["error"],
                        "error_class": row["error_class"],
                        "passed": row["passed"],
                        "latency": row["latency_ms"],
                        "scores": [
                            {
                                "scorer": name,
                                "value": s["value"],
                                "passed": s["passed"],
                                "detail": s["detail"],
                                "summary": detail_text(s["detail"]),
                                "unsupported": unsupported_claims(s["detail"]),
                            }
                            for name, s in scores.items()
                        ],
                    }
                )
            cases.append(
                {"id": case, "status": overall.status if overall else "undecided", "rows": rows}
            )
        groups.append(
            {
                "label": group.label,
                "model": group.model,
                "cases": cases,
                "failing": sum(c["status"] == "fail" for c in cases),
            }
        )
    return groups


def _run_view(report: RunReport) -> dict[str, Any]:
    o = report.outcome
    run = report.data.run
    return {
        "suite": report.data.suite,
        "run_id": report.data.id,
        "status": run.get("status"),
        "started_at": str(run.get("started_at") or "")[:19],
        "commit": run.get("git_commit"),
        "dirty": run.get("git_dirty"),
        "exit_code": o.exit_code,
        "exit": exit_meaning(o.exit_code, o.exit_reasons),
        "groups": o.summary.groups,
        "gates": o.gates,
        "comparison": _comparison_view(o.comparison) if o.comparison is not None else None,
        "cases": _cases_view(report),
        "notes": list(o.warnings),
    }


def render_html(reports: Sequence[RunReport], *, title: str | None = None) -> str:
    """The HTML report of one or more runs."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ms"] = lambda v: (
        "—" if v is None else (f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms")
    )
    env.filters["num"] = lambda v, d=2: "—" if v is None else f"{v:.{d}f}"
    runs = [_run_view(r) for r in reports]
    heading = title or "evalkit · " + ", ".join(f"{r['suite']} ({r['run_id']})" for r in runs)
    return env.get_template("report.html.j2").render(title=heading, runs=runs, version=__version__)
