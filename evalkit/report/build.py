"""report (build): assemble the HTML page of one or more suite runs from their run data
(``evalkit.run/1`` entries, each with its comparison) and the store.

For each suite run: the verdict against the baseline (if it was compared), the prompt
versions of the run compared with each other (when it holds several versions of a prompt),
the flipped cases in full (the first ``FLIPS_SHOWN`` of each direction per pairing; every
flip stays in the matrix's "only flipped" filter), the matrix of cases × columns, score
distributions, and the history. ``evalkit report``, ``run --report`` and ``compare --report``
all come through here, so they share one layout.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

from evalkit import __version__
from evalkit.report import collect
from evalkit.report.cases import RunRows, build_matrix, load_rows
from evalkit.report.diff import params_diff, prompt_diff
from evalkit.report.flips import flip_view
from evalkit.report.history import DEFAULT_RUNS, build_history
from evalkit.report.page import ComparisonView, FlipRef, Page, PairingView, SuiteView
from evalkit.report.words import COLOURS
from evalkit.store import reports as queries
from evalkit.store.db import Store

__all__ = ["FLIPS_SHOWN", "build_page"]

#: Flips shown in full per direction and pairing (the rest are listed by id).
FLIPS_SHOWN = 50


def _version_key(ref: str) -> tuple[str, int, str]:
    name, _, version = ref.partition("@")
    digits = re.sub(r"\D", "", version)
    return name, int(digits) if digits else 0, version


def _version_pairs(prompts: Sequence[str]) -> list[tuple[str, str]]:
    """Consecutive versions of each prompt name in a run: (v1, v2), (v2, v3)."""
    by_name: dict[str, list[str]] = {}
    for ref in sorted(set(prompts), key=_version_key):
        by_name.setdefault(ref.partition("@")[0], []).append(ref)
    return [(a, b) for refs in by_name.values() for a, b in itertools.pairwise(refs)]


def _versions(store: Store, run_id: str, prompts: Sequence[str]) -> list[ComparisonView]:
    from evalkit.compare.align import Sides
    from evalkit.compare.drift import compare_runs
    from evalkit.errors import InputError

    out = []
    for a, b in _version_pairs(prompts):
        try:
            data = collect.plain(compare_runs(store, run_id, run_id, sides=Sides(prompts=(a, b))))
        except InputError:
            continue
        data["matrix"] = {"sides": [a, b]}
        out.append(collect.read_comparison(data, kind="versions"))
    return out


def _flip_codes(comparisons: Sequence[ComparisonView]) -> dict[str, int]:
    codes: dict[str, int] = {}
    for comp in comparisons:
        for p in comp.pairings:
            for case in p.pass_to_fail:
                codes[case] = codes.get(case, 0) | 1
            for case in p.fail_to_pass:
                codes[case] = codes.get(case, 0) | 2
    return codes


def _resolved(ref: FlipRef, p: PairingView, base: RunRows, cand: RunRows) -> FlipRef:
    """A flip named by its case only (a comparison stored with the run) gets a result of
    each side: a passing one on the side that passed, a failing one on the other."""
    if ref.baseline_result and ref.candidate_result:
        return ref
    was_passing = ref.direction == "pass_to_fail"
    a = base.representative(ref.case_id, *_group(p.baseline_label), was_passing)
    b = cand.representative(ref.case_id, *_group(p.candidate_label), not was_passing)
    if a is None or b is None:
        return ref
    return FlipRef(ref.case_id, ref.direction, a[0], b[0], a[1], b[1], a[2])


def _group(label: str) -> tuple[str, str]:
    prompt, _, provider = label.partition(" · ")
    return prompt, provider


def _fill_flips(
    store: Store,
    comp: ComparisonView,
    rows: dict[str, RunRows],
    cases: dict[str, dict[str, Any]],
) -> None:
    sources: dict[str, dict[str, Any]] | None = None
    for p in comp.pairings:
        base, cand = rows.get(p.baseline_run), rows.get(p.candidate_run)
        if base is None or cand is None:
            continue
        labels = (f"{comp.sides[0]} · {p.baseline_label}", f"{comp.sides[1]} · {p.candidate_label}")
        shown = [
            ref
            for direction in ("pass_to_fail", "fail_to_pass")
            for ref in [r for r in p.refs if r.direction == direction][:FLIPS_SHOWN]
        ]
        shown = [_resolved(ref, p, base, cand) for ref in shown]
        details = queries.score_details(
            store, [r for ref in shown for r in (ref.baseline_result, ref.candidate_result)]
        )
        for ref in shown:
            view = flip_view(ref, base, cand, cases.get(ref.case_id), labels, details)
            if view is not None:
                p.flips.append(view)
        if p.baseline_prompt_hash and p.baseline_prompt_hash != p.candidate_prompt_hash:
            if sources is None:
                hashes = [
                    h
                    for q in comp.pairings
                    for h in (q.baseline_prompt_hash, q.candidate_prompt_hash)
                    if h and "," not in h
                ]
                sources = queries.prompt_sources(store, hashes)
            a = sources.get(p.baseline_prompt_hash or "") or {}
            b = sources.get(p.candidate_prompt_hash or "") or {}
            if a.get("source") is not None or b.get("source") is not None:
                p.prompt_diff = prompt_diff(a.get("source"), b.get("source"))
        changed = params_diff(p.baseline_params, p.candidate_params)
        if changed:
            p.params_diff = changed


def _headline(suite: SuiteView) -> str:
    comp = suite.comparison
    if comp is None:
        versions = "; ".join(f"{v.title}: {v.word}" for v in suite.versions)
        text = "Not compared with a baseline (run with --baseline NAME for a verdict)."
        return f"{text} Prompt versions in this run: {versions}." if versions else text
    p2f = sum(len(p.pass_to_fail) for p in comp.pairings)
    f2p = sum(len(p.fail_to_pass) for p in comp.pairings)
    moved = [
        f"{m.name} {m.word} ({p.label})"
        for p in comp.pairings
        for m in p.metrics
        if m.word in ("regressed", "improved")
    ]
    flips = f"{p2f} case{'s' if p2f != 1 else ''} pass → fail, {f2p} fail → pass"
    if moved:
        return f"{'; '.join(moved)}. {flips}."
    rates = [p.metrics[0] for p in comp.pairings if p.metrics]
    if rates and all(m.quiet for m in rates):
        cases = max(p.cases for p in comp.pairings)
        return (
            f"No case changed its verdict; with {cases} cases that is inconclusive, not proof "
            f"of no change (this suite detects changes of {rates[0].detectable} or more)."
        )
    busiest = max(
        (p for p in comp.pairings if p.metrics),
        key=lambda p: len(p.pass_to_fail) + len(p.fail_to_pass),
        default=None,
    )
    if busiest is not None and busiest.metrics[0].word == "inconclusive":
        return f"Pass rate {busiest.metrics[0].cell} ({busiest.label}). {flips}."
    return f"{flips}."


def _column(run: str, label: str) -> tuple[str, str, str]:
    return (run, *_group(label))


def _suite(
    store: Store, entry: collect.Entry, history_runs: int
) -> tuple[SuiteView, dict[str, Any]]:
    from evalkit.store.runs import get_run

    run_id = entry.run_id
    run = get_run(store, run_id)
    suite = collect.read_suite(entry, run)
    comp = collect.read_comparison(entry.comparison) if entry.comparison else None
    suite.comparison = comp
    if not (comp and comp.kind == "sides"):
        suite.versions = _versions(store, run_id, [g.prompt for g in suite.groups])
    comparisons = ([comp] if comp else []) + suite.versions
    # The runs on each side: the baseline's first, then this run (and any other candidate).
    baseline_runs = [p.baseline_run for p in comp.pairings] if comp else []
    candidate_runs = [p.candidate_run for p in comp.pairings] if comp else []
    order = list(dict.fromkeys([*baseline_runs, *candidate_runs, run_id]))
    order = [r for r in order if r and r != run_id] + [run_id]
    rows = {r: load_rows(store, r) for r in order}
    case_rows = queries.run_cases(store, suite.suite, list(rows))
    cases = {str(c["id"]): c for c in case_rows}
    for c in comparisons:
        _fill_flips(store, c, rows, cases)
    sides: list[tuple[str, str, RunRows]] = []
    for r in order:
        if r == run_id:
            compared = len(order) > 1 and comp and comp.kind == "baseline"
            label = "this run" if compared else f"run {r}"
            sides.append(("run", label, rows[r]))
        elif r in baseline_runs and r not in candidate_runs and comp and comp.kind == "baseline":
            sides.append(("baseline", comp.sides[0], rows[r]))
        else:
            sides.append(("run", f"run {r}", rows[r]))
    pairs = [
        (_column(p.baseline_run, p.baseline_label), _column(p.candidate_run, p.candidate_label))
        for c in comparisons
        for p in c.pairings
    ]
    flips = _flip_codes([comp] if comp else suite.versions)
    matrix = build_matrix(case_rows, sides, flips=flips, pairs=pairs)
    suite.matrix = matrix
    base_id = next((r for r in baseline_runs if r != run_id), None)
    suite.history = build_history(
        store, suite.suite, run_id, compared_with=base_id, limit=history_runs
    )
    if comp is not None:
        suite.word, suite.colour = comp.word, comp.colour
    suite.headline = _headline(suite)
    return suite, {"suite": suite.suite, "run": run_id, **matrix.data}


def build_page(
    store: Store,
    entries: Sequence[collect.Entry],
    *,
    exit_code: int | None = None,
    exit_reasons: Sequence[str] = (),
    history_runs: int = DEFAULT_RUNS,
    title: str | None = None,
) -> tuple[Page, dict[str, Any]]:
    """The page of the given suite runs, and its embedded data."""
    from evalkit.report.format import exit_meaning

    suites: list[SuiteView] = []
    data: dict[str, Any] = {"version": 1, "suites": []}
    notes: list[str] = []
    for entry in entries:
        if not entry.run_id:
            notes.append(f"{entry.suite}: not run" + (f" ({entry.error})" if entry.error else ""))
            continue
        suite, embedded = _suite(store, entry, history_runs)
        suites.append(suite)
        data["suites"].append(embedded)
    words = [s.word for s in suites]
    word = collect.overall_word(words)
    if word == "not comparable" and any(w == "not compared" for w in words):
        word = "not compared"
    code = exit_code if exit_code is not None else max((s.exit_code for s in suites), default=0)
    reasons = list(exit_reasons)
    compared = [s for s in suites if s.comparison is not None]
    if len(suites) == 1:
        headline = suites[0].headline
    elif not compared:
        headline = "No suite was compared with a baseline: the page shows what each run measured."
    else:
        by_word: dict[str, list[str]] = {}
        for s in compared:
            by_word.setdefault(s.word, []).append(s.suite)
        headline = (
            f"{len(compared)} of {len(suites)} suites compared: "
            + "; ".join(f"{', '.join(names)} {w}" for w, names in by_word.items())
            + "."
        )
    for s in suites:
        if s.comparison is None and s.exit_code in (0, 1) and len(suites) > 1:
            notes.append(f"{s.suite}: not compared with a baseline")
        if s.comparison is not None:
            notes += [f"{s.suite}: {n}" for n in s.comparison.unpaired]
    page = Page(
        title=title or "evalkit · " + ", ".join(f"{s.suite}" for s in suites),
        version=__version__,
        word=word,
        colour=COLOURS.get(word, "grey"),
        exit_code=code,
        exit_words=exit_meaning(code, reasons if code == 1 else []),
        headline=headline,
        suites=suites,
        notes=notes,
    )
    return page, data
