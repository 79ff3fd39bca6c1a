"""The web probes of issue 12: a malformed file in the runs directory is skipped and reported (never a 500 for
everyone); malformed snapshots are 400s; abandoned requests give their queue slots back (waiting jobs dropped,
running ones stopped at the next step) — checked through a real uvicorn server; no server path in any answer and no
symlink out of the runs directory listed; a default snapshot per kind; the OpenAPI page served offline; per-step
progress; one strip per class when interpolating "all classes"; sampling options a family does not take refused."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.web import create_app
from genlab.web.jobs import JobCancelled, JobQueue
from tests_helpers import save_tiny_diffusion

fastapi_testclient = pytest.importorskip("fastapi.testclient")
STATIC = Path(__file__).resolve().parents[2] / "src" / "genlab" / "web" / "static"
TOKEN = "test-token-for-the-web-probes"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _save(path: Path, family: str, **kwargs) -> Path:
    from genlab.checkpoints.snapshot import save_snapshot
    from genlab.data.codecs import ImageCodec
    from genlab.models.registry import get_family

    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_snapshot(path, get_family(family)((1, 28, 28), **kwargs), ImageCodec(1, 28, 28).state(),
                         extra={"step": 1})


def _raw_header_file(path: Path, header) -> Path:
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(path), metadata={"genlab": json.dumps(header)})
    return path


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("web-probes")
    runs = root / "runs"
    save_tiny_diffusion(runs / "diff" / "snapshot.safetensors", num_classes=3)
    _save(runs / "gan" / "snapshot.safetensors", "dcgan", base_channels=4, max_channels=16, latent_dim=8)
    _raw_header_file(runs / "list-header.safetensors", [1, 2, 3])  # a JSON list, not an object
    _raw_header_file(runs / "no-family.safetensors", {"schema_version": 1, "kwargs": {}, "codec": {}})
    (runs / "empty-run").mkdir()
    (runs / "empty-run" / "snapshots").mkdir()  # a run directory that has no snapshot yet
    outside = root / "outside"
    _save(outside / "snapshot.safetensors", "dcgan", base_channels=4, max_channels=16, latent_dim=8)
    (runs / "escape.safetensors").symlink_to(outside / "snapshot.safetensors")
    return {"root": root, "runs": runs, "outside": outside}


@pytest.fixture(scope="module")
def client(roots):
    app = create_app(roots["runs"], workers=1, queue=4, device="cpu", token=TOKEN)
    with fastapi_testclient.TestClient(app, raise_server_exceptions=False, headers=AUTH) as c:
        yield c


def _error(resp, status: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


def test_malformed_files_are_skipped_and_reported_not_a_500(client, roots):
    resp = client.get("/api/snapshots")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    runs = {s["id"] for s in body["snapshots"] if s["source"] == "runs"}
    assert runs == {"diff", "gan"}
    skipped = {s["id"]: s["error"] for s in body["skipped"]}
    assert set(skipped) >= {"list-header.safetensors", "no-family.safetensors"}
    assert all("\n" not in e for e in skipped.values())


@pytest.mark.parametrize("snapshot", ["list-header.safetensors", "no-family.safetensors", "empty-run"])
def test_malformed_snapshots_are_400_naming_the_id(client, snapshot):
    msg = _error(client.post("/api/generate", json={"snapshot": snapshot, "n": 1}), 400)
    assert f"snapshot '{snapshot}'" in msg


def test_no_server_path_in_listings_or_errors(client, roots):
    root = str(roots["root"])
    listing = client.get("/api/snapshots")
    assert root not in listing.text and "runs_dir" not in listing.json()
    for sid in ("empty-run", "list-header.safetensors", "missing", "escape.safetensors", "../outside"):
        resp = client.post("/api/generate", json={"snapshot": sid, "n": 1})
        assert root not in resp.text and "/tmp" not in resp.text, resp.text


def test_symlinks_leading_out_of_the_runs_dir_are_neither_listed_nor_loaded(client):
    ids = {s["id"] for s in client.get("/api/snapshots").json()["snapshots"]}
    assert "escape.safetensors" not in ids
    assert "not a snapshot inside the runs directory" in _error(
        client.post("/api/generate", json={"snapshot": "escape.safetensors", "n": 1}), 400)


def test_a_default_snapshot_per_kind_and_full_names(client):
    body = client.get("/api/snapshots").json()
    listed = {s["id"]: s for s in body["snapshots"]}
    assert body["defaults"]["image"] in listed and listed[body["defaults"]["image"]]["kind"] == "image"
    shipped = [s for s in listed.values() if s["source"] == "pretrained" and s["fid"] is not None
               and s["kind"] == "image"]
    if shipped:  # the best measured pretrained image model is the first impression
        assert body["defaults"]["image"] == min(shipped, key=lambda s: s["fid"])["id"]
    assert all(s["name"] == s["id"].removeprefix("pretrained:") for s in listed.values())


def test_openapi_page_is_served_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("docs.html", "docs.js"):
        text = (STATIC / name).read_text()
        assert "http://" not in text and "https://" not in text and "cdn" not in text.lower()
    assert client.get("/static/docs.js").status_code == 200
    spec = client.get("/api/openapi.json").json()
    assert "/api/generate" in spec["paths"] and "/api/jobs/{key}" in spec["paths"]


def test_sampling_options_a_family_does_not_take_are_refused(client):
    for option in ({"steps": 5}, {"guidance": 2.0}, {"sampler": "ddim"}):
        msg = _error(client.post("/api/generate", json={"snapshot": "gan", "n": 1, **option}), 400)
        assert f"{next(iter(option))}: the dcgan family does not take it" in msg
    assert client.post("/api/generate", json={"snapshot": "gan", "n": 2}).status_code == 200


def test_per_step_progress_of_a_running_request(client):
    key = "probe-progress-1"
    seen: list[dict] = []
    result: dict = {}

    def post():
        result["resp"] = client.post("/api/generate", json={"snapshot": "diff", "n": 2, "sampler": "ddim",
                                                            "steps": 40, "progress_key": key})

    thread = threading.Thread(target=post)
    thread.start()
    while thread.is_alive():
        resp = client.get(f"/api/jobs/{key}")
        if resp.status_code == 200:
            seen.append(resp.json())
        time.sleep(0.02)
    thread.join()
    assert result["resp"].status_code == 200
    final = client.get(f"/api/jobs/{key}").json()
    assert final["state"] == "done" and final["step"] == final["total"] == 40
    assert any(0 < p["step"] < 40 and p["state"] == "running" for p in seen), seen[:5]  # seen mid-way
    assert _error(client.get("/api/jobs/no-such-job-key"), 404)
    assert client.get("/api/jobs/x").status_code == 422  # keys are 8-64 letters, digits, - or _


def test_interpolating_all_classes_keeps_one_class_per_strip(client):
    body = client.post("/api/interpolate", json={"snapshot": "diff", "seed_a": 4, "seed_b": 9, "steps": 3}).json()
    assert [r["class_label"] for r in body["rows"]] == [0, 1, 2] and len(body["frames"]) == 9
    one = client.post("/api/interpolate", json={"snapshot": "diff", "seed_a": 4, "seed_b": 9, "steps": 3,
                                                "class_label": 1}).json()
    assert one["frames"] == body["frames"][3:6]  # row 1 is the class-1 strip, class kept in every frame
    assert [r["class_label"] for r in one["rows"]] == [1]


# --- abandoned requests ---------------------------------------------------------------------------------------------
def _stepper(steps: int, pause: float, job):
    for i in range(steps):
        job.step_to(i + 1, steps)
        time.sleep(pause)
    return steps


def test_a_waiting_job_of_a_client_that_left_is_dropped_and_a_running_one_stops():
    async def scenario():
        q = JobQueue(workers=1, capacity=3)
        running = asyncio.ensure_future(q.run(_stepper, 1000, 0.01, disconnected=_after(0.3)))
        waiting = asyncio.ensure_future(q.run(_stepper, 1000, 0.01, disconnected=_after(0.2)))
        for fut in (running, waiting):
            with pytest.raises(JobCancelled):
                await asyncio.wait_for(fut, 5)
        deadline = time.monotonic() + 3
        while q.stats()["admitted"] and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        stats = q.stats()
        q.shutdown()
        return stats

    stats = asyncio.run(scenario())
    assert stats["admitted"] == 0 and stats["cancelled"] == 2 and stats["completed"] == 0


def _after(seconds: float):
    start = time.monotonic()

    async def disconnected() -> bool:
        return time.monotonic() - start > seconds

    return disconnected


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_clients_that_give_up_free_their_slots_on_a_real_server(roots, monkeypatch):
    """The issue's scenario on uvicorn: clients that time out after 0.5 s must not keep the queue full."""
    import httpx
    import uvicorn

    from genlab.web import tasks

    monkeypatch.setattr(tasks, "generate", lambda _catalog, _req, job: _stepper(2000, 0.01, job))  # ~20 s each
    app = create_app(roots["runs"], workers=1, queue=4, device="cpu", token=TOKEN)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)

        def give_up() -> None:
            with pytest.raises(httpx.TimeoutException):
                httpx.post(f"{url}/api/generate", json={"snapshot": "gan", "n": 1}, headers=AUTH, timeout=0.5)

        clients = [threading.Thread(target=give_up) for _ in range(4)]  # fill the queue (capacity 4), then leave
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        freed_after = None
        t0 = time.monotonic()
        while time.monotonic() - t0 < 5:
            if httpx.get(f"{url}/api/status", headers=AUTH).json()["admitted"] == 0:
                freed_after = time.monotonic() - t0
                break
            time.sleep(0.05)
        assert freed_after is not None, httpx.get(f"{url}/api/status", headers=AUTH).json()  # not ~80 s of abandoned work
        assert httpx.get(f"{url}/api/status", headers=AUTH).json()["cancelled"] == 4
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_png_grid_of_a_gan_request(client):
    resp = client.post("/api/generate", json={"snapshot": "gan", "n": 4, "format": "png"})
    assert resp.status_code == 200 and np.asarray(Image.open(io.BytesIO(resp.content))).ndim == 2
