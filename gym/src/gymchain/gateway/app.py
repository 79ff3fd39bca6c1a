"""The API gateway app (port 8000): ``uvicorn gymchain.gateway.app:app``.

For every request to ``/api/<service>/<path>`` it: limits the rate (per user, or per IP when anonymous; logins per
IP), checks the bearer token unless the route is public, forwards the request over HTTP with the request id, and
relays the answer. Services check the token again and authorise; the gateway does not trust itself alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager

import httpx
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gymchain.common import tracing
from gymchain.common.errors import ApiError, NotFound, Unauthorized
from gymchain.common.http import REQUEST_ID_HEADER, create_app
from gymchain.common.security.tokens import decode_access_token
from gymchain.common.settings import get_settings
from gymchain.web import router as web_router

from . import openapi, ratelimit

DESCRIPTION = """The single public entry of gymchain. Every service is reachable under `/api/<service>/...`
(auth, members, analytics, vision, assistant). Log in with `POST /api/auth/token` (OAuth2 password flow, the
**Authorize** button below), then call the other routes with the bearer token. Requests are rate-limited per user
(per IP when anonymous; `429` with `Retry-After` when exceeded) and carry an `X-Request-ID` end to end."""

log = logging.getLogger("gymchain.gateway")
PUBLIC = {("auth", "token"), ("auth", "refresh"), ("auth", "logout")}
PUBLIC_SUFFIXES = ("health", "openapi.json")
FORWARDED_REQUEST_HEADERS = ("authorization", "content-type", "accept", "accept-language")
RELAYED_RESPONSE_HEADERS = ("content-type", "www-authenticate", "retry-after", "content-disposition")
SPEC_TTL_S = 60


@asynccontextmanager
async def lifespan(app):
    settings = get_settings()
    # pooled connections expire (2 s) well before the services' keep-alive timeout (5 s by default), so the
    # gateway never reuses a connection the service is closing at that moment (RemoteProtocolError -> 503)
    app.state.http = httpx.AsyncClient(timeout=settings.upstream_timeout_s,
                                       limits=httpx.Limits(max_connections=200, max_keepalive_connections=50,
                                                           keepalive_expiry=2.0))
    app.state.redis = Redis.from_url(settings.redis_url)
    app.state.spec = (0.0, None)
    yield
    await app.state.http.aclose()
    await app.state.redis.aclose()


app = create_app("gateway", DESCRIPTION, with_health=False)
app.router.lifespan_context = lifespan
app.include_router(web_router)  # the web front end under /app/ (G3's gymchain.web)


class TooManyRequests(ApiError):
    status = 429


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def is_public(service: str, path: str) -> bool:
    return (service, path) in PUBLIC or path in PUBLIC_SUFFIXES


async def enforce_rate_limit(request: Request, service: str, path: str, user: str | None) -> dict[str, str]:
    settings = get_settings()
    if (service, path) == ("auth", "token"):
        client, limit = f"login:{client_ip(request)}", settings.login_rate_limit_per_minute
    else:
        client, limit = user or f"ip:{client_ip(request)}", settings.rate_limit_per_minute
    try:
        verdict = await ratelimit.hit(request.app.state.redis, settings.redis_prefix, client, limit)
    except RedisError as exc:
        log.warning("rate limit not applied, Redis unreachable: %s", type(exc).__name__)
        return {}  # fail open: a Redis outage must not take the whole API down
    headers = {"X-RateLimit-Limit": str(verdict.limit), "X-RateLimit-Remaining": str(verdict.remaining)}
    if not verdict.allowed:
        raise TooManyRequests(f"rate limit of {limit} requests per minute exceeded; retry in {verdict.retry_after_s} s",
                       headers | {"Retry-After": str(verdict.retry_after_s)}) from None
    return headers


def authenticate(request: Request, service: str, path: str) -> str | None:
    """The user id from a valid bearer token; None on public routes without one; 401 otherwise."""
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else None
    if token is None:
        if is_public(service, path):
            return None
        raise Unauthorized()
    return f"user:{decode_access_token(token).user_id}"


@app.api_route("/api/{service}/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
               include_in_schema=False)
async def proxy(service: str, path: str, request: Request) -> Response:
    upstream = get_settings().service_urls().get(service)
    if upstream is None:
        raise NotFound(f"no service {service!r}; known: {', '.join(get_settings().service_urls())}")
    user = authenticate(request, service, path)
    limit_headers = await enforce_rate_limit(request, service, path, user)
    headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED_REQUEST_HEADERS}
    headers[REQUEST_ID_HEADER] = request.state.request_id
    headers["X-Forwarded-For"] = client_ip(request)
    tracing.inject(headers)  # traceparent: the service's server span is a child of this request's
    try:
        answer = await request.app.state.http.request(request.method, f"{upstream}/{path}",
                                                      params=request.query_params, headers=headers,
                                                      content=await request.body())
    except httpx.HTTPError as exc:
        return JSONResponse({"detail": f"service {service} unavailable ({type(exc).__name__})",
                             "request_id": request.state.request_id}, status_code=503)
    relayed = {k: v for k, v in answer.headers.items() if k.lower() in RELAYED_RESPONSE_HEADERS}
    return Response(answer.content, status_code=answer.status_code, headers=relayed | limit_headers)


async def service_health(client: httpx.AsyncClient, name: str, url: str) -> dict:
    try:
        response = await client.get(f"{url}/health", timeout=3)
        return response.json() if response.status_code == 200 else {"status": f"http {response.status_code}"}
    except (httpx.HTTPError, ValueError) as exc:
        return {"status": "down", "error": type(exc).__name__}


@app.get("/health", tags=["health"], summary="The gateway and every service behind it (no authentication)")
async def health(request: Request) -> dict:
    urls = get_settings().service_urls()
    answers = await asyncio.gather(*(service_health(request.app.state.http, n, u) for n, u in urls.items()))
    services = dict(zip(urls, answers, strict=True))
    try:
        redis_ok = bool(await request.app.state.redis.ping())
    except RedisError:
        redis_ok = False
    ok = redis_ok and all(a.get("status") == "ok" for a in answers)
    return {"service": "gateway", "status": "ok" if ok else "degraded", "redis": "ok" if redis_ok else "down",
            "services": services}


def aggregated_openapi() -> dict:
    """Cached for a minute: the page shows every service's routes under /api/<service>."""
    built_at, spec = app.state.spec if hasattr(app.state, "spec") else (0.0, None)
    if spec is None or time.monotonic() - built_at > SPEC_TTL_S:
        app.openapi_schema = None
        own = type(app).openapi(app)
        spec = openapi.aggregate(own, get_settings().service_urls())
        app.state.spec = (time.monotonic(), spec)
    return spec


app.openapi = aggregated_openapi
