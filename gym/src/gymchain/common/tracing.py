"""OpenTelemetry traces: one trace follows a request from the gateway through a service, the outbox/stream or a
RabbitMQ job, to the process that consumes it.

Every process gets a tracer provider (service name = its ``service.name`` resource), so trace and span ids exist
for logs even when nothing is exported. When ``GYM_OTLP_ENDPOINT`` is set (``gymchain up`` sets it while the
local stack runs: the rotel collector on 127.0.0.1:4318), finished spans are batched and exported over OTLP/HTTP.

Context crosses process boundaries as W3C ``traceparent`` headers:

- HTTP: :func:`inject` into the outgoing headers (gateway → service); the server side extracts them in
  :class:`gymchain.common.http.RequestIdMiddleware`.
- RabbitMQ: the publishing side puts them in the message headers (``enqueue_job``); the worker's delivery span is
  their child.
- Outbox → Kafka-protocol stream: :func:`outbox_context` is stored with the event row, the relay's publish span is
  its child and its own context travels in the Kafka message headers to the consumer's span.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode

log = logging.getLogger(__name__)
TRACE_KEY = "_trace"  # where an outbox payload keeps its trace context (stripped before publishing)
_lock = threading.Lock()
_service: str | None = None
_tracer: trace.Tracer | None = None


def setup(service: str) -> None:
    """Install this process's tracer provider once (the first caller names the service)."""
    global _service
    with _lock:
        if _service is not None:
            return
        _service = service
        provider = TracerProvider(resource=Resource.create({"service.name": f"gymchain-{service}",
                                                             "service.namespace": "gymchain"}),
                                  sampler=ParentBased(TraceIdRatioBased(sample_ratio())))
        endpoint = os.environ.get("GYM_OTLP_ENDPOINT", "").rstrip("/")
        if endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces",
                                                                            timeout=5),
                                                           schedule_delay_millis=1000))
        trace.set_tracer_provider(provider)


def sample_ratio() -> float:
    """``GYM_TRACE_SAMPLE_RATIO`` (default 1: every trace). Unsampled requests keep valid trace ids for the logs
    but record nothing; a trace is kept or dropped whole (the root decides, children follow their parent)."""
    raw = os.environ.get("GYM_TRACE_SAMPLE_RATIO", "1")
    try:
        ratio = float(raw)
    except ValueError:
        raise SystemExit(f"GYM_TRACE_SAMPLE_RATIO={raw!r}: expected a number from 0 to 1") from None
    if not 0 <= ratio <= 1:
        raise SystemExit(f"GYM_TRACE_SAMPLE_RATIO={raw!r}: expected a number from 0 to 1")
    return ratio


def tracer() -> trace.Tracer:
    """The process's tracer (made once: the SDK's get_tracer costs more than a span)."""
    global _tracer
    if _tracer is None:
        if _service is None:
            setup(os.environ.get("GYM_SERVICE_NAME", "process"))
        _tracer = trace.get_tracer("gymchain")
    return _tracer


def flush(timeout_ms: int = 5000) -> None:
    """Export what is buffered (called before a short-lived process exits)."""
    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush(timeout_ms)


def current_ids() -> tuple[str, str]:
    """``(trace_id, span_id)`` of the current span as hex, or ``("", "")`` outside any span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return "", ""
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def span_trace_id(current: trace.Span) -> str:
    return format(current.get_span_context().trace_id, "032x")


def inject(headers: dict) -> dict:
    """Add the current context (``traceparent``) to ``headers`` in place; returns them."""
    propagate.inject(headers)
    return headers


def extract(headers: Mapping | None) -> otel_context.Context:
    return propagate.extract(dict(headers or {}))


def outbox_context() -> dict[str, str]:
    """The current context as a small dict to store with an outbox event ({} outside any span)."""
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(carrier)
    return carrier


def kafka_headers(raw) -> dict[str, str]:
    """confluent-kafka's header list ``[(key, bytes)]`` as a str dict."""
    return {k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v)) for k, v in (raw or [])}


@contextlib.contextmanager
def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL, parent_headers: Mapping | None = None,
         attributes: dict | None = None) -> Iterator[trace.Span]:
    """A span, child of the context in ``parent_headers`` when given (else of the current span).

    An exception escaping the block marks the span as an error and is re-raised.
    """
    ctx = extract(parent_headers) if parent_headers is not None else None
    with tracer().start_as_current_span(name, context=ctx, kind=kind, attributes=attributes or {},
                                        record_exception=True, set_status_on_exception=True) as current:
        yield current


def set_error(current: trace.Span, message: str) -> None:
    current.set_status(Status(StatusCode.ERROR, message[:200]))
