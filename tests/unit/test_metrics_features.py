"""Domain feature nets: input conventions, save → load, missing weights, augmentation, a tiny training run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genlab.data.dataset import ImageDataset
from genlab.errors import GenlabError
from genlab.metrics.features import (
    ASSET_DIR,
    FeatureNet,
    file_sha256,
    load_feature_net,
    load_feature_net_file,
    random_shift,
    save_feature_net,
    train_feature_net,
)


def _tiny_net(**kw) -> FeatureNet:
    torch.manual_seed(0)
    return FeatureNet(widths=(4, 4, 8), feature_dim=8, **kw).eval()


def test_forward_shapes_and_uint8_equals_unit_float():
    net = _tiny_net(in_channels=3, num_classes=5, image_size=16)
    images = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    features, logits = net(images)
    assert features.shape == (6, 8) and logits.shape == (6, 5) and net.num_features == 8
    f_float, l_float = net(images.float() / 255)
    torch.testing.assert_close(features, f_float)
    torch.testing.assert_close(logits, l_float)
    f_batched, _ = net.extract(images, batch_size=4)
    torch.testing.assert_close(f_batched, features)


def test_save_load_gives_identical_features(tmp_path):
    net = _tiny_net()
    net.train()
    net(torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8))  # move BatchNorm running stats off defaults
    net.eval()
    weights = save_feature_net(net, tmp_path / "digits", {"dataset": "digits", "test_accuracy": 0.5, "command": "x"})
    sidecar = json.loads((tmp_path / "digits.json").read_text())
    assert sidecar["sha256"] == file_sha256(weights) and sidecar["config"]["feature_dim"] == 8
    assert sidecar["dataset"] == "digits" and sidecar["command"] == "x"
    loaded = load_feature_net("digits", directory=tmp_path)
    images = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    torch.testing.assert_close(loaded(images)[0], net(images)[0], rtol=0, atol=0)
    torch.testing.assert_close(load_feature_net_file(weights)(images)[1], net(images)[1], rtol=0, atol=0)


def test_missing_or_corrupt_weights_raise_genlab_error(tmp_path):
    with pytest.raises(GenlabError, match="train_feature_nets.py --dataset nosuch"):
        load_feature_net("nosuch", directory=tmp_path)
    weights = save_feature_net(_tiny_net(), tmp_path / "digits")
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x00\x00\x01")
    with pytest.raises(GenlabError, match="sha256"):
        load_feature_net_file(weights)
    (tmp_path / "lonely.safetensors").write_bytes(b"")
    with pytest.raises(GenlabError, match="sidecar"):
        load_feature_net_file(tmp_path / "lonely.safetensors")


def test_random_shift_translates_without_wrapping():
    image = torch.zeros(1, 1, 5, 5)
    image[0, 0, 2, 2] = 1.0
    shifted = random_shift(image.repeat(200, 1, 1, 1), 2, torch.Generator().manual_seed(0))
    assert torch.all(shifted.sum(dim=(1, 2, 3)) == 1.0)  # the single bright pixel never leaves a 5×5 image
    positions = {tuple(torch.nonzero(s[0])[0].tolist()) for s in shifted}
    assert len(positions) == 25  # every offset in [-2, 2]^2 occurs
    assert torch.equal(random_shift(image, 0, torch.Generator()), image)


def _bars(n: int, seed: int) -> ImageDataset:
    """Two classes of 12×12 images: a bright vertical bar (0) or horizontal bar (1) at a random place, plus noise."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(n, 12, 12)).astype(np.uint8)
    labels = rng.integers(0, 2, size=n)
    for i, (label, pos) in enumerate(zip(labels, rng.integers(2, 10, size=n))):
        if label == 0:
            images[i, :, pos] = 255
        else:
            images[i, pos, :] = 255
    return ImageDataset(name="bars", images=images, labels=labels, num_classes=2, layout="NHW")


def test_train_feature_net_learns_a_tiny_task():
    # (4, 8, 8)-wide nets sometimes lose a class to dead channels with 192 images; (8, 8, 8) learnt on all 5 seeds tried
    net, info = train_feature_net(_bars(192, 0), _bars(64, 1), epochs=3, batch_size=16, lr=1e-2, seed=0,
                                  progress=None, widths=(8, 8, 8), feature_dim=8)
    assert info["test_accuracy"] >= 0.9 and info["epochs"] == 3
    assert net.image_size == 12 and net.num_classes == 2 and not net.training


def test_train_feature_net_is_seeded():
    data = _bars(64, 0)
    runs = [train_feature_net(data, data, epochs=1, batch_size=16, seed=seed, progress=None, widths=(4, 4, 4),
                              feature_dim=4)[0] for seed in (3, 3, 4)]
    images = data.get_batch(range(8))[0]
    torch.testing.assert_close(runs[0](images)[0], runs[1](images)[0], rtol=0, atol=0)
    assert not torch.allclose(runs[0](images)[0], runs[2](images)[0])


def test_train_feature_net_needs_labels():
    unlabelled = ImageDataset(name="u", images=np.zeros((4, 12, 12), np.uint8))
    with pytest.raises(GenlabError, match="labels"):
        train_feature_net(unlabelled, unlabelled, epochs=1, progress=None)


@pytest.mark.parametrize("dataset,min_accuracy", [("mnist", 0.99), ("fashion-mnist", 0.90)])
def test_shipped_feature_nets_match_their_sidecars(dataset, min_accuracy):
    if not (ASSET_DIR / f"{dataset}.safetensors").is_file():
        pytest.skip(f"no shipped feature net for {dataset} yet")
    meta = json.loads((ASSET_DIR / f"{dataset}.json").read_text())
    assert meta["test_accuracy"] >= min_accuracy and "train_feature_nets.py" in meta["command"]
    net = load_feature_net(dataset)  # also verifies the sha256
    assert net.num_classes == 10 and (ASSET_DIR / f"{dataset}.safetensors").stat().st_size < 1_000_000
