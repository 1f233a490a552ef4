"""--replay: a stored run answers every call; no network, no key, no cost."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from evalkit.cli.main import app
from fakeserver import FakeServer
from projects import RULES, write_project


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def rows(sql: str) -> list[tuple]:
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def test_replay_with_the_network_unreachable(in_tmp, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    with FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url)
        assert invoke("run", "-p", "fake", "-p", "claude").exit_code == 0
        (live,) = rows("SELECT id FROM runs")[0]
    # the server is gone and so is the key: replay needs neither
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # and any real call would fail
    result = invoke("run", "-p", "fake", "-p", "claude", "--replay", live, "--json")
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["runs"]
    replay = run["run_id"]
    same = rows(f"""SELECT count(*) FROM results a JOIN results b
                    USING (case_id, prompt, provider, repeat)
                    WHERE a.run_id = '{live}' AND b.run_id = '{replay}'
                    AND a.output = b.output AND a.model = b.model""")
    assert same == [(32,)]
    # scores are recomputed, provenance is the replayed run's
    assert rows(f"SELECT count(*) FROM scores WHERE run_id = '{replay}'") == [(96,)]
    assert rows(f"""SELECT count(*) FROM run_providers a JOIN run_providers b USING (provider)
                    WHERE a.run_id = '{live}' AND b.run_id = '{replay}'
                    AND a.identity = b.identity""") == [(2,)]
    assert rows(f"SELECT count(*) FROM results WHERE run_id = '{replay}' AND cache_hit") == [(0,)]


def test_replay_names_what_the_stored_run_lacks(in_tmp):
    with FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url)
        assert invoke("run", "--limit", "2").exit_code == 0
        result = invoke("run", "--replay", "last")
    assert result.exit_code == 2
    first = result.stderr.splitlines()[0]
    assert "has no answer from provider 'fake' for 12 planned call(s)" in first
    assert "italy (capitals@v1, repeat 0)" in first
    assert rows("SELECT count(*) FROM runs") == [(1,)], "nothing is started or stored"


def test_replay_provider_in_config(in_tmp):
    with FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url)
        assert invoke("run").exit_code == 0
    (live,) = rows("SELECT id FROM runs")[0]
    config = Path("evalkit.yaml")
    config.write_text(
        config.read_text().replace(
            "defaults:", f"  again: {{type: replay, run: {live}, provider: fake}}\ndefaults:"
        )
    )
    result = invoke("run", "-p", "again")
    assert result.exit_code == 0, result.output
    assert rows(
        f"SELECT count(DISTINCT provider), min(provider) FROM results WHERE run_id <> '{live}'"
    ) == [(1, "again")]


def test_a_judge_call_on_a_replay_says_a_judge_needs_a_live_model():
    """A replay holds the answers under test; a scorer's own call (a judge's, with no work
    item) cannot be answered from it, and the error says what to do instead."""
    import asyncio

    import pytest

    from evalkit.errors import ProviderCallError
    from evalkit.providers.base import Request
    from evalkit.providers.replay import ReplayOptions, ReplayProvider
    from evalkit.records import Message

    provider = ReplayProvider("gemma", ReplayOptions(type="replay", run="recorded"))
    provider._answers = {}  # loaded: the stored run had these answers (none needed here)
    provider.run_id = "20261201-000000-abcdef"
    with pytest.raises(ProviderCallError) as raised:
        asyncio.run(provider.generate(Request([Message("user", "grade this")], {})))
    assert raised.value.error_class == "not_found"
    assert "run 20261201-000000-abcdef" in str(raised.value)
    assert "a judge needs a live model" in str(raised.value)
