"""What the file reports (JUnit, HTML) need from the store: a run's results and scores case by
case, and the baseline's, for the groups that were compared.

A case *passes* a metric when it passes in more than half of its repeats (with one repeat:
when it passed), the same rule the flips use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from evalkit.compare.align import Group, RunData, load_run
from evalkit.contracts import RunOutcome
from evalkit.store.db import Store

__all__ = ["CaseOutcome", "RunReport", "case_outcome", "collect", "unsupported_claims"]


@dataclass
class RunReport:
    """One run as the reports show it: the run's JSON (summary, gates, comparison), its
    results, and for each compared group the baseline's group."""

    outcome: RunOutcome
    data: RunData
    #: candidate group label -> the baseline group it was compared with
    baselines: dict[str, Group] = field(default_factory=dict)


@dataclass
class CaseOutcome:
    status: str  # pass | fail | undecided | value (a score without pass/fail)
    passes: int
    fails: int
    repeats: int
    detail: str | None
    output: str | None
    value: float | None
    error: str | None = None
    latency_ms: float | None = None


def case_outcome(group: Group, case_id: str, scorer: str | None) -> CaseOutcome | None:
    """One case of a group on one scorer (None: the call itself, i.e. the overall pass)."""
    rows = group.case_rows(case_id)
    if not rows:
        return None
    passes = fails = 0
    detail = error = None
    output = rows[0]["output"]
    values = []
    for row in rows:
        if row["error_class"] is not None:
            fails += 1
            error = error or f"call failed ({row['error_class']}): {row['error'] or ''}".strip()
            continue
        if scorer is None:
            passed = row["passed"]
        else:
            score = group.scores.get(row["id"], {}).get(scorer)
            if score is None:
                continue
            if score["value"] is not None:
                values.append(score["value"])
            passed = score["passed"]
            if passed is False and detail is None:
                detail, output = score["detail"], row["output"]
        if passed is True:
            passes += 1
        elif passed is False:
            fails += 1
            if scorer is None and detail is None:
                output = row["output"]
    info = group.scorers.get(scorer) if scorer else None
    if info is not None and not info.decides:
        status = "value"
    elif fails > passes:
        status = "fail"
    elif passes > fails:
        status = "pass"
    else:
        status = "undecided" if not fails else "fail"
    latencies = [r["latency_ms"] for r in rows if r["latency_ms"] is not None]
    return CaseOutcome(
        status=status,
        passes=passes,
        fails=fails,
        repeats=len(rows),
        detail=detail or (error if fails else None),
        output=output,
        value=sum(values) / len(values) if values else None,
        error=error,
        latency_ms=sum(latencies) / len(latencies) if latencies else None,
    )


def unsupported_claims(detail: str | None) -> list[str] | None:
    """A faithfulness verdict's unsupported claims (None: not a faithfulness verdict)."""
    if not detail or '"unsupported"' not in detail:
        return None
    try:
        data = json.loads(detail)
    except ValueError:
        return None
    claims = data.get("unsupported") if isinstance(data, dict) else None
    return [str(c) for c in claims] if isinstance(claims, list) else None


def collect(store: Store, outcome: RunOutcome) -> RunReport:
    """The report data of one run (``outcome``: its ``evalkit.run/1`` entry)."""
    data = load_run(store, outcome.run_id)
    report = RunReport(outcome, data)
    loaded: dict[str, RunData] = {data.id: data}
    pairings = outcome.comparison.pairings if outcome.comparison is not None else []
    for pairing in pairings:
        base, cand = pairing.baseline, pairing.candidate
        if base.run_id not in loaded:
            loaded[base.run_id] = load_run(store, base.run_id)
        group = loaded[base.run_id].groups.get((base.prompt, base.provider))
        if group is not None:
            report.baselines[f"{cand.prompt} · {cand.provider}"] = group
    return report
