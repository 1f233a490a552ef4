"""fallback chains: the next provider answers when one fails; results say who served."""

from __future__ import annotations

import socket
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


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_chain_moves_on_from_a_dead_endpoint_and_a_rate_limited_one(in_tmp, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    with FakeServer(rules=RULES) as good, FakeServer(rules=RULES, faults={"429": 1.0}) as busy:
        write_project(in_tmp, good.base_url)
        config = Path("evalkit.yaml")
        config.write_text(
            config.read_text().replace(
                "defaults:",
                f"""\
  down: {{type: openai, base_url: "http://127.0.0.1:{dead_port()}/v1", model: m, timeout: 2}}
  busy: {{type: openai, base_url: "{busy.base_url}/v1", model: fake-model}}
  safe: {{type: fallback, chain: [down, busy, claude]}}
defaults:""",
            )
        )
        result = invoke("run", "-p", "safe", "--prompt", "capitals@v2")
        assert result.exit_code == 0, result.output
        assert len(busy.requests) == 8, "each call tried the rate-limited member once"
        assert len([r for r in good.requests if r.route == "messages"]) == 8
    assert rows("SELECT DISTINCT provider, served_by, error_class FROM results") == [
        ("safe", "claude", None)
    ]
    assert rows("SELECT count(*) FROM results WHERE passed") == [(8,)]
    (identity,) = rows("SELECT identity FROM run_providers")[0]
    assert '"chain"' in identity and "fake-claude" in identity


def test_every_member_failing_is_one_error_naming_them(in_tmp):
    with FakeServer(rules=RULES, faults={"503": 1.0}) as bad:
        write_project(in_tmp, bad.base_url)
        config = Path("evalkit.yaml")
        config.write_text(
            config.read_text().replace(
                "defaults:",
                f"""\
  chain: {{type: fallback, chain: [fake, fake2]}}
  fake2: {{type: openai, base_url: "{bad.base_url}/v1", model: fake-model}}
defaults:""",
            )
        )
        result = invoke("run", "-p", "chain", "--prompt", "capitals@v1", "--limit", "1")
    assert result.exit_code == 3
    (error_class, error) = rows("SELECT error_class, error FROM results")[0]
    assert error_class == "server_error"
    assert "every provider of the chain failed (fake: server_error, fake2: server_error)" in error


def test_a_chain_may_not_contain_itself(in_tmp):
    with FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url)
        config = Path("evalkit.yaml")
        config.write_text(
            config.read_text().replace(
                "defaults:", "  loop: {type: fallback, chain: [loop, fake]}\ndefaults:"
            )
        )
        result = invoke("run", "-p", "loop")
    assert result.exit_code == 2 and "lists itself" in result.stderr
