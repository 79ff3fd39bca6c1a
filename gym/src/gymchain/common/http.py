"""What every gymchain FastAPI app shares: offline Swagger, request ids, error handlers, health."""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware.base import BaseHTTPMiddleware

from gymchain.common.db import get_engine
from gymchain.common.errors import install_error_handlers

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
log = logging.getLogger("gymchain.http")
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Put the current request id on every log record (``%(request_id)s``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """One line per record, with the request id, on stderr (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(f, RequestIdFilter) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level)


def incoming_request_id(value: str | None) -> str:
    """Keep a well-formed incoming id (so one id follows a request across services), else make a new one."""
    if value and _REQUEST_ID_RE.match(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware(BaseHTTPMiddleware):
    """Adopt or create the request id, expose it to logs, echo it, and log one access line per request."""

    async def dispatch(self, request: Request, call_next):
        request.state.request_id = incoming_request_id(request.headers.get(REQUEST_ID_HEADER))
        token = current_request_id.set(request.state.request_id)
        started = time.perf_counter()
        try:
            response = await call_next(request)
            response.headers[REQUEST_ID_HEADER] = request.state.request_id
            log.info("%s %s %d %.1f ms", request.method, request.url.path, response.status_code,
                     (time.perf_counter() - started) * 1000)
            return response
        finally:
            current_request_id.reset(token)


def create_app(name: str, description: str, version: str = "0.1.0", with_health: bool = True) -> FastAPI:
    """A service app: Swagger UI served offline at /docs, JSON errors, X-Request-ID, GET /health."""
    configure_logging()
    app = FastAPIOffline(title=f"gymchain {name}", description=description, version=version)
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)

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
