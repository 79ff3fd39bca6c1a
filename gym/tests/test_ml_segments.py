"""Segmentation recovers the simulator's latent segments; k is the silhouette's choice; nothing after the date is
read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gymchain.ml.loaders import validate_all
from gymchain.ml.segments import SEGMENT_FEATURES, agreement, segment, segment_features
from gymchain.ml.simulator import SimConfig, simulate

AT = pd.Timestamp("2026-05-04")


@pytest.fixture(scope="module")
def chain():
    raw = simulate(SimConfig(members=4000, seed=5))
    return raw, validate_all(raw)


@pytest.fixture(scope="module")
def result(chain):
    return segment(chain[1], AT, ks=range(2, 7))


def test_k_by_silhouette_and_stability_reported(result):
    frame, seg = result
    assert seg.k == max(seg.silhouette_by_k, key=seg.silhouette_by_k.get)
    assert set(seg.stability_by_k) == set(range(2, 7)) and all(-1 <= v <= 1 for v in seg.stability_by_k.values())
    assert seg.profiles.members.sum() == len(frame) == len(seg.labels)
    assert list(seg.profiles.columns) == ["members", *SEGMENT_FEATURES]


def test_clusters_agree_with_the_true_segments(chain, result):
    raw, _ = chain
    frame, seg = result
    kmeans_ari = agreement(raw["truth"], frame, seg.labels)
    density_ari = agreement(raw["truth"], frame, seg.density_labels, seg.density_rows)
    shuffled = agreement(raw["truth"], frame, np.random.default_rng(0).permutation(seg.labels))
    assert kmeans_ari > 0.6 and density_ari > 0.2 and abs(shuffled) < 0.05
    assert 0 <= seg.density_noise_share < 0.8


def test_segment_features_ignore_later_events(chain):
    _, tables = chain
    cut = {k: v for k, v in tables.items()}
    cut["visits"] = tables["visits"][tables["visits"].visited_at < AT]
    cut["bookings"] = tables["bookings"][tables["bookings"].class_starts_at < AT]
    pd.testing.assert_frame_equal(segment_features(tables, AT), segment_features(cut, AT))
