"""The runner: every planned call ends stored, answered or with its error class."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evalkit.config import Project
from evalkit.load.prompts import PromptLibrary
from evalkit.load.suites import load_suite
from evalkit.providers.pool import ProviderPool
from evalkit.registry import SCORERS
from evalkit.run.calls import CallService, RetryPolicy
from evalkit.run.plan import make_plan
from evalkit.run.runner import Runner
from evalkit.score.base import ScoreContext
from evalkit.score.batch import BatchScorer
from evalkit.store.db import Store
from fakeserver import FakeServer
from projects import RULES, write_project

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, max_retry_after=0.05)


def _run(
    root: Path,
    provider: str = "fake",
    retry: RetryPolicy = FAST,
    budget: float = 1.0,
    prompts: tuple[str, ...] = ("capitals@v2",),
):
    project = Project.discover(root)
    library = PromptLibrary([project.prompts_dir])
    suite = load_suite(root / "suites/capitals.yaml", library, ["fake", "claude"])
    plan = make_plan(suite, "run1", providers=[provider], prompts=[library.get(p) for p in prompts])
    store = Store(root / "e.duckdb")
    calls = CallService(retry=retry)
    context = ScoreContext(defaults={}, resources={}, calls=calls)
    scorers = [SCORERS.get(s.type)(s, context) for s in suite.scorers]
    from evalkit.store.runs import insert_run

    insert_run(store, {"id": "run1", "suite": suite.name})

    async def go():
        async with ProviderPool(project) as pool:
            calls.set_concurrency(provider, 2)
            runner = Runner(
                plan,
                pool,
                store,
                BatchScorer(scorers, plan.cases, plan.run_id),
                calls,
                concurrency={provider: 2},
                error_budget=budget,
                flush_seconds=0.05,
                batch_size=3,
            )
            return await runner.run()

    stats = asyncio.run(go())
    return stats, store


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ("429", "rate_limit"),
        ("500", "server_error"),
        ("503", "server_error"),
        ("reset", "connection"),
        ("malformed", "malformed"),
        ("empty", "empty"),
        ("midstream", "connection"),
        ("400", "bad_request"),
    ],
)
def test_failures_are_stored_with_their_class(tmp_path, stream, fault, error_class):
    with FakeServer(rules=RULES, faults={fault: 1.0}, retry_after=0.01) as server:
        write_project(tmp_path, server.base_url, stream=stream)
        stats, store = _run(tmp_path)
    rows = store.fetchall("SELECT error_class, attempts, passed, output FROM results")
    assert len(rows) == 8 and stats.done == 8
    retryable = fault != "400"
    for cls, attempts, passed, output in rows:
        assert cls == error_class and passed is False and output is None
        assert attempts == (3 if retryable else 1)
    assert store.fetchone("SELECT count(*) FROM scores")[0] == 0
    assert stats.errors == 8 and stats.retries == (16 if retryable else 0)


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ("stream_error", "server_error"),
        ("hang", "timeout"),
        ("stall", "timeout"),
    ],
)
@pytest.mark.parametrize("attempts", [1, 4])
def test_in_stream_errors_and_silent_servers(tmp_path, fault, error_class, attempts):
    with FakeServer(rules=RULES, schedule=[fault] * 3) as server:
        write_project(tmp_path, server.base_url)
        config = tmp_path / "evalkit.yaml"
        config.write_text(config.read_text().replace("stream: true}", "stream: true, timeout: 1}"))
        stats, store = _run(
            tmp_path, retry=RetryPolicy(max_attempts=attempts, base_delay=0.01, max_delay=0.02)
        )
    failed = store.fetchall("SELECT error_class FROM results WHERE error_class IS NOT NULL")
    if attempts == 1:  # the three faulty requests are three failed results
        assert failed == [(error_class,)] * 3
    else:  # each faulty request was retried, and every case was answered
        assert failed == [] and stats.retries == 3
        assert store.fetchone("SELECT sum(attempts - 1) FROM results")[0] == 3
    assert store.fetchone("SELECT count(*) FROM results")[0] == 8


def test_transient_faults_recover_and_count_attempts(tmp_path):
    with FakeServer(
        rules=RULES, seed=3, faults={"429": 0.2, "500": 0.1, "reset": 0.1}, retry_after=0.01
    ) as server:
        write_project(tmp_path, server.base_url)
        stats, store = _run(
            tmp_path, retry=RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.02)
        )
    assert store.fetchone("SELECT count(*), count(error_class) FROM results") == (8, 0)
    assert store.fetchone("SELECT sum(attempts - 1) FROM results")[0] == stats.retries > 0
    assert store.fetchone("SELECT count(*) FROM results WHERE passed")[0] == 8


def test_error_budget_stops_early(tmp_path):
    with FakeServer(rules=RULES, faults={"400": 1.0}) as server:
        write_project(tmp_path, server.base_url)
        stats, store = _run(tmp_path, budget=0.05, prompts=("capitals@v1", "capitals@v2"))
        requests = len(server.requests)
    assert stats.aborted and stats.errors >= 1
    assert requests < 16, "the run stopped once it could no longer meet its budget"
    assert store.fetchone("SELECT count(*) FROM results")[0] == stats.done


def test_scores_and_pass_marks(tmp_path):
    with FakeServer(rules=RULES) as server:
        write_project(tmp_path, server.base_url)
        _, store = _run(tmp_path, prompts=("capitals@v1",))
    rows = dict(store.fetchall("SELECT case_id, passed FROM results"))
    assert rows == {
        "france": True,
        "spain": True,
        "italy": True,
        "japan": True,
        "egypt": True,
        "peru": False,
        "kenya": False,
        "chile": True,
    }
    detail = store.fetchone(
        "SELECT s.detail FROM scores s JOIN results r ON r.id = s.result_id "
        "WHERE r.case_id = 'peru' AND s.scorer = 'has-capital'"
    )[0]
    assert detail == "missing 'Lima'"
    # chrf has no threshold: a value, no pass/fail
    assert (
        store.fetchone(
            "SELECT count(*) FROM scores WHERE scorer = 'chrf' AND passed IS NULL "
            "AND value IS NOT NULL"
        )[0]
        == 8
    )


def test_retry_delay_honours_retry_after_and_caps():
    import random

    policy = RetryPolicy(base_delay=1, max_delay=8, max_retry_after=30)
    rng = random.Random(0)
    assert policy.delay(1, 12.0, rng) == 12.0
    assert policy.delay(1, 300.0, rng) == 30.0
    for attempt in range(1, 8):
        ceiling = min(8, 2 ** (attempt - 1))
        assert ceiling / 2 <= policy.delay(attempt, None, rng) <= ceiling
    # a dropped connection is retried at once, the first time only
    assert policy.delay(1, None, rng, "connection") == 0.0
    assert policy.delay(2, None, rng, "connection") >= 1.0


def test_a_store_that_fails_stops_the_calls(tmp_path, monkeypatch):
    """When results can no longer be stored, the run ends (exit 3) without spending more."""
    from evalkit import api
    from evalkit.errors import StoreError
    from evalkit.store.db import Store

    def full(self, *args, **kwargs):
        raise StoreError("disk full")

    monkeypatch.setattr(Store, "write_batch", full)
    cases = "\n".join(
        f'{{"id": "c{i}", "vars": {{"country": "Peru", "capital": "Lima"}}, "reference": "Lima"}}'
        for i in range(400)
    )
    with FakeServer(rules=RULES, latency_ms=5) as server:
        write_project(tmp_path, server.base_url)
        (tmp_path / "suites/capitals.jsonl").write_text(cases + "\n")
        evaluation = api.evaluate(
            project=Project.discover(tmp_path),
            db=tmp_path / "e.duckdb",
            prompts=["capitals@v2"],
            concurrency=2,
        )
        made = len(server.requests)
    (run,) = evaluation.runs
    assert evaluation.exit_code == 3 and run.status == "incomplete" and run.error == "disk full"
    assert made < 400, "no more calls once the store failed"
