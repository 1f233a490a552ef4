"""OpenTelemetry export: a run arrives at a real OTLP/HTTP receiver on loopback as one trace
(tests/otlp.py decodes the protobuf with opentelemetry-proto), with the GenAI attributes,
the scores on the run calls' spans, no secret in any exported byte; a receiver that is down
costs one bounded export and one warning, and a run without --otel loads no OpenTelemetry."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evalkit.cli.main import app
from fakeserver import FakeServer
from otlp import OTLPReceiver, SpanRecord
from projects import CAPITALS, RULES, write_project

API_KEY = "sk-test-otel-3f9c2a7d1e5b"
OTLP_TOKEN = "otlp-token-8b1e4c6f0a2d"
VERDICT = '{"score": 4, "rationale": "names the capital"}'


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def rows(sql: str) -> list[tuple]:
    with duckdb.connect(".evalkit/evalkit.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def judged_project(root: Path, base_url: str, otel: str) -> None:
    """The capitals project with an API key, a judge on the same fake server, and `otel:`."""
    write_project(root, base_url)
    config = root / "evalkit.yaml"
    config.write_text(
        config.read_text().replace(
            "defaults:",
            f'  judge: {{type: openai, base_url: "{base_url}/v1", model: judge-model, '
            "mode: completion, stream: false}\ndefaults:",
        )
        + "pricing:\n  fake-model: {input: 1000, output: 1000}\n"
        + "  judge-model: {input: 2000, output: 2000}\n"
        + otel
    )
    suite = root / "suites/capitals.yaml"
    suite.write_text(
        suite.read_text().replace(
            "  - {type: chrf}",
            "  - {type: judge, provider: judge, mode: reference, structured: none, threshold: 0.5}",
        )
    )


def by_trace(spans: list[SpanRecord]) -> dict[str, list[SpanRecord]]:
    out: dict[str, list[SpanRecord]] = {}
    for span in spans:
        out.setdefault(span.trace_id, []).append(span)
    return out


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OTLP_TOKEN", OTLP_TOKEN)


def test_a_run_is_one_trace_with_a_span_per_call_and_the_scores(in_tmp, keyed):
    with (
        OTLPReceiver() as receiver,
        FakeServer(rules=[("Verdict", VERDICT), *RULES], api_key=API_KEY) as server,
    ):
        judged_project(
            in_tmp,
            server.base_url,
            f"otel: {{endpoint: '{receiver.endpoint}', service_name: capitals-ci,\n"
            "       headers_env: {x-otlp-token: OTLP_TOKEN}}\n",
        )
        first = invoke("run", "--prompt", "capitals@v1", "--prompt", "capitals@v2", "--json")
        assert first.exit_code == 0, first.output
        made = len(server.requests)
        # 16 answers and up to 16 judge calls (two versions' identical answers make one judge
        # prompt: the second may be answered by the cache, depending on batch timing)
        assert 16 + 14 <= made <= 32
        second = invoke("run", "--prompt", "capitals@v1", "--prompt", "capitals@v2")
        assert second.exit_code == 0, second.output
        assert len(server.requests) == made, "the second run is answered by the cache"

    # -- no secret in any exported byte; the receiver's token only in its own header
    assert receiver.received and all(r.path == "/v1/traces" for r in receiver.received)
    for request in receiver.received:
        assert API_KEY.encode() not in request.body
        assert OTLP_TOKEN.encode() not in request.body
        assert not any(API_KEY in value for value in request.headers.values())
        assert request.headers["x-otlp-token"] == OTLP_TOKEN
        assert request.headers["content-type"] == "application/x-protobuf"

    traces = by_trace(receiver.spans())
    assert len(traces) == 2, "one trace per run"
    run_id = json.loads(first.stdout)["runs"][0]["run_id"]
    roots = [s for s in receiver.spans() if not s.parent_id]
    assert [r.name for r in roots] == ["evalkit.run capitals"] * 2
    root = next(r for r in roots if r.attributes["evalkit.run.id"] == run_id)
    spans = traces[root.trace_id]
    assert root.attributes["evalkit.run.status"] == "completed"
    assert root.attributes["evalkit.run.exit_code"] == 0
    assert root.attributes["evalkit.results"] == 16
    assert root.attributes["evalkit.prompts"] == ["capitals@v1", "capitals@v2"]
    assert root.resource["service.name"] == "capitals-ci"
    assert all(s.parent_id == root.span_id for s in spans if s.span_id != root.span_id)
    assert all(root.start_ns <= s.start_ns <= s.end_ns <= root.end_ns for s in spans)

    calls = {s.attributes["evalkit.result_id"]: s for s in spans if _purpose(s) == "run"}
    judged = [s for s in spans if _purpose(s) == "judge"]
    assert len(calls) == 16 and len(judged) == 16 and len(spans) == 33

    stored = {
        (result_id, scorer): (value, passed)
        for result_id, scorer, value, passed in rows(
            "SELECT result_id, scorer, value, passed FROM scores"
        )
    }
    results = {
        r[0]: r[1:]
        for r in rows(
            "SELECT id, case_id, prompt, repeat, input_tokens, output_tokens FROM results "
            f"WHERE run_id = '{run_id}'"
        )
    }
    assert set(calls) == set(results)
    for result_id, span in calls.items():
        a = span.attributes
        case_id, prompt, repeat, tokens_in, tokens_out = results[result_id]
        assert span.name == "chat fake-model" and span.kind == 3  # SPAN_KIND_CLIENT
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.system"] == "openai"
        assert a["gen_ai.request.model"] == a["gen_ai.response.model"] == "fake-model"
        assert a["gen_ai.request.max_tokens"] == 8 and a["gen_ai.request.temperature"] == 0
        assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (
            tokens_in,
            tokens_out,
        )
        assert (a["evalkit.case_id"], a["evalkit.prompt"], a["evalkit.repeat"]) == (
            case_id,
            prompt,
            repeat,
        )
        assert a["evalkit.prompt.version"] == prompt.split("@")[1]
        assert a["evalkit.cache_hit"] is False and a["evalkit.served_by"] == "fake"
        assert a["evalkit.cost_usd"] > 0 and a["evalkit.latency_ms"] > 0
        assert "gen_ai.input.messages" not in a, "content is opt-in"
        for scorer in ("has-capital", "equals", "judge"):
            value, passed = stored[(result_id, scorer)]
            assert a[f"evalkit.score.{scorer}.value"] == pytest.approx(value)
            assert a[f"evalkit.score.{scorer}.passed"] is passed
        assert [e[0] for e in span.events] == ["evalkit.attempt"]
    # v1 answers two countries wrong: the failing cases are visible in the trace
    failed = sorted(s.attributes["evalkit.case_id"] for s in calls.values() if not _passed(s))
    assert failed == ["kenya", "peru"]
    for span in judged:
        a = span.attributes
        assert span.name == "text_completion judge-model" and a["evalkit.scorer"] == "judge"
        assert a["gen_ai.operation.name"] == "text_completion"  # the judge's mode: completion
        assert span.links == [calls[a["evalkit.result_id"]].span_id], "links the graded call"
        assert a["gen_ai.usage.output_tokens"] > 0

    # -- the second run: every answer from the cache, still one span per result, scored
    again = next(t for trace_id, t in traces.items() if trace_id != root.trace_id)
    calls = {s.attributes["evalkit.result_id"]: s for s in again if _purpose(s) == "run"}
    assert len(calls) == 16
    assert all(s.attributes["evalkit.cache_hit"] is True for s in calls.values())
    assert all("evalkit.score.judge.value" in s.attributes for s in calls.values())
    assert all(s.attributes["evalkit.cache_hit"] for s in again if _purpose(s) == "judge")


def _purpose(span: SpanRecord) -> str | None:
    return span.attributes.get("evalkit.purpose")


def _passed(span: SpanRecord) -> bool:
    return bool(span.attributes.get("evalkit.passed"))


def test_retries_are_attempt_events_and_content_is_opt_in(in_tmp):
    with (
        OTLPReceiver() as receiver,
        # by content: one case's first two requests fail (a call waiting to retry frees its
        # slot, so by arrival order the faults would fall on two cases)
        FakeServer(
            rules=RULES, schedule=["429", "500"], fault_by="content", retry_after=0.01
        ) as server,
    ):
        write_project(in_tmp, server.base_url, stream=False)
        with (in_tmp / "evalkit.yaml").open("a") as config:
            config.write(f"otel: {{endpoint: '{receiver.endpoint}', capture_content: true}}\n")
        result = invoke("run", "--prompt", "capitals@v2", "--limit", "2")
        assert result.exit_code == 0, result.output
    calls = [s for s in receiver.spans() if _purpose(s) == "run"]
    assert len(calls) == 2
    retried = [s for s in calls if s.attributes["evalkit.retries"]]
    assert len(retried) == 2
    span = retried[0]
    events = [(name, attrs.get("error.type")) for name, _, attrs in span.events]
    assert events == [
        ("evalkit.attempt", "rate_limit"),
        ("evalkit.attempt", "server_error"),
        ("evalkit.attempt", None),
    ]
    times = [at for _, at, _ in span.events]
    assert span.start_ns <= times[0] < times[1] < times[2] <= span.end_ns
    messages = json.loads(span.attributes["gen_ai.input.messages"])
    country = span.attributes["evalkit.case_id"].title()
    assert messages[-1] == {"role": "user", "content": f"v2: {country}"}
    answer = json.loads(span.attributes["gen_ai.output.messages"])
    assert answer == [{"role": "assistant", "content": CAPITALS[country]}]


class BlackHole:
    """A port that accepts connections and never answers (a hung collector)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1/traces"

    def __enter__(self) -> BlackHole:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def closed_port_endpoint() -> str:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/traces"


@pytest.fixture(params=["refused", "hung"])
def down(request: pytest.FixtureRequest) -> Iterator[tuple[str, BlackHole | None]]:
    if request.param == "refused":
        yield closed_port_endpoint(), None
        return
    with BlackHole() as hole:
        yield hole.endpoint, hole


def test_a_receiver_that_is_down_costs_one_bounded_export_and_one_warning(in_tmp, down):
    endpoint, hole = down
    with FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url)
        suites = in_tmp / "suites"
        (suites / "again.yaml").write_text(
            (suites / "capitals.yaml").read_text().replace("name: capitals", "name: again")
        )
        with (in_tmp / "evalkit.yaml").open("a") as config:
            config.write(f"otel: {{endpoint: '{endpoint}', timeout_s: 1}}\n")
        result = invoke("run", "--json")
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [r["status"] for r in runs] == ["completed", "completed"]
    warnings = [w for r in runs for w in r["warnings"]]
    assert len(warnings) == 1, "one warning for the command, not one per suite or batch"
    assert warnings[0].startswith(f"OpenTelemetry export to {endpoint} failed (")
    if hole is None:
        assert "Connection refused" in warnings[0]
    else:  # two suites, two flushes: one export reached the hung receiver, then none
        assert len(hole.accepted) == 1
        assert "no answer in time" in warnings[0]
    assert "Failed to export" not in result.stderr, "the SDK's own log lines stay quiet"


def test_headers_come_from_the_environment_only(in_tmp, monkeypatch):
    write_project(in_tmp, "http://127.0.0.1:9")
    config = in_tmp / "evalkit.yaml"
    text = config.read_text()
    line = f"evalkit.yaml:{len(text.splitlines()) + 2}:"  # the headers_env line
    config.write_text(text + "otel:\n  headers_env: {authorization: 'Bearer abc123'}\n")
    result = invoke("run")
    assert result.exit_code == 2
    assert line in result.output and "must name an environment variable" in result.output
    assert "abc123" not in result.output
    config.write_text(text + "otel:\n  headers_env: {authorization: OTLP_AUTH}\n")
    monkeypatch.delenv("OTLP_AUTH", raising=False)
    result = invoke("run")
    assert result.exit_code == 2
    assert "$OTLP_AUTH, which is not set" in result.output and line in result.output
    assert not (in_tmp / ".evalkit").exists(), "a setting that cannot work creates no store"


PROBE = """
import json, sys
from evalkit import api
evaluation = api.evaluate(otel={otel})
print(json.dumps([evaluation.exit_code, sorted(m for m in sys.modules
                  if m.split(".")[0] == "opentelemetry" or m == "evalkit.run.otel")]))
"""


@pytest.mark.parametrize(("flag", "loaded"), [("None", False), ("False", False), ("True", True)])
def test_a_run_without_otel_loads_no_opentelemetry(in_tmp, flag, loaded):
    """Without --otel (or with --no-otel over an `otel:` config) nothing is imported and
    nothing is sent; with it, the same probe sees the modules (the probe works)."""
    with OTLPReceiver() as receiver, FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url)
        if flag != "None":
            with (in_tmp / "evalkit.yaml").open("a") as config:
                config.write(f"otel: {{endpoint: '{receiver.endpoint}'}}\n")
        done = subprocess.run(
            [sys.executable, "-c", PROBE.format(otel=flag)],
            cwd=in_tmp,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        exit_code, modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert exit_code == 0
    if loaded:
        assert "evalkit.run.otel" in modules and "opentelemetry.sdk.trace" in modules
        assert receiver.received
    else:
        assert modules == [] and receiver.received == []


def test_otel_without_the_extra_says_what_to_install(in_tmp, monkeypatch):
    monkeypatch.delitem(sys.modules, "evalkit.run.otel", raising=False)
    for name in [m for m in sys.modules if m.split(".")[0] == "opentelemetry"] + ["opentelemetry"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    with FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url)
        result = invoke("run", "--otel")
        assert server.requests == [], "nothing is called before the setup is complete"
    assert result.exit_code == 2, result.output
    assert "needs the otel extra" in result.output and "evalkit[otel]" in result.output


def test_the_command_line_stays_clean(in_tmp):
    """A real `evalkit run --otel` process: spans arrive, and nothing but evalkit's own
    output reaches the terminal (no SDK log lines, at exit either)."""
    with OTLPReceiver() as receiver, FakeServer(rules=RULES) as server:
        write_project(in_tmp, server.base_url)
        done = subprocess.run(
            [sys.executable, "-m", "evalkit", "run", "--otel", "--prompt", "capitals@v2"],
            cwd=in_tmp,
            capture_output=True,
            text=True,
            timeout=300,
            env={
                **os.environ,
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint[: -len("/v1/traces")],
            },
        )
        assert done.returncode == 0, done.stderr
        assert len(receiver.spans()) == 9
    assert "opentelemetry" not in done.stderr.lower() and "warning" not in done.stderr.lower()


def test_an_interrupted_run_ends_its_open_spans_and_says_so():
    """The exporter on the SDK's in-memory exporter: a run stopped by Ctrl-C before its
    answers were scored still ends every span, the root marked interrupted."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from evalkit.config import OtelConfig
    from evalkit.errors import ProviderCallError
    from evalkit.providers.base import Request
    from evalkit.records import CallOutcome, Generation, Message
    from evalkit.run.calls import Attempt, CallEvent
    from evalkit.run.otel import OtelExporter

    memory = InMemorySpanExporter()
    exporter = OtelExporter(memory, OtelConfig(), "memory")
    exporter.run_started("r1", "capitals", {"cases": 2, "prompts": ["capitals@v1"]})
    request = Request([Message("user", "v1: Peru")], {"max_tokens": 8, "temperature": 0})
    answered = CallOutcome(Generation("Lima", 5, 1, 12.0), None, 1, served_by="fake")
    failed = CallOutcome(None, ProviderCallError("timeout", "no answer in 30 s"), 2)
    for n, outcome in enumerate((answered, failed)):
        attempts = [Attempt("fake", "timeout" if outcome.error else None, 10.0, 100.0 + n)]
        exporter.on_call(
            CallEvent(
                "run",
                "fake",
                "openai",
                "fake-model",
                100.0 + n,
                101.0 + n,
                outcome,
                attempts,
                {"case_id": f"c{n}", "result_id": f"r1-{n}"},
                request,
            )
        )
    assert memory.get_finished_spans() == (), "run calls wait for their scores"
    assert exporter.run_ended(None, KeyboardInterrupt()) == []
    exporter.close()
    spans = {s.name: s for s in memory.get_finished_spans()}
    root = spans["evalkit.run capitals"]
    assert root.attributes["evalkit.run.status"] == "interrupted"
    assert root.status.status_code.name == "ERROR"
    calls = [s for s in memory.get_finished_spans() if s.parent is not None]
    assert len(calls) == 2 and all(s.parent.span_id == root.context.span_id for s in calls)
    ended = {s.attributes["evalkit.case_id"]: s for s in calls}
    assert ended["c1"].attributes["error.type"] == "timeout"
    assert ended["c1"].status.status_code.name == "ERROR"
    assert ended["c0"].end_time == 101 * 10**9, "a call span ends when the call did"


def test_pairwise_answer_b_generations_and_both_judge_orders_are_spans(in_tmp):
    with (
        OTLPReceiver() as receiver,
        FakeServer(rules=[("Verdict", VERDICT), *RULES]) as server,
    ):
        judged_project(in_tmp, server.base_url, f"otel: {{endpoint: '{receiver.endpoint}'}}\n")
        suite = in_tmp / "suites/capitals.yaml"
        suite.write_text(
            suite.read_text().replace("mode: reference,", "mode: pairwise, against: capitals@v1,")
        )
        result = invoke("run", "--prompt", "capitals@v2")
        assert result.exit_code in (0, 1), result.output
    spans = receiver.spans()
    root = next(s for s in spans if not s.parent_id)
    by_purpose: dict[str, list[SpanRecord]] = {}
    for span in spans:
        if span.parent_id:
            assert span.parent_id == root.span_id
            by_purpose.setdefault(_purpose(span) or "", []).append(span)
    assert {k: len(v) for k, v in by_purpose.items()} == {"run": 8, "pairwise": 8, "judge": 16}
    calls = {s.attributes["evalkit.result_id"]: s for s in by_purpose["run"]}
    for span in by_purpose["pairwise"]:  # answer B: the same provider, the `against` version
        a = span.attributes
        assert a["evalkit.scorer"] == "judge" and a["gen_ai.request.model"] == "fake-model"
        assert span.links == [calls[a["evalkit.result_id"]].span_id]
    for span in by_purpose["judge"]:
        assert span.links == [calls[span.attributes["evalkit.result_id"]].span_id]
