"""Token authentication of the web UI (Jupyter-style): every request carries the server's token.

A request is let through when it sends `Authorization: Bearer <token>` or the `genlab_token` cookie. Opening any
page with `?token=<token>` (the URL `genlab serve` prints) sets that cookie (HttpOnly, SameSite=Strict) and redirects
to the same URL without the token, so it leaves the address bar and the browser history. Anything else gets 401:
a one-line JSON error under /api/, a small page saying where the URL is for the rest. Tokens are compared with
secrets.compare_digest, and `token=...` is cut from uvicorn's access log lines.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from genlab.errors import GenlabError

COOKIE = "genlab_token"
TOKEN_ENV = "GENLAB_WEB_TOKEN"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
API_MESSAGE = ("missing or wrong token: send 'Authorization: Bearer <token>' or open the URL printed by genlab serve "
               "(http://HOST:PORT/?token=...)")
LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>genlab: token needed</title></head>
<body><h1>genlab: token needed</h1>
<p>This server needs its token: open the URL printed by <code>genlab serve</code>
(<code>http://HOST:PORT/?token=...</code>), or paste the token here.</p>
<form method="get" action="/"><input name="token" type="password" autocomplete="off" aria-label="token">
<button type="submit">Open</button></form></body></html>
"""
LOGIN_CSP = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN_IN_TEXT = re.compile(r"(token=)[^&\s\"']*")


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def choose_token(host: str, token: str | None, no_auth: bool) -> str | None:
    """`genlab serve`'s token: --token, else $GENLAB_WEB_TOKEN, else a random one; None with --no-auth, which only a
    loopback host may use."""
    if no_auth:
        if token:
            raise GenlabError("--no-auth and --token exclude each other")
        if not is_loopback(host):
            raise GenlabError(f"--no-auth is refused with --host {host}: only a loopback host "
                              "(127.0.0.1, ::1, localhost) may serve without a token")
        return None
    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    if token is not None and (len(token) < 16 or not _URL_SAFE.fullmatch(token)):
        raise GenlabError(f"the token (--token or ${TOKEN_ENV}) must be at least 16 characters of "
                          "A-Z a-z 0-9 - _ (it goes into a URL and a cookie)")
    return token or secrets.token_urlsafe(32)


def _matches(sent: str | None, token: str) -> bool:
    return sent is not None and secrets.compare_digest(sent.encode(), token.encode())


def _bearer(headers: dict[bytes, bytes]) -> str | None:
    scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _cookie(headers: dict[bytes, bytes]) -> str | None:
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value.strip('"')
    return None


def _refused(path: str) -> Any:
    if path.startswith("/api/"):
        return JSONResponse({"error": API_MESSAGE}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return HTMLResponse(LOGIN_PAGE, status_code=401, headers={"WWW-Authenticate": "Bearer",
                                                             "Content-Security-Policy": LOGIN_CSP})


def _into_cookie(scope: dict, token: str) -> Any:
    """The answer to `GET path?token=<token>`: the cookie, and a redirect to the path without the token."""
    kept = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            if k != "token"]
    target = scope.get("path", "/") + (f"?{urlencode(kept)}" if kept else "")
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
    return resp


class TokenAuth:
    """ASGI middleware in front of everything the app serves (routes, the /static mount, /docs, the OpenAPI JSON)."""

    def __init__(self, app: Any, token: str):
        if not token:
            raise ValueError("TokenAuth needs a non-empty token")
        self.app, self.token = app, token

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD") and _matches(query.get("token"),
                                                                                           self.token):
            return await _into_cookie(scope, self.token)(scope, receive, send)  # even with a cookie: out of the URL
        if _matches(_bearer(headers), self.token) or _matches(_cookie(headers), self.token):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":  # none today; refused before the handshake all the same
            return await send({"type": "websocket.close", "code": 1008})
        return await _refused(scope.get("path", "/"))(scope, receive, send)


class RedactToken(logging.Filter):
    """Cut `token=...` from log records (uvicorn's access log prints the request line with its query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_TEXT.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _TOKEN_IN_TEXT.sub(r"\1[redacted]", record.msg)
        return True


def redact_access_log() -> None:
    """Install RedactToken on uvicorn's loggers once (idempotent)."""
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactToken) for f in logger.filters):
            logger.addFilter(RedactToken())
