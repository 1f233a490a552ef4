"""report (history): a suite's last runs as charts — each metric per prompt version ×
provider with its 95% interval as a band, named baselines marked, latency p95 and cost per
run, and the reported run highlighted.

The history ends at the reported run (later runs are left out), so a report rebuilt later
shows the same picture. Intervals are those computed when each run finished (stored with its
summary: Wilson for pass rates and pass/fail scorers, clustered by case with repeats; a
seeded bootstrap for mean scores); a run stored without them gets a Wilson interval from its
counts where the metric is a proportion, and no band otherwise. A line is broken where a
scorer's signature changes between two runs: those values are not comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evalkit.report.charts import PALETTE, Point, Series, line_chart
from evalkit.report.collect import group_interval, stored_groups
from evalkit.stats import wilson as wilson_interval
from evalkit.store import reports as queries
from evalkit.store.db import Store

__all__ = ["DEFAULT_RUNS", "History", "HistoryRun", "build_history"]

#: Runs shown by default.
DEFAULT_RUNS = 30


@dataclass
class HistoryRun:
    id: str
    started_at: str
    status: str
    exit_code: int | None
    commit: str | None
    baselines: list[str]
    reported: bool
    compared: bool


@dataclass
class History:
    suite: str
    runs: list[HistoryRun]
    charts: list[str] = field(default_factory=list)  #: inline SVG
    legend: list[tuple[str, str]] = field(default_factory=list)  #: (series, colour)
    notes: list[str] = field(default_factory=list)


def _label(started: Any) -> str:
    text = str(started or "")
    return text[5:16] if len(text) >= 16 else text


def _fmt_rate(v: float) -> str:
    return f"{v:.2f}"


def _fmt_ms(v: float) -> str:
    return f"{v / 1000:.1f} s" if v >= 1000 else f"{v:.0f} ms"


def _fmt_usd(v: float) -> str:
    return f"${v:.4f}" if v < 1 else f"${v:.2f}"


def build_history(
    store: Store,
    suite: str,
    run_id: str,
    *,
    compared_with: str | None = None,
    limit: int = DEFAULT_RUNS,
) -> History:
    """The history of ``suite`` up to run ``run_id`` (the last ``limit`` runs)."""
    rows = queries.history_runs(store, suite, run_id, limit)
    names = queries.baseline_names(store, suite)
    runs = [
        HistoryRun(
            id=str(r["id"]),
            started_at=str(r["started_at"] or "")[:19],
            status=str(r["status"]),
            exit_code=r["exit_code"],
            commit=(r["git_commit"] or "")[:10] or None,
            baselines=names.get(str(r["id"]), []),
            reported=str(r["id"]) == run_id,
            compared=str(r["id"]) == compared_with,
        )
        for r in rows
    ]
    history = History(suite, runs)
    if not rows:
        return history
    ids = [r.id for r in runs]
    index = {rid: i for i, rid in enumerate(ids)}
    groups_rows, score_rows = queries.history_aggregates(store, ids)
    stored = {str(r["id"]): stored_groups(r["summary"]) for r in rows}
    labels = [_label(r.started_at) for r in runs]
    highlight = index.get(run_id)
    markers = {index[r.id]: ", ".join(r.baselines) for r in runs if r.baselines}
    if compared_with in index and index[compared_with] not in markers:
        markers[index[compared_with]] = "baseline"
    group_keys = sorted({(str(g["prompt"]), str(g["provider"])) for g in groups_rows})
    colour = {key: PALETTE[i % len(PALETTE)] for i, key in enumerate(group_keys)}
    history.legend = [(f"{k[0]} · {k[1]}", colour[k]) for k in group_keys]
    n = len(ids)
    # -- pass rate --------------------------------------------------------------------------
    parts: dict[tuple[str, str, str], list[str]] = {}
    for s in score_rows:  # what the pass rate is made of: each scorer's signature, threshold
        rkey = (str(s["run_id"]), str(s["prompt"]), str(s["provider"]))
        sig = f"{s['scorer']}={s['signature']}@{s['threshold']}" if s["signatures"] == 1 else "*"
        parts.setdefault(rkey, []).append(sig)
    signatures = {rkey: "|".join(sorted(v)) for rkey, v in parts.items()}
    series: dict[tuple[str, str], Series] = {
        k: Series(f"{k[0]} · {k[1]}", colour[k], [Point(None) for _ in range(n)])
        for k in group_keys
    }
    last_sig: dict[tuple[str, str], str] = {}
    for g in sorted(groups_rows, key=lambda g: index[str(g["run_id"])]):
        key, i = (str(g["prompt"]), str(g["provider"])), index[str(g["run_id"])]
        decided = g["passed"] + g["failed"]
        if not decided:
            continue
        rate = g["passed"] / decided
        ci = group_interval(stored.get(str(g["run_id"]), {}).get(key) or {}, None)
        low, high = ci if ci else wilson_interval(g["passed"], decided)
        sig = signatures.get((str(g["run_id"]), *key), "")
        breaks = key in last_sig and last_sig[key] != sig
        last_sig[key] = sig
        series[key].points[i] = Point(
            rate,
            low,
            high,
            f"run {ids[i]}: {rate:.2f} [{low:.2f}, {high:.2f}] · {g['passed']}/{decided} passed"
            + (" · scorers changed since the previous run" if breaks else ""),
            breaks,
        )
    if group_keys:
        history.charts.append(
            line_chart(
                list(series.values()),
                labels,
                title="pass rate (95% interval)",
                fmt=_fmt_rate,
                y_range=(0.0, 1.0),
                highlight=highlight,
                markers=markers,
            )
        )
    # -- each scorer ------------------------------------------------------------------------
    scorers = list(dict.fromkeys(s["scorer"] for s in score_rows))
    for scorer in scorers:
        per: dict[tuple[str, str], Series] = {}
        last: dict[tuple[str, str], str] = {}
        rows_s = sorted(
            (s for s in score_rows if s["scorer"] == scorer), key=lambda s: index[str(s["run_id"])]
        )
        boolean = all(s["type"] in ("equals", "contains", "regex", "json_schema") for s in rows_s)
        for s in rows_s:
            key, i = (str(s["prompt"]), str(s["provider"])), index[str(s["run_id"])]
            if s["mean"] is None:
                continue
            if key not in per:
                per[key] = Series(
                    f"{key[0]} · {key[1]}",
                    colour.get(key, PALETTE[-1]),
                    [Point(None) for _ in range(n)],
                )
            ci = group_interval(stored.get(str(s["run_id"]), {}).get(key) or {}, scorer)
            if not ci and boolean and s["n"]:
                ci = wilson_interval(round(s["mean"] * s["n"]), s["n"])
            sig = str(s["signature"]) if s["signatures"] == 1 else "*"
            breaks = key in last and last[key] != sig
            last[key] = sig
            tip = f"run {ids[i]}: {s['mean']:.3g}" + (f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else "")
            if breaks:
                tip += " · scorer changed (signature): not comparable with the previous run"
            per[key].points[i] = Point(
                s["mean"], ci[0] if ci else None, ci[1] if ci else None, tip, breaks
            )
        if per:
            history.charts.append(
                line_chart(
                    list(per.values()),
                    labels,
                    title=f"{scorer} ({'share passing' if boolean else 'mean'}, 95% interval)",
                    fmt=_fmt_rate if boolean else (lambda v: f"{v:.3g}"),
                    y_range=(0.0, 1.0) if boolean else None,
                    highlight=highlight,
                    markers=markers,
                )
            )
    # -- latency and cost -------------------------------------------------------------------
    latency = {
        k: Series(f"{k[0]} · {k[1]}", colour[k], [Point(None) for _ in range(n)])
        for k in group_keys
    }
    cost_per_run: list[float | None] = [None] * n
    for g in groups_rows:
        key, i = (str(g["prompt"]), str(g["provider"])), index[str(g["run_id"])]
        if g["latency_p95_ms"] is not None:
            latency[key].points[i] = Point(
                g["latency_p95_ms"], tip=f"run {ids[i]}: {_fmt_ms(g['latency_p95_ms'])}"
            )
        if g["priced"]:
            cost_per_run[i] = (cost_per_run[i] or 0.0) + (g["cost_usd"] or 0.0)
    if any(p.value is not None for s in latency.values() for p in s.points):
        history.charts.append(
            line_chart(
                list(latency.values()),
                labels,
                title="latency p95",
                fmt=_fmt_ms,
                highlight=highlight,
                markers=markers,
            )
        )
    if any(c for c in cost_per_run):
        history.charts.append(
            line_chart(
                [
                    Series(
                        "cost of the run",
                        "#475569",
                        [
                            Point(c, tip=f"run {ids[i]}: {_fmt_usd(c)}" if c is not None else "")
                            for i, c in enumerate(cost_per_run)
                        ],
                    )
                ],
                labels,
                title="cost per run (USD)",
                fmt=_fmt_usd,
                highlight=highlight,
                markers=markers,
            )
        )
    elif any(c is not None for c in cost_per_run):
        history.notes.append("Cost: $0 in every run shown (the providers charged nothing).")
    else:
        history.notes.append("Cost: no run shown has a known price (no `pricing:` for them).")
    if len(runs) == 1:
        history.notes.append("This is the suite's only run so far: the charts have one point.")
    return history
