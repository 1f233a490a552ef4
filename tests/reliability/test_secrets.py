"""No API key reaches anything evalkit writes.

Provider keys are set to unique canary strings; every command that writes something runs
through the real CLI (a subprocess each): runs against the fake server (OpenAI and Anthropic
wire formats), a provider that fails because its server echoes the request's headers into
its error messages (401, and 500 with retries), the reports (HTML, JUnit, Markdown, the
GitHub step summary), ``--json``, compare, ``runs``, ``query``, ``cache``, ``providers
check``, a dry run and a crash log. Then every byte written is scanned — each file under the
project (the store's raw bytes and every value of every table in it), stdout and stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import duckdb
import pytest
from crashplugin import install

from fakeserver import FakeServer
from projects import RULES, write_project

#: The key for OPENAI_API_KEY and ANTHROPIC_API_KEY (the fake server requires it).
CANARY = "sk-CANARY-7c1d9e3f5a2b4d6e8f0a1b3c5d7e9f1a"
#: The key in a variable named by `api_key_env:` whose name does not look like a key's.
TEAM_CANARY = "team-CANARY-0e2c4a6b8d1f3e5a7c9b"
#: Every 8 characters of the keys' random parts: a key shown masked (``sk-CAN…9f1a``) or
#: cut short still leaks some of them.
PIECES = tuple(
    part[i : i + 8]
    for part in ("7c1d9e3f5a2b4d6e8f0a1b3c5d7e9f1a", "0e2c4a6b8d1f3e5a7c9b")
    for i in range(len(part) - 7)
)


class _Echo(BaseHTTPRequestHandler):
    """A server that refuses every call and echoes the request headers in its error."""

    seen: ClassVar[list[str]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        headers = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
        _Echo.seen.append(headers)
        status = int(self.headers.get("x-echo-status") or 401)
        message = (
            f"Incorrect API key provided: {self.headers.get('authorization')}. "
            f"Request headers: {headers}"
        )
        body = json.dumps(
            {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        ).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = _answer
    do_GET = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def scan_bytes(data: bytes, where: str) -> None:
    for piece in PIECES:
        assert piece.encode() not in data, f"the key leaked into {where}"


def scan_store(path: Path) -> None:
    with duckdb.connect(str(path), read_only=True) as con:
        for (table,) in con.execute("SHOW TABLES").fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                scan_bytes(repr(row).encode(), f"{path.name}, table {table}")


def test_no_key_reaches_any_output(tmp_path: Path, echo: str) -> None:
    root = tmp_path / "project"
    env = {k: v for k, v in install(tmp_path / "site").items() if not k.endswith("_API_KEY")}
    env.pop("EVALKIT_DB", None)
    env.update(
        OPENAI_API_KEY=CANARY,
        ANTHROPIC_API_KEY=CANARY,
        TEAM_LLM=TEAM_CANARY,
        GITHUB_STEP_SUMMARY=str(root / "out/step-summary.md"),
    )
    outputs: list[tuple[str, str]] = []

    def evalkit(*args: str, code: int | None = 0) -> str:
        began = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "evalkit", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        outputs.append((" ".join(args), proc.stdout + proc.stderr))
        print(f"{time.monotonic() - began:5.1f}s evalkit {' '.join(args)}")
        if code is not None:
            assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        return proc.stdout

    with FakeServer(rules=RULES, api_key=CANARY) as server:
        write_project(
            root,
            server.base_url,
            extra_config="""
            pricing: {fake-model: {input: 1, output: 2}}
            """,
        )
        config = (root / "evalkit.yaml").read_text()
        config = config.replace(
            "defaults:",
            f'  deny: {{type: openai, base_url: "{echo}/v1", model: m, api_key_env: TEAM_LLM,\n'
            '         headers: {X-Echo-Status: "401"}}\n'
            f'  flaky: {{type: openai, base_url: "{echo}/v1", model: m, timeout: 5,\n'
            '          headers: {X-Echo-Status: "500"}}\n'
            "defaults:",
        )
        (root / "evalkit.yaml").write_text(config)
        suite = (root / "suites/capitals.yaml").read_text()
        (root / "suites/failing.yaml").write_text(
            suite.replace("name: capitals", "name: failing").replace(
                "prompt: [capitals@v1, capitals@v2]",
                "prompt: capitals@v1\nproviders: [deny, flaky]",
            )
        )
        (root / "crashing/").mkdir()
        (root / "crashing/boom.yaml").write_text(
            suite.replace("cases: capitals.jsonl", "cases: ../suites/capitals.jsonl").replace(
                "  - {type: chrf}", "  - {type: chrf}\n  - {type: boom, when: start}"
            )
        )

        data = json.loads(
            evalkit(
                "run",
                "capitals",
                "--json",
                "--junit",
                "out/run.xml",
                "--summary",
                "out/run.md",
                "--report",
                "out/run.html",
            )
        )
        first = data["runs"][0]["run_id"]
        evalkit("run", "capitals", "-p", "claude", "--report", "out/claude.html")
        evalkit("run", "failing", "--limit", "2", "--junit", "out/failing.xml", code=3)
        failing = json.loads(
            evalkit("query", "SELECT id FROM runs WHERE suite = 'failing'", "--json")
        )
        failing_id = failing["rows"][0]["id"]
        evalkit("run", "capitals", "--dry-run")
        evalkit("baseline", "set", "main", first)
        evalkit(
            "run",
            "capitals",
            "--baseline",
            "main",
            "--no-cache",
            "--json",
            "--junit",
            "out/base.xml",
            "--summary",
            "out/base.md",
            "--report",
            "out/base.html",
        )
        evalkit(
            "compare",
            "--prompt",
            "capitals@v1",
            "--prompt",
            "capitals@v2",
            "capitals",
            "--json",
            "--report",
            "out/compare.html",
        )
        evalkit("compare", first, "last")
        evalkit("report", "last", "-o", "out/report.html")
        evalkit("report", failing_id, "-o", "out/failing.html")
        evalkit("runs", "list")
        evalkit("runs", "show", "last")
        evalkit("runs", "show", failing_id)
        for table in ("results", "runs", "cache"):
            evalkit("query", f"SELECT * FROM {table}", "--json")
        evalkit("query", "SELECT * FROM results", "--csv")
        result_id = json.loads(evalkit("query", "SELECT id FROM results LIMIT 1", "--json"))
        evalkit("cache", "stats")
        evalkit("cache", "explain", result_id["rows"][0]["id"])
        evalkit("providers", "list")
        evalkit("providers", "check", "fake")
        evalkit("providers", "check", "deny", code=None)
        evalkit("providers", "check", "claude")
        evalkit("run", "crashing/boom.yaml", code=3)

    # The premise: the keys were sent (the fake server checks it; the echo server saw them).
    assert any(TEAM_CANARY in seen for seen in _Echo.seen)
    assert any(CANARY in seen for seen in _Echo.seen), "flaky sends OPENAI_API_KEY"
    assert list((root / ".evalkit/logs").glob("crash-*.log")), "the crash was logged"
    errors = json.loads(
        evalkit(
            "query",
            "SELECT DISTINCT error_class, error FROM results WHERE error IS NOT NULL",
            "--json",
        )
    )["rows"]
    assert {r["error_class"] for r in errors} >= {"auth", "server_error"}
    assert all("[redacted]" in r["error"] for r in errors), errors

    for command, text in outputs:
        scan_bytes(text.encode(), f"the output of `evalkit {command}`")
    written = [p for p in root.rglob("*") if p.is_file()]
    assert len(written) > 20
    for path in written:
        scan_bytes(path.read_bytes(), str(path.relative_to(root)))
        if path.suffix == ".duckdb":
            scan_store(path)
    assert os.environ.get("OPENAI_API_KEY") is None, "the test process itself never held it"
