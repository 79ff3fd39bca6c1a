"""The web front end (member portal + manager console), served by the gateway under ``/app/``.

Plain HTML, CSS and JavaScript modules shipped inside the package: no CDN, no build step. The pages talk to the
API through the same gateway (``/api/...``), so they share its authentication, rate limits and request ids.
The gateway includes :data:`router` (one line in ``gymchain.gateway.app``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from gymchain.common.errors import NotFound

STATIC_DIR = Path(__file__).with_name("static")
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
               ".ico": "image/x-icon", ".json": "application/json"}
# Same-origin only: scripts, styles and API calls never leave the gateway (no CDN, no inline script).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
router = APIRouter(include_in_schema=False)


def asset_names() -> dict[str, Path]:
    """The servable files, by name: only what is in the static folder (no path from the URL reaches the disk)."""
    return {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and p.suffix in MEDIA_TYPES}


ASSETS = asset_names()


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=307)


@router.get("/app")
def app_without_slash() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=307)


@router.get("/app/{name}")
def asset(name: str) -> FileResponse:
    path = ASSETS.get(name or "index.html")
    if path is None:
        raise NotFound(f"no web asset {name[:60]!r}")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=SECURITY_HEADERS)


@router.get("/app/")
def index() -> FileResponse:
    return asset("index.html")
