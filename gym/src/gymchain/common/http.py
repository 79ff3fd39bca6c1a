"""What every gymchain FastAPI app shares: offline Swagger, request ids, error handlers, health."""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import re
import time
import uuid

from fastapi import FastAPI, Request, Response
from fastapi_offline import FastAPIOffline
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware.base import BaseHTTPMiddleware

from gymchain.common import logs, metrics, tracing
from gymchain.common.db import get_engine
from gymchain.common.errors import NotFound, install_error_handlers

REQUEST_ID_HEADER = "X-Request-ID"
TRACE_ID_HEADER = "X-Trace-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
log = logging.getLogger("gymchain.http")
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# FastAPI >= 0.16x traces requests by itself once a tracer provider exists: that would duplicate the server span
# RequestIdMiddleware opens (and add three spans per request); ours is the one kept.
NATIVE_TELEMETRY_OFF = ({"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}
                        if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})
QUIET_PATHS = frozenset({"/metrics", "/health", "/v1/traces"})


def configure_logging(level: int = logging.INFO) -> None:
    """JSON records with request and trace ids on stderr (and the central syslog when configured); idempotent."""
    logs.configure("process", level)


def incoming_request_id(value: str | None) -> str:
    """Keep a well-formed incoming id (so one id follows a request across services), else make a new one."""
    if value and _REQUEST_ID_RE.match(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware(BaseHTTPMiddleware):
    """Adopt or create the request id, expose it to logs, echo it, and log one access line per request.

    It also opens the request's server span (child of an incoming ``traceparent``) and records the RED metrics
    by route template (:mod:`gymchain.common.metrics`)."""

    def __init__(self, app, service: str = "service"):
        super().__init__(app)
        self.service = service

    async def dispatch(self, request: Request, call_next):
        request.state.request_id = incoming_request_id(request.headers.get(REQUEST_ID_HEADER))
        token = current_request_id.set(request.state.request_id)
        started = time.perf_counter()
        in_flight = metrics.HTTP_IN_FLIGHT.labels(self.service)
        in_flight.inc()
        status, route = 500, None
        quiet = request.url.path in QUIET_PATHS  # scrapes and probes: counted, not traced or logged
        try:
            with (contextlib.nullcontext() if quiet else
                  tracing.span(f"{request.method} {request.url.path}", kind=tracing.SpanKind.SERVER,
                               parent_headers=request.headers,
                               attributes={"http.request.method": request.method,
                                           "gym.request_id": request.state.request_id})) as span:
                response = await call_next(request)
                status = response.status_code
                route = metrics.route_label(request.scope, _service_names)
                if span is not None:
                    span.update_name(f"{request.method} {route}")
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        tracing.set_error(span, f"HTTP {status}")
                    # the id to look the request up with: gymchain logs --trace-id, /traces/<id>
                    response.headers[TRACE_ID_HEADER] = tracing.span_trace_id(span)
                    elapsed = time.perf_counter() - started
                    log.info("%s %s %d %.1f ms", request.method, request.url.path, status, elapsed * 1000,
                             extra={"method": request.method, "route": route, "status": status,
                                    "duration_ms": round(elapsed * 1000, 1)})  # inside the span: has its ids
            response.headers[REQUEST_ID_HEADER] = request.state.request_id
            return response
        finally:
            in_flight.dec()
            route = route or metrics.route_label(request.scope, _service_names)
            metrics.observe_request(self.service, request.method, route, status, time.perf_counter() - started)
            current_request_id.reset(token)


def _service_names() -> list[str]:
    from gymchain.common.settings import get_settings

    return list(get_settings().service_urls())


def create_app(name: str, description: str, version: str = "0.1.0", with_health: bool = True) -> FastAPI:
    """A service app: Swagger UI served offline at /docs, JSON errors, X-Request-ID, GET /health, JSON logs,
    traces and Prometheus metrics at GET /metrics."""
    logs.configure(name)
    tracing.setup(name)
    app = FastAPIOffline(title=f"gymchain {name}", description=description, version=version, **NATIVE_TELEMETRY_OFF)
    app.add_middleware(RequestIdMiddleware, service=name)
    install_error_handlers(app)

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        """Prometheus text exposition for the scraper on the private network (no personal data in it); never
        through the gateway, which marks what it forwards with X-Forwarded-For."""
        if "x-forwarded-for" in request.headers:
            raise NotFound("no route /metrics through the gateway")
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    document_one_line_errors(app)
    if with_health:
        @app.get("/health", tags=["health"], summary="Liveness and database reachability (no authentication)")
        def health() -> dict:
            return database_health(name)

    return app


ERROR_SCHEMA = {
    "title": "Error", "type": "object", "required": ["detail"],
    "description": "Every 4xx/5xx answer: one line naming the field, value and what was expected.",
    "properties": {"detail": {"type": "string", "examples": ["body.capacity: Input should be >= 1 (got '0')"]},
                   "request_id": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
}


def document_one_line_errors(app: FastAPI) -> None:
    """Make the OpenAPI document say what a 422 really carries (our one-line error, not FastAPI's list)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schemas = schema.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in schemas:
            schemas["HTTPValidationError"] = ERROR_SCHEMA
            schemas.pop("ValidationError", None)
        return schema

    app.openapi = openapi


def database_health(name: str) -> dict:
    status = {"service": name, "status": "ok"}
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        status["database"] = "ok"
    except SQLAlchemyError as exc:  # reported, not raised: health must answer
        status.update(status="degraded", database=type(exc).__name__)
    return status


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "") or uuid.uuid4().hex
