"""One-class anomaly detection (genlab.metrics.anomaly): detection metrics on constructed scores, the validation
threshold, the pixel-PCA baseline, and the protocol end to end on tiny toy data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.errors import GenlabError
from genlab.metrics.anomaly import (
    REPORTED,
    detection_metrics,
    one_class_protocol,
    pixel_pca_scores,
    threshold_from_validation,
)


def test_perfect_reversed_and_tied_scores():
    flags = np.array([False] * 4 + [True] * 6)
    perfect = np.arange(10, dtype=float)  # every anomaly scores above every normal image
    m = detection_metrics(perfect, flags, threshold=3.5)
    assert m["roc_auc"] == 1.0 and m["pr_auc"] == 1.0 and m["f1"] == 1.0
    assert m["pr_auc_chance"] == pytest.approx(0.6) and (m["num_normal"], m["num_anomalous"]) == (4, 6)
    assert detection_metrics(-perfect, flags, threshold=0.0)["roc_auc"] == 0.0
    assert detection_metrics(np.zeros(10), flags, threshold=1.0)["roc_auc"] == 0.5


def test_f1_at_a_threshold_counts_hits_and_false_alarms():
    flags = np.array([False, False, False, True, True, True])
    scores = np.array([0.1, 0.2, 0.9, 0.3, 0.8, 0.95])
    m = detection_metrics(scores, flags, threshold=0.5)  # flagged: 0.9 (false alarm), 0.8, 0.95 (hits)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["roc_auc"] == pytest.approx(7 / 9)  # 7 of the 9 (normal, anomaly) pairs ordered correctly


def test_threshold_is_the_validation_quantile_and_checks_its_input():
    assert threshold_from_validation(np.arange(101, dtype=float), 0.95) == pytest.approx(95.0)
    with pytest.raises(GenlabError, match="quantile"):
        threshold_from_validation(np.ones(3), 1.5)
    with pytest.raises(GenlabError, match="no images"):
        threshold_from_validation(np.array([]), 0.9)


def test_pixel_pca_scores_separate_off_subspace_images():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(64, 3, generator=g))[0]  # normal images live in a 3-D subspace
    train = (torch.randn(200, 3, generator=g) @ basis.T).view(200, 1, 8, 8)
    normal = (torch.randn(20, 3, generator=g) @ basis.T).view(20, 1, 8, 8)
    odd = torch.randn(20, 1, 8, 8, generator=g)
    s = pixel_pca_scores(train, torch.cat([normal, odd]), components=3)
    assert s[:20].max() < 1e-6 < s[20:].min()


def test_protocol_end_to_end_on_toy_bars():
    """Class k is a bright bar in column band k: a VAE trained a few steps on one class must tell it apart."""
    from genlab.data.toy import toy_digits

    xtr, ytr = toy_digits(400, seed=0)
    xte, yte = toy_digits(120, seed=1)
    to_model = lambda a: torch.from_numpy(a).float().unsqueeze(1) / 127.5 - 1
    res = one_class_protocol(to_model(xtr), ytr, to_model(xte), yte, dataset="toy", classes=[0, 3],
                             model_options={"base_channels": 8, "latent_dim": 4}, steps=30, batch_size=16, k=2,
                             pca_components=4)
    d = res.to_dict()
    assert set(d["per_class"]) == {"0", "3"} and set(d["mean"]) == set(REPORTED)
    for score in REPORTED:
        assert 0.0 <= d["mean"][score]["roc_auc"] <= 1.0
    assert d["mean"]["pixel_pca"]["roc_auc"] > 0.9  # bars in other columns are far off the class's subspace
    assert max(d["mean"][s]["roc_auc"] for s in ("recon", "latent", "recon+latent")) > 0.7
    assert d["per_class"]["0"]["_cost"]["num_val"] > 0


def test_protocol_rejects_a_class_without_images():
    x = torch.zeros(20, 1, 28, 28)
    y = np.zeros(20, dtype=int)
    with pytest.raises(GenlabError, match="class 5"):
        one_class_protocol(x, y, x, y, classes=[5], steps=1)
