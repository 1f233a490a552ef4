"""How big and how fast is the HTML report of a large comparison?

Builds a store with two runs of one suite — N cases (default 10,000) × 1 prompt version × 1
provider each, a baseline and a candidate whose answers differ on ~8% of the cases — with
few-shot rendered inputs, outputs of 20–120 words, a reference, and three scorers (contains,
a BLEU-like score with a threshold, an LLM judge whose detail holds a rationale and the raw
reply). Then, alternating rounds (medians of ``--rounds``, at least 3):

- **write**: the page of ``evalkit run --baseline main --report`` (from the run's data, the
  comparison already made by the run) and of ``evalkit report cand`` (the stored run and the
  verdict it recorded), against a floor measured in the same round: reading both runs'
  results and scores from the store and writing them as JSON (what any report of this data
  must at least do); once, ``evalkit report cand --baseline main``, which also computes the
  comparison's statistics again;
- **size** of the file, against the 15 MB target;
- **open** in headless Chromium (Debian's chromium via Playwright): navigation start to the
  matrix's first rows (the page marks ``evalkit-ready``), against a floor page holding the
  same embedded JSON that only parses it;
- **filter**: search (the first one builds the search index), only failing, only flipped,
  a tag, sort by a score — each from the event to the rows drawn, in the page.

Targets (the issue's): write ≤ 5 s, ≤ 15 MB, open ≤ 3 s, each filter ≤ 200 ms. Prints the
figures and the ratios; exits 1 when a target is missed.

    python bench/report.py [--cases 10000] [--rounds 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evalkit import api
from evalkit.compare.service import judge_runs
from evalkit.config import Project
from evalkit.records import Case, PromptVersion, Result, Score
from evalkit.report.collect import run_summary
from evalkit.run.session import RunOutcome
from evalkit.store import runs as store_runs
from evalkit.store.db import Store

TARGETS = {"write_s": 5.0, "size_mb": 15.0, "open_s": 3.0, "filter_ms": 200.0}
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_TEXT = (
    "the refund window is thirty days for orders shipped within the country and customers "
    "may return items unused in their original packaging with a receipt while gift cards "
    "cannot be refunded but store credit is offered after inspection of the returned goods"
)
_WORDS = _TEXT.split(" ")
_PREFIX = (
    "You are a support assistant. Answer from the policy below, briefly.\n"
    "Policy: refunds within 30 days of delivery; items unused, in original packaging; "
    "receipt required; gift cards are not refundable; store credit after inspection.\n"
    "Q: Can I return a gift card?\nA: No, gift cards cannot be refunded.\n"
    "Q: How long do I have to return shoes?\nA: Thirty days from delivery.\n"
    "Q: Do I need the receipt?\nA: Yes, a receipt is required.\n"
)


def _text(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(lo, hi))).capitalize() + "."


def build_store(root: Path, n: int, seed: int = 11) -> None:
    """Two runs (``base``, named ``main``, and ``cand``) of suite ``bench`` with n cases."""
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        question = f"Order {i}: " + _text(rng, 6, 14)
        cases.append(
            Case(
                id=f"case-{i:05d}",
                hash=f"h{i}",
                vars={"question": question, "order": i},
                reference=_text(rng, 8, 16),
                tags=(rng.choice(["billing", "shipping", "returns", "gifts"]),),
            )
        )
    prompt = PromptVersion(
        "support", "v1", 1, Path("prompts/support/v1.yaml"), "messages: []\n", (), {}, hash="ph1"
    )
    outputs = {c.id: _text(rng, 20, 120) for c in cases}
    with Store(root / ".evalkit" / "evalkit.duckdb") as store:
        store_runs.record_prompts(store, [prompt])
        store_runs.record_cases(store, "bench", cases)
        for k, run_id in enumerate(("base", "cand")):
            store_runs.insert_run(
                store,
                {
                    "id": run_id,
                    "suite": "bench",
                    "started_at": datetime(2026, 1, 1) + timedelta(minutes=k),
                    "options": {"scorers": ["contains", "bleu", "judge"]},
                },
            )
            results, scores = [], []
            for i, case in enumerate(cases):
                out = outputs[case.id]
                if run_id == "cand" and rng.random() < 0.08:
                    out = _text(rng, 20, 120)
                passed = "refund" in out or i % 5 != 0
                rid = f"{run_id}/{case.id}"
                results.append(
                    Result(
                        rid,
                        run_id,
                        "bench",
                        case.id,
                        case.hash,
                        "support@v1",
                        "support",
                        "v1",
                        "ph1",
                        "gpt",
                        "openai",
                        "gpt-test",
                        {"temperature": 0},
                        0,
                        _PREFIX + f"Q: {case.vars['question']}\nA:",
                        out,
                        latency_ms=200 + rng.random() * 600,
                        input_tokens=180,
                        output_tokens=len(out) // 4,
                        cost_usd=0.0002,
                        passed=passed,
                    )
                )
                sig = {"scorer": "x", "version": "1"}
                scores.append(
                    Score(
                        rid,
                        run_id,
                        "contains",
                        "contains",
                        "s1",
                        sig,
                        float(passed),
                        passed,
                        None,
                        None if passed else "'refund' not found",
                    )
                )
                bleu = rng.uniform(5, 60)
                scores.append(
                    Score(rid, run_id, "bleu", "bleu", "s2", sig, bleu, bleu >= 20, 20.0, None)
                )
                detail = {
                    "verdict": "valid",
                    "score": rng.randint(1, 5),
                    "rationale": _text(rng, 8, 20),
                    "raw": '{"score": 3, "rationale": "' + _text(rng, 8, 20) + '"}',
                    "judge": "gemma",
                }
                scores.append(
                    Score(
                        rid,
                        run_id,
                        "judge",
                        "judge",
                        "s3",
                        sig,
                        rng.random(),
                        None,
                        None,
                        json.dumps(detail),
                    )
                )
            store.write_batch(results, scores)
            summary = run_summary(store, {"id": run_id})
            store_runs.finish_run(
                store,
                run_id,
                status="completed",
                exit_code=0,
                summary={"summary": summary, "gates": []},
            )
        store.execute("INSERT INTO baselines VALUES ('main', 'base', 'bench', now())")
        # what `evalkit run --baseline main` does once the run is done: compare, record
        outcome = RunOutcome(
            run_id="cand",
            suite="bench",
            status="completed",
            summary=summary,
            gates=[],
            exit_code=0,
            planned=n,
        )
        judge_runs(store, [outcome], "main", "regression")
    data = {"schema": "evalkit.run/1", "exit_code": 0, "runs": [outcome.as_json()]}
    (root / "run.json").write_text(json.dumps(data, default=str), encoding="utf-8")


def floor_write(root: Path, out: Path) -> None:
    """Read both runs' results and scores and write them as JSON."""
    with Store(root / ".evalkit" / "evalkit.duckdb", read_only=True) as store:
        rows = {
            run: (
                store.fetchall("SELECT * FROM results WHERE run_id = ?", [run]),
                store.fetchall("SELECT * FROM scores WHERE run_id = ?", [run]),
            )
            for run in ("base", "cand")
        }
    out.write_text(json.dumps(rows, default=str), encoding="utf-8")


def run_report(root: Path, out: Path) -> None:
    """``evalkit run --baseline main --report``: the page from the run's data."""
    data = json.loads((root / "run.json").read_text(encoding="utf-8"))
    api.write_reports(data, report=out, project=Project.discover(root))


def report_command(root: Path, out: Path) -> None:
    """``evalkit report cand``: the page of a stored run and the verdict it recorded."""
    api.render_report("cand", output=out, project=Project.discover(root))


def report_recompared(root: Path, out: Path) -> None:
    """``evalkit report cand --baseline main``: the comparison computed again."""
    api.render_report("cand", baseline="main", output=out, project=Project.discover(root))


def _timed(fn: Any, *args: Any) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


FILTERS = {
    "search (first, builds the index)": "s=document.getElementById('search');"
    "s.value='refund'; s.dispatchEvent(new Event('input'));",
    "search again": "s=document.getElementById('search');"
    "s.value='thirty days'; s.dispatchEvent(new Event('input'));",
    "only failing": "s=document.getElementById('search'); s.value='';"
    "s.dispatchEvent(new Event('input')); c=document.getElementById('only-failing');"
    "c.checked=true; c.dispatchEvent(new Event('change'));",
    "only flipped": "c=document.getElementById('only-flipped');"
    "c.checked=true; c.dispatchEvent(new Event('change'));",
    "tag": "document.getElementById('only-failing').click();"
    "document.getElementById('only-flipped').click();"
    "g=document.getElementById('tag-filter'); g.value='gifts';"
    "g.dispatchEvent(new Event('change'));",
    "sort by a score": "o=document.getElementById('sort'); o.value='v:bleu:1';"
    "o.dispatchEvent(new Event('change'));",
}


def browser_round(page: Any, report: Path, floor: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    page.goto(floor.as_uri())
    page.wait_for_function("document.title === 'parsed'")
    out["floor_open_ms"] = page.evaluate("performance.getEntriesByName('parsed')[0].startTime")
    page.goto(report.as_uri())
    page.wait_for_selector("#cases tr.case")
    out["open_ms"] = page.evaluate("performance.getEntriesByName('evalkit-ready')[0].startTime")
    for name, js in FILTERS.items():
        out[name] = page.evaluate(
            "() => { const t0 = performance.now(); let s, c, g, o;"
            + js
            + " document.body.offsetHeight; return performance.now() - t0; }"
        )
    return out


def floor_page(report: Path, floor: Path) -> None:
    html = report.read_text(encoding="utf-8")
    start = html.index('<script type="application/json" id="report-data">')
    end = html.index("</script>", start) + len("</script>")
    floor.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>floor</title></head><body>"
        + html[start:end]
        + "<script>JSON.parse(document.getElementById('report-data').textContent);"
        "performance.mark('parsed'); document.title = 'parsed';</script></body></html>",
        encoding="utf-8",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = parser.parse_args()
    rounds = max(3, args.rounds)
    tmp = None
    if args.keep:
        root = args.keep
        root.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name)
    print(f"building a store: {args.cases:,} cases × 2 runs …", flush=True)
    build_store(root, args.cases)
    report, dump, floor = root / "report.html", root / "floor.json", root / "floor.html"
    other = root / "command.html"
    run_report(root, report)  # warm: imports, templates
    writes: list[float] = []
    commands: list[float] = []
    floors: list[float] = []
    for _ in range(rounds):
        floors.append(_timed(floor_write, root, dump))
        writes.append(_timed(run_report, root, report))
        commands.append(_timed(report_command, root, other))
    recompared = _timed(report_recompared, root, other)
    size_mb = report.stat().st_size / 1e6
    floor_page(report, floor)

    from playwright.sync_api import sync_playwright

    measured: dict[str, list[float]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for _ in range(rounds):
            for key, value in browser_round(page, report, floor).items():
                measured.setdefault(key, []).append(value)
        browser.close()
    med = {k: statistics.median(v) for k, v in measured.items()}
    write_s, floor_s = statistics.median(writes), statistics.median(floors)
    command_s = statistics.median(commands)
    print(f"\n{args.cases:,} cases × 2 runs, medians of {rounds} alternated rounds")
    print(
        f"write   {write_s:6.2f} s   run --report (floor: read + dump JSON {floor_s:.2f} s, "
        f"ratio ×{write_s / floor_s:.2f})   target ≤ {TARGETS['write_s']:g} s"
    )
    print(
        f"write   {command_s:6.2f} s   evalkit report RUN (ratio ×{command_s / floor_s:.2f})   "
        f"target ≤ {TARGETS['write_s']:g} s"
    )
    print(
        f"        {recompared:6.2f} s   evalkit report RUN --baseline main, one round: "
        "computes the comparison again (its statistics), no target"
    )
    print(f"size    {size_mb:6.2f} MB                                   target ≤ 15 MB")
    print(
        f"open    {med['open_ms'] / 1000:6.2f} s   (floor: parse the same JSON "
        f"{med['floor_open_ms'] / 1000:.2f} s, ratio ×{med['open_ms'] / med['floor_open_ms']:.2f})"
        f"   target ≤ {TARGETS['open_s']:g} s"
    )
    worst = 0.0
    for name in FILTERS:
        worst = max(worst, med[name])
        print(
            f"filter  {med[name]:6.0f} ms  {name}  "
            f"({med[name] / TARGETS['filter_ms']:.2f} of the 200 ms budget)"
        )
    missed = [
        what
        for what, ok in (
            ("write", max(write_s, command_s) <= TARGETS["write_s"]),
            ("size", size_mb <= TARGETS["size_mb"]),
            ("open", med["open_ms"] / 1000 <= TARGETS["open_s"]),
            ("filter", worst <= TARGETS["filter_ms"]),
        )
        if not ok
    ]
    print("\nall targets met" if not missed else f"\nmissed: {', '.join(missed)}")
    if tmp is not None:
        tmp.cleanup()
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
