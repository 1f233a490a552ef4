"""OpenTelemetry export: each suite's run as a trace, sent over OTLP/HTTP.

Imported only when a run asks for it (``--otel`` or ``otel:`` in evalkit.yaml); it needs the
``otel`` extra (``opentelemetry-sdk``, ``opentelemetry-exporter-otlp-proto-http``).

The trace of one suite's run (docs/opentelemetry.md):

* a root span ``evalkit.run <suite>`` from the first call to the stored summary;
* one child span per call through the call service — the run's calls, judge calls, pairwise
  answer-B generations — named ``chat <model>`` (``text_completion <model>`` in completion
  mode) with the GenAI semantic-convention attributes and evalkit's own (``evalkit.*``);
  each attempt is a span event
  (``evalkit.attempt``), so retries and fallback members show on the call's timeline;
* the call of a planned item stays open until its result is scored (scores come later, in
  batches), then ends at the call's own end time with the scores as attributes
  (``evalkit.score.<scorer>.value`` / ``.passed``); a judge call links to the call it grades;
* results answered by the response cache before any call get a zero-length span, so every
  result of the run and its scores are in the trace.

A receiver that is down costs one bounded export (``timeout_s``) and one warning; the rest of
the command exports nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, set_span_in_context

from evalkit import __version__
from evalkit.config import OtelConfig, Project
from evalkit.contracts import RunOutcome
from evalkit.errors import InputError, redact
from evalkit.records import Result, Score
from evalkit.run import genai
from evalkit.run.calls import CallEvent

__all__ = ["OtelExporter", "open_exporter", "resolve_endpoint"]

DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"


def resolve_endpoint(config: OtelConfig) -> str:
    """The traces URL: the config's, else the standard OTLP environment variables."""
    if config.endpoint:
        return config.endpoint
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if base:
        return base.rstrip("/") + "/v1/traces"
    return DEFAULT_ENDPOINT


def _headers(config: OtelConfig, project: Project) -> dict[str, str] | None:
    if not config.headers_env:
        return None  # the exporter then reads OTEL_EXPORTER_OTLP_(TRACES_)HEADERS
    headers = {}
    for header, env in config.headers_env.items():
        value = os.environ.get(env)
        if not value:
            where = project.lines.line(("otel", "headers_env", header)) if project.lines else None
            raise InputError(
                f"otel header '{header}' comes from ${env}, which is not set",
                path=project.lines.path if project.lines else None,
                line=where,
                fix=f"export {env}=... before the run (or remove the header)",
            )
        headers[header] = value
    return headers


def open_exporter(config: OtelConfig, project: Project) -> OtelExporter:
    """The run observer exporting to the configured receiver."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = resolve_endpoint(config)
    session = _session()
    inner = OTLPSpanExporter(
        endpoint=endpoint,
        headers=_headers(config, project),
        timeout=config.timeout_s,
        session=session,
    )
    return OtelExporter(inner, config, endpoint, session)


class _Guarded(SpanExporter):
    """Passes batches on until one fails; after that, drops them (a receiver that is down
    must not hold each batch for the whole timeout)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.failed = False
        self.exported = 0
        self.dropped = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.failed:
            self.dropped += len(spans)
            return SpanExportResult.FAILURE
        result = self.inner.export(spans)
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.exported += len(spans)
            else:
                self.failed = True
                self.dropped += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class _Quiet(logging.Handler):
    """Keeps the OpenTelemetry SDK's log records off the terminal (evalkit says it once)."""

    def emit(self, record: logging.LogRecord) -> None:
        return


def _session() -> Any:
    """A requests session that remembers why the last export request failed."""
    import requests

    class Session(requests.Session):
        failure: str | None = None

        def request(self, *args: Any, **kwargs: Any) -> Any:
            try:
                response = super().request(*args, **kwargs)
            except requests.Timeout:
                self.failure = "no answer in time"
                raise
            except requests.RequestException as exc:
                found = re.search(r"\[Errno -?\d+\][^'\")]*", str(exc))
                self.failure = found.group(0).strip() if found else type(exc).__name__
                raise
            if response.status_code >= 400:
                self.failure = f"HTTP {response.status_code} {response.reason or ''}".strip()
            return response

    return Session()


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class OtelExporter:
    """A ``RunObserver`` (``evalkit.run.tracing``) that exports spans over OTLP/HTTP."""

    def __init__(
        self, exporter: SpanExporter, config: OtelConfig, endpoint: str, session: Any = None
    ) -> None:
        self.config = config
        self.endpoint = endpoint
        self.session = session
        self.guard = _Guarded(exporter)
        self.provider = TracerProvider(
            shutdown_on_exit=False,  # ``close()`` shuts it down, bounded
            resource=Resource.create(
                {
                    "service.name": config.service_name,
                    "service.version": __version__,
                    "telemetry.sdk.name": "opentelemetry",
                }
            ),
        )
        self.provider.add_span_processor(
            BatchSpanProcessor(self.guard, export_timeout_millis=int(config.timeout_s * 1000))
        )
        self.tracer = self.provider.get_tracer("evalkit", __version__)
        self._log = logging.getLogger("opentelemetry")
        self._quiet = _Quiet()
        self._propagate = self._log.propagate
        self._log.addHandler(self._quiet)
        self._log.propagate = False
        self._root: Span | None = None
        self._root_context: Context | None = None
        self._root_started = 0.0
        #: Open spans of the run's calls by result id, waiting for their scores.
        self._open: dict[str, tuple[Span, float]] = {}
        self._warned = False
        self._closed = False

    # -- the run --------------------------------------------------------------------------
    def run_started(self, run_id: str, suite: str, header: dict[str, Any]) -> None:
        """Open the root span of a suite's run."""
        self._root_started = time.time()
        providers = header.get("providers") or {}
        self._root = self.tracer.start_span(
            f"evalkit.run {suite}",
            start_time=_ns(self._root_started),
            attributes={
                "evalkit.run.id": run_id,
                "evalkit.suite": suite,
                "evalkit.cases": int(header.get("cases") or 0),
                "evalkit.repeat": int(header.get("repeat") or 1),
                "evalkit.prompts": [str(p) for p in header.get("prompts") or []],
                "evalkit.providers": [str(p) for p in providers],
            },
        )
        self._root_context = set_span_in_context(self._root)

    def run_ended(self, outcome: RunOutcome | None, error: BaseException | None) -> list[str]:
        """Close what is open, end the root span with the run's status, flush."""
        now = time.time()
        for span, ended in self._open.values():
            span.end(end_time=_ns(ended))
        self._open.clear()
        root = self._root
        if root is not None:
            if outcome is None:  # as the store marks it: interrupted, or incomplete (a bug)
                interrupted = isinstance(error, KeyboardInterrupt | asyncio.CancelledError)
                status = "interrupted" if interrupted else "incomplete"
                root.set_attribute("evalkit.run.status", status)
                root.set_status(
                    Status(StatusCode.ERROR, status if interrupted else type(error).__name__)
                )
            else:
                self._outcome_attributes(root, outcome)
            root.end(end_time=_ns(now))
        self._root, self._root_context = None, None
        self.provider.force_flush(int(self.config.timeout_s * 1000) + 500)
        return self._warning()

    def close(self) -> list[str]:
        """Flush and shut down (bounded: a failed receiver is no longer called)."""
        if self._closed:
            return []
        self._closed = True
        try:
            self.provider.shutdown()
        finally:
            self._log.removeHandler(self._quiet)
            self._log.propagate = self._propagate
        return self._warning()

    def _outcome_attributes(self, root: Span, outcome: RunOutcome) -> None:
        root.set_attribute("evalkit.run.status", outcome.status)
        root.set_attribute("evalkit.run.exit_code", outcome.exit_code)
        root.set_attribute("evalkit.run.planned", outcome.planned)
        root.set_attribute("evalkit.gates.failed", sum(g.passed is False for g in outcome.gates))
        summary = outcome.summary
        if summary.results is not None:
            root.set_attribute("evalkit.results", summary.results)
        if summary.run is not None:
            root.set_attribute("evalkit.cost_usd", float(summary.run.spent_usd))
            root.set_attribute("evalkit.retries", summary.run.retries)
            root.set_attribute("evalkit.cache_hits", summary.run.cache_hits)
        if outcome.status != "completed":
            root.set_status(Status(StatusCode.ERROR, redact(outcome.error or outcome.status)))

    def _warning(self) -> list[str]:
        if not self.guard.failed or self._warned:
            return []
        self._warned = True
        reason = getattr(self.session, "failure", None) or "the receiver did not accept the spans"
        return [
            redact(
                f"OpenTelemetry export to {self.endpoint} failed ({reason}); no more spans are "
                "sent by this command (the run itself is not affected)"
            )
        ]

    # -- calls ----------------------------------------------------------------------------
    def on_call(self, event: CallEvent) -> None:
        """One span per call: a run call stays open for its scores, others end now."""
        if self.guard.failed:  # the receiver is down: spend nothing more on spans
            return
        result_id = genai.result_id(event)
        links = []
        if event.purpose != "run" and result_id in self._open:
            links.append(Link(self._open[result_id][0].get_span_context()))
        span = self.tracer.start_span(
            f"{genai.operation(event.mode)} {event.model or event.provider}",
            context=self._root_context,
            kind=SpanKind.CLIENT,
            start_time=_ns(event.started),
            attributes=genai.call_attributes(event, self.config.capture_content),
            links=links,
        )
        for number, attempt in enumerate(event.attempts, 1):
            span.add_event(
                "evalkit.attempt",
                genai.attempt_attributes(number, attempt),
                timestamp=_ns(attempt.started) if attempt.started else None,
            )
        outcome = event.outcome
        if outcome.error is not None:
            span.set_status(Status(StatusCode.ERROR, redact(outcome.error.message)[:500]))
        if event.purpose == "run" and result_id is not None and self._root is not None:
            self._open[result_id] = (span, event.ended)
        else:
            span.end(end_time=_ns(event.ended))

    # -- scores ---------------------------------------------------------------------------
    def results_scored(self, results: Sequence[Result], scores: Sequence[Score]) -> None:
        """Put each result's scores on its call's span and end it."""
        by_result: dict[str, list[Score]] = {}
        for score in scores:
            by_result.setdefault(score.result_id, []).append(score)
        for result in results:
            opened = self._open.pop(result.id, None)
            if opened is None:
                if not result.cache_hit or self._root is None or self.guard.failed:
                    continue  # an item no call answered (e.g. refused by --max-cost)
                opened = self._cached_span(result)
            span, ended = opened
            span.set_attributes(genai.score_attributes(result, by_result.get(result.id, [])))
            span.end(end_time=_ns(ended))

    def _cached_span(self, result: Result) -> tuple[Span, float]:
        """A zero-length span for a result the response cache answered before any call."""
        at = max(result.created_at or self._root_started, self._root_started)
        attributes = genai.cached_attributes(result)
        span = self.tracer.start_span(
            f"{attributes['gen_ai.operation.name']} {result.model or result.provider}",
            context=self._root_context,
            kind=SpanKind.CLIENT,
            start_time=_ns(at),
            attributes=attributes,
        )
        return span, at
