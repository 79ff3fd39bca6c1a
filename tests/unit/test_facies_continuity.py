"""Channel continuity (spanning bodies along flow) on hand-built images with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.data.sources.channels import generate_channels
from genlab.facies import report as rp
from genlab.metrics.facies import (
    channel_continuity,
    compare_facies,
    dominant_flow_axis,
    label_channels,
    spanning_images,
)


def _straight(size: int = 12, col: int = 5, width: int = 2) -> np.ndarray:
    img = np.zeros((size, size), np.uint8)
    img[:, col : col + width] = 1  # a channel from the top row to the bottom row
    return img


def test_straight_channel_spans_along_flow_not_across():
    c = channel_continuity(_straight()[None], "y")
    assert c["spanning_fraction"] == 1.0 and c["spanning_fraction_across"] == 0.0
    assert c["bodies_per_image"]["mean"] == 1 and c["body_px_mean"] == 24 and c["spanning_body_share"] == 1.0
    c = channel_continuity(_straight().T[None], "x")  # the same channel running E–W spans along x
    assert c["spanning_fraction"] == 1.0 and c["spanning_fraction_across"] == 0.0
    assert channel_continuity(_straight()[None], "x")["spanning_fraction"] == 0.0  # wrong flow axis: no span


def test_broken_channel_does_not_span():
    img = _straight()
    img[6] = 0  # one cleared row cuts the channel into two bodies
    c = channel_continuity(img[None])
    assert c["spanning_fraction"] == 0.0 and c["bodies_per_image"]["mean"] == 2
    assert c["body_px_mean"] == 11 and c["spanning_body_share"] == 0.0


def test_diagonal_only_contact_does_not_count():
    stairs = np.eye(10, dtype=np.uint8)  # a one-pixel diagonal line: touches top and bottom, 8-connected only
    c = channel_continuity(stairs[None])
    assert c["spanning_fraction"] == 0.0 and c["bodies_per_image"]["mean"] == 10
    thick = stairs | np.eye(10, k=1, dtype=np.uint8)  # add the 4-neighbours: now one 4-connected staircase
    c = channel_continuity(thick[None])
    assert c["spanning_fraction"] == 1.0 and c["spanning_fraction_across"] == 1.0 and c["bodies_per_image"]["mean"] == 1


def test_batch_fraction_torch_input_and_bad_axis():
    broken = _straight()
    broken[3] = 0
    empty = np.zeros((12, 12), np.uint8)
    batch = torch.from_numpy(np.stack([_straight(), broken, empty, _straight(col=0)]))[:, None]  # (N, 1, H, W)
    c = channel_continuity(batch)
    assert c["n"] == 4 and c["spanning_fraction"] == 0.5
    assert c["bodies_per_image"]["mean"] == pytest.approx((1 + 2 + 0 + 1) / 4)
    assert list(spanning_images(label_channels(batch))) == [True, False, False, True]
    with pytest.raises(ValueError, match="flow axis"):
        spanning_images(label_channels(batch), "z")


def test_compare_facies_and_table_report_continuity_beside_floor():
    real = generate_channels(40, seed=0, size=32)
    fake = np.stack([_straight(32, c % 24, 4) for c in range(20)])  # every fake image spans
    rep = compare_facies(fake, real)
    assert rep["flow_axis"] == "y"  # the procedural channels run top to bottom
    assert rep["fake"]["continuity"]["spanning_fraction"] == 1.0
    assert 0.0 <= rep["floor"]["continuity"]["spanning_fraction"] <= 1.0 and rep["floor"]["continuity"]["n"] == 20
    _, rows = rp.comparison_table([{"label": "m", "metrics": rep}])
    row = next(r for r in rows if r[0].startswith("images with a body spanning"))
    assert row[1] == "1.000" and row[2] == f"{rep['floor']['continuity']['spanning_fraction']:.3f}"


def test_dominant_flow_axis_follows_the_real_images():
    ns = np.stack([_straight(col=c) for c in range(6)])
    assert dominant_flow_axis(ns) == "y" and dominant_flow_axis(ns.transpose(0, 2, 1)) == "x"
    rep = compare_facies(ns.transpose(0, 2, 1)[:3], ns.transpose(0, 2, 1))  # E–W reals: continuity along x
    assert rep["flow_axis"] == "x" and rep["fake"]["continuity"]["spanning_fraction"] == 1.0
    assert compare_facies(ns[:3], ns, flow_axis="x")["fake"]["continuity"]["spanning_fraction"] == 0.0
