"""The FastAPI app behind `genlab serve`: a self-contained page plus a JSON API over genlab.api.

Endpoints (limits in genlab.web.schemas.LIMITS, also served at /api/config):

    GET  /                      the page (HTML/JS/CSS from genlab/web/static, nothing from a CDN)
    GET  /api/config            limits, samplers, phases, stems, queue settings
    GET  /api/snapshots         loadable snapshots (pretrained names, run directories under --runs-dir), the default
                                per kind, and the files skipped as unreadable (never a 500 for everyone)
    GET  /api/status            the job queue (admitted, running, waiting, completed, failed, refused, cancelled)
    GET  /api/jobs/{key}        progress of the request sent with progress_key=key (state, step, total)
    GET  /docs                  the OpenAPI page (served offline from genlab/web/static, reads /api/openapi.json)
    POST /api/generate          images (JSON with per-cell PNGs, or format=png for the grid alone)
    POST /api/interpolate       slerp/lerp strip between two seeds (VAE, GAN, autoencoder; diffusion via DDIM noise)
    POST /api/channels/esmda    ES-MDA conditioning of channel realizations
    POST /api/channels/inpaint  inpainting of a diffusion channel model's realizations to the same wells
    POST /api/latent/basis      the latent explorer's sliders: principal directions (or chosen dimensions) of a
                                model's codes, and the image at their centre
    POST /api/latent/decode     the image at given slider positions
    GET  /api/audio/tracks      MUSDB18 test tracks in the data directory (or why there are none)
    POST /api/audio/regenerate  query parameters; body = an uploaded WAV (optional, else track=)

Every request needs the server's token (genlab.web.auth): `Authorization: Bearer <token>`, or the cookie set when a
page is opened with ?token=<token>; without it 401 (JSON under /api/, a short page elsewhere), static files included.

Errors are JSON {"error": "<one line>"}: 422 for a parameter outside its limits (naming both), 400 for a
GenlabError (bad snapshot id, malformed snapshot, wrong model kind, unreadable upload), 413 for an oversized body,
503 when the job queue is full, 499 when the client went away, 500 (type only, details in the server log) for
anything unexpected. Never a traceback, and never a server path: messages name snapshots by their ids.
A client that disconnects gives its queue slot back (a waiting job is dropped, a running one stops at its next
step).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from genlab import api
from genlab.errors import GenlabError
from genlab.web import explorer, tasks
from genlab.web.auth import TokenAuth, redact_access_log
from genlab.web.catalog import SnapshotCatalog, default_snapshots
from genlab.web.jobs import Job, JobCancelled, JobQueue, QueueFull
from genlab.web.schemas import (
    LIMITS,
    PHASES,
    PROGRESS_KEY,
    SAMPLER_NAMES,
    TARGETS,
    AudioRequest,
    EsmdaRequest,
    GenerateRequest,
    InpaintRequest,
    InterpolateRequest,
    LatentBasisRequest,
    LatentDecodeRequest,
    validation_message,
)

log = logging.getLogger("genlab.web")
STATIC = resources.files("genlab.web") / "static"
UPLOAD_PATHS = ("/api/audio/regenerate",)
# The page loads only its own files; images and audio come back as data: URIs.
CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class PathScrubber:
    """Keep the server's file system out of messages: the runs and data directories, the temp directory, the
    installation and the home and working directories are cut from any path in a message (a snapshot file under the
    runs directory becomes its id). Paths the client sent itself are echoed unchanged."""

    def __init__(self, *roots: str | os.PathLike[str] | None):
        installed = os.path.dirname(os.path.dirname(os.path.abspath(api.__file__)))  # .../src or site-packages
        places = [*roots, tempfile.gettempdir(), installed, sys.prefix,
                  sys.base_prefix, os.path.expanduser("~"), os.getcwd()]
        prefixes = set()
        for root in filter(None, places):
            for form in (str(root), os.path.abspath(root), os.path.realpath(root)):
                if form.rstrip("/"):
                    prefixes.add(form.rstrip("/") + "/")
        self.prefixes = sorted(prefixes, key=len, reverse=True)

    def __call__(self, message: str) -> str:
        for prefix in self.prefixes:
            message = message.replace(prefix, "")
        return message


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse request bodies over the limit (413) before the app parses them.

    Content-Length is checked up front; chunked bodies are counted as they arrive."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = scope["path"] in UPLOAD_PATHS
        limit = LIMITS["upload_bytes"] if upload else LIMITS["json_bytes"]
        what = "uploaded file" if upload else "request body"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _error(413, f"{what} of {length.decode(errors='replace')} bytes exceeds the limit of "
                                     f"{limit} bytes")(scope, receive, send)
        seen, started = 0, False

        async def counted_receive() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        async def tracked_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await _error(413, f"{what} exceeds the limit of {limit} bytes")(scope, receive, send)


def _add_error_handlers(app: FastAPI, scrub: PathScrubber) -> None:
    """Every error leaves as JSON {"error": one line}: user mistakes 400/422, a full queue 503, the rest 500."""
    @app.exception_handler(GenlabError)
    async def _genlab_error(_req: Request, e: GenlabError) -> JSONResponse:
        return _error(400, scrub(str(e).splitlines()[0]) if str(e) else type(e).__name__)

    @app.exception_handler(JobCancelled)
    async def _gone(_req: Request, e: JobCancelled) -> JSONResponse:
        return _error(499, "request cancelled: the client went away")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, e: RequestValidationError) -> JSONResponse:
        return _error(422, validation_message(list(e.errors())))

    @app.exception_handler(QueueFull)
    async def _busy(_req: Request, e: QueueFull) -> JSONResponse:
        return _error(503, str(e), headers={"Retry-After": "5"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, e: StarletteHTTPException) -> JSONResponse:
        return _error(e.status_code, scrub(str(e.detail)))

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, e: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", req.method, req.url.path)
        return _error(500, f"internal error ({type(e).__name__}); the server log has the details")


def create_app(runs_dir: str | os.PathLike[str] = "runs", data_dir: str | None = None, workers: int = 1,
               queue: int = 20, cache_size: int = 4, device: str = "auto", *, token: str | None) -> FastAPI:
    """The web app. `data_dir` holds musdb/MUSDB18-7 (default $GENLAB_DATA_DIR); `queue` bounds admitted jobs;
    every request must carry `token` (None only for `genlab serve --no-auth` on a loopback address)."""
    catalog = SnapshotCatalog(runs_dir, cache_size=cache_size, device=device)
    jobs = JobQueue(workers=workers, capacity=queue)
    data_dir = data_dir or os.environ.get("GENLAB_DATA_DIR") or None

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        redact_access_log()  # after uvicorn configured its loggers
        yield
        jobs.shutdown()

    app = FastAPI(title="genlab", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  lifespan=lifespan, description="genlab's web API: generate, interpolate, ES-MDA and audio "
                                                 "regeneration from snapshots. Every parameter is bounded.")
    app.state.catalog, app.state.jobs, app.state.data_dir = catalog, jobs, data_dir
    app.add_middleware(BodyLimit)
    if token is not None:
        app.add_middleware(TokenAuth, token=token)  # added last = outermost: checked before the body is read
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    _add_error_handlers(app, PathScrubber(runs_dir, data_dir))
    _add_pages_and_listings(app, catalog, jobs, data_dir)
    _add_job_routes(app, catalog, jobs, data_dir)
    return app


def _add_pages_and_listings(app: FastAPI, catalog: SnapshotCatalog, jobs: JobQueue, data_dir: str | None) -> None:
    """The page, the API reference, and the cheap GET endpoints (no job queue)."""
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), headers={"Content-Security-Policy": CSP})

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(str(STATIC / "docs.html"), headers={"Content-Security-Policy": CSP})

    @app.get("/api/config")
    async def config() -> dict[str, Any]:
        return {"limits": LIMITS, "samplers": list(SAMPLER_NAMES), "phases": list(PHASES), "stems": list(TARGETS),
                "queue": {"workers": jobs.workers, "capacity": jobs.capacity}}

    @app.get("/api/snapshots")
    async def snapshots() -> dict[str, Any]:
        listed, skipped = await _in_thread(catalog.listing)
        return {"snapshots": listed, "defaults": default_snapshots(listed), "skipped": skipped}

    @app.get("/api/status")
    async def status() -> dict[str, Any]:
        return jobs.stats()

    @app.get("/api/jobs/{key}", response_model=None)
    async def job_progress(key: Annotated[str, Path(pattern=PROGRESS_KEY)]) -> dict[str, Any] | JSONResponse:
        found = jobs.progress(key)
        if found is None:
            return _error(404, f"no job with progress key '{key}' (it may not have been admitted yet)")
        return found

    @app.get("/api/audio/tracks")
    async def audio_tracks() -> dict[str, Any]:
        return await _in_thread(tasks.musdb_tracks, data_dir)


def _add_job_routes(app: FastAPI, catalog: SnapshotCatalog, jobs: JobQueue, data_dir: str | None) -> None:
    """The endpoints that run models: each is a job in the bounded queue, cancelled when its client goes away,
    with per-step progress under its progress_key."""
    @app.post("/api/generate", response_model=None)
    async def generate(req: GenerateRequest, request: Request) -> dict[str, Any] | Response:
        result = await jobs.run(tasks.generate, catalog, req, job=Job(req.progress_key),
                                disconnected=request.is_disconnected)
        return Response(result, media_type="image/png") if isinstance(result, bytes) else result

    @app.post("/api/interpolate")
    async def interpolate(req: InterpolateRequest, request: Request) -> dict[str, Any]:
        return await jobs.run(tasks.interpolate, catalog, req, job=Job(req.progress_key),
                              disconnected=request.is_disconnected)

    @app.post("/api/channels/esmda")
    async def esmda(req: EsmdaRequest, request: Request) -> dict[str, Any]:
        return await jobs.run(tasks.esmda, catalog, req, job=Job(req.progress_key),
                              disconnected=request.is_disconnected)

    @app.post("/api/channels/inpaint")
    async def inpaint(req: InpaintRequest, request: Request) -> dict[str, Any]:
        return await jobs.run(tasks.inpaint_wells, catalog, req, job=Job(req.progress_key),
                              disconnected=request.is_disconnected)

    @app.post("/api/latent/basis")
    async def latent_basis(req: LatentBasisRequest, request: Request) -> dict[str, Any]:
        return await jobs.run(explorer.latent_basis, catalog, req, data_dir, job=Job(req.progress_key),
                              disconnected=request.is_disconnected)

    @app.post("/api/latent/decode")
    async def latent_decode(req: LatentDecodeRequest, request: Request) -> dict[str, Any]:
        return await jobs.run(explorer.latent_decode, catalog, req, data_dir, job=Job(req.progress_key),
                              disconnected=request.is_disconnected)

    @app.post("/api/audio/regenerate")
    async def audio_regenerate(req: Annotated[AudioRequest, Query()], request: Request) -> dict[str, Any]:
        body = await request.body()
        return await jobs.run(tasks.audio, catalog, req, body or None, data_dir, job=Job(req.progress_key),
                              disconnected=request.is_disconnected)


async def _in_thread(fn: Any, *args: Any) -> Any:
    """Cheap blocking work (directory scans) off the event loop, outside the job queue."""
    import anyio

    return await anyio.to_thread.run_sync(fn, *args)
