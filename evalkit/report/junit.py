"""report (JUnit XML): one ``<testcase>`` per case × metric, for CI test reporters.

Per run, one ``<testsuite>`` per prompt version × provider; each case × scorer is a testcase:

- it **fails** when the case fails that scorer in this run (a failed call fails every
  scorer), with the scorer's reason and the output; the message says when the case passed
  in the baseline (a regression);
- it is **skipped** as a *known failure* when the case also failed it in the baseline (the way
  pytest reports an expected failure), or when the score is undecided;
- otherwise it passes (a continuous score without threshold always passes; its value is in
  ``system-out``).

A last ``<testsuite>`` named ``<suite> · verdict`` holds one testcase per tested metric
(fails when regressed; skipped when not comparable; otherwise passes with its verdict —
improved, equivalent within its margin, or inconclusive with what the suite could detect — in
``system-out``), per latency/cost budget and per gate (fails when the gate failed), so the
report agrees with evalkit's exit code under the default ``--fail-on``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from evalkit.contracts import Budget, Metric
from evalkit.report.collect import RunReport, case_outcome
from evalkit.report.format import change, clip, detail_text, verdict_text

__all__ = ["render_junit"]


#: Characters XML 1.0 cannot carry (model outputs may contain them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _case_ids(report: RunReport) -> list[str]:
    seen: dict[str, None] = {}
    for group in report.data.groups.values():
        for case, _ in sorted(group.results):
            seen.setdefault(case, None)
    return list(seen)


def _testcase(
    suite_el: ET.Element,
    classname: str,
    name: str,
    counts: dict[str, int],
    time_s: float | None = None,
) -> ET.Element:
    counts["tests"] += 1
    attrs = {"classname": classname, "name": name}
    if time_s is not None:
        attrs["time"] = f"{time_s:.3f}"
    return ET.SubElement(suite_el, "testcase", attrs)


def _fail(tc: ET.Element, counts: dict[str, int], message: str, text: str, kind: str) -> None:
    counts["failures"] += 1
    el = ET.SubElement(tc, "failure", {"message": _safe(clip(message, 500)), "type": kind})
    el.text = _safe(text)


def _skip(tc: ET.Element, counts: dict[str, int], message: str) -> None:
    counts["skipped"] += 1
    ET.SubElement(tc, "skipped", {"message": _safe(clip(message, 500))})


def _group_suite(root: ET.Element, report: RunReport, group: Any) -> None:
    suite = report.data.suite
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    el = ET.SubElement(root, "testsuite", {"name": f"{suite} · {group.label}"})
    props = ET.SubElement(el, "properties")
    base = report.baselines.get(group.label)
    for key, value in (
        ("run_id", report.data.id),
        ("prompt", group.prompt),
        ("provider", group.provider),
        ("model", group.model),
        ("baseline_run_id", base.run_id if base else None),
    ):
        if value:
            ET.SubElement(props, "property", {"name": key, "value": str(value)})
    classname = f"{suite}.{group.prompt}.{group.provider}"
    scorers: list[str | None] = list(group.scorers) or [None]
    for case in _case_ids(report):
        if not group.case_rows(case):
            continue
        for scorer in scorers:
            got = case_outcome(group, case, scorer)
            if got is None:
                continue
            name = _safe(f"{case} · {scorer or 'call'}")
            tc = _testcase(
                el,
                classname,
                name,
                counts,
                None if got.latency_ms is None else got.latency_ms / 1000,
            )
            reps = f" in {got.fails} of {got.repeats} repeats" if got.repeats > 1 else ""
            if got.status == "fail":
                known = None
                if base is not None and base.case_hashes.get(case) == group.case_hashes[case]:
                    known = case_outcome(base, case, scorer)
                reason = detail_text(got.detail) or "failed"
                if known is not None and known.status == "fail":
                    _skip(
                        tc,
                        counts,
                        f"known failure (also failed in baseline run "
                        f"{base.run_id if base else ''}): {reason}",
                    )
                    continue
                was = (
                    " — passed in the baseline (regression)"
                    if known is not None and known.status == "pass"
                    else ""
                )
                _fail(
                    tc,
                    counts,
                    f"{scorer or 'case'} failed{reps}: {reason}{was}",
                    f"output: {got.output!r}",
                    "regression" if was else "failure",
                )
            elif got.status == "undecided":
                _skip(tc, counts, "undecided (no scorer could decide)")
            elif got.status == "value" and got.value is not None:
                ET.SubElement(tc, "system-out").text = f"{scorer} = {got.value:g}"
    el.attrib.update({k: str(v) for k, v in counts.items()})
    el.set("errors", "0")


def _verdict_suite(root: ET.Element, report: RunReport) -> None:
    suite = report.data.suite
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    el = ET.SubElement(root, "testsuite", {"name": f"{suite} · verdict"})
    comparison = report.outcome.comparison
    for pairing in comparison.pairings if comparison is not None else []:
        checks: list[Metric | Budget] = [*pairing.metrics, *pairing.budgets]
        for m in checks:
            if isinstance(m, Metric) and m.same_as:  # the same test as another metric
                continue
            tc = _testcase(el, f"{suite}.verdict", f"{pairing.label} · {m.metric}", counts)
            text = f"{verdict_text(m)}; change {change(m)}"
            note = m.disagreement if isinstance(m, Metric) else None
            if m.verdict in ("regressed", "over budget"):
                flips = [f.case_id for f in pairing.flips.pass_to_fail]
                body = "cases pass → fail: " + ", ".join(flips) if flips else text
                _fail(
                    tc,
                    counts,
                    f"{m.metric} {text}",
                    body + (f"\nnote: {note}" if note else ""),
                    m.verdict,
                )
            elif m.verdict == "not comparable":
                _skip(tc, counts, verdict_text(m))
            else:  # improved, equivalent, inconclusive, budgets: the words, for the reader
                ET.SubElement(tc, "system-out").text = _safe(
                    text + (f"\nnote: {note}" if note else "")
                )
    for gate in report.outcome.gates:
        tc = _testcase(el, f"{suite}.gates", f"gate {gate.gate} · {gate.scope}", counts)
        if gate.passed is False:
            sign = "≥" if gate.kind == "min" else "≤"
            actual = "—" if gate.actual is None else f"{gate.actual:.4g}"
            _fail(
                tc,
                counts,
                f"gate {gate.gate} {sign} {gate.limit:g} failed: {actual}",
                f"scope: {gate.scope}",
                "gate",
            )
        elif gate.passed is None:
            _skip(tc, counts, "nothing to measure")
    if counts["tests"]:
        el.attrib.update({k: str(v) for k, v in counts.items()})
        el.set("errors", "0")
    else:
        root.remove(el)


def render_junit(reports: Sequence[RunReport]) -> str:
    """JUnit XML for one or more runs."""
    root = ET.Element("testsuites", {"name": "evalkit"})
    for report in reports:
        for group in report.data.groups.values():
            _group_suite(root, report, group)
        _verdict_suite(root, report)
    for key in ("tests", "failures", "skipped"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in root)))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
