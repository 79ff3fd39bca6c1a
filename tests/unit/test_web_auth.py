"""Token authentication of genlab.web: every route of the app (table-driven over app.routes, so a route added
without auth fails here) answers 401 without the token or with a wrong one, the ?token= → cookie → redirect flow,
the token kept out of uvicorn's access log, and `genlab serve`'s --token / $GENLAB_WEB_TOKEN / --no-auth rules."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time

import pytest

from genlab.errors import GenlabError
from genlab.web import create_app
from genlab.web.auth import COOKIE, choose_token
from tests_helpers import run_cli, save_tiny_diffusion

fastapi_testclient = pytest.importorskip("fastapi.testclient")
TOKEN = "right-token-0123456789abcdef"
# A value per path parameter, so every route can be called (the auth check runs before any parameter is read).
PATH_VALUES = {"key": "abcdef12", "path": "style.css"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("web-auth") / "runs"
    save_tiny_diffusion(runs / "diff" / "snapshot.safetensors")
    return runs


@pytest.fixture(scope="module")
def app(runs):
    return create_app(runs, workers=1, queue=2, device="cpu", token=TOKEN)


def _requests(app) -> list[tuple[str, str]]:
    """(method, path) of every route and mount of the app, path parameters filled in."""
    found = []
    for route in app.routes:
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "x"), route.path)
        methods = getattr(route, "methods", None) or {"GET"}  # a Mount (/static) has none: its files are GET
        if not getattr(route, "methods", None):
            path = path.rstrip("/") + "/" + PATH_VALUES["path"]
        found += [(m, path) for m in sorted(methods) if m != "HEAD"]
    return found


def test_the_table_covers_pages_static_api_and_docs(app):
    paths = {p for _, p in _requests(app)}
    assert {"/", "/docs", "/api/openapi.json", "/api/config", "/api/generate", "/api/jobs/abcdef12",
            "/static/style.css"} <= paths
    assert len(_requests(app)) >= 12


def _check_refused(resp, path: str) -> None:
    assert resp.status_code == 401, (path, resp.status_code, resp.text[:200])
    assert TOKEN not in resp.text and COOKIE not in resp.headers.get("set-cookie", "")
    if path.startswith("/api/"):
        body = resp.json()
        assert set(body) == {"error"} and "\n" not in body["error"] and "token" in body["error"]
    else:
        assert resp.headers["content-type"].startswith("text/html")
        assert "open the URL printed by <code>genlab serve</code>" in resp.text


@pytest.mark.parametrize("credentials", [{}, {"headers": {"Authorization": "Bearer wrong-token"}},
                                         {"headers": {"Authorization": f"Basic {TOKEN}"}},
                                         {"cookies": {COOKIE: "wrong-token"}},
                                         {"params": {"token": "wrong-token"}}],
                         ids=["none", "wrong-bearer", "not-bearer", "wrong-cookie", "wrong-query"])
def test_every_route_refuses_a_missing_or_wrong_token(app, credentials):
    with fastapi_testclient.TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        for method, path in _requests(app):
            kwargs = {k: v for k, v in credentials.items() if k != "cookies"}
            c.cookies.clear()
            for name, value in credentials.get("cookies", {}).items():
                c.cookies.set(name, value)
            body = {"json": {"snapshot": "diff", "n": 1, "steps": 1}} if method == "POST" else {}
            _check_refused(c.request(method, path, **kwargs, **body), path)


def test_every_route_accepts_the_bearer_token(app):
    """The same table with the token: nothing answers 401 (the requests themselves may be bad, e.g. 404/422)."""
    with fastapi_testclient.TestClient(app, raise_server_exceptions=False,
                                       headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        for method, path in _requests(app):
            if path == "/api/audio/regenerate":
                continue  # needs a track or an upload; 401 vs not is checked by the other requests to this table
            resp = c.request(method, path, json={"snapshot": "diff", "n": 1, "steps": 1} if method == "POST" else None)
            assert resp.status_code != 401, (method, path, resp.text[:200])
        assert c.get("/api/config").status_code == 200 and c.get("/static/style.css").status_code == 200


def test_query_token_sets_a_strict_httponly_cookie_and_redirects_without_it(app):
    with fastapi_testclient.TestClient(app, follow_redirects=False) as c:
        resp = c.get("/", params={"token": TOKEN, "tab": "audio"})
        assert resp.status_code == 303 and resp.headers["location"] == "/?tab=audio"  # the token leaves the URL
        cookie = resp.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}={TOKEN};") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Path=/" in cookie
        # the browser now sends the cookie: the page, its static files and the API answer
        for path in ("/", "/static/app.js", "/docs", "/api/openapi.json", "/api/config"):
            assert c.get(path).status_code == 200, path
        assert c.get("/docs", params={"token": TOKEN}).headers["location"] == "/docs"
        c.cookies.clear()
        _check_refused(c.get("/api/config"), "/api/config")
        # a token in the query string of a POST is not accepted (no cookie, no redirect)
        _check_refused(c.post("/api/generate", params={"token": TOKEN}, json={"snapshot": "diff"}), "/api/generate")


def test_no_auth_app_answers_without_a_token(runs):
    with fastapi_testclient.TestClient(create_app(runs, device="cpu", token=None)) as c:
        assert c.get("/api/config").status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_token_is_not_in_uvicorns_access_log(app, caplog):
    import httpx
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=True))
    thread = threading.Thread(target=server.run, daemon=True)
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        resp = httpx.get(f"http://127.0.0.1:{port}/?token={TOKEN}&tab=images", follow_redirects=True)
        assert resp.status_code == 200 and "<html" in resp.text.lower()
        assert httpx.get(f"http://127.0.0.1:{port}/api/status?token=wrong").status_code == 401
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("token=[redacted]" in line for line in access), access
    assert not any(TOKEN in line or "token=wrong" in line for line in access), access


def test_token_choice_for_serve(monkeypatch):
    monkeypatch.delenv("GENLAB_WEB_TOKEN", raising=False)
    first, second = choose_token("127.0.0.1", None, False), choose_token("127.0.0.1", None, False)
    assert first != second and len(first) >= 40  # secrets.token_urlsafe(32)
    assert choose_token("0.0.0.0", "given-token-0123456789", False) == "given-token-0123456789"
    monkeypatch.setenv("GENLAB_WEB_TOKEN", "from-the-environment-123")
    assert choose_token("0.0.0.0", None, False) == "from-the-environment-123"
    assert choose_token("::1", None, True) is None and choose_token("localhost", None, True) is None
    with pytest.raises(GenlabError, match="at least 16 characters"):
        choose_token("127.0.0.1", "short", False)
    with pytest.raises(GenlabError, match="--no-auth and --token exclude each other"):
        choose_token("127.0.0.1", "given-token-0123456789", True)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_serve_refuses_no_auth_on_a_non_loopback_host_in_one_line(capsys, host):
    code, out, err = run_cli(["serve", "--host", host, "--no-auth"], capsys)
    assert code != 0 and "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"--no-auth is refused with --host {host}" in lines[0], err
