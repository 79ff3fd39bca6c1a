"""Errors as JSON 4xx with one-line messages: ``{"detail": "...", "request_id": "..."}``.

Services raise :class:`ApiError` subclasses; validation errors, integrity violations and unknown exceptions are
turned into the same shape. A 500 never carries a traceback to the client (it is logged with the request id).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("gymchain.errors")


class ApiError(Exception):
    status = 400

    def __init__(self, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401

    def __init__(self, detail: str = "missing or invalid bearer token"):
        super().__init__(detail, {"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Unavailable(ApiError):
    status = 503


def _body(request: Request, detail: str) -> dict:
    return {"detail": detail, "request_id": getattr(request.state, "request_id", None)}


def validation_message(exc: RequestValidationError) -> str:
    """One line naming the field, the value and what was expected, e.g. ``body.capacity: ...``."""
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        value = err.get("input")
        shown = "" if isinstance(value, (dict, list)) or value is None else f" (got {str(value)[:60]!r})"
        parts.append(f"{where}: {err.get('msg', 'invalid')}{shown}")
    return "; ".join(parts) or "invalid request"


CONSTRAINT_MESSAGES: dict[str, str] = {}


def integrity_message(exc: IntegrityError) -> str:
    """Map a constraint name (from the naming convention) to a readable sentence."""
    name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
    return CONSTRAINT_MESSAGES.get(name, f"conflicts with existing data ({name or 'constraint'})")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse(_body(request, exc.detail), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return JSONResponse(_body(request, validation_message(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        return JSONResponse(_body(request, detail), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError):
        return JSONResponse(_body(request, integrity_message(exc)), status_code=409)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError):
        # the database refused a value the schema let through (e.g. beyond BIGINT): the client's input, not a bug
        kind = type(exc.orig).__name__ if exc.orig is not None else "DataError"
        return JSONResponse(_body(request, f"a value is out of range for the database ({kind})"), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error (request %s)", getattr(request.state, "request_id", "-"))
        return JSONResponse(_body(request, "internal error; quote the request id to the operators"),
                            status_code=500)
