"""The latent explorer's endpoints (POST /api/latent/basis, /api/latent/decode) through FastAPI's TestClient: the
basis of a VAE trained on toy data (encoded codes) and of a GAN (prior samples), decoding at given slider positions
through the public API, the bounds (422 naming the parameter and the limit), wrong models (400), the token."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import genlab.api as gl
from genlab.web import create_app
from tests_helpers import save_tiny_diffusion

fastapi_testclient = pytest.importorskip("fastapi.testclient")
TOKEN = "test-token-for-the-explorer-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TINY = ["train.batch_size=16", "train.max_steps=2", "train.epoch_images=32", "sample.num_images=4",
        "data.download=false", "model.base_channels=4", "model.max_channels=16", "model.latent_dim=4"]


@pytest.fixture(scope="module")
def client(tiny_data_dir, tmp_path_factory):
    runs = tmp_path_factory.mktemp("explorer") / "runs"
    for preset, name in (("mnist-vae", "vae"), ("mnist-dcgan", "gan")):
        gl.train(preset, [f"data.data_dir={tiny_data_dir}", f"run_dir={runs / name}", *TINY], progress=False)
    save_tiny_diffusion(runs / "diff" / "snapshot.safetensors")
    app = create_app(runs, workers=1, queue=4, device="cpu", token=TOKEN)
    with fastapi_testclient.TestClient(app, raise_server_exceptions=False, headers=AUTH) as c:
        yield c


def _pixels(uri: str) -> np.ndarray:
    head, data = uri.split(",", 1)
    assert head == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))


def _error(resp, status: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"]
    return body["error"]


def test_vae_basis_from_encoded_images_and_decoding_at_positions(client):
    b = client.post("/api/latent/basis", json={"snapshot": "vae", "k": 6, "n": 100})
    assert b.status_code == 200, b.text
    basis = b.json()
    assert basis["source"] == "encoded" and basis["num_codes"] == 100  # 100 of the 256 toy training images
    assert basis["directions"] == 4 == basis["latent_size"]  # k is capped at the latent size
    assert basis["names"] == ["PC 1", "PC 2", "PC 3", "PC 4"]
    assert basis["explained"] == sorted(basis["explained"], reverse=True) and sum(basis["explained"]) <= 1.0001
    centre = _pixels(basis["image"])
    assert centre.shape == (28, 28)
    at_zero = client.post("/api/latent/decode", json={"snapshot": "vae", "k": 6, "n": 100, "coords": [0, 0, 0, 0]})
    assert np.array_equal(_pixels(at_zero.json()["image"]), centre)
    moved = client.post("/api/latent/decode", json={"snapshot": "vae", "k": 6, "n": 100,
                                                     "coords": [3.5, -3.5, 0, 0]})
    assert moved.status_code == 200 and moved.json()["coords"] == [3.5, -3.5, 0, 0]
    # the same code through the public API directly
    gen = gl.load(Path(client.app.state.catalog.runs_dir) / "vae")
    api_basis = gl.explorer_basis(gen, "pca", k=6, n=100)
    direct = gl.explore(gen, api_basis, [3.5, -3.5, 0, 0])[0, 0].numpy()
    assert np.array_equal(_pixels(moved.json()["image"]), direct)


def test_chosen_dimensions_and_the_default_most_varied(client):
    r = client.post("/api/latent/basis", json={"snapshot": "vae", "mode": "dims", "dims": [3, 1], "n": 50})
    assert r.status_code == 200 and r.json()["dims"] == [3, 1] and r.json()["names"] == ["dim 3", "dim 1"]
    assert r.json()["explained"] is None
    r = client.post("/api/latent/basis", json={"snapshot": "vae", "mode": "dims", "k": 2, "n": 50})
    assert r.status_code == 200 and len(r.json()["dims"]) == 2
    msg = _error(client.post("/api/latent/basis", json={"snapshot": "vae", "mode": "dims", "dims": [9]}), 400)
    assert "dims [9]" in msg and "0..3" in msg


def test_a_gan_uses_prior_samples(client):
    r = client.post("/api/latent/basis", json={"snapshot": "gan", "k": 3, "n": 40})
    assert r.status_code == 200 and r.json()["source"] == "prior" and r.json()["num_codes"] == 40
    d = client.post("/api/latent/decode", json={"snapshot": "gan", "k": 3, "n": 40, "coords": [1, 0, -1]})
    assert d.status_code == 200 and _pixels(d.json()["image"]).shape == (28, 28)


@pytest.mark.parametrize("body,message", [
    ({"coords": [5, 0, 0, 0]}, "coords = [5, 0, 0, 0]: every position must be in -4..4"),
    ({"coords": []}, "coords = []: List should have at least 1 item"),
    ({"coords": [0] * 17}, "coords = "),
    ({"k": 17, "coords": [0]}, "k = 17: Input should be less than or equal to 16"),
    ({"n": 1, "coords": [0]}, "n = 1: Input should be greater than or equal to 2"),
    ({"n": 5000, "coords": [0]}, "n = 5000: Input should be less than or equal to 2000"),
    ({"dims": [-1], "coords": [0]}, "dims = [-1]: every dimension must be in 0..65535"),
    ({"mode": "ica", "coords": [0]}, "mode = 'ica': Input should be 'pca' or 'dims'"),
    ({"coords": [0], "stpes": 3}, "stpes = 3: Extra inputs are not permitted"),
])
def test_out_of_bounds_are_422_naming_the_parameter(client, body, message):
    assert message in _error(client.post("/api/latent/decode", json={"snapshot": "vae", **body}), 422)


def test_wrong_models_and_sizes_are_400(client):
    msg = _error(client.post("/api/latent/decode", json={"snapshot": "vae", "coords": [1, 2]}), 400)
    assert "2 positions for a basis of 4 directions" in msg
    msg = _error(client.post("/api/latent/basis", json={"snapshot": "diff"}), 400)
    assert "no latent code to explore" in msg
    msg = _error(client.post("/api/latent/decode", json={"snapshot": "vae", "coords": [0], "class_label": 3}), 400)
    assert "unconditional" in msg
    assert "not a snapshot inside the runs directory" in _error(
        client.post("/api/latent/basis", json={"snapshot": "../vae"}), 400)


def test_the_explorer_needs_the_token(client):
    for path, body in (("/api/latent/basis", {"snapshot": "vae"}),
                       ("/api/latent/decode", {"snapshot": "vae", "coords": [0]})):
        resp = client.post(path, json=body, headers={"Authorization": "Bearer wrong-token-0123456789"})
        assert resp.status_code == 401 and "token" in resp.json()["error"]
