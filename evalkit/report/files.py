"""report (files): write the JUnit, Markdown and HTML reports of a run or a comparison.

``run --report``, ``compare --report`` and ``evalkit report RUN`` all build the HTML page
through ``report.build.build_page``: one layout, whichever command wrote it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from evalkit.config import Project
from evalkit.contracts import Comparison, Evaluation, RunOutcome, RunSummary
from evalkit.errors import NotFoundError

__all__ = ["render_report", "write_reports"]


def _reader(project: Project, db: str | Path | None) -> Any:
    from evalkit.store.db import open_store

    return open_store(project, db, read_only=True)


def _report_inputs(store: Any, data: Evaluation | Comparison) -> list[Any]:
    from evalkit.report.collect import collect

    if isinstance(data, Comparison):
        return [
            collect(
                store,
                RunOutcome(
                    run_id=r.id,
                    suite=data.suite,
                    status=r.status or "completed",
                    summary=RunSummary(),
                    gates=[],
                    exit_code=data.exit_code or 0,
                    planned=0,
                    comparison=data,
                    exit_reasons=data.exit_reasons or [],
                ),
            )
            for r in data.candidate.runs
        ]
    return [collect(store, run) for run in data.runs if run.run_id]


def _html(store: Any, data: Any, history: int | None = None) -> str:
    from evalkit.report.build import build_page
    from evalkit.report.collect import page_entries
    from evalkit.report.history import DEFAULT_RUNS
    from evalkit.report.html import render_page

    entries, code, reasons = page_entries(store, data)
    page, embedded = build_page(
        store, entries, exit_code=code, exit_reasons=reasons, history_runs=history or DEFAULT_RUNS
    )
    return render_page(page, embedded)


def write_reports(
    data: Evaluation | Comparison,
    *,
    junit: str | Path | None = None,
    summary: str | Path | None = None,
    report: str | Path | None = None,
    project: Project,
    db: str | Path | None = None,
) -> dict[str, str]:
    """Write the JUnit XML, Markdown summary (also appended to ``$GITHUB_STEP_SUMMARY``) and
    HTML report of ``evalkit.run/1`` or ``evalkit.compare/1`` data; returns the paths."""
    written: dict[str, str] = {}
    if summary or os.environ.get("GITHUB_STEP_SUMMARY"):
        from evalkit.report.markdown import render_markdown

        text = render_markdown(data)
        if summary:
            Path(summary).parent.mkdir(parents=True, exist_ok=True)
            Path(summary).write_text(text, encoding="utf-8")
            written["summary"] = str(summary)
        step = os.environ.get("GITHUB_STEP_SUMMARY")
        if step:
            with open(step, "a", encoding="utf-8") as fh:
                fh.write(text + "\n")
            written["github_step_summary"] = step
    if junit:
        from evalkit.report.junit import render_junit

        with _reader(project, db) as store:
            text = render_junit(_report_inputs(store, data))
        Path(junit).parent.mkdir(parents=True, exist_ok=True)
        Path(junit).write_text(text, encoding="utf-8")
        written["junit"] = str(junit)
    if report:
        with _reader(project, db) as store:
            html = _html(store, data)
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(html, encoding="utf-8")
        written["html"] = str(report)
    return written


def render_report(
    run: str = "last",
    *,
    baseline: str | None = None,
    output: str | Path | None = None,
    project: Project,
    db: str | Path | None = None,
    history: int | None = None,
) -> Path:
    """Write a run's self-contained HTML report (compared with ``baseline``, or with the
    baseline it was compared with when it ran; ``history``: how many of the suite's runs the
    history shows, default 30); returns its path (default ``reports/<suite>-<run>.html``)."""
    from evalkit.compare.baselines import resolve_for_suite
    from evalkit.compare.drift import compare_runs
    from evalkit.report.collect import plain, run_summary, stored_comparison
    from evalkit.store.reports import baseline_names
    from evalkit.store.runs import get_run as _get
    from evalkit.store.runs import resolve_run

    with _reader(project, db) as store:
        run_id = resolve_run(store, run)
        row = _get(store, run_id)
        ref, base_id, name, comparison = baseline, None, None, None
        if baseline:
            base_id, name, warning = resolve_for_suite(store, baseline, row["suite"], run_id)
            if base_id is None:
                raise NotFoundError(
                    warning or f"no baseline '{baseline}'", fix="see `evalkit baseline list`"
                )
        elif row.get("baseline_run_id"):  # the baseline it was compared with when it ran
            ref, base_id = row.get("baseline"), row["baseline_run_id"]
            if any(ref in names for names in baseline_names(store, row["suite"]).values()):
                name = ref
            # the verdict as the run printed it (flips by case id), not recomputed
            comparison = stored_comparison(row)
        if base_id and comparison is None:
            comparison = plain(compare_runs(store, base_id, run_id))
            comparison["baseline"].update(ref=ref, name=name)
        outcome = {
            "run_id": run_id,
            "suite": row["suite"],
            "status": row.get("status"),
            "exit_code": row["exit_code"],
            "summary": run_summary(store, row),
            "comparison": comparison,
            "gates": (row.get("summary") or {}).get("gates", []),
            "warnings": [],
        }
        html = _html(
            store,
            {"schema": "evalkit.run/1", "exit_code": row["exit_code"], "runs": [outcome]},
            history,
        )
    path = Path(output) if output else project.reports_dir / f"{row['suite']}-{run_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
