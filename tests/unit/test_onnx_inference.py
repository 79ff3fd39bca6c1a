"""Fast CPU inference (issue 19 part 5): the denoiser exported to ONNX and run by onnxruntime matches PyTorch, the
int8 files run within a looser tolerance, the same sampler with backend "torch" gives exactly `generate`'s images,
and bad arguments are refused in one line (API and CLI)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.checkpoints.snapshot import save_snapshot
from genlab.data.codecs import ImageCodec
from genlab.errors import GenlabError
from genlab.export import ONNX_TOLERANCE, calibration_feeds, export_snapshot
from genlab.fast_inference import BACKENDS, generate_with_backend, inference_backend, sample
from genlab.inference import load
from genlab.models.registry import get_family
from tests_helpers import run_cli

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

SAMPLING = {"sampler": "unipc", "steps": 3, "guidance": 1.5}


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """A tiny class-conditional diffusion snapshot with random (not zero-initialised) weights, so outputs are
    non-trivial: the zero-initialised last convolution of an untrained U-Net would make every backend agree."""
    torch.manual_seed(0)
    model = get_family("diffusion")((1, 16, 16), num_classes=3, base_channels=8, channel_mults=[1, 2],
                                    attention_resolutions=[8], num_heads=2)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return save_snapshot(tmp_path_factory.mktemp("tiny") / "snapshot.safetensors", model,
                         ImageCodec(1, 16, 16).state())


@pytest.fixture(scope="module")
def gen(snapshot):
    return load(snapshot, device="cpu")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


def _sampler_inputs(gen, n=6):
    """Network inputs as a sampler makes them: x_t ~ N(0, 1), training indices, labels incl. the null class."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 1, 16, 16, generator=g)
    t = torch.randint(0, 1000, (n,), generator=g).float()
    labels = torch.tensor([0, 1, 2, 3, 0, 3])[:n]  # 3 = the null class
    return x, t, labels


def test_onnx_denoiser_matches_pytorch(gen, workdir):
    backend = inference_backend(gen, "onnxruntime", workdir)
    assert backend.onnx_path.is_file()
    x, t, labels = _sampler_inputs(gen)
    with torch.no_grad():
        want = gen.model.unet(x, t, labels)
        want_null = gen.model.unet(x, t, None)
    assert want.abs().max() > 0.1  # a non-trivial network
    assert (backend(x, t, labels) - want).abs().max() <= ONNX_TOLERANCE
    assert (backend(x, t, None) - want_null).abs().max() <= ONNX_TOLERANCE  # None = the null class, as in PyTorch


def test_torch_backend_is_exactly_generate(gen):
    seeds, labels = [3, 4, 5, 6], torch.tensor([0, 1, 2, 0])
    want = gen.generate_model_space(seeds, labels, **SAMPLING)
    got = sample(gen, inference_backend(gen, "torch"), seeds, labels, **SAMPLING)
    assert torch.equal(got, want)


def test_backends_guide_in_an_interval_exactly_as_generate(gen):
    seeds, labels = [3, 4, 5, 6], torch.tensor([0, 1, 2, 0])
    want = gen.generate_model_space(seeds, labels, **SAMPLING, guidance_interval=(0.5, 1000.0))
    got = sample(gen, inference_backend(gen, "torch"), seeds, labels, **SAMPLING, guidance_interval="0.5,1000")
    assert torch.equal(got, want)
    assert not torch.equal(got, sample(gen, inference_backend(gen, "torch"), seeds, labels, **SAMPLING))


def test_onnx_samples_match_pytorch_samples(gen, workdir):
    want = generate_with_backend(gen, "torch", 5, seed=7, display=False, **SAMPLING)
    got = generate_with_backend(gen, inference_backend(gen, "onnxruntime", workdir), 5, seed=7, display=False,
                                **SAMPLING)
    assert got.shape == (5, 1, 16, 16)
    assert (got - want).abs().max() <= 1e-3  # 3 guided UniPC steps: float32 rounding only


@pytest.mark.parametrize("name", ["onnxruntime-int8-dynamic", "onnxruntime-int8-static"])
def test_int8_backends_run_within_a_looser_tolerance(gen, workdir, name):
    backend = inference_backend(gen, name, workdir, calibration_images=4)
    x, t, labels = _sampler_inputs(gen)
    with torch.no_grad():
        want = gen.model.unet(x, t, labels)
    got = backend(x, t, labels)
    assert got.shape == want.shape and torch.isfinite(got).all()
    rel = float((got - want).square().mean().sqrt() / want.square().mean().sqrt())
    assert 0 < rel < 0.25, rel  # quantized (not bit-equal to float32), yet the same function
    images = generate_with_backend(gen, backend, 4, seed=0, **SAMPLING)
    assert images.dtype == torch.uint8 and images.shape == (4, 1, 16, 16)


def test_bf16_backend_is_close(gen):
    x, t, labels = _sampler_inputs(gen)
    with torch.no_grad():
        want = gen.model.unet(x, t, labels)
    got = inference_backend(gen, "torch-bf16")(x, t, labels)
    assert got.dtype == torch.float32
    assert float((got - want).abs().max()) < 0.1 * float(want.abs().max())


def test_calibration_feeds_are_the_samplers_inputs(gen):
    feeds = calibration_feeds(gen.model, num_images=2, steps=3)
    assert len(feeds) == 3  # one network call per UniPC step
    assert {f["x_t"].shape for f in feeds} == {(4, 1, 16, 16)}  # guidance: conditional + null class in one batch
    assert set(np.concatenate([f["labels"] for f in feeds]).tolist()) == {0, 1, 3}


def test_quantized_export_keeps_the_metadata(snapshot, tmp_path):
    import onnx

    result = export_snapshot(snapshot, tmp_path / "q.onnx", quantize="int8-dynamic")
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "q.onnx")).metadata_props}
    assert meta["genlab_quantization"] == "int8-dynamic" and "genlab_io" in meta
    assert result.max_abs_diff is not None and result.max_abs_diff > 0


def test_bad_arguments_are_one_line_errors(gen, snapshot, tmp_path):
    with pytest.raises(GenlabError, match="inference backend 'tensorrt': expected one of torch"):
        inference_backend(gen, "tensorrt")
    with pytest.raises(GenlabError, match="needs an onnxruntime backend"):
        inference_backend(gen, "torch", onnx_file=tmp_path / "x.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(GenlabError, match="not a genlab export"):
        inference_backend(gen, "onnxruntime", onnx_file=bad)
    with pytest.raises(GenlabError, match="option classifier: not available"):
        generate_with_backend(gen, "torch", 2, classifier="c.safetensors")
    with pytest.raises(GenlabError, match="quantize 'int4'"):
        export_snapshot(snapshot, tmp_path / "m.onnx", quantize="int4")
    with pytest.raises(GenlabError, match="pixel-space diffusion"):
        inference_backend(torch.nn.Linear(2, 2), "torch")
    assert set(BACKENDS) >= {"torch", "torch-bf16", "torch-compile", "onnxruntime", "onnxruntime-int8-static"}


def test_cli_sample_with_onnx_backend_and_errors(snapshot, tmp_path, capsys):
    out = tmp_path / "grid.png"
    code, stdout, _ = run_cli(["sample", str(snapshot), "-n", "4", "--steps", "2", "--backend", "onnxruntime",
                               "-o", str(out), "-q"], capsys)
    assert code == 0 and out.is_file() and "wrote 4 samples" in stdout
    onnx_path = tmp_path / "m.onnx"
    assert run_cli(["export", str(snapshot), "-o", str(onnx_path)], capsys)[0] == 0
    code, stdout, _ = run_cli(["sample", str(snapshot), "-n", "2", "--steps", "2", "--backend", "onnxruntime",
                               "--onnx", str(onnx_path), "-o", str(out), "-q"], capsys)
    assert code == 0
    for args, message in [(["--backend", "tensorrt"], "inference backend 'tensorrt'"),
                          (["--backend", "torch", "--onnx", str(onnx_path)], "needs an onnxruntime backend")]:
        code, stdout, stderr = run_cli(["sample", str(snapshot), "-n", "2", "-o", str(out), *args], capsys)
        assert code != 0 and message in stderr and len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    code, _, stderr = run_cli(["export", str(snapshot), "-o", str(tmp_path / "m.pt2"), "--quantize", "int8-static"],
                              capsys)
    assert code != 0 and "--quantize int8-static" in stderr and len(stderr.strip().splitlines()) == 1
