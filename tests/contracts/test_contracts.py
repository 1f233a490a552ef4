"""The contract models against real outputs: a run with repeats and gates, a run compared
with its baseline, a comparison of two prompt versions, a stored run read back — each
``--json`` output validates against its model and its committed JSON Schema, and the model
prints it back unchanged. Older stored comparisons still read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from evalkit.contracts import Comparison, Evaluation, StoredRun
from evalkit.contracts.schemas import SCHEMAS, render
from fakeserver import FakeServer
from projects import RULES, write_project

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _schema(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "docs/schemas" / f"{name}.schema.json").read_text())


def _json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code in (0, 1), result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _round_trip(model: Any, data: dict[str, Any], schema: str) -> None:
    jsonschema.validate(data, _schema(schema))
    parsed = model.model_validate(data)
    assert json.loads(json.dumps(parsed.as_json(), default=str)) == data


@pytest.fixture
def project(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    with FakeServer(rules=RULES, latency_ms=2) as server:
        write_project(in_tmp, server.base_url, gates="{pass_rate: 0.5, latency_p95_ms: 60000}")
        yield in_tmp


def test_the_committed_schemas_are_the_generated_ones():
    for name in SCHEMAS:
        path = ROOT / "docs/schemas" / f"{name}.schema.json"
        assert path.read_text(encoding="utf-8") == render(name), (
            f"{path} is out of date: run `python -m evalkit.contracts`"
        )


def test_real_outputs_round_trip_through_the_models(project):
    first = _json("run", "-n", "2")
    _round_trip(Evaluation, first, "evalkit.run.1")
    (run,) = first["runs"]
    groups = run["summary"]["groups"]
    assert {g["prompt"] for g in groups} == {"capitals@v1", "capitals@v2"}
    assert all(g["repeats"]["k"] == 2 and g["repeats"]["per_case"] for g in groups)
    assert {g["gate"] for g in run["gates"]} == {"pass_rate", "latency_p95_ms"}
    assert run["summary"]["run"]["cache_hits"] == 0

    assert runner.invoke(app, ["baseline", "set", "main", "last"]).exit_code == 0
    compared = _json("run", "--baseline", "main", "--no-cache")
    _round_trip(Evaluation, compared, "evalkit.run.1")
    comparison = compared["runs"][0]["comparison"]
    assert comparison["schema"] == "evalkit.compare/1"
    assert comparison["baseline"]["name"] == "main"
    verdicts = {m["verdict"] for p in comparison["pairings"] for m in p["metrics"]}
    assert verdicts and "unchanged" not in verdicts
    assert all(
        m["margin"] is not None for p in comparison["pairings"] for m in p["metrics"] if m["p"]
    )

    versions = _json("compare", "--prompt", "capitals@v1", "--prompt", "capitals@v2", "capitals")
    _round_trip(Comparison, versions, "evalkit.compare.1")
    assert versions["matrix"]["sides"] == ["capitals@v1", "capitals@v2"]
    flips = versions["pairings"][0]["flips"]["fail_to_pass"]
    assert {f["case_id"] for f in flips} == {"peru", "kenya"}
    assert flips[0]["candidate"]["output"]

    shown = _json("runs", "show", "last")
    _round_trip(StoredRun, shown, "evalkit.run.show.1")
    assert shown["schema"] == "evalkit.run.show/1"
    stored = shown["comparison"]
    assert stored["verdict"] == comparison["verdict"]
    assert stored["pairings"][0]["metrics"] == comparison["pairings"][0]["metrics"]


def test_a_dry_run_and_an_incomplete_run_fit_the_contract(project):
    dry = _json("run", "--dry-run")
    _round_trip(Evaluation, dry, "evalkit.run.1")
    (row,) = dry["runs"][0]["summary"]["dry_run"]
    assert row["planned"] == 16 and dry["dry_run"] is True


def test_an_older_stored_comparison_still_reads():
    """Stored before the verdict words were settled: `unchanged`, no equivalence counts,
    flips as case ids. Read back as inconclusive (no test shows nothing changed)."""
    legacy = {
        "schema": "evalkit.compare/1",
        "suite": "s",
        "verdict": "unchanged",
        "alpha": 0.05,
        "power": 0.8,
        "correction": "holm",
        "tests": 1,
        "baseline": {
            "runs": [
                {
                    "id": "r1",
                    "suite": "s",
                    "started_at": None,
                    "status": "completed",
                    "git_commit": None,
                    "git_dirty": None,
                }
            ],
            "ref": "main",
            "name": "main",
        },
        "candidate": {
            "runs": [
                {
                    "id": "r2",
                    "suite": "s",
                    "started_at": None,
                    "status": "completed",
                    "git_commit": None,
                    "git_dirty": None,
                }
            ]
        },
        "counts": {
            "regressed": 0,
            "improved": 0,
            "unchanged": 1,
            "not_comparable": 0,
            "pass_to_fail": 1,
            "fail_to_pass": 0,
            "budgets_worse": 0,
        },
        "pairings": [
            {
                "label": "p@v1 · x",
                "baseline": {
                    "run_id": "r1",
                    "prompt": "p@v1",
                    "provider": "x",
                    "model": "m",
                    "prompt_hash": "h",
                    "params": {},
                },
                "candidate": {
                    "run_id": "r2",
                    "prompt": "p@v1",
                    "provider": "x",
                    "model": "m",
                    "prompt_hash": "h",
                    "params": {},
                },
                "cases": {"compared": 3, "repeats": 1, "added": [], "removed": [], "changed": []},
                "metrics": [
                    {
                        "metric": "pass rate",
                        "kind": "pass_rate",
                        "scorer": None,
                        "threshold": None,
                        "higher_is_better": True,
                        "verdict": "unchanged",
                        "reason": None,
                        "note": None,
                        "same_as": None,
                        "baseline": 1.0,
                        "candidate": 0.67,
                        "estimate": -0.33,
                        "ci": [-0.7, 0.2],
                        "p": 1.0,
                        "p_adjusted": 1.0,
                        "test": "exact McNemar",
                        "cases": 3,
                        "pairs": 3,
                        "mde": None,
                        "discordant": None,
                    }
                ],
                "budgets": [
                    {
                        "metric": "latency p95",
                        "statistic": "p95",
                        "baseline": 100.0,
                        "candidate": 101.0,
                        "ratio": 1.01,
                        "ci": [0.9, 1.1],
                        "verdict": "unchanged",
                        "budget": None,
                        "tolerance": 1.2,
                        "worse": False,
                    }
                ],
                "mde": {"pass_rate": None, "alpha": 0.05, "power": 0.8, "cases": 3},
                "notes": [],
                "flips": {"pass_to_fail": ["c1"], "fail_to_pass": []},
            }
        ],
        "unpaired": {"baseline": [], "candidate": []},
    }
    comparison = Comparison.model_validate(legacy)
    assert comparison.verdict == "inconclusive"
    (pairing,) = comparison.pairings
    assert pairing.metrics[0].verdict == "inconclusive"
    assert pairing.budgets[0].verdict == "inconclusive"
    assert pairing.flips.pass_to_fail[0].case_id == "c1"
    assert pairing.flips.pass_to_fail[0].baseline is None
    assert comparison.compact()["pairings"][0]["flips"] == {
        "pass_to_fail": ["c1"],
        "fail_to_pass": [],
    }
