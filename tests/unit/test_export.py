"""Export of every family's sampling network: ONNX run by onnxruntime matches PyTorch, and a torch.export program
(.pt2) reloads and gives the same outputs; the batch axis is dynamic; bad outputs are refused in one line."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from genlab.checkpoints.snapshot import save_snapshot
from genlab.data.codecs import ImageCodec
from genlab.errors import GenlabError
from genlab.export import ONNX_TOLERANCE, export_snapshot, sampling_network
from genlab.inference import load
from genlab.models.registry import family_names, get_family

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

_AE = {"base_channels": 8, "latent_dim": 4}
TINY = {
    "diffusion": {"base_channels": 8, "channel_mults": [1, 2], "attention_resolutions": [8], "num_heads": 1},
    "score-sde": {"base_channels": 8, "channel_mults": [1, 2], "attention_resolutions": [8], "num_heads": 1,
                  "num_scales": 50},
    "dcgan": {"base_channels": 8, "latent_dim": 8},
    "wgan-gp": {"base_channels": 8, "latent_dim": 8},
    "vae": _AE, "ae": _AE, "dae": _AE, "sparse-ae": _AE,
    "spectral-ae": {"hidden": 8, "num_blocks": 1, "code_dim": 4},
    "vae-gan": {**_AE, "d_base_channels": 8},
    "aae": {**_AE, "d_hidden": 16},
    "ladder-vae": {**_AE, "top_latent_dim": 3, "hidden": 16},
    "vq-vae": {"base_channels": 8, "latent_channels": 4, "codebook_size": 8, "prior_width": 16, "prior_depth": 1,
               "prior_heads": 2},
}
# latent-diffusion needs a frozen autoencoder snapshot to build; tests/unit/test_latent_diffusion.py covers it
ELSEWHERE = ("latent-diffusion",)


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory, tiny_vocos):
    """A tiny snapshot per family (conditional where the family can be), plus the conftest vocoder."""
    out = {"vocos": tiny_vocos}
    for name, kwargs in TINY.items():
        torch.manual_seed(0)
        num_classes = 3 if get_family(name).conditional else 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = get_family(name)(image_shape=(1, 16, 16), num_classes=num_classes, **kwargs)
        out[name] = save_snapshot(tmp_path_factory.mktemp(name) / "snapshot.safetensors", model,
                                  ImageCodec(1, 16, 16).state())
    return out


def test_every_family_is_covered():
    assert sorted([*TINY, "vocos", *ELSEWHERE]) == family_names()


@pytest.mark.parametrize("name", sorted([*TINY, "vocos"]))
def test_onnx_matches_pytorch_at_another_batch_size(snapshots, tmp_path, name):
    path = tmp_path / f"{name}.onnx"
    result = export_snapshot(snapshots[name], path)
    assert result.max_abs_diff is not None and result.max_abs_diff <= ONNX_TOLERANCE
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["genlab_header"])["family"] == result.family
    # a batch of 5 (exported with 2): the batch axis is dynamic
    model = load(snapshots[name], device="cpu").model.float().eval()
    net = sampling_network(model, batch_size=5, seed=1)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {k: v.numpy() for k, v in net.inputs.items()})
    with torch.no_grad():
        want = net.module(*net.inputs.values())
    want = want if isinstance(want, tuple) else (want,)
    assert [g.shape[0] for g in got] == [5] * len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w.numpy(), atol=ONNX_TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", ["diffusion", "vae", "vocos"])
def test_torch_export_program_reloads_and_matches(snapshots, tmp_path, name):
    path = tmp_path / f"{name}.pt2"
    result = export_snapshot(snapshots[name], path)
    assert result.format == "torch-export" and path.is_file()
    program = torch.export.load(str(path))
    model = load(snapshots[name], device="cpu").model.float().eval()
    net = sampling_network(model, batch_size=3, seed=2)
    with torch.no_grad():
        got, want = program.module()(**net.inputs), net.module(**net.inputs)
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)


def test_bad_outputs_are_refused_in_one_line(snapshots, tmp_path):
    cases = [(tmp_path / "model.txt", "expected a .onnx or .pt2"), (tmp_path, "is a directory"),
             (tmp_path / "missing" / "m.onnx", "does not exist")]
    for out, words in cases:
        with pytest.raises(GenlabError, match=words) as err:
            export_snapshot(snapshots["vae"], out)
        assert "\n" not in str(err.value)
    with pytest.raises(GenlabError, match="export format 'tflite'"):
        export_snapshot(snapshots["vae"], tmp_path / "m.onnx", fmt="tflite")
