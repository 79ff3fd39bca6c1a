"""The optional Inception-V3 FID path, tested with a randomly initialised network saved to a temp safetensors file:
the TF1 resize, key-layout checks with one-line errors, shapes, determinism, and FID end to end. (The numbers of a
random network mean nothing; the real weights are never downloaded here.)"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from genlab import evaluation
from genlab.cli.evaluate import _feature_extractor
from genlab.errors import GenlabError
from genlab.metrics.image import evaluate_features
from genlab.metrics.inception import InceptionV3, load_inception, resize_bilinear_tf1


def _random_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random InceptionV3 state dict whose activations neither vanish nor explode (He-initialised convs)."""
    torch.manual_seed(seed)
    net = InceptionV3()
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return {k: v.contiguous() for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inception") / "pt_inception.safetensors"
    save_file(_random_state(), str(path))
    return path


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (9, 1, 28, 28), generator=gen, dtype=torch.uint8)


def _tf1_reference(x: np.ndarray, size: int) -> np.ndarray:
    """Independent loop over output pixels of TF 1.x resize_bilinear (align_corners=False, no half-pixel)."""
    h, w = x.shape
    out = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            y, xx = i * h / size, j * w / size
            y0, x0 = math.floor(y), math.floor(xx)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            dy, dx = y - y0, xx - x0
            top = x[y0, x0] + (x[y0, x1] - x[y0, x0]) * dx
            bottom = x[y1, x0] + (x[y1, x1] - x[y1, x0]) * dx
            out[i, j] = top + (bottom - top) * dy
    return out


def test_resize_matches_tensorflow1_bilinear():
    row = torch.tensor([[[[0.0, 1.0]]]])
    assert resize_bilinear_tf1(row, 4)[0, 0, 0].tolist() == [0.0, 0.5, 1.0, 1.0]  # no half-pixel, edge clamped
    x = np.random.default_rng(0).random((5, 7))
    got = resize_bilinear_tf1(torch.from_numpy(x)[None, None].float(), 13)[0, 0].double().numpy()
    np.testing.assert_allclose(got, _tf1_reference(x, 13), atol=1e-6)
    same = torch.randn(2, 3, 9, 9)
    assert torch.equal(resize_bilinear_tf1(same, 9), same)


def test_wrong_layout_is_one_line_naming_the_keys(tmp_path, weights):
    state = _random_state()
    state["head.weight"] = state.pop("fc.weight")
    state["AuxLogits.fc.weight"] = torch.zeros(1000, 768)
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad))
    with pytest.raises(GenlabError) as err:
        load_inception(bad)
    message = str(err.value)
    assert "\n" not in message and str(bad) in message
    assert "1 missing key(s): fc.weight" in message and "2 unexpected key(s): AuxLogits.fc.weight, head.weight" in message

    state = _random_state()
    state["fc.weight"] = torch.zeros(1000, 2048)  # an ImageNet-1000 torchvision head, not the FID graph's 1008
    save_file(state, str(bad))
    with pytest.raises(GenlabError, match=r"fc.weight has shape \(1000, 2048\), expected \(1008, 2048\)"):
        load_inception(bad)

    pickled = tmp_path / "pt_inception.pth"
    pickled.write_bytes(b"\x80\x04\x95not a safetensors file")
    with pytest.raises(GenlabError, match="not a safetensors file.*does not unpickle"):
        load_inception(pickled)
    with pytest.raises(GenlabError, match="not found"):
        load_inception(tmp_path / "missing.safetensors")


def test_num_batches_tracked_is_optional(tmp_path):
    state = {k: v for k, v in _random_state().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "no_counters.safetensors"
    save_file(state, str(path))
    net = load_inception(path)
    assert torch.equal(net.fc.weight, state["fc.weight"]) and net.info["sha256"]


@pytest.mark.slow
def test_features_shapes_determinism_and_fid_end_to_end(weights, images):
    net = load_inception(weights)
    assert torch.equal(net.Mixed_7c.branch_pool.bn.running_var, _random_state()["Mixed_7c.branch_pool.bn.running_var"])
    features, logits = net.extract(images[:9], batch_size=4)  # several forward passes (~0.1-1 s per image)
    assert features.shape == (9, 2048) and logits.shape == (9, 1008) and features.dtype == torch.float32
    assert torch.isfinite(features).all() and features.std() > 1e-3  # not a vanished random network
    again = net.extract(images[:2])
    torch.testing.assert_close(again[0], features[:2], rtol=1e-4, atol=1e-5)  # batch composition does not matter
    rgb = net.extract(images[:1].expand(-1, 3, -1, -1))[0]  # grayscale is repeated to three channels
    torch.testing.assert_close(rgb, features[:1], rtol=1e-4, atol=1e-5)
    unit = net.extract(images[1:2].float() / 255.0)[0]  # [0, 1] floats are the same images
    torch.testing.assert_close(unit, features[1:2], rtol=1e-4, atol=1e-4)

    # FID and friends from these features: fakes = images 0..2, test = 3..5, train pool = 6..8
    fake, test, train = ((features[s], logits[s]) for s in (slice(0, 3), slice(3, 6), slice(6, 9)))
    out = evaluate_features(fake, test, train, kid_subsets=3, kid_subset_size=3, is_splits=1, k=2,
                            class_balance=net.classifies_domain)
    assert math.isfinite(out["fid"]) and out["fid"] > 0 and math.isfinite(out["floor"]["fid"])
    assert 1.0 <= out["is_mean"] <= 1008 and not any(key.startswith("class_") for key in out)
    assert evaluate_features(fake, fake, k=2, kid_subsets=2, kid_subset_size=3)["fid"] < 1e-6 * out["fid"]


def test_cli_options_and_evaluation_plumbing(weights):
    net = _feature_extractor("inception", None, weights)
    assert isinstance(net, InceptionV3) and net.info["source"] == str(weights)
    assert evaluation._feature_net("mnist", net, torch.device("cpu"))[1]["protocol"].startswith("torch-fidelity")
    # Inception costs ~0.1-1 s per image on a CPU: the training pool defaults to 2n instead of all 60k images
    assert evaluation.train_pool(None, 500, net) == 1000 and evaluation.train_pool(None, 500) is None
    assert evaluation.train_pool(3000, 500, net) == 3000
    assert _feature_extractor("domain", None, None) is None
    with pytest.raises(GenlabError, match="needs --inception-weights"):
        _feature_extractor("inception", None, None)
    with pytest.raises(GenlabError, match="only with --features inception"):
        _feature_extractor("domain", None, weights)
    with pytest.raises(GenlabError, match="expected domain or inception"):
        _feature_extractor("clip", None, None)
