"""report (flips): a flipped case in full — both outputs with the word diff, the rendered
inputs, the case's vars, reference and tags, every score on both sides with what changed, a
judge's rationale (from the score detail JSON) and the error class of a failed call."""

from __future__ import annotations

import json
from typing import Any

from evalkit.report.cases import RunRows, reference_text, vars_text
from evalkit.report.diff import word_diff
from evalkit.report.page import FlipRef, FlipView, ScoreCell, SideView

__all__ = ["flip_view"]


def _rationale(detail: str | None) -> str | None:
    if not detail or not detail.startswith("{"):
        return None
    try:
        parsed = json.loads(detail)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    if parsed.get("rationale"):
        return str(parsed["rationale"])
    orders = parsed.get("orders")
    if isinstance(orders, list):
        found = [
            f"{o.get('order')}: {(o.get('verdict') or {}).get('rationale')}"
            for o in orders
            if isinstance(o, dict) and isinstance(o.get("verdict"), dict)
        ]
        return " · ".join(found) or None
    if parsed.get("error"):
        return f"invalid verdict: {parsed['error']}"
    return None


def _value_text(value: Any, passed: Any) -> str:
    mark = "✓ " if passed is True else "✗ " if passed is False else ""
    if value is None:
        return f"{mark}—" if passed is None else mark.strip()
    if (passed is True and value == 1.0) or (passed is False and value == 0.0):
        return "✓ pass" if passed else "✗ fail"  # a pass/fail check: its value says no more
    return f"{mark}{value:.4g}"


def _side(
    rows: RunRows,
    result_id: str,
    label: str,
    passes: int,
    repeats: int,
    output_html: str,
    details: dict[str, str],
) -> SideView:
    i = rows.by_id[result_id]
    res = rows.results
    scores = []
    for name, (v, ok, note) in rows.scores.get(result_id, {}).items():
        detail = details.get(name, note)
        scores.append(ScoreCell(name, _value_text(v, ok), ok, detail, _rationale(detail), v))
    error = None
    if res["error_class"][i] is not None:
        error = f"call failed ({res['error_class'][i]}): {res['error'][i] or ''}".strip()
    return SideView(
        label=label,
        prompt=f"{res['prompt'][i]} · {res['provider'][i]}",
        output_html=output_html,
        input_text=res["input"][i] or "",
        error=error,
        passes=passes,
        repeats=repeats,
        scores=scores,
    )


def flip_view(
    ref: FlipRef,
    base: RunRows,
    cand: RunRows,
    case: dict[str, Any] | None,
    labels: tuple[str, str],
    details: dict[str, dict[str, str]],
) -> FlipView | None:
    """A flip in full: both outputs with the word diff, inputs, scores, rationale, errors
    (``details``: the full score details by result id and scorer)."""
    if ref.baseline_result not in base.by_id or ref.candidate_result not in cand.by_id:
        return None
    out_a = base.results["output"][base.by_id[ref.baseline_result]]
    out_b = cand.results["output"][cand.by_id[ref.candidate_result]]
    html_a, html_b = word_diff(out_a, out_b)
    a = _side(
        base,
        ref.baseline_result,
        labels[0],
        ref.baseline_passes,
        ref.repeats,
        html_a,
        details.get(ref.baseline_result, {}),
    )
    b = _side(
        cand,
        ref.candidate_result,
        labels[1],
        ref.candidate_passes,
        ref.repeats,
        html_b,
        details.get(ref.candidate_result, {}),
    )
    sa = {s.scorer: s for s in a.scores}
    sb = {s.scorer: s for s in b.scores}
    changes = []
    for name in list(dict.fromkeys([*sa, *sb])):
        x, y = sa.get(name), sb.get(name)
        before = x.value if x else "—"
        after = y.value if y else "—"
        px, py = (x.passed if x else None), (y.passed if y else None)
        what = (
            "pass → fail"
            if px is True and py is False
            else "fail → pass"
            if px is False and py is True
            else "changed"
            if before != after
            else "same"
        )
        if what == "changed" and x and y and x.number is not None and y.number is not None:
            what = f"changed ({y.number - x.number:+.3g})".replace("-", "−")
        changes.append((name, before, after, what))
    case = case or {}
    return FlipView(
        case_id=ref.case_id,
        direction=ref.direction,
        tags=[str(t) for t in case.get("tags") or []],
        reference=reference_text(case.get("reference")),
        vars_text=vars_text(case.get("vars")),
        same_input=a.input_text == b.input_text,
        baseline=a,
        candidate=b,
        score_changes=changes,
    )
