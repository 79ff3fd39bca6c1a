"""Facies feature net: generator labels, features at any image size, Fréchet distance beside its floor, the shipped
classifier (genlab/assets/feature_nets/channels-64.*)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from genlab.data.sources.channels import (
    ChannelStyle,
    feature_class,
    feature_class_names,
    generate_channels,
    labelled_procedural_channels,
    resize_binary,
)
from genlab.errors import GenlabError
from genlab.metrics.facies import (
    compare_facies,
    facies_features,
    feature_frechet,
    load_facies_feature_net,
)
from genlab.metrics.features import FeatureNet, train_feature_net


def _net(size: int = 16) -> FeatureNet:
    torch.manual_seed(0)
    return FeatureNet(num_classes=18, image_size=size, feature_dim=8, widths=(4, 8, 8)).eval()


def test_feature_class_bins_count_width_and_swing():
    names = feature_class_names()
    assert len(names) == 18 and names[0] == "1ch-w0-s0" and names[17] == "3ch-w2-s1"
    # at 64 px, sizes count double: width 3 px -> 6 px at 128 (thin), swing 10 -> 20 (low)
    assert feature_class([{"width_px": 3.0, "swing_px": 10.0}], 64) == 0
    three_wide = [{"width_px": 7.0, "swing_px": 15.0}] * 3  # 14 px (wide), 30 px (high)
    assert names[feature_class(three_wide, 64)] == "3ch-w2-s1"
    # the class uses the *mean* width: 6 and 14 px at 128 average to 10 (< 10.6, thin); at 128 px no scaling
    assert names[feature_class([{"width_px": 6.0, "swing_px": 30.0}, {"width_px": 14.0, "swing_px": 30.0}], 128)] \
        == "2ch-w0-s1"


def test_labelled_dataset_matches_the_generator():
    ds = labelled_procedural_channels(6, seed=3, size=32, start=5)
    images, params = generate_channels(6, 3, 32, start=5, return_params=True)
    x, y = ds.get_batch(np.arange(6))
    assert ds.num_classes == 18 and len(ds.class_names) == 18
    assert torch.equal(x[:, 0], torch.from_numpy(images) * 255)  # display space: channel = 255
    assert y.tolist() == [feature_class(p, 32) for p in params]


@pytest.mark.slow
def test_feature_net_trains_on_generator_labels():
    train = labelled_procedural_channels(48, seed=1, size=16)
    test = labelled_procedural_channels(16, seed=1, size=16, start=48)
    net, info = train_feature_net(train, test, epochs=1, batch_size=16, progress=None, feature_dim=8,
                                  widths=(4, 8, 8))
    assert net.num_classes == 18 and 0.0 <= info["test_accuracy"] <= 1.0 and np.isfinite(info["train_loss"])


def test_features_resize_other_sizes_to_the_net_size():
    net = _net(16)
    big = generate_channels(5, seed=2, size=32)
    small = resize_binary(torch.from_numpy(big)[:, None], (16, 16))
    assert torch.allclose(facies_features(net, big), facies_features(net, small), atol=1e-6)
    assert facies_features(net, big).shape == (5, 8)


def test_frechet_is_zero_for_identical_sets_and_grows_with_a_shift():
    f = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    assert feature_frechet(f, f) == pytest.approx(0.0, abs=1e-8)
    assert feature_frechet(f, f + 1.0) == pytest.approx(4.0, rel=1e-6)  # ‖Δμ‖² = 4, same covariance


def test_compare_facies_reports_frechet_with_its_floor():
    real = generate_channels(40, seed=0, size=16)
    blank = np.zeros((20, 16, 16), np.uint8)
    rep = compare_facies(blank, real, seed=0, feature_net=_net(16))
    assert rep["feature_net"]["feature_dim"] == 8
    assert rep["fake"]["facies_frechet"] > rep["floor"]["facies_frechet"] >= 0.0
    assert "facies_frechet" not in compare_facies(blank, real, seed=0)["fake"]


def test_missing_facies_net_names_the_command(tmp_path):
    with pytest.raises(GenlabError, match="channels_feature_net.py"):
        load_facies_feature_net(directory=tmp_path)


def test_shipped_facies_net_tells_styles_apart():
    net = load_facies_feature_net()
    assert net.image_size == 64 and net.num_classes == 18
    test = labelled_procedural_channels(64, seed=202, size=64)
    images, labels = test.get_batch(np.arange(64))
    pred = net.extract(images)[1].argmax(1)
    count_acc = float(((pred // 6) == (labels // 6)).float().mean())
    assert count_acc > 0.6  # chance is ~0.5 (two and three channels dominate)
    real_a = generate_channels(64, seed=0, size=64, start=900_000)
    real_b = generate_channels(64, seed=0, size=64, start=900_064)
    one = generate_channels(64, seed=0, size=64, start=900_000,
                            style=dataclasses.replace(ChannelStyle(), channel_count_probs=(1.0,)))
    fa = facies_features(net, real_a)
    assert feature_frechet(facies_features(net, one), fa) > 2 * feature_frechet(facies_features(net, real_b), fa)
