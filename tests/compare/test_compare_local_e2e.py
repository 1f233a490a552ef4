"""End to end on the real local model (Gemma 3 270M on llama-server, started by evalkit):
two prompt versions run and compared case by case, then a rerun compared with its baseline."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app

pytestmark = pytest.mark.server

# Small on purpose (18 calls in all): the model runs on the test machine's CPU.
CAPITALS = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Egypt": "Cairo",
    "Peru": "Lima",
    "Canada": "Ottawa",
    "Australia": "Canberra",
}


def _put(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def project(in_tmp: Path, local_model: Path) -> Path:
    _put(in_tmp, "evalkit.yaml", "providers:\n  gemma: {type: local}\n")
    _put(
        in_tmp,
        "prompts/capitals/v1.yaml",
        """
        description: zero-shot
        messages:
          - role: user
            content: "Answer with the city only.\\nQ: What is the capital of {{ country }}?\\nA:"
        params: {temperature: 0, max_tokens: 8, stop: ["\\n"]}
    """,
    )
    _put(
        in_tmp,
        "prompts/capitals/v2.yaml",
        """
        description: few-shot
        parent: v1
        messages:
          - {role: user, content: "Q: What is the capital of Switzerland?"}
          - {role: assistant, content: "A: Bern"}
          - {role: user, content: "Q: What is the capital of Nigeria?"}
          - {role: assistant, content: "A: Abuja"}
          - {role: user, content: "Q: What is the capital of {{ country }}?\\nA:"}
        params: {temperature: 0, max_tokens: 8, stop: ["\\n"]}
    """,
    )
    cases = "".join(
        json.dumps({"id": c.lower(), "vars": {"country": c, "capital": cap}}) + "\n"
        for c, cap in CAPITALS.items()
    )
    _put(in_tmp, "suites/capitals.jsonl", cases)
    _put(
        in_tmp,
        "suites/capitals.yaml",
        """
        name: capitals
        prompt: capitals@v2
        providers: [gemma]
        cases: capitals.jsonl
        scorers:
          - {type: contains, value: "{{ capital }}", ignore_case: true}
    """,
    )
    return in_tmp


def _passed(prompt: str) -> dict[str, bool]:
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT case_id, passed FROM results WHERE prompt = ? ORDER BY created_at", [prompt]
        ).fetchall()
    return dict(rows)


def test_two_prompt_versions_on_the_local_model_compared_case_by_case(project):
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "compare",
            "--prompt",
            "capitals@v1",
            "--prompt",
            "capitals@v2",
            "capitals",
            "--json",
            "--summary",
            "pr.md",
            "--report",
            "r.html",
        ],
    )
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.stdout)
    assert data["matrix"]["rows"] == ["gemma"] and len(data["ran"]) == 1
    (pairing,) = data["pairings"]
    assert pairing["label"] == "capitals@v1 → capitals@v2 · gemma"
    assert pairing["baseline"]["model"] == "gemma-3-270m-q4_k_m"
    assert pairing["cases"]["compared"] == len(CAPITALS)
    # the flips are exactly the cases whose stored verdicts differ
    v1, v2 = _passed("capitals@v1"), _passed("capitals@v2")
    lost = sorted(c for c in v1 if v1[c] and not v2[c])
    gained = sorted(c for c in v1 if not v1[c] and v2[c])
    assert [f["case_id"] for f in pairing["flips"]["pass_to_fail"]] == lost
    assert [f["case_id"] for f in pairing["flips"]["fail_to_pass"]] == gained
    pass_rate = pairing["metrics"][0]
    assert pass_rate["estimate"] == pytest.approx(
        (sum(v2.values()) - sum(v1.values())) / len(CAPITALS)
    )
    assert Path("pr.md").read_text().startswith("## evalkit compare · capitals")
    assert "capitals@v2" in Path("r.html").read_text()

    # A rerun of v2 against the stored one: greedy decoding, the same answers.
    result = runner.invoke(app, ["run", "--baseline", "last", "--json"])
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.stdout)["runs"][0]["comparison"]
    # nothing flipped, but a suite this small cannot show equivalence within ±2 points
    assert comparison["verdict"] == "inconclusive"
    assert comparison["counts"]["pass_to_fail"] == comparison["counts"]["fail_to_pass"] == 0
    assert comparison["pairings"][0]["label"] == "capitals@v2 · gemma"
