"""The fault storm, smaller: every case ends stored — answered, or with its error class — the
retries are reported by class, and the exit code follows the error budget.

The fake server answers 10% of requests with 429 + `Retry-After: 1`, 5% with 500, and lets
2% reset, 1% hang, 2% return malformed JSON and 2% empty content (`bench/faults.py` runs the
same storm at 2,000 cases against the controller it replaced). Default settings throughout,
except where a cell says otherwise; nothing here asserts on time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from fakeserver import FakeServer

STORM = {"429": 0.10, "500": 0.05, "reset": 0.02, "hang": 0.01, "malformed": 0.02, "empty": 0.02}
#: Fault sequences are seeded by arrival order: seed 1 puts the storm's first hang at the 61st
#: request, after the adaptive first-token deadline has learned the server (a hang among the
#: first ten would wait the cold 60 s), and seed 2 does the same with 3% of 400s added.
SEED = 1


def project(root: Path, base_url: str, cases: int, provider: str, extra: str = "") -> None:
    (root / "prompts/storm").mkdir(parents=True)
    (root / "suites").mkdir()
    (root / "evalkit.yaml").write_text(
        "providers:\n"
        f'  fake: {{type: openai, base_url: "{base_url}/v1", model: fake-model{extra}}}\n'
        f'  claude: {{type: anthropic, base_url: "{base_url}", model: fake-claude{extra}}}\n'
        f"defaults: {{provider: {provider}}}\n"
    )
    (root / "prompts/storm/v1.yaml").write_text(
        'messages: [{role: user, content: "Q: {{ q }}"}]\nparams: {max_tokens: 8}\n'
    )
    with (root / "suites/storm.jsonl").open("w") as out:
        for i in range(cases):
            out.write(json.dumps({"id": f"c{i}", "vars": {"q": f"question {i}?"}}) + "\n")
    (root / "suites/storm.yaml").write_text(
        "prompt: storm@v1\ncases: storm.jsonl\nscorers:\n  - {type: contains, value: Paris}\n"
    )


def rows(sql: str) -> list[tuple]:
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def stored_run() -> dict:
    ((summary,),) = rows("SELECT summary FROM runs")
    return json.loads(summary)["summary"]


def retries_line(output: str) -> dict[str, int]:
    """`retried N (class n, ...)` of the terminal summary, as a mapping."""
    found = re.search(r"retried (\d+) \(([^)]*)\)", output)
    assert found, output
    pairs = [p.rsplit(" ", 1) for p in found.group(2).split(", ")]
    by_class = {name: int(n) for name, n in pairs}
    assert sum(by_class.values()) == int(found.group(1))
    return by_class


@pytest.mark.parametrize(
    ("provider", "extra"),
    [
        ("fake", ""),  # OpenAI wire format, streaming
        ("claude", ""),  # Anthropic wire format, streaming
        ("fake", ", stream: false, timeout: 3"),  # without a stream only `timeout` bounds a call
    ],
    ids=["openai", "anthropic", "openai-no-stream"],
)
def test_the_storm_ends_with_every_case_stored(in_tmp, monkeypatch, provider, extra):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    cases = 200
    with FakeServer(seed=SEED, faults=STORM, default_answer="Paris") as server:
        project(in_tmp, server.base_url, cases, provider, extra)
        result = CliRunner().invoke(app, ["run"])
        faults = {r.fault for r in server.requests}
    assert {"429", "500", "reset", "hang", "malformed", "empty"} <= faults
    failed = rows("SELECT count(*) FROM results WHERE error_class IS NOT NULL")[0][0]
    assert result.exit_code == (3 if failed > 0.05 * cases else 0), result.output
    # every case ends stored, once: an answer, or the class of the error that ended it
    assert rows(
        "SELECT count(*), count(DISTINCT case_id), "
        "count(*) FILTER (WHERE (output IS NULL) = (error_class IS NULL)) FROM results"
    ) == [(cases, cases, 0)]
    # answers are scored; failures carry the attempts that were made
    assert rows(
        "SELECT count(*) FROM results r WHERE output IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM scores s WHERE s.result_id = r.id)"
    ) == [(0,)]
    # retries by class: in the run summary and on the terminal, the same numbers
    run = stored_run()["run"]
    by_class = run["retries_by_class"]
    expected = {"rate_limit", "server_error", "connection", "malformed"}
    if provider == "fake":  # Anthropic's empty content is an empty answer, not an error
        expected.add("empty")
    assert expected <= set(by_class)
    assert ("timeout" if "stream: false" in extra else "first_token_timeout") in by_class
    assert retries_line(result.output) == by_class
    assert rows("SELECT sum(attempts) - count(*) FROM results")[0][0] == sum(by_class.values())
    assert run["throttled_to"][provider] >= 2, "the floor: half of 4 calls in flight"


@pytest.mark.parametrize(("budget", "code"), [(0.5, 0), (0.01, 3)])
def test_the_exit_code_follows_the_error_budget(in_tmp, budget, code):
    """3% of requests are answered 400 (not retryable): under a 50% budget the run completes
    with those cases stored as failures; over a 1% budget it stops early, exit 3, and says
    why — what it stored is consistent either way."""
    cases = 120
    with FakeServer(seed=2, faults={**STORM, "400": 0.03}, default_answer="Paris") as server:
        project(in_tmp, server.base_url, cases, "fake")
        config = Path("evalkit.yaml")
        config.write_text(
            config.read_text().replace(
                "{provider: fake}", f"{{provider: fake, error_budget: {budget}}}"
            )
        )
        result = CliRunner().invoke(app, ["run", "--json"])
    assert result.exit_code == code, result.output
    (run,) = json.loads(result.stdout)["runs"]
    stored, failed, bad = rows(
        "SELECT count(*), count(error_class), count(*) FILTER (WHERE error_class = 'bad_request') "
        "FROM results"
    )[0]
    assert bad >= 2 and failed >= bad
    assert rows("SELECT count(*) = count(DISTINCT case_id) FROM results") == [(True,)]
    if code == 0:
        assert run["status"] == "completed" and stored == cases
        assert "bad_request" not in run["summary"]["run"]["retries_by_class"], "400: no retry"
    else:
        assert run["status"] == "incomplete" and stored < cases
        assert "over the error budget of 1%" in run["error"]
        assert rows("SELECT status, exit_code FROM runs") == [("incomplete", 3)]
