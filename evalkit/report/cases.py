"""report (cases): the case data of a suite's report — the matrix of cases × columns (prompt
version × provider of the run, and of the baseline), embedded once as compact JSON for the
page's script, and the score distributions per column (the flips in full: ``report.flips``).

The embedded data is column-wise and deduplicated so 10,000 cases × 2 runs stay well under
15 MB: per column a status string (one character per case), outputs (an integer where the
output equals an earlier column's for the same case), scores per scorer, and sparse maps for
errors, score notes (a judge's rationale rather than its raw reply) and repeats; the rendered
inputs are stored once per distinct input column, with the prefix and suffix every case
shares (a few-shot preamble) stored once.

A case's cell status follows the flips' rule: pass (or fail) when most of its repeats passed
(or failed; a failed call fails), undecided otherwise; "m" when the column has no result for
the case.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.report.charts import histogram, share_bar
from evalkit.report.format import detail_text
from evalkit.store import reports as queries
from evalkit.store.db import Store

__all__ = [
    "Column",
    "Matrix",
    "RunRows",
    "build_matrix",
    "input_text",
    "load_rows",
    "reference_text",
    "vars_text",
]

_BOOLEAN = {"equals", "contains", "regex", "json_schema"}


@dataclass
class RunRows:
    """One run's results and scores, loaded once, indexed by result id."""

    run_id: str
    results: dict[str, list[Any]]
    by_id: dict[str, int]
    #: result id -> scorer -> (value, passed, note)
    scores: dict[str, dict[str, tuple[Any, Any, Any]]]
    scorer_types: dict[str, str]
    _by_case: dict[tuple[str, str, str], list[int]] | None = None

    def representative(
        self, case: str, prompt: str, provider: str, passing: bool
    ) -> tuple[str, int, int] | None:
        """(result id, repeats passed, repeats) of a case in one group: the first repeat
        that passed (``passing``) or failed, else the first repeat."""
        if self._by_case is None:
            self._by_case = {}
            res = self.results
            for i, key in enumerate(
                zip(res["case_id"], res["prompt"], res["provider"], strict=True)
            ):
                self._by_case.setdefault(key, []).append(i)
        rows = self._by_case.get((case, prompt, provider))
        if not rows:
            return None
        res = self.results
        ok = [res["passed"][i] is True and res["error_class"][i] is None for i in rows]
        chosen = next((i for i, good in zip(rows, ok, strict=True) if good == passing), rows[0])
        return str(res["id"][chosen]), sum(ok), len(rows)


def load_rows(store: Store, run_id: str) -> RunRows:
    """Every result and score of a run; ``results["input"]`` holds the input as text."""
    res = queries.run_results(store, run_id)
    res["input"] = [
        text if kind == "VARCHAR" or text is None else input_text(text)
        for text, kind in zip(res["input"], res.pop("input_kind"), strict=True)
    ]
    sc = queries.run_scores(store, run_id)
    scores: dict[str, dict[str, tuple[Any, Any, Any]]] = {}
    for rid, name, value, passed, note in zip(
        sc["result_id"], sc["scorer"], sc["value"], sc["passed"], sc["note"], strict=True
    ):
        got = scores.get(rid)
        if got is None:
            got = scores[rid] = {}
        got[name] = (value, passed, note)
    by_id = {r: i for i, r in enumerate(res["id"])}
    return RunRows(run_id, res, by_id, scores, queries.scorer_types(store, run_id))


def input_text(raw: Any) -> str:
    """The rendered request as text: a completion prompt as is, chat messages (JSON text
    or a list) as ``[role]`` blocks."""
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return raw
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for m in value:
            if isinstance(m, dict):
                parts.append(f"[{m.get('role', '?')}]\n{m.get('content', '')}")
            else:
                parts.append(str(m))
        return "\n\n".join(parts)
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def vars_text(variables: Any) -> str:
    """``country: Canada · capital: Ottawa``."""
    if not isinstance(variables, dict):
        return "" if variables is None else str(variables)
    return " · ".join(
        f"{k}: {v if isinstance(v, str | int | float) else json.dumps(v, ensure_ascii=False)}"
        for k, v in variables.items()
    )


def reference_text(ref: Any) -> str | None:
    if ref is None:
        return None
    if isinstance(ref, list):
        return "\n".join(str(r) for r in ref) if len(ref) != 1 else str(ref[0])
    return str(ref)


@dataclass
class Column:
    """One prompt version × provider of one side."""

    side: str  #: baseline | run
    side_label: str
    run_id: str
    prompt: str
    provider: str
    model: str | None
    stats: dict[str, str] = field(default_factory=dict)
    pass_rate: float | None = None
    versus: int | None = None  #: the column this one is compared with


@dataclass
class Matrix:
    columns: list[Column]
    scorers: list[str]
    data: dict[str, Any]  #: the embedded JSON
    distributions: list[tuple[str, list[tuple[str, str]]]]  #: scorer -> (column, svg)


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _ms(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms"


def _exchange(transcript: str) -> list[list[Any]]:
    """A conversation's or agent loop's requests as the page shows them: per request [turn,
    step, what it added (a user turn or tool results, as text), the reply, its tool calls as
    ``name(arguments)``, why it stopped or failed]."""
    out: list[list[Any]] = []
    for step in json.loads(transcript):
        added = []
        for m in step.get("messages") or ():
            role = m.get("role")
            text = m.get("content") if isinstance(m.get("content"), str) else json.dumps(m)
            added.append(f"{role}: {text}" if role != "tool" else f"tool result: {text}")
        calls = [
            f"{c.get('name')}({json.dumps(c.get('arguments'), ensure_ascii=False)})"
            for c in step.get("tool_calls") or ()
        ]
        ended = step.get("error_class") or step.get("stopped")
        out.append([step.get("turn"), step.get("step"), added, step.get("output"), calls, ended])
    return out


def _common_affixes(texts: Sequence[str]) -> tuple[str, str]:
    present = [t for t in texts if t]
    if len(present) < 2:
        return "", ""
    pre = os.path.commonprefix(present)  # noqa: RUF071 - characters, not paths
    rest = [t[len(pre) :] for t in present]
    suf = os.path.commonprefix([t[::-1] for t in rest])[::-1]  # noqa: RUF071
    return pre, suf


def build_matrix(
    case_rows: Sequence[dict[str, Any]],
    sides: Sequence[tuple[str, str, RunRows]],
    *,
    flips: dict[str, int],
    pairs: Sequence[tuple[tuple[str, str, str], tuple[str, str, str]]],
) -> Matrix:
    """The matrix of one suite. ``sides``: (side, label, rows) — the baseline first;
    ``flips``: case id -> 1 (pass → fail), 2 (fail → pass), 3 (both, in different
    pairings); ``pairs``: ((run, prompt, provider) of the baseline, of the candidate)."""
    cases_by_id: dict[str, dict[str, Any]] = {}
    for c in case_rows:
        cases_by_id[str(c["id"])] = c  # the last (newest hash) wins; both are rarely shown
    columns: list[Column] = []
    members: list[dict[str, list[int]]] = []  # per column: case id -> result indexes
    runs: list[RunRows] = []
    for side, label, rows in sides:
        res = rows.results
        keyed: dict[tuple[str, str], dict[str, list[int]]] = {}
        models: dict[tuple[str, str], str | None] = {}
        for i, (case, prompt, provider) in enumerate(
            zip(res["case_id"], res["prompt"], res["provider"], strict=True)
        ):
            keyed.setdefault((prompt, provider), {}).setdefault(case, []).append(i)
            models.setdefault((prompt, provider), res["model"][i])
        for (prompt, provider), by_case in sorted(keyed.items()):
            columns.append(
                Column(side, label, rows.run_id, prompt, provider, models[(prompt, provider)])
            )
            members.append(by_case)
            runs.append(rows)
    case_ids = sorted({c for m in members for c in m} | set(cases_by_id))
    scorers = list(dict.fromkeys(name for r in runs for name in r.scorer_types))
    types = {name: t for r in runs for name, t in r.scorer_types.items()}
    position = {(c.run_id, c.prompt, c.provider): i for i, c in enumerate(columns)}
    for a, b in pairs:
        if a in position and b in position and columns[position[b]].versus is None:
            columns[position[b]].versus = position[a]  # the first comparison wins
    cells: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = []
    input_keys: list[list[str]] = []
    outputs_seen: list[list[Any]] = []
    for ci, (column, by_case, rows) in enumerate(zip(columns, members, runs, strict=True)):
        res = rows.results
        status: list[str] = []
        outs: list[Any] = []
        errors: dict[int, str] = {}
        repeats: dict[int, str] = {}
        texts: list[str] = []
        values: dict[str, list[Any]] = {s: [] for s in scorers}
        marks: dict[str, list[str]] = {s: [] for s in scorers}
        details: dict[str, dict[int, str]] = {s: {} for s in scorers}
        exchanges: dict[int, list[list[Any]]] = {}
        latencies: list[Any] = []
        passed = failed = 0
        lat_all: list[float] = []
        tok_in = tok_out = 0
        cost: float | None = None
        for idx, case in enumerate(case_ids):
            rix = by_case.get(case)
            if not rix:
                status.append("m")
                outs.append(None)
                texts.append("")
                latencies.append(None)
                for s in scorers:
                    values[s].append(None)
                    marks[s].append("-")
                continue
            p = f = 0
            chosen = rix[0]
            for i in rix:
                ok = res["passed"][i]
                if res["error_class"][i] is not None:
                    ok = False
                if ok is True:
                    p += 1
                elif ok is False:
                    if not f:
                        chosen = i
                    f += 1
                lat = res["latency_ms"][i]
                if lat is not None:
                    lat_all.append(lat)
                tok_in += res["input_tokens"][i] or 0
                tok_out += res["output_tokens"][i] or 0
                if res["cost_usd"][i] is not None:
                    cost = (cost or 0.0) + res["cost_usd"][i]
                if res["passed"][i] is True:
                    passed += 1
                elif res["passed"][i] is False or res["error_class"][i] is not None:
                    failed += 1
            status.append("f" if f > p else "p" if p > f else "u" if not f else "f")
            if len(rix) > 1:
                repeats[idx] = f"{p}/{len(rix)}"
            out = res["output"][chosen]
            earlier = next(
                (j for j in range(ci) if outputs_seen[j][idx] == out and out is not None), None
            )
            outs.append(earlier if earlier is not None else out)
            if res["error_class"][chosen] is not None:
                errors[idx] = f"{res['error_class'][chosen]}: {res['error'][chosen] or ''}".strip()
            texts.append(res["input"][chosen] or "")
            if res["transcript"][chosen]:
                exchanges[idx] = _exchange(res["transcript"][chosen])
            lat = res["latency_ms"][chosen]
            latencies.append(None if lat is None else round(lat))
            got = rows.scores.get(res["id"][chosen], {})
            for s in scorers:
                value, ok, detail = got.get(s, (None, None, None))
                values[s].append(value)
                marks[s].append("1" if ok is True else "0" if ok is False else "-")
                if detail:  # a judge's JSON verdict in words (unsupported claims, ...)
                    details[s][idx] = detail_text(detail) or detail
        outputs_seen.append(
            [o if not isinstance(o, int) else outputs_seen[o][k] for k, o in enumerate(outs)]
        )
        # inputs: shared between columns with the same rendered inputs
        try:
            input_ref = input_keys.index(texts)
        except ValueError:
            pre, suf = _common_affixes(texts)
            cut = len(suf)
            inputs.append(
                {
                    "pre": pre,
                    "suf": suf,
                    "mid": [t[len(pre) : len(t) - cut] if t else None for t in texts],
                }
            )
            input_keys.append(texts)
            input_ref = len(inputs) - 1
        decided = passed + failed
        column.pass_rate = passed / decided if decided else None
        column.stats = {
            "pass rate": "—" if not decided else f"{passed / decided:.2f}",
            "pass / fail": f"{passed} / {failed}",
            "latency p50 / p95": (
                f"{_ms(_quantile(lat_all, 0.5))} / {_ms(_quantile(lat_all, 0.95))}"
            ),
            "tokens in / out": f"{tok_in:,} / {tok_out:,}",
            "cost": "—" if cost is None else "$0" if cost == 0 else f"${cost:.4f}",
        }
        cells.append(
            {
                "s": "".join(status),
                "o": outs,
                "e": errors,
                "k": repeats,
                "in": input_ref,
                "l": latencies,
                "v": {s: values[s] for s in scorers},
                "p": {s: "".join(marks[s]) for s in scorers},
                "d": {s: details[s] for s in scorers if details[s]},
                "t": exchanges,
            }
        )
    data = {
        "columns": [
            {
                "side": c.side,
                "sideLabel": c.side_label,
                "run": c.run_id,
                "prompt": c.prompt,
                "provider": c.provider,
                "model": c.model,
                "stats": c.stats,
                "versus": c.versus,
            }
            for c in columns
        ],
        "scorers": [
            {"name": s, "type": types.get(s), "boolean": types.get(s) in _BOOLEAN} for s in scorers
        ],
        "cases": {
            "id": case_ids,
            "tags": [list((cases_by_id.get(c) or {}).get("tags") or []) for c in case_ids],
            "vars": [vars_text((cases_by_id.get(c) or {}).get("vars")) for c in case_ids],
            "ref": [reference_text((cases_by_id.get(c) or {}).get("reference")) for c in case_ids],
            "flip": "".join(str(flips.get(c, 0)) for c in case_ids),
        },
        "inputs": inputs,
        "cells": cells,
    }
    return Matrix(columns, scorers, data, _distributions(columns, scorers, types, cells))


def _distributions(
    columns: Sequence[Column],
    scorers: Sequence[str],
    types: dict[str, str],
    cells: Sequence[dict[str, Any]],
) -> list[tuple[str, list[tuple[str, str]]]]:
    out = []
    for s in scorers:
        row = []
        if types.get(s) in _BOOLEAN:
            for c, cell in zip(columns, cells, strict=True):
                m = cell["p"][s]
                parts = [
                    ("pass", m.count("1"), "#12b76a"),
                    ("fail", m.count("0"), "#f04438"),
                    ("undecided or missing", m.count("-"), "#d0d5dd"),
                ]
                row.append(
                    (
                        f"{c.side_label} · {c.prompt} · {c.provider}",
                        share_bar(parts, title=f"{s}: pass / fail"),
                    )
                )
        else:
            allv = [v for cell in cells for v in cell["v"][s] if v is not None]
            if not allv:
                continue
            lo, hi = min(allv), max(allv)
            if types.get(s) in ("bleu", "chrf"):
                lo, hi = 0.0, 100.0
            elif lo == hi:
                lo, hi = lo - 0.5, hi + 0.5
            for c, cell in zip(columns, cells, strict=True):
                values = [v for v in cell["v"][s] if v is not None]
                row.append(
                    (
                        f"{c.side_label} · {c.prompt} · {c.provider}",
                        histogram(
                            values,
                            bins=12,
                            lo=lo,
                            hi=hi,
                            colour="#2563eb" if c.side == "run" else "#98a2b3",
                            title=f"{s}: {len(values)} scores",
                            fmt=lambda v: f"{v:.3g}",
                        ),
                    )
                )
        out.append((s, row))
    return out
