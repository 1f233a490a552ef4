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
from evalkit.report.collect import RunReport, case_outcome
from evalkit.report.format import change, exit_meaning, mde_text, metric_value, verdict_text

__all__ = ["render_html"]

TEMPLATES = Path(__file__).parent / "templates"


def _metric_view(m: dict[str, Any]) -> dict[str, Any]:
    budget = "ratio" in m
    if budget:
        fmt = (lambda v: f"{v:.0f} ms") if m["statistic"] == "p95" else (lambda v: f"${v:.5f}")
        a, b = fmt(m["baseline"]), fmt(m["candidate"])
    else:
        a, b = metric_value(m, "baseline"), metric_value(m, "candidate")
    return {
        "name": m["metric"],
        "baseline": a,
        "candidate": b,
        "change": change(m),
        "verdict": m["verdict"],
        "text": verdict_text(m),
        "mde": ""
        if budget or m["verdict"] == "not comparable" or m.get("same_as")
        else mde_text(m),
    }


def _comparison_view(comparison: dict[str, Any]) -> dict[str, Any]:
    pairings = []
    for p in comparison["pairings"]:
        pairings.append(
            {
                "label": p["label"],
                "cases": p["cases"],
                "notes": p["notes"],
                "metrics": [_metric_view(m) for m in p["metrics"] + p["budgets"]],
                "mde": mde_text(p["metrics"][0])
                if p["metrics"][0]["verdict"] != "not comparable"
                else None,
                "flips": [
                    ("pass → fail", p["flips"]["pass_to_fail"]),
                    ("fail → pass", p["flips"]["fail_to_pass"]),
                ],
            }
        )
    matrix = comparison.get("matrix")
    return {
        "verdict": comparison["verdict"],
        "tests": comparison["tests"],
        "alpha": comparison["alpha"],
        "baseline": comparison["baseline"],
        "sides": matrix["sides"] if matrix else ["baseline", "this run"],
        "pairings": pairings,
        "unpaired": comparison.get("unpaired") or {},
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
    comparison = o.get("comparison")
    return {
        "suite": report.data.suite,
        "run_id": report.data.id,
        "status": run.get("status"),
        "started_at": str(run.get("started_at") or "")[:19],
        "commit": run.get("git_commit"),
        "dirty": run.get("git_dirty"),
        "exit_code": o.get("exit_code", run.get("exit_code")),
        "exit": exit_meaning(
            o.get("exit_code", run.get("exit_code")) or 0, o.get("exit_reasons") or []
        ),
        "groups": (o.get("summary") or {}).get("groups") or [],
        "gates": o.get("gates") or [],
        "comparison": _comparison_view(comparison) if comparison else None,
        "cases": _cases_view(report),
        "notes": [w for w in o.get("warnings") or []],
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
