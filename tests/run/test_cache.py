"""The response cache: keyed on everything that changes an answer, never on errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from evalkit.run import runner
from evalkit.run.cache import cache_key, key_components
from evalkit.run.calls import CallService
from fakeserver import FakeServer
from projects import RULES, write_project


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def rows(sql: str) -> list[tuple]:
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(rules=RULES) as srv:
        yield srv


@pytest.fixture
def project(in_tmp: Path, server: FakeServer) -> Path:
    return write_project(in_tmp, server.base_url)


IDENTITY = {"type": "openai", "model": "m", "mode": "chat", "base_url": "http://a/v1"}
PARAMS = {"temperature": 0.0, "max_tokens": 8, "seed": 1, "stop": ["\n"]}
INPUT = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "change",
    [
        {"identity": {**IDENTITY, "type": "anthropic"}},
        {"identity": {**IDENTITY, "base_url": "http://b/v1"}},
        {"identity": {**IDENTITY, "model": "m2"}},
        {"identity": {**IDENTITY, "mode": "completion"}},
        {"params": {**PARAMS, "temperature": 0.7}},
        {"params": {**PARAMS, "max_tokens": 9}},
        {"params": {**PARAMS, "seed": 2}},
        {"params": {**PARAMS, "stop": ["\n\n"]}},
        {"params": {**PARAMS, "top_p": 0.9}},
        {"input": [{"role": "user", "content": "hi!"}]},
        {"input": [{"role": "system", "content": "hi"}]},
        {"repeat": 1},
    ],
)
def test_every_component_changes_the_key(change):
    base = dict(identity=IDENTITY, params=PARAMS, request_input=INPUT, repeat=0)
    changed = dict(base)
    for key, value in change.items():
        changed["request_input" if key == "input" else key] = value
    assert cache_key(key_components(**base)) != cache_key(key_components(**changed))
    assert cache_key(key_components(**base)) == cache_key(key_components(**dict(base)))


def test_second_run_is_answered_by_the_cache(project, server):
    assert invoke("run").exit_code == 0
    assert len(server.requests) == 16
    server.reset_log()
    result = invoke("run", "--json")
    assert result.exit_code == 0
    assert server.requests == [], "no request reaches the server"
    (run,) = json.loads(result.stdout)["runs"]
    assert run["summary"]["run"]["cache_hits"] == 16
    first, second = [r[0] for r in rows("SELECT id FROM runs ORDER BY id")]
    same = rows(f"""SELECT count(*) FROM results a JOIN results b USING (case_id, prompt, repeat)
                    WHERE a.run_id = '{first}' AND b.run_id = '{second}'
                    AND a.output = b.output AND b.cache_hit AND NOT a.cache_hit
                    AND a.cache_key = b.cache_key AND a.latency_ms = b.latency_ms""")
    assert same == [(16,)]
    assert rows(f"SELECT min(attempts), max(attempts) FROM results WHERE run_id = '{second}'") == [
        (0, 0)
    ]


def test_a_fully_cached_run_starts_no_provider(project, server):
    assert invoke("run").exit_code == 0
    config = Path("evalkit.yaml")
    # the endpoint is gone; the cache key does not depend on it being reachable, only on its URL
    server.stop()
    result = invoke("run")
    assert result.exit_code == 0, result.output
    assert rows("SELECT count(*) FILTER (WHERE cache_hit) FROM results") == [(16,)]
    config.write_text(config.read_text().replace("fake-model", "other-model"))
    assert invoke("run").exit_code == 3  # a new model misses the cache and meets the dead port


def test_lookups_in_chunks_and_a_bounded_backlog_keep_the_cache_semantics(
    project, server, monkeypatch
):
    # Tiny chunks and batches: every path of the chunked lookup and of the backlog's wait runs.
    monkeypatch.setattr(runner, "LOOKUP_CHUNK", 3)
    monkeypatch.setattr(runner, "BATCH_SIZE", 2)
    assert invoke("run", "--prompt", "capitals@v1").exit_code == 0
    assert len(server.requests) == 8
    server.reset_log()
    result = invoke("run", "--json")  # v1 answered by the cache, v2 called
    assert result.exit_code == 0, result.output
    assert len(server.requests) == 8
    (run,) = json.loads(result.stdout)["runs"]
    assert run["summary"]["run"]["cache_hits"] == 8
    second = run["run_id"]
    assert rows(
        f"SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE cache_hit), "
        f"count(*) FILTER (WHERE cache_key IS NULL OR output IS NULL) "
        f"FROM results WHERE run_id = '{second}'"
    ) == [(16, 16, 8, 0)]
    # Every result has its scores, as many as the first run's (8 results) had per result.
    ((first_scores,),) = rows(f"SELECT count(*) FROM scores WHERE run_id <> '{second}'")
    assert first_scores > 0
    assert rows(f"SELECT count(*) FROM scores WHERE run_id = '{second}'") == [(first_scores * 2,)]
    server.stop()  # everything is cached now: no provider is started
    assert invoke("run").exit_code == 0
    assert rows("SELECT count(*) FROM results WHERE cache_hit") == [(8 + 16,)]


def test_a_cached_re_run_renders_and_looks_up_each_call_once_within_a_chunk(
    project, server, monkeypatch
):
    assert invoke("run").exit_code == 0
    looked: list[int] = []
    real = CallService.lookup

    def lookup(self: CallService, keys: list[str]) -> dict[str, Any]:
        looked.append(len(keys))
        return real(self, keys)

    monkeypatch.setattr(CallService, "lookup", lookup)
    first = invoke("run", "--json")
    assert first.exit_code == 0, first.output
    assert looked == [16]  # prepare's lookup; storing uses the answers and requests it kept
    # Beyond one chunk, storing looks up again all but the last chunk's (memory stays bounded).
    looked.clear()
    monkeypatch.setattr(runner, "LOOKUP_CHUNK", 3)
    second = invoke("run", "--json")
    assert second.exit_code == 0, second.output
    assert looked == [3, 3, 3, 3, 3, 1, 3, 3, 3, 3, 3]  # prepare 6 chunks, storing 5
    # The same results either way.
    ids = [json.loads(r.stdout)["runs"][0]["run_id"] for r in (first, second)]
    columns = "case_id, prompt, output, input, params, cache_key, cache_hit, passed, score"
    assert rows(f"SELECT {columns} FROM results WHERE run_id = '{ids[0]}' ORDER BY ALL") == rows(
        f"SELECT {columns} FROM results WHERE run_id = '{ids[1]}' ORDER BY ALL"
    )


def test_no_cache_calls_again_and_errors_are_never_cached(project, server):
    server.configure(faults={"400": 1.0})
    assert invoke("run", "--prompt", "capitals@v1").exit_code == 3
    assert rows("SELECT count(*) FROM cache") == [(0,)]
    server.configure(faults={})
    server.reset_log()
    assert invoke("run", "--prompt", "capitals@v1").exit_code == 0
    assert len(server.requests) == 8 and rows("SELECT count(*) FROM cache") == [(8,)]
    server.reset_log()
    assert invoke("run", "--prompt", "capitals@v1", "--no-cache").exit_code == 0
    assert len(server.requests) == 8, "--no-cache asks the provider again"
    assert rows("SELECT count(*) FROM cache") == [(8,)], "and refreshes the same entries"


def test_cache_explain_names_what_differed(project):
    assert invoke("run", "--prompt", "capitals@v2").exit_code == 0
    prompt = Path("prompts/capitals/v2.yaml")
    prompt.write_text(prompt.read_text().replace("max_tokens: 8", "max_tokens: 9"))
    assert invoke("run", "--prompt", "capitals@v2", "--limit", "1").exit_code == 0
    (miss,) = rows("SELECT id FROM results WHERE run_id = (SELECT max(id) FROM runs)")[0]
    explained = invoke("cache", "explain", miss)
    assert explained.exit_code == 0, explained.output
    assert "differs in: params.max_tokens" in explained.stdout
    data = json.loads(invoke("cache", "explain", miss, "--json").stdout)
    assert data["status"] == "miss" and data["cache_hit"] is False and data["now_cached"]
    prompt.write_text(prompt.read_text().replace("max_tokens: 9", "max_tokens: 8"))
    assert invoke("run", "--prompt", "capitals@v2", "--limit", "1").exit_code == 0
    (hit,) = rows("SELECT id FROM results WHERE run_id = (SELECT max(id) FROM runs)")[0]
    assert "hit: answered by the entry stored" in invoke("cache", "explain", hit).stdout


def test_cache_stats_and_clear(project):
    assert invoke("run").exit_code == 0
    assert invoke("run").exit_code == 0
    stats = json.loads(invoke("cache", "stats", "--json").stdout)
    assert stats["entries"] == 16 and stats["hits"]["hits"] == 16
    assert stats["by_model"][0]["model"] == "fake-model"
    assert "16 entries" in invoke("cache", "stats").stdout
    assert "removed 0" in invoke("cache", "clear", "--older-than", "1d").stdout
    assert "removed 16" in invoke("cache", "clear").stdout
    bad = invoke("cache", "clear", "--older-than", "soon")
    assert bad.exit_code == 2 and "not an age" in bad.stderr


def test_key_maker_equals_the_plain_key():
    from evalkit.run.cache import KeyMaker

    maker = KeyMaker()
    for i in range(50):
        params = {**PARAMS, "max_tokens": i % 3}
        request_input = [{"role": "user", "content": f"q{i % 7}"}] if i % 2 else f"text {i}"
        components, key = maker.components_and_key(IDENTITY, params, request_input, i % 4)
        assert key == cache_key(key_components(IDENTITY, params, request_input, i % 4))
        assert components == key_components(IDENTITY, params, request_input, i % 4)
