"""The call service: every model call (run, judge, pairwise, fallback member) takes one path,
and the requests that reach a server are exactly those the policy allows."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from evalkit.cli.main import app
from evalkit.config import Project
from evalkit.providers.base import Request
from evalkit.providers.pool import ProviderPool
from evalkit.records import Message
from evalkit.run.calls import CallEvent, CallService, RetryPolicy
from fakeserver import FakeServer
from projects import RULES, write_project

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.02, max_retry_after=0.02)
VERDICT = '{"score": 4, "rationale": "names the capital"}'


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def rows(sql: str) -> list[tuple]:
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def add_providers(text: str) -> None:
    config = Path("evalkit.yaml")
    config.write_text(config.read_text().replace("defaults:", text + "defaults:"))


def one_call(root: Path, provider_id: str, service: CallService):
    async def go():
        async with ProviderPool(Project.discover(root)) as pool:
            provider = await pool.start(provider_id, 2)
            for member, _ in provider.chain() or ():
                await pool.start(member.id, 2)
            request = Request(
                [Message("user", "v2: France")], provider.effective_params({"max_tokens": 8})
            )
            return await service.call(provider, request)

    return asyncio.run(go())


def test_retries_are_counted_by_class_and_requests_by_provider(tmp_path):
    with FakeServer(rules=RULES, schedule=["429", "500"], retry_after=0.01) as server:
        write_project(tmp_path, server.base_url)
        service = CallService(retry=FAST)
        outcome = one_call(tmp_path, "fake", service)
        assert len(server.requests) == 3
    assert outcome.generation is not None and outcome.generation.text == "Paris"
    assert outcome.attempts == 3
    assert dict(service.tally.retries) == {"rate_limit": 1, "server_error": 1}
    assert dict(service.tally.requests) == {"fake": 3}


def test_a_chain_tries_each_member_with_its_own_attempts_and_is_not_retried(tmp_path):
    with (
        FakeServer(rules=RULES, faults={"503": 1.0}) as bad,
        FakeServer(rules=RULES, faults={"503": 1.0}) as worse,
    ):
        write_project(tmp_path, bad.base_url)
        config = tmp_path / "evalkit.yaml"
        config.write_text(
            config.read_text().replace(
                "defaults:",
                f'  worse: {{type: openai, base_url: "{worse.base_url}/v1", model: m2}}\n'
                "  two: {type: fallback, chain: [fake, worse]}\n"
                "  twice: {type: fallback, chain: [fake, worse], member_attempts: 2}\n"
                "defaults:",
            )
        )
        service = CallService(retry=FAST)
        outcome = one_call(tmp_path, "two", service)
        assert (len(bad.requests), len(worse.requests)) == (1, 1)
        bad.reset_log()
        worse.reset_log()
        outcome_twice = one_call(tmp_path, "twice", CallService(retry=FAST))
        assert (len(bad.requests), len(worse.requests)) == (2, 2)
    assert outcome.error is not None and outcome.attempts == 2
    assert "every provider of the chain failed (fake: server_error, worse: server_error)" in (
        outcome.error.message
    )
    assert outcome_twice.attempts == 4


def test_a_chain_in_a_run_makes_at_most_its_members_attempts(in_tmp):
    """8 cases through a 2-member chain whose first member always fails: 8 requests to each
    member — the runner does not retry the chain on top of its members."""
    with FakeServer(rules=RULES, faults={"503": 1.0}) as bad, FakeServer(rules=RULES) as good:
        write_project(in_tmp, good.base_url)
        add_providers(
            f'  bad: {{type: openai, base_url: "{bad.base_url}/v1", model: m}}\n'
            "  safe: {type: fallback, chain: [bad, fake]}\n"
        )
        result = invoke("run", "-p", "safe", "--prompt", "capitals@v2", "--json")
        assert result.exit_code == 0, result.output
        assert len(bad.requests) == 8 and len(good.requests) == 8
    run = json.loads(result.output)["runs"][0]["summary"]["run"]
    assert run["requests"] == {"bad": 8, "fake": 8}
    assert run["retries"] == 0
    assert rows("SELECT DISTINCT served_by, attempts FROM results") == [("fake", 2)]


def _judged_project(root: Path, base_url: str, extra: str = "") -> None:
    write_project(root, base_url, extra_config="")
    add_providers(
        f'  judge: {{type: openai, base_url: "{base_url}/v1", model: judge-model, '
        "mode: completion, stream: false}\n"
    )
    config = Path("evalkit.yaml")
    config.write_text(
        config.read_text()
        + "pricing:\n  fake-model: {input: 1000, output: 1000}\n"
        + "  judge-model: {input: 2000, output: 2000}\n"
        + extra
    )
    suite = Path("suites/capitals.yaml")
    suite.write_text(
        suite.read_text().replace(
            "  - {type: chrf}",
            "  - {type: judge, provider: judge, mode: reference, structured: none, threshold: 0.5}",
        )
    )


def test_judge_calls_count_in_the_run_spend_and_cache(in_tmp):
    with FakeServer(rules=[("Verdict", VERDICT), *RULES]) as server:
        _judged_project(in_tmp, server.base_url)
        first = invoke("run", "--prompt", "capitals@v2", "--json")
        assert first.exit_code == 0, first.output
        made = len(server.requests)
        server.reset_log()
        second = invoke("run", "--prompt", "capitals@v2", "--json")
        assert server.requests == []
    assert made == 16, "8 answers and 8 verdicts"
    run = json.loads(first.output)["runs"][0]["summary"]["run"]
    assert run["calls_by_purpose"] == {"run": 8, "judge": 8}
    assert run["requests"] == {"fake": 8, "judge": 8}
    spent = run["spent_by_purpose"]
    assert spent["run"] > 0 and spent["judge"] > 0
    assert abs(run["spent_usd"] - (spent["run"] + spent["judge"])) < 1e-12
    again = json.loads(second.output)["runs"][0]["summary"]["run"]
    assert again["calls_by_purpose"] == again["cache_hits_by_purpose"] == {"run": 8, "judge": 8}
    assert again["spent_usd"] == 0 and again["requests"] == {}


def test_max_cost_bounds_judge_calls_too(in_tmp):
    """The answers fit the budget; the verdicts would not: the judge calls are refused, the
    run ends incomplete (exit 3), and the refused verdicts are undecided, never fails."""
    with FakeServer(rules=[("Verdict", VERDICT), *RULES]) as server:
        _judged_project(in_tmp, server.base_url)
        result = invoke("run", "--prompt", "capitals@v2", "--max-cost", "0.35", "-j", "1")
        judge_requests = [r for r in server.requests if r.route == "completions"]
    assert result.exit_code == 3, result.output
    assert "--max-cost" in result.output
    refused = rows(
        "SELECT count(*) FROM scores WHERE scorer = 'judge' AND value IS NULL "
        "AND detail LIKE '%not made (max_cost)%'"
    )[0][0]
    assert refused >= 1
    assert (
        len(judge_requests) + refused
        == rows("SELECT count(*) FROM scores WHERE scorer = 'judge'")[0][0]
    )


def test_dry_run_prices_judge_calls_and_writes_nothing(in_tmp):
    with FakeServer(rules=[("Verdict", VERDICT), *RULES]) as server:
        _judged_project(in_tmp, server.base_url)
        result = invoke("run", "--prompt", "capitals@v2", "--dry-run", "--json")
        assert server.requests == []
    assert result.exit_code == 0, result.output
    rows_ = json.loads(result.output)["runs"][0]["summary"]["dry_run"]
    by = {(r["purpose"], r["provider"]): r for r in rows_}
    assert by[("run", "fake")]["to_call"] == 8
    judge = by[("judge", "judge")]
    assert judge["to_call"] == 8 and judge["estimate_usd"] > 0
    assert not Path(".evalkit/evalkit.duckdb").exists(), "a dry run creates no store"


def test_observers_see_every_call_once_with_its_attempts(tmp_path):
    seen: list[CallEvent] = []

    class Recorder:
        def on_call(self, event: CallEvent) -> None:
            seen.append(event)

    with FakeServer(rules=RULES, schedule=["500"]) as server:
        write_project(tmp_path, server.base_url)
        one_call(tmp_path, "fake", CallService(retry=FAST, observers=[Recorder()]))
    (event,) = seen
    assert event.purpose == "run" and event.provider == "fake" and event.model == "fake-model"
    assert [a.error_class for a in event.attempts] == ["server_error", None]
    assert event.outcome.generation is not None and event.ended >= event.started


def test_a_rerun_reuses_stored_scores(in_tmp):
    """A re-run answered by the response cache re-scores nothing a scorer already scored:
    chrF (a cacheable scorer) is reused, cheap checks are recomputed, values are equal."""
    with FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url)
        first = invoke("run", "--prompt", "capitals@v1", "--json")
        second = invoke("run", "--prompt", "capitals@v1", "--json")
        third = invoke("run", "--prompt", "capitals@v1", "--json", "--no-cache")
    for result in (first, second, third):
        assert result.exit_code == 0, result.output
    runs = [json.loads(r.output)["runs"][0] for r in (first, second, third)]
    assert [r["summary"]["run"]["scores_reused"] for r in runs] == [0, 8, 0]
    reused = rows(
        "SELECT r.run_id, s.scorer, count(*) FILTER (WHERE s.cache_hit) FROM scores s "
        "JOIN results r ON r.id = s.result_id GROUP BY ALL ORDER BY ALL"
    )
    second_id = runs[1]["run_id"]
    assert [(s, n) for run, s, n in reused if run == second_id] == [
        ("chrf", 8),
        ("equals", 0),
        ("has-capital", 0),
    ]
    values = rows(
        "SELECT r.case_id, s.value, s.run_id FROM scores s JOIN results r ON r.id = s.result_id"
        " WHERE s.scorer = 'chrf' ORDER BY r.case_id, s.run_id"
    )
    by_case: dict[str, set[float]] = {}
    for case_id, value, _ in values:
        by_case.setdefault(case_id, set()).add(value)
    assert all(len(v) == 1 for v in by_case.values())
    explained = invoke(
        "cache",
        "explain",
        rows(f"SELECT id FROM results WHERE run_id = '{second_id}' LIMIT 1")[0][0],
        "--json",
    )
    scores = {s["scorer"]: s for s in json.loads(explained.output)["scores"]}
    assert scores["chrf"]["status"] == "reused" and scores["chrf"]["now_cached"]
    assert scores["equals"]["cacheable"] is False


def test_weights_make_a_weighted_score_per_result(in_tmp):
    with FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url)
        suite = Path("suites/capitals.yaml")
        suite.write_text(
            suite.read_text()
            .replace("name: has-capital}", "name: has-capital, weight: 3}")
            .replace("  - {type: chrf}", "  - {type: chrf, threshold: 0}")
        )
        result = invoke("run", "--prompt", "capitals@v1")
    assert result.exit_code == 0, result.output
    scores = {c: (s, p) for c, s, p in rows("SELECT case_id, score, passed FROM results")}
    # france answers Paris: every scorer passes -> 5/5
    assert scores["france"] == (1.0, True)
    # peru answers Quito: has-capital (weight 3) and equals (1) fail, chrf >= 0 passes (1)
    assert scores["peru"] == (0.2, False)


def test_the_weighted_score_is_summarised_and_gated(in_tmp):
    with FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url, gates="{score: 0.9}")
        suite = Path("suites/capitals.yaml")
        suite.write_text(
            suite.read_text().replace("name: has-capital}", "name: has-capital, weight: 3}")
        )
        result = invoke("run", "--prompt", "capitals@v1", "--json")
    assert result.exit_code == 1, result.output  # v1 misses two capitals: 6/8 = 0.75 < 0.9
    run = json.loads(result.output)["runs"][0]
    (group,) = run["summary"]["groups"]
    assert group["score"] == 0.75
    (gate,) = run["gates"]
    assert gate["gate"] == "score" and gate["passed"] is False and gate["actual"] == 0.75
