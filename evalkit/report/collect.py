"""What the file reports (JUnit, HTML) need: a run's results and scores case by case, and the
baseline's, for the groups that were compared; and, for the HTML page, the one place where the
run and comparison data (``evalkit.run/1`` entries, ``evalkit.compare/1``) are read as dicts
and turned into the page's typed records (``report.page``).

A case *passes* a metric when it passes in more than half of its repeats (with one repeat:
when it passed), the same rule the flips use.

Verdict words follow the contract (regressed / improved / equivalent / inconclusive / not
comparable); ``verdict_word`` is the single place that maps a word the comparison may still
use ("unchanged": not significant) to "inconclusive" — no test shows that nothing changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from evalkit.compare.align import Group, RunData, load_run
from evalkit.contracts import RunOutcome
from evalkit.store.db import Store

__all__ = [
    "CaseOutcome",
    "Entry",
    "RunReport",
    "case_outcome",
    "collect",
    "group_interval",
    "page_entries",
    "plain",
    "read_comparison",
    "read_suite",
    "run_summary",
    "stored_comparison",
    "stored_groups",
    "stored_summary",
    "unsupported_claims",
    "verdict_word",
]


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


# -- the HTML page's adapter: evalkit.run/1 and evalkit.compare/1 dicts -> report.page ------
_WORDS = {"unchanged": "inconclusive"}


def plain(value: Any) -> Any:
    """Run or comparison data as plain JSON-shaped dicts: typed models are dumped
    (``model_dump(mode="json", by_alias=True)``: the shape of ``evalkit.run/1`` and
    ``evalkit.compare/1``),
    also where a dict or list holds them."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def run_summary(store: Store, run: dict[str, Any]) -> dict[str, Any]:
    """The summary a run stored when it finished, else recomputed from the store."""
    from evalkit.run.summary import summarize_run

    return stored_summary(run) or summarize_run(store, str(run["id"]))


def verdict_word(raw: str | None) -> str:
    """The contract's verdict word for a word found in comparison data."""
    if not raw:
        return "not compared"
    return _WORDS.get(raw, raw)


def overall_word(words: list[str]) -> str:
    """regressed if any regressed, else improved if any improved, else equivalent when all
    tested are equivalent, else inconclusive; "not compared" when nothing was tested."""
    tested = [w for w in words if w not in ("not comparable", "not compared")]
    if "regressed" in tested:
        return "regressed"
    if "improved" in tested:
        return "improved"
    if tested and all(w == "equivalent" for w in tested):
        return "equivalent"
    if tested:
        return "inconclusive"
    return "not comparable" if "not comparable" in words else "not compared"


def _measured(m: dict[str, Any]) -> Any:
    from evalkit.report.words import Measured

    disc = m.get("discordant") or {}
    ci = m.get("ci")
    return Measured(
        name=str(m["metric"]),
        kind=str(m.get("kind") or "pass_fail"),
        scorer=m.get("scorer"),
        word=verdict_word(m.get("verdict")),
        higher_is_better=bool(m.get("higher_is_better", True)),
        baseline=m.get("baseline"),
        candidate=m.get("candidate"),
        estimate=m.get("estimate"),
        ci=(float(ci[0]), float(ci[1])) if ci else None,
        p=m.get("p"),
        p_adjusted=m.get("p_adjusted"),
        test=m.get("test"),
        cases=int(m.get("cases") or 0),
        mde=m.get("mde"),
        pass_to_fail=disc.get("pass_to_fail"),
        fail_to_pass=disc.get("fail_to_pass"),
        reason=m.get("reason"),
        note=m.get("note"),
        same_as=m.get("same_as"),
        margin=_margin_value(m.get("margin", m.get("equivalence_margin"))),
        relative=_margin_relative(m.get("margin")),
        disagreement=m.get("disagreement"),
        warnings=[str(w) for w in m.get("warnings") or []],
    )


def _margin_value(margin: Any) -> float | None:
    """A margin as a number (the contract's ``{"value", "relative", "source"}`` or a bare
    number)."""
    if isinstance(margin, dict):
        value = margin.get("value")
        return float(value) if value is not None else None
    return float(margin) if isinstance(margin, int | float) else None


def _margin_relative(margin: Any) -> float | None:
    return margin.get("relative") if isinstance(margin, dict) else None


def _budget(b: dict[str, Any]) -> Any:
    from evalkit.report.page import BudgetRow
    from evalkit.report.words import COLOURS

    p95 = b.get("statistic") == "p95"

    def unit(v: Any) -> str:
        if v is None:
            return "—"
        if p95:
            return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms"
        return f"${v:.5f}"

    word = str(b.get("verdict"))
    tol = b.get("tolerance") or 1.0
    ci = b.get("ci")
    cell = word
    if word == "unchanged":  # no significance test here: say what the interval shows
        inside = bool(ci and 1 / tol <= ci[0] and ci[1] <= tol)
        word = "equivalent" if inside else "inconclusive"
    if word == "equivalent":
        cell = f"equivalent (within ×{tol:g})"
    elif word == "inconclusive":
        cell = f"inconclusive (tolerance ×{tol:g})"
    elif word == "over budget" and b.get("budget"):
        cell = f"over budget (limit {b['budget']['limit']:g})"
    budget = b.get("budget")
    if budget and budget.get("passed") and word != "over budget":
        cell += " · within budget"
    return BudgetRow(
        name=str(b["metric"]),
        baseline=unit(b.get("baseline")),
        candidate=unit(b.get("candidate")),
        change=_ratio(b.get("ratio"), b.get("ci")),
        word=word,
        colour=COLOURS.get(word, "grey"),
        cell=cell,
        notes=[str(w) for w in b.get("warnings") or []],
    )


def _ratio(ratio: Any, ci: Any) -> str:
    """``×1.05 [0.98, 1.12]``."""
    if not isinstance(ratio, int | float) or ratio != ratio:
        return "—"
    return f"×{ratio:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def _flip_refs(flips: dict[str, Any]) -> list[Any]:
    from evalkit.report.page import FlipRef

    refs = []
    for direction in ("pass_to_fail", "fail_to_pass"):
        for f in flips.get(direction) or []:
            if isinstance(f, str):  # a stored (compact) comparison names the case only
                refs.append(FlipRef(f, direction, "", "", 0, 0, 0))
                continue
            a, b = f["baseline"], f["candidate"]
            refs.append(
                FlipRef(
                    str(f["case_id"]),
                    direction,
                    str(a.get("result_id") or ""),
                    str(b.get("result_id") or ""),
                    int(a.get("passes") or 0),
                    int(b.get("passes") or 0),
                    int(a.get("repeats") or 1),
                )
            )
    return refs


def _pairing_summary(rows: list[Any], p2f: int, f2p: int, sides: tuple[str, str]) -> str:
    flips = (
        f"{p2f} case{'s' if p2f != 1 else ''} went pass → fail and "
        f"{f2p if f2p else 'none'} fail → pass"
    )
    if not rows:
        return flips + "."
    first = rows[0]
    if first.quiet:
        return first.sentence
    return f"{first.sentence[:-1] if first.sentence.endswith('.') else first.sentence}. {flips}."


def read_comparison(data: Any, *, kind: str | None = None) -> Any:
    """A comparison (``evalkit.compare/1``) as the page shows it; ``kind``: "baseline"
    (against a baseline run), "sides" (two named sides), "versions" (within one run)."""
    data = plain(data)
    from evalkit.report.page import ComparisonView, PairingView
    from evalkit.report.words import COLOURS, metric_row

    alpha = float(data.get("alpha") or 0.05)
    tests = int(data.get("tests") or 0)
    matrix = data.get("matrix")
    base = data.get("baseline") or {}
    base_runs = ", ".join(str(r.get("id")) for r in base.get("runs") or [])
    cand_runs = ", ".join(str(r.get("id")) for r in (data.get("candidate") or {}).get("runs") or [])
    named = matrix["sides"] if matrix else None
    if named is None and base_runs == cand_runs:  # two sides named within one run
        first = (data.get("pairings") or [{}])[0]
        a, b = first.get("baseline") or {}, first.get("candidate") or {}
        key = "prompt" if a.get("prompt") != b.get("prompt") else "provider"
        named = [a.get(key), b.get(key)]
    kind = kind or ("sides" if named else "baseline")
    if named:
        sides = (str(named[0]), str(named[1]))
        title = f"{sides[0]} → {sides[1]}"
    else:
        name = base.get("name") or base.get("ref")
        label = f"{name} (run {base_runs})" if name and name != base_runs else f"run {base_runs}"
        sides = (f"baseline {name}" if name and name != base_runs else "baseline", "this run")
        title = f"against {label}"
    pairings = []
    words = []
    for p in data.get("pairings") or []:
        rows = [metric_row(_measured(m), alpha=alpha, tests=tests) for m in p["metrics"]]
        words += [r.word for r, m in zip(rows, p["metrics"], strict=True) if not m.get("same_as")]
        refs = _flip_refs(p.get("flips") or {})
        p2f = [r.case_id for r in refs if r.direction == "pass_to_fail"]
        f2p = [r.case_id for r in refs if r.direction == "fail_to_pass"]
        a, b = p.get("baseline") or {}, p.get("candidate") or {}
        pairings.append(
            PairingView(
                label=str(p["label"]),
                baseline_label=f"{a.get('prompt')} · {a.get('provider')}",
                candidate_label=f"{b.get('prompt')} · {b.get('provider')}",
                cases=int((p.get("cases") or {}).get("compared") or 0),
                repeats=int((p.get("cases") or {}).get("repeats") or 1),
                metrics=rows,
                budgets=[_budget(x) for x in p.get("budgets") or []],
                summary=_pairing_summary(rows, len(p2f), len(f2p), sides),
                detectable=rows[0].detectable if rows else "",
                notes=[str(n) for n in p.get("notes") or []],
                pass_to_fail=p2f,
                fail_to_pass=f2p,
                baseline_run=str(a.get("run_id") or ""),
                candidate_run=str(b.get("run_id") or ""),
                refs=refs,
                baseline_prompt_hash=a.get("prompt_hash"),
                candidate_prompt_hash=b.get("prompt_hash"),
                baseline_params=a.get("params"),
                candidate_params=b.get("params"),
            )
        )
    word = verdict_word(data.get("verdict")) if not words else overall_word(words)
    unpaired = data.get("unpaired") or {}
    notes = [f"only in {sides[0]} (not compared): {g}" for g in unpaired.get("baseline") or []]
    notes += [f"only in {sides[1]} (not compared): {g}" for g in unpaired.get("candidate") or []]
    return ComparisonView(
        kind=kind,
        title=title,
        word=word,
        colour=COLOURS.get(word, "grey"),
        tests=tests,
        alpha=alpha,
        sides=sides,
        pairings=pairings,
        unpaired=notes,
    )


def _ms(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms"


def _interval(value: Any, ci: Any, digits: int) -> str:
    if value is None:
        return "—"
    text = f"{value:.{digits}f}"
    if ci and ci[0] is not None and ci[0] != ci[1]:
        text += f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
    return text


def _group(g: dict[str, Any]) -> Any:
    from evalkit.report.page import GroupView

    scores, notes = {}, []
    for name, s in (g.get("scores") or {}).items():
        mean = s.get("mean")
        scores[name] = _interval(mean, s.get("ci"), 1 if abs(mean or 0) > 1.5 else 2)
        missing = s.get("unscored") or 0
        if missing:
            what = "judge verdicts invalid" if s.get("type") == "judge" else "not scored"
            notes.append(
                f"{name}: {missing} of {missing + (s.get('n') or 0)} {what} "
                "(undecided, never counted as pass or fail)"
            )
    rep = g.get("repeats") or {}
    if (rep.get("k") or 1) > 1 and rep.get("pass_at_1") is not None:
        k = rep["k"]
        flaky = rep.get("flaky") or []
        notes.append(
            f"repeats ×{k}: pass@1 {rep['pass_at_1']:.2f} · pass^{k} {rep['pass_hat_k']:.2f} · "
            f"pass@{k} {rep['pass_at_k']:.2f}"
            + (f" · {len(flaky)} flaky: {', '.join(flaky[:8])}" if flaky else "")
        )
    cost = g.get("cost_usd")
    return GroupView(
        prompt=str(g["prompt"]),
        provider=str(g["provider"]),
        model=g.get("model"),
        pass_rate=_interval(g.get("pass_rate"), g.get("pass_rate_ci"), 2),
        counts=f"{g.get('passed', 0)} / {g.get('failed', 0)} / {g.get('undecided', 0)}",
        scores=scores,
        latency=f"{_ms(g.get('latency_p50_ms'))} / {_ms(g.get('latency_p95_ms'))}",
        ttft=_ms(g.get("ttft_p50_ms")),
        tokens=f"{g.get('input_tokens') or 0:,} / {g.get('output_tokens') or 0:,}",
        cost="—" if cost is None else "$0" if cost == 0 else f"${cost:.4f}",
        errors=int(g.get("errors") or 0),
        notes=notes,
    )


@dataclass
class Entry:
    """One suite run to show: its ``evalkit.run/1`` entry and its comparison, if any."""

    run_id: str
    suite: str
    error: str | None
    outcome: dict[str, Any]
    comparison: dict[str, Any] | None


def page_entries(store: Store, data: Any) -> tuple[list[Entry], int | None, list[str]]:
    """The suite runs a page shows, its exit code and the reasons for it, from
    ``evalkit.run/1`` data (each run) or ``evalkit.compare/1`` data (shown as its newest
    candidate run, with the comparison attached)."""
    from evalkit.store.runs import get_run

    data = plain(data)
    if data.get("schema") == "evalkit.compare/1":
        run_id = str(data["candidate"]["runs"][-1]["id"])
        row = get_run(store, run_id)
        outcome = {
            "run_id": run_id,
            "suite": data["suite"],
            "status": row.get("status"),
            "exit_code": data.get("exit_code"),
            "exit_reasons": data.get("exit_reasons") or [],
            "summary": run_summary(store, row),
            "gates": (row.get("summary") or {}).get("gates", []),
            "comparison": data,
        }
        runs = [outcome]
    else:
        runs = [] if data.get("dry_run") else list(data.get("runs") or [])
    entries = [
        Entry(
            str(r.get("run_id") or ""),
            str(r.get("suite") or ""),
            r.get("error"),
            r,
            r.get("comparison"),
        )
        for r in runs
    ]
    reasons = data.get("exit_reasons") or [x for r in runs for x in r.get("exit_reasons") or []]
    return entries, data.get("exit_code"), list(dict.fromkeys(reasons))


def stored_groups(summary: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """(prompt, provider) -> the group of a run's stored summary (``{"summary", "gates"}``
    for finished runs, the bare summary for interrupted ones)."""
    if not isinstance(summary, dict):
        return {}
    inner = summary.get("summary") if "summary" in summary else summary
    groups = (inner or {}).get("groups") or []
    return {
        (str(g.get("prompt")), str(g.get("provider"))): g for g in groups if isinstance(g, dict)
    }


def group_interval(group: dict[str, Any], scorer: str | None) -> Any:
    """A stored group's 95% interval of its pass rate (``scorer`` None) or of a score."""
    if scorer is None:
        return group.get("pass_rate_ci")
    return ((group.get("scores") or {}).get(scorer) or {}).get("ci")


def stored_comparison(run: dict[str, Any]) -> dict[str, Any] | None:
    """The comparison a run recorded when it was compared with its baseline (verdicts,
    metrics, flips by case id), or None."""
    import json

    stored = run.get("comparison")
    if isinstance(stored, str):
        try:
            stored = json.loads(stored)
        except ValueError:
            return None
    return stored if isinstance(stored, dict) and stored.get("pairings") is not None else None


def stored_summary(run: dict[str, Any]) -> dict[str, Any] | None:
    """The summary stored with a finished run (``runs.summary``: ``{"summary", "gates"}``),
    or None when the run stored none."""
    stored = run.get("summary")
    if isinstance(stored, dict) and isinstance(stored.get("summary"), dict):
        inner = stored["summary"]
        return inner if inner.get("groups") is not None else None
    return None


def read_suite(entry: Entry, run: dict[str, Any]) -> Any:
    """One suite run (with its stored run row) as the page's suite view; comparisons,
    matrix and history are added by the page builder."""
    outcome = entry.outcome
    from evalkit.report.format import exit_meaning
    from evalkit.report.page import GateView, SuiteView

    summary = outcome.get("summary") or {}
    groups = [_group(g) for g in summary.get("groups") or []]
    scorers = list(dict.fromkeys(n for g in summary.get("groups") or [] for n in g["scores"]))
    gates = []
    for g in outcome.get("gates") or []:
        sign = "≥" if g.get("kind") == "min" else "≤"
        actual = "—" if g.get("actual") is None else f"{g['actual']:.4g}"
        mark = {True: "pass", False: "FAIL", None: "n/a"}[g.get("passed")]
        gates.append(
            GateView(
                f"{g['gate']} {sign} {g['limit']:g} · {g['scope']}: {actual} — {mark}",
                g.get("passed"),
            )
        )
    code = outcome.get("exit_code")
    code = int(run.get("exit_code") or 0) if code is None else int(code)
    notes = [str(w) for w in outcome.get("warnings") or []]
    if outcome.get("error"):
        notes.append(f"run incomplete: {outcome['error']}")
    return SuiteView(
        suite=str(outcome.get("suite") or run.get("suite")),
        run_id=str(outcome.get("run_id") or run.get("id")),
        status=str(outcome.get("status") or run.get("status") or ""),
        started_at=str(run.get("started_at") or "")[:19],
        commit=(run.get("git_commit") or "")[:10] + (" (dirty)" if run.get("git_dirty") else "")
        if run.get("git_commit")
        else None,
        exit_code=code,
        exit_words=exit_meaning(code, list(outcome.get("exit_reasons") or [])),
        word="not compared",
        colour="grey",
        headline="",
        scorers=scorers,
        groups=groups,
        gates=gates,
        notes=notes,
        comparison=None,
    )
