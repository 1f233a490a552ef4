"""A store with what a report shows: a baseline run and a candidate of one suite (support@v1
→ support@v2 on one provider), cases with vars, references and tags, a boolean scorer, a
continuous scorer and a judge with rationales, flips both ways, a failed call, hostile text
in every place text can come from, earlier runs for the history, and a named baseline.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from evalkit.records import Case, PromptVersion, Result, Score
from evalkit.report.collect import run_summary
from evalkit.store import runs as store_runs
from evalkit.store.db import Store

T0 = datetime(2026, 1, 1, 9, 0)
SUITE = "support"
#: Payloads that must stay inert wherever they appear (outputs, ids, vars, references).
HOSTILE = [
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 1">',
    '<a href="javascript:window.__pwned = 1">click</a>',
    "</script><script>window.__pwned = 1</script><!--",
    '\u2028 line separator & <b>bold</b> \'quotes\' "double" <img src="http://127.0.0.1:9/x.png">',
]
HOSTILE_CASE = 'evil-"><svg onload=window.__pwned=1>'

SOURCES = {
    "v1": 'description: first version\nmessages:\n  - {role: user, content: "Answer: '
    '{{ question }}"}\nparams: {temperature: 0, max_tokens: 64}\n',
    "v2": "description: terse version\nparent: v1\nmessages:\n  - {role: system, content: "
    '"Be brief."}\n  - {role: user, content: "Answer: {{ question }}"}\n'
    "params: {temperature: 0, max_tokens: 32}\n",
}
PARAMS = {"v1": {"temperature": 0, "max_tokens": 64}, "v2": {"temperature": 0, "max_tokens": 32}}


def _cases(n: int) -> list[Case]:
    out = []
    width = len(str(n - 1))
    for i in range(n):
        cid = HOSTILE_CASE if i == 12 else f"refund-{i:0{width}d}"
        question = f"How long is the refund window for order {i}?"
        if i == 3:
            question = HOSTILE[0]
        out.append(
            Case(
                id=cid,
                hash=f"h{i}",
                vars={"question": question, "order": i},
                reference=HOSTILE[1] if i == 5 else f"The refund window is 30 days for order {i}.",
                tags=("billing",)
                if i % 3 == 0
                else ("shipping", "<i>tag</i>")
                if i == 4
                else ("shipping",),
            )
        )
    return out


def _prompt(version: str) -> PromptVersion:
    return PromptVersion(
        name="support",
        version=version,
        number=int(version[1:]),
        path=Path(f"prompts/support/{version}.yaml"),
        source=SOURCES[version],
        messages=(),
        params=PARAMS[version],
        hash=f"hash-{version}",
    )


def _output(i: int, version: str, good: bool) -> str:
    if i in (1, 2):
        return HOSTILE[i + 1] + (" 30 days" if good else " 14 days")
    if i == 6:
        return HOSTILE[3] if version == "v2" else "The refund window is 30 days."
    days = "30" if good else "14"
    return f"The refund window is {days} days for order {i}."


def build(root: Path, *, cases: int = 24, history: int = 3) -> Path:
    """Write the store under ``root/.evalkit/evalkit.duckdb``; returns its path.

    Runs: ``h0``..``h{history-1}`` (older, v1), ``base`` (v1, named ``main``) and ``cand``
    (v2): cases 1, 2, 6, 9, 12 go pass → fail (6 as a failed call), 10 and 11 fail → pass.
    """
    path = root / ".evalkit" / "evalkit.duckdb"
    all_cases = _cases(cases)
    with Store(path) as store:
        store_runs.record_prompts(store, [_prompt("v1"), _prompt("v2")])
        store_runs.record_cases(store, SUITE, all_cases)
        runs = [(f"h{k}", "v1", k) for k in range(history)]
        runs += [("base", "v1", history), ("cand", "v2", history + 1)]
        for run_id, version, minutes in runs:
            _write_run(store, run_id, version, minutes, all_cases)
        store.execute("INSERT INTO baselines VALUES ('main', 'base', ?, ?)", [SUITE, T0])
    return path


def build_versions(root: Path, *, cases: int = 24) -> Path:
    """A store with one run (``both``) of support@v1 and support@v2 side by side, no
    baseline: the report compares the two versions within the run."""
    path = root / ".evalkit" / "evalkit.duckdb"
    all_cases = _cases(cases)
    with Store(path) as store:
        store_runs.record_prompts(store, [_prompt("v1"), _prompt("v2")])
        store_runs.record_cases(store, SUITE, all_cases)
        _write_run(store, "both", ("v1", "v2"), 0, all_cases)
    return path


def _passes(changed: bool, i: int) -> bool:
    if changed:
        return i not in (1, 2, 6, 9, 12) and i % 8 != 7
    return i not in (10, 11) and i % 8 != 7


def _write_run(
    store: Store, run_id: str, versions: str | tuple[str, ...], minutes: int, cases: list[Case]
) -> None:
    if isinstance(versions, str):
        versions = (versions,)
    started = T0 + timedelta(minutes=minutes)
    store_runs.insert_run(
        store,
        {
            "id": run_id,
            "suite": SUITE,
            "started_at": started,
            "git_commit": f"{minutes:02d}abcdef0123",
            "options": {"scorers": ["mentions", "closeness", "judge"]},
        },
    )
    results, scores = [], []
    for version, i, case in [(v, i, c) for v in versions for i, c in enumerate(cases)]:
        changed = version == "v2" and run_id in ("cand", "both")
        good = _passes(changed, i)
        failed_call = changed and i == 6
        rid = f"{run_id}/{version}/{case.id}"
        messages = [{"role": "user", "content": f"Answer: {case.vars['question']}"}]
        if version == "v2":
            messages.insert(0, {"role": "system", "content": "Be brief."})
        result = Result(
            id=rid,
            run_id=run_id,
            suite=SUITE,
            case_id=case.id,
            case_hash=case.hash,
            prompt=f"support@{version}",
            prompt_name="support",
            prompt_version=version,
            prompt_hash=f"hash-{version}",
            provider="gpt",
            provider_type="openai",
            model="gpt-test",
            params=PARAMS[version],
            repeat=0,
            input=messages,
            output=None if failed_call else _output(i, version, good),
            error="read timed out after 30 s" if failed_call else None,
            error_class="timeout" if failed_call else None,
            latency_ms=300.0 + 10 * i + (40 if version == "v2" else 0),
            input_tokens=40 + i,
            output_tokens=12,
            cost_usd=0.0001 * (i + 1),
            passed=False if failed_call else good,
        )
        results.append(result)
        if failed_call:
            continue
        signature = {"scorer": "contains", "version": "1", "options": {}, "libs": {}}
        scores.append(
            Score(
                rid,
                run_id,
                "mentions",
                "contains",
                "sig-mentions",
                signature,
                1.0 if good else 0.0,
                good,
                None,
                None if good else "'30 days' not found in the output",
            )
        )
        closeness = 0.9 - 0.001 * i if good else 0.4
        sig2 = {"scorer": "similarity", "version": "1", "options": {}, "libs": {}}
        scores.append(
            Score(
                rid,
                run_id,
                "closeness",
                "similarity",
                "sig-close",
                sig2,
                closeness,
                None,
                None,
                None,
            )
        )
        verdict: dict[str, Any] = {
            "verdict": "valid",
            "score": 5 if good else 2,
            "rationale": ("States the 30-day window." if good else "Gives 14 days; policy says 30.")
            + (" " + HOSTILE[0] if i == 2 else ""),
            "raw": "{}",
            "judge": "gemma",
        }
        sig3 = {"scorer": "judge", "version": "1", "options": {}, "libs": {}}
        scores.append(
            Score(
                rid,
                run_id,
                "judge",
                "judge",
                "sig-judge",
                sig3,
                1.0 if good else 0.25,
                None,
                None,
                json.dumps(verdict),
            )
        )
    store.write_batch(results, scores)
    summary = run_summary(store, {"id": run_id})
    gates = [
        {
            "gate": "pass_rate",
            "kind": "min",
            "scope": g["prompt"] + " · " + g["provider"],
            "limit": 0.5,
            "actual": g["pass_rate"],
            "passed": (g["pass_rate"] or 0) >= 0.5,
        }
        for g in summary["groups"]
    ]
    store_runs.finish_run(
        store, run_id, status="completed", exit_code=0, summary={"summary": summary, "gates": gates}
    )
