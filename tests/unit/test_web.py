"""genlab.web (`genlab serve`) through FastAPI's TestClient: every endpoint on tiny snapshots, the limits (422 naming
the parameter and the limit), the bounded queue (503), snapshot ids confined to the runs directory, safetensors
only, and errors as one JSON line (never a traceback)."""

from __future__ import annotations

import base64
import io
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.audio.io import write_wav
from genlab.checkpoints import pretrained
from genlab.checkpoints.snapshot import save_snapshot
from genlab.data.codecs import ImageCodec
from genlab.models.diffusion.samplers import SAMPLER_NAMES
from genlab.models.registry import get_family
from genlab.web import create_app
from genlab.web.jobs import JobQueue, QueueFull
from tests_helpers import run_cli, save_facies_snapshot, save_tiny_diffusion

fastapi_testclient = pytest.importorskip("fastapi.testclient")
STATIC = Path(__file__).resolve().parents[2] / "src" / "genlab" / "web" / "static"
SR = 44100
TOKEN = "test-token-for-the-web-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _audio(seconds: float, rate: int = SR, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.3 * np.sin(2 * np.pi * 330 * t)] * channels).astype(np.float32)


def _wav_bytes(audio: np.ndarray, rate: int = SR) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, audio.T, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _decode_uri(uri: str, mime: str) -> bytes:
    head, data = uri.split(",", 1)
    assert head == f"data:{mime};base64"
    return base64.b64decode(data)


@pytest.fixture(scope="module")
def roots(tmp_path_factory, tiny_channel_vae, tiny_vocos) -> dict[str, Path]:
    """A runs directory with untrained tiny snapshots (the server does not care whether they are trained): a
    conditional diffusion run laid out like a training run (final + epoch snapshots, a training state), a VAE, a
    channel-facies VAE, a vocoder (both from conftest), and junk files; a snapshot outside it (and a symlink to it);
    a MUSDB18-HQ-layout data directory with one test track."""
    root = tmp_path_factory.mktemp("web")
    runs = root / "runs"
    final = save_tiny_diffusion(runs / "diff" / "snapshot.safetensors")
    torch.manual_seed(0)
    (runs / "diff" / "snapshots").mkdir()
    for name in ("snapshots/epoch-0001.safetensors", "state-000000001.safetensors"):  # not listed separately
        (runs / "diff" / name).write_bytes(final.read_bytes())
    vae = get_family("vae")((1, 28, 28), latent_dim=4, base_channels=4, max_channels=8)
    save_snapshot(runs / "vae" / "snapshot.safetensors", vae, ImageCodec(1, 28, 28).state())
    for snapshot, run in ((tiny_channel_vae, "facies"), (tiny_vocos, "audio/vocos")):
        (runs / run).mkdir(parents=True)
        shutil.copyfile(snapshot, runs / run / "snapshot.safetensors")
    save_facies_snapshot(runs, "facies-diff", get_family("diffusion")(  # conditions to wells by inpainting
        (1, 16, 16), base_channels=8, channel_mults=[1, 2], attention_resolutions=[8], num_heads=1), 16,
        {"sampler": "ddim", "steps": 2})
    (runs / "weights.pt").write_bytes(b"\x80\x04K\x01.")  # a pickle: must never be loaded
    (runs / "fake.safetensors").write_bytes(b"not a safetensors file")
    outside = root / "outside"
    outside.mkdir()
    (outside / "snapshot.safetensors").write_bytes((runs / "vae" / "snapshot.safetensors").read_bytes())
    (runs / "link").symlink_to(outside, target_is_directory=True)
    data = root / "data"
    track = data / "musdb" / "MUSDB18-7" / "test" / "Artist - Song"
    for stem in ("mixture", "drums", "bass", "other", "vocals"):
        write_wav(track / f"{stem}.wav", _audio(0.2), SR)
    return {"runs": runs, "outside": outside, "data": data, "root": root}


@pytest.fixture(scope="module")
def client(roots):
    app = create_app(roots["runs"], data_dir=str(roots["data"]), workers=1, queue=4, device="cpu", token=TOKEN)
    with fastapi_testclient.TestClient(app, raise_server_exceptions=False, headers=AUTH) as c:
        yield c


def _error(resp, status: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and "Traceback" not in body["error"] and "\n" not in body["error"]
    return body["error"]


# --- page and listing ---------------------------------------------------------------------------------------------
def test_page_is_self_contained_and_config_serves_the_limits(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("index.html", "app.js", "style.css"):
        text = (STATIC / name).read_text()
        assert "http://" not in text and "https://" not in text, f"{name} loads something from outside"
        assert client.get(f"/static/{name}" if name != "index.html" else "/").status_code == 200
    cfg = client.get("/api/config").json()
    assert cfg["limits"]["n"] == 64 and cfg["limits"]["steps"] == 200 and cfg["samplers"] == list(SAMPLER_NAMES)
    assert cfg["queue"] == {"workers": 1, "capacity": 4}


def test_snapshot_listing(client, roots):
    resp = client.get("/api/snapshots")
    listed = {s["id"]: s for s in resp.json()["snapshots"]}
    snaps = {k: v for k, v in listed.items() if not k.startswith("pretrained:")}
    assert set(snaps) == {"diff", "vae", "facies", "facies-diff", "audio/vocos"}  # no junk, states or symlinks
    # the installation's shipped pretrained snapshots are listed beside the runs, marked as such
    assert {k for k in listed if k.startswith("pretrained:")} == {f"pretrained:{n}" for n in pretrained.manifest()}
    assert all(v["source"] == "pretrained" for k, v in listed.items() if k.startswith("pretrained:"))
    assert snaps["diff"]["kind"] == "image" and snaps["diff"]["num_classes"] == 10
    assert snaps["diff"]["sampling_options"] == ["sampler", "steps", "guidance", "eta", "order", "grid", "classifier",
                                                 "classifier_scale", "classifier_class", "guidance_interval", "autoguide"]
    assert snaps["diff"]["step"] == 1
    assert snaps["diff"]["class_names"][:3] == ["0", "1", "2"] and not snaps["diff"]["has_latent"]
    assert snaps["vae"]["has_latent"] and snaps["vae"]["sampling_options"] == ["temperature"]
    assert snaps["vae"]["num_classes"] == 0
    assert snaps["facies"]["kind"] == "channels" and snaps["audio/vocos"]["kind"] == "audio"
    assert str(roots["root"]) not in resp.text  # no file system paths leak


def test_channel_tab_starts_on_the_128_diffusion_model_when_installed():
    from genlab.web.catalog import KIND_DEFAULTS, default_snapshots

    listed = [{"id": "facies", "kind": "channels"}, {"id": "pretrained:channels-vae-fullconv", "kind": "channels"},
              {"id": KIND_DEFAULTS["channels"], "kind": "channels"}]
    assert default_snapshots(listed) == {"channels": "pretrained:channels-diffusion-128"}
    assert default_snapshots(listed[:2]) == {"channels": "facies"}  # not installed: the first listed


# --- generation ---------------------------------------------------------------------------------------------------
def test_generate_cells_and_regenerate_one_by_its_seed(client):
    req = {"snapshot": "diff", "n": 4, "seed": 5, "sampler": "ddim", "steps": 2, "guidance": 2.0}
    body = client.post("/api/generate", json=req).json()
    assert body["seeds"] == [5, 6, 7, 8] and body["labels"] == [0, 1, 2, 3] and len(body["cells"]) == 4
    cells = [Image.open(io.BytesIO(_decode_uri(c, "image/png"))) for c in body["cells"]]
    assert all(c.size == (28, 28) for c in cells)
    again = client.post("/api/generate", json={**req, "seeds": [7], "class_label": 2}).json()
    assert again["seeds"] == [7] and again["labels"] == [2]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(_decode_uri(again["cells"][0], "image/png")))),
                          np.asarray(cells[2]))  # cell 2 of the grid, regenerated alone


def test_generate_png_format(client):
    resp = client.post("/api/generate", json={"snapshot": "diff", "n": 6, "steps": 1, "class_label": 3,
                                              "format": "png"})
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
    grid = Image.open(io.BytesIO(resp.content))
    assert grid.size == (3 * 30 + 2, 2 * 30 + 2)  # 3 columns x 2 rows of 28-px images with 2-px padding


@pytest.mark.parametrize("path, body, message", [
    ("/api/generate", {"n": 65}, "n = 65: Input should be less than or equal to 64"),
    ("/api/generate", {"steps": 0}, "steps = 0: Input should be greater than or equal to 1"),
    ("/api/generate", {"steps": 201}, "less than or equal to 200"),
    ("/api/generate", {"guidance": 10.5}, "guidance = 10.5: Input should be less than or equal to 10"),
    ("/api/generate", {"seed": -1}, "seed = -1"),
    ("/api/generate", {"seed": 2**31}, "2147483647"),
    ("/api/generate", {"seed": 2**31 - 2, "n": 4}, "exceeds the largest seed 2147483647"),
    ("/api/generate", {"seeds": list(range(65))}, "seeds"),
    ("/api/generate", {"seeds": [-3]}, "every seed must be in 0..2147483647"),
    ("/api/generate", {"sampler": "no-such-sampler"}, "sampler = 'no-such-sampler': expected one of ddpm, ddim, dpmpp-2m"),
    ("/api/generate", {"class_label": 1000}, "less than or equal to 999"),
    ("/api/generate", {"stpes": 3}, "stpes = 3: Extra inputs are not permitted"),
    ("/api/interpolate", {"steps": 17}, "steps = 17: Input should be less than or equal to 16"),
    ("/api/channels/esmda", {"n_ens": 41}, "n_ens = 41: Input should be less than or equal to 40"),
    ("/api/channels/esmda", {"n_assim": 5}, "n_assim = 5: Input should be less than or equal to 4"),
    ("/api/channels/esmda", {"wells": 26}, "less than or equal to 25"),
    ("/api/channels/inpaint", {"n": 9}, "n = 9: Input should be less than or equal to 8"),
    ("/api/channels/inpaint", {"steps": 51}, "steps = 51: Input should be less than or equal to 50"),
    ("/api/channels/inpaint", {"steps": 1}, "steps = 1: Input should be greater than or equal to 2"),
    ("/api/channels/inpaint", {"resample": 6}, "resample = 6: Input should be less than or equal to 5"),
])
def test_out_of_bounds_parameters_name_the_parameter_and_the_limit(client, path, body, message):
    assert message in _error(client.post(path, json={"snapshot": "diff", **body}), 422)


def test_missing_snapshot_and_bad_json_are_422(client):
    assert _error(client.post("/api/generate", json={}), 422) == "snapshot: required"
    resp = client.post("/api/generate", content=b"{not json", headers={"content-type": "application/json"})
    _error(resp, 422)


def test_class_label_outside_the_models_classes(client):
    assert "class_label = 12: snapshot 'diff' has classes 0..9" in _error(
        client.post("/api/generate", json={"snapshot": "diff", "class_label": 12}), 400)
    assert "unconditional" in _error(client.post("/api/generate", json={"snapshot": "vae", "class_label": 1}), 400)


def test_wrong_kind_of_snapshot(client):
    msg = _error(client.post("/api/generate", json={"snapshot": "audio/vocos"}), 400)
    assert "is of kind audio; generation needs kind image or channels" in msg
    assert "needs kind channels" in _error(client.post("/api/channels/esmda", json={"snapshot": "diff"}), 400)


# --- where snapshots may come from --------------------------------------------------------------------------------
@pytest.mark.parametrize("snapshot", ["../outside/snapshot.safetensors", "/etc/passwd", "diff/../../outside",
                                      "link", "link/snapshot.safetensors", "missing-run", "..\\outside",
                                      "pretrained:no-such-model"])
def test_snapshot_ids_outside_the_roots_are_refused(client, roots, snapshot):
    msg = _error(client.post("/api/generate", json={"snapshot": snapshot, "n": 1}), 400)
    assert f"snapshot '{snapshot}'" in msg


def test_absolute_path_of_a_real_snapshot_is_refused(client, roots):
    path = str(roots["outside"] / "snapshot.safetensors")
    assert "not a snapshot inside the runs directory" in _error(
        client.post("/api/generate", json={"snapshot": path, "n": 1}), 400)


def test_a_snapshot_named_autoguide_is_loaded_only_from_the_roots(roots, tmp_path):
    """An uploaded snapshot's header may name any file as its autoguide; the server loads it only when it is a
    pretrained name or a snapshot inside the runs directory, else a one-line 400 naming the guide."""
    runs = tmp_path / "runs"
    save_tiny_diffusion(runs / "guide" / "snapshot.safetensors")
    outside = str(roots["outside"] / "snapshot.safetensors")
    for name, guide in (("inside", "guide"), ("abs", outside), ("up", "../outside/snapshot.safetensors")):
        save_tiny_diffusion(runs / name / "snapshot.safetensors", sample={"sampler": "ddim", "steps": 1,
                                                                          "guidance": 1.5, "autoguide": guide})
    app = create_app(runs, workers=1, queue=4, device="cpu", token=TOKEN)
    with fastapi_testclient.TestClient(app, raise_server_exceptions=False, headers=AUTH) as c:
        ok = c.post("/api/generate", json={"snapshot": "inside", "n": 2, "class_label": 1}).json()
        assert ok["options"]["autoguide"] == "guide" and len(ok["cells"]) == 2  # no server path in the answer
        for name in ("abs", "up"):
            msg = _error(c.post("/api/generate", json={"snapshot": name, "n": 1}), 400)
            assert msg.startswith(f"snapshot '{name}': its autoguide '") and "outside/snapshot.safetensors' is " \
                "neither a pretrained name nor a snapshot inside the runs directory" in msg
        off = c.post("/api/generate", json={"snapshot": "abs", "n": 1, "class_label": 0, "steps": 1})
        assert off.status_code == 400  # a request cannot switch a header's guide off yet: still refused, not read


def test_only_safetensors_snapshots_are_loaded(client):
    assert "only .safetensors snapshots are loaded" in _error(
        client.post("/api/generate", json={"snapshot": "weights.pt", "n": 1}), 400)
    assert "not a safetensors file" in _error(client.post("/api/generate", json={"snapshot": "fake.safetensors"}),
                                              400)


# --- interpolation, ES-MDA, audio ---------------------------------------------------------------------------------
def test_interpolation_ends_are_the_seeds_samples(client):
    body = client.post("/api/interpolate", json={"snapshot": "vae", "seed_a": 3, "seed_b": 9, "steps": 5}).json()
    ends = client.post("/api/generate", json={"snapshot": "vae", "seeds": [3, 9]}).json()["cells"]
    assert len(body["frames"]) == 5 and body["frames"][0] == ends[0] and body["frames"][-1] == ends[1]
    strip = client.post("/api/interpolate", json={"snapshot": "diff", "steps": 3, "class_label": 4}).json()
    assert len(strip["frames"]) == 3  # diffusion: DDIM noise path, one strip of class 4


def test_esmda_on_a_channel_snapshot(client):
    body = client.post("/api/channels/esmda", json={"snapshot": "facies", "n_ens": 4, "n_assim": 1,
                                                    "wells": 4}).json()
    assert [h["iteration"] for h in body["history"]] == [0, 1] and body["n_ens"] == 4
    assert set(body["images"]) == {"prior", "posterior", "means", "wells"}
    assert Image.open(io.BytesIO(_decode_uri(body["images"]["means"], "image/png"))).size[0] > 16


def test_inpainting_a_diffusion_channel_snapshot_to_wells(client):
    body = client.post("/api/channels/inpaint", json={"snapshot": "facies-diff", "n": 2, "steps": 3, "resample": 1,
                                                      "wells": 4, "truth_seed": 1}).json()
    assert body["wells_honoured"] == 1.0 and body["n"] == 2 and body["nfe"] > 0  # hard conditioning
    assert body["setup"]["wells"] == 4 and body["setup"]["truth_seed"] == 1 and 0 <= body["pixel_std_mean"] <= 0.5
    assert set(body["images"]) == {"wells", "realizations", "means"}
    assert Image.open(io.BytesIO(_decode_uri(body["images"]["realizations"], "image/png"))).size[0] > 16
    assert "ES-MDA" in _error(client.post("/api/channels/inpaint", json={"snapshot": "facies", "n": 1}), 400)
    assert "needs kind channels" in _error(client.post("/api/channels/inpaint", json={"snapshot": "diff"}), 400)
    assert "no latent code" in _error(client.post("/api/channels/esmda", json={"snapshot": "facies-diff"}), 400)


@pytest.mark.filterwarnings("ignore:.*resampling")
def test_audio_from_a_musdb_track_and_from_an_upload(client):
    import soundfile as sf

    tracks = client.get("/api/audio/tracks").json()
    assert tracks == {"available": True, "tracks": ["Artist - Song"], "message": ""}
    body = client.post("/api/audio/regenerate", params={"snapshot": "audio/vocos", "track": "Artist - Song"}).json()
    original, rate = sf.read(io.BytesIO(_decode_uri(body["original"], "audio/wav")))
    regenerated, rate2 = sf.read(io.BytesIO(_decode_uri(body["regenerated"], "audio/wav")))
    assert rate == rate2 == SR and original.shape == regenerated.shape == (int(0.2 * SR), 2)
    assert body["input"] == "Artist - Song" and body["stem"] == "vocals"
    assert body["method"] == "vocos magnitude + Griffin-Lim phase (32 iterations)"  # the page's player label
    body = client.post("/api/audio/regenerate", params={"snapshot": "audio/vocos"},
                       content=_wav_bytes(_audio(0.1, 22050, 1), 22050)).json()
    assert body["input"] == "upload" and body["audio_seconds"] == pytest.approx(0.1, abs=1e-3)  # resampled
    own = client.post("/api/audio/regenerate", params={"snapshot": "audio/vocos", "track": "Artist - Song",
                                                      "phase": "model"}).json()
    assert own["method"] == "vocos waveform with its own predicted phase"
    own_wave, _ = sf.read(io.BytesIO(_decode_uri(own["regenerated"], "audio/wav")))
    assert own_wave.shape == regenerated.shape and not np.allclose(own_wave, regenerated)


def test_audio_requests_outside_the_limits(client):
    q = {"snapshot": "audio/vocos"}
    assert "limit is 15 s" in _error(client.post("/api/audio/regenerate", params=q,
                                                 content=_wav_bytes(_audio(16, 4000, 1), 4000)), 400)
    assert "not a readable WAV" in _error(client.post("/api/audio/regenerate", params=q, content=b"RIFF...."), 400)
    assert "not a MUSDB18 test track" in _error(
        client.post("/api/audio/regenerate", params={**q, "track": "/etc/passwd"}), 400)
    assert "choose a MUSDB18 test track" in _error(client.post("/api/audio/regenerate", params=q), 400)
    no_mixture = _error(client.post("/api/audio/regenerate", params={**q, "phase": "mixture"},
                                    content=_wav_bytes(_audio(0.1))), 400)
    assert no_mixture.startswith("phase 'mixture' needs a MUSDB18 track; an uploaded WAV has no mixture")
    assert "/" not in no_mixture.split(";")[0] and "upload.wav" not in no_mixture  # no server temp path
    assert "gl_iters = '101': Input should be less than or equal to 100" in _error(
        client.post("/api/audio/regenerate", params={**q, "track": "Artist - Song", "gl_iters": 101}), 422)
    too_big = client.post("/api/audio/regenerate", params=q, content=b"\0" * (16 * 1024 * 1024 + 1))
    assert "exceeds the limit of 16777216 bytes" in _error(too_big, 413)


def test_missing_musdb_folder_is_reported(roots, tmp_path):
    app = create_app(roots["runs"], data_dir=str(tmp_path), token=TOKEN)
    with fastapi_testclient.TestClient(app, headers=AUTH) as c:
        tracks = c.get("/api/audio/tracks").json()
    assert not tracks["available"] and "MUSDB18 folder not found" in tracks["message"]


def test_oversized_json_body_is_refused(client):
    resp = client.post("/api/generate", content=b"{" + b" " * 70_000 + b"}",
                       headers={"content-type": "application/json"})
    assert "exceeds the limit of 65536 bytes" in _error(resp, 413)


# --- queue and errors ---------------------------------------------------------------------------------------------
def test_queue_full_is_refused_cleanly(roots):
    app = create_app(roots["runs"], workers=1, queue=2, device="cpu", token=TOKEN)
    release = threading.Event()
    with fastapi_testclient.TestClient(app, headers=AUTH) as c:
        jobs = app.state.jobs
        held = [jobs.submit(release.wait, 30) for _ in range(2)]  # one running, one waiting: the queue is full
        resp = c.post("/api/generate", json={"snapshot": "diff", "n": 1, "steps": 1})
        assert _error(resp, 503).startswith("server busy: queue full (2 jobs waiting or running)")
        assert resp.headers["retry-after"] == "5"
        assert c.get("/api/status").json()["refused"] == 1
        release.set()
        for f in held:
            f.result(timeout=10)
        assert c.post("/api/generate", json={"snapshot": "diff", "n": 1, "steps": 1}).status_code == 200
        status = c.get("/api/status").json()
    assert status["admitted"] == 0 and status["completed"] == 3


def test_job_queue_counts_and_frees_slots():
    q = JobQueue(workers=1, capacity=2)
    gate = threading.Event()
    a, b = q.submit(gate.wait, 10), q.submit(lambda: 1 / 0)
    with pytest.raises(QueueFull, match=r"queue full \(2 jobs"):
        q.submit(print)
    gate.set()
    assert a.result(timeout=10) is True
    with pytest.raises(ZeroDivisionError):
        b.result(timeout=10)
    q.submit(int).result(timeout=10)
    s = q.stats()
    assert (s["admitted"], s["completed"], s["failed"], s["refused"]) == (0, 2, 1, 1)
    q.shutdown()


def test_unexpected_errors_are_one_line_without_details(client, monkeypatch):
    from genlab.web import tasks

    def boom(*_args):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(tasks, "generate", boom)
    msg = _error(client.post("/api/generate", json={"snapshot": "diff"}), 500)
    assert msg == "internal error (RuntimeError); the server log has the details"


def test_serve_help(capsys):
    code, out, _ = run_cli(["serve", "--help"], capsys)
    assert code == 0 and "--runs-dir" in out and "--queue" in out and "--workers" in out
    assert "--token" in out and "--no-auth" in out
