"""Facies realism metrics on images with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.errors import GenlabError
from genlab.metrics.facies import (
    ambiguous_fraction,
    channel_proportion,
    classical_mds,
    compare_facies,
    connectivity_function,
    indicator_variogram,
    jensen_shannon,
    nearest_hamming,
    pattern_codes,
    pattern_histograms,
    pattern_js,
    pattern_mmd,
    proportion_kl,
    reconstruction_accuracy,
)


def _brute_variogram(a, h):
    return 0.5 * np.mean(a[:, :, h:] != a[:, :, :-h])


def test_variogram_constant_and_checkerboard():
    assert np.all(indicator_variogram(np.ones((3, 16, 16)), "x") == 0)
    assert np.all(indicator_variogram(np.zeros((3, 16, 16)), "y") == 0)
    yy, xx = np.mgrid[:16, :16]
    board = ((yy + xx) % 2)[None]
    for axis in "xy":
        g = indicator_variogram(board, axis)
        assert len(g) == 8 and np.allclose(g[0::2], 0.5) and np.allclose(g[1::2], 0.0)  # h odd: ½, even: 0


def test_variogram_matches_definition_on_random_images():
    a = np.random.default_rng(0).random((4, 12, 20)) < 0.3
    for axis, arr in (("x", a), ("y", a.transpose(0, 2, 1))):
        g = indicator_variogram(torch.from_numpy(a).unsqueeze(1), axis, max_lag=5)
        assert np.allclose(g, [_brute_variogram(arr, h) for h in range(1, 6)])


def test_connectivity_straight_channel_and_two_bodies():
    img = np.zeros((1, 32, 32), np.uint8)
    img[0, :, 10:14] = 1  # one straight N–S channel
    assert np.allclose(connectivity_function(img, "y"), 1.0)
    tau_x = connectivity_function(img, "x")
    assert np.allclose(tau_x[:3], 1.0) and np.all(np.isnan(tau_x[3:]))  # no channel pairs beyond its width
    img[0, :, 20:24] = 1  # a second, separate channel
    tau_x = connectivity_function(img, "x")
    assert tau_x[9] == 0.0 and tau_x[0] == 1.0  # lag 10 links only different bodies


def test_proportion_and_kl():
    x = np.zeros((4, 10, 10))
    x[:2, :, :5] = 1
    p = channel_proportion(x, bins=4)
    assert p["mean"] == 0.25 and p["hist"] == [2, 0, 2, 0] and p["n"] == 4
    kl = proportion_kl(x, x)
    assert kl["fraction_hist_kl"] == pytest.approx(0) and kl["pixel_hist_kl"] == pytest.approx(0)
    assert proportion_kl(np.ones((4, 10, 10)), x)["pixel_hist_kl"] > 1.0


def test_patterns_and_pattern_distances():
    img = np.zeros((1, 3, 3), np.uint8)
    img[0, 0, 0] = img[0, 2, 2] = 1
    assert pattern_codes(img, 3).item() == 1 + 2**8
    x = np.random.default_rng(1).random((6, 16, 16)) < 0.4
    h = pattern_histograms(x, 2)
    assert h.shape == (6, 16) and np.allclose(h.sum(1), 1)
    assert pattern_mmd(x, x) == pytest.approx(0.0, abs=1e-12) and pattern_js(x, x) == pytest.approx(0.0, abs=1e-12)
    stripes = np.zeros((6, 16, 16))
    stripes[:, :, ::2] = 1
    assert pattern_mmd(x, stripes) > 0.1 and 0.5 < pattern_js(x, stripes, 3) <= 1.0
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)


def test_nearest_hamming_reconstruction_ambiguity_mds():
    x = (np.random.default_rng(2).random((5, 8, 8)) < 0.5).astype(np.uint8)
    d = nearest_hamming(x[:2], x)
    assert np.allclose(d, 0)
    assert np.allclose(nearest_hamming(1 - x[:1], x[:1]), 1.0)
    r = reconstruction_accuracy(x, x)
    assert r == {"pixel_accuracy": 1.0, "channel_iou": 1.0}
    assert reconstruction_accuracy(np.zeros((1, 2, 2)), np.array([[[1, 0], [0, 0]]]))["pixel_accuracy"] == 0.75
    assert ambiguous_fraction(torch.tensor([0.1, 0.45, 0.5, 0.6, 0.9])) == pytest.approx(0.4)
    pts = np.array([[0.0, 0], [3, 0], [0, 4]])
    dist = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    emb = classical_mds(dist)
    assert np.allclose(np.linalg.norm(emb[:, None] - emb[None], axis=-1), dist, atol=1e-8)


def test_compare_facies_reports_floor_and_counts():
    rng = np.random.default_rng(3)
    real = np.zeros((20, 16, 16), np.uint8)
    for i in range(20):
        c = rng.integers(2, 12)
        real[i, :, c : c + 4] = 1
    noise = (rng.random((10, 16, 16)) < 0.25).astype(np.uint8)
    rep = compare_facies(noise, real, train=real[:5])
    assert rep["counts"] == {"fake": 10, "real_reference": 10, "real_floor": 10, "train": 5}
    assert rep["floor"]["connectivity_y_rmse"] < rep["fake"]["connectivity_y_rmse"]
    assert rep["floor"]["pattern_mmd2_3x3"] < rep["fake"]["pattern_mmd2_3x3"]
    assert rep["nearest_train_hamming"]["fake"]["mean"] > 0
    assert len(rep["reference_curves"]["variogram_x"]) == 8
    with pytest.raises(GenlabError, match="differ in size"):
        compare_facies(noise[:, :8], real)
