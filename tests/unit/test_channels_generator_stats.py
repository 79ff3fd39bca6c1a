"""benchmarks/channels_generator_stats.py: figure digitiser and per-image channel statistics on known images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests_helpers import load_script

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
PURPLE, YELLOW = (68, 1, 84), (253, 231, 37)  # viridis(0), viridis(1)


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # the script imports benchmarks/common.py
    return load_script(BENCH / "channels_generator_stats.py")


def _figure(path: Path) -> None:
    """Two 160×160 viridis panels (stripe at columns 40..79, then at 80..159 of the panel) and a thin colour bar."""
    fig = np.full((220, 500, 3), 255, np.uint8)
    for x0, (a, b) in ((30, (40, 80)), (230, (80, 160))):
        fig[30:190, x0 : x0 + 160] = PURPLE
        fig[30:190, x0 + a : x0 + b] = YELLOW
    fig[30:190, 420:432] = np.linspace(PURPLE, YELLOW, 160).astype(np.uint8)[:, None]  # colour bar: not square
    fig[5:12, 30:120] = 0  # black "title" text
    Image.fromarray(fig).save(path)


def test_digitise_figure_finds_square_panels_left_to_right(bench, tmp_path):
    _figure(tmp_path / "fig.png")
    panels = bench.digitise_figure(tmp_path / "fig.png", size=16)
    assert len(panels) == 2
    expected_first, expected_second = np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8)
    expected_first[:, 4:8] = 1
    expected_second[:, 8:] = 1
    assert np.array_equal(panels[0], expected_first) and np.array_equal(panels[1], expected_second)


def test_straight_and_tilted_bodies(bench):
    straight = np.zeros((21, 21), bool)
    straight[:, 5:9] = True
    assert bench.centreline_sinuosity(straight) == pytest.approx(1.0)
    assert bench.geodesic_tortuosity(straight) == pytest.approx(1.0)
    yy, xx = np.mgrid[:21, :21]
    zigzag = np.abs(xx - (10 + 6 * np.sign(np.sin(yy / 3.0)))) <= 1  # jumps sideways: a longer way down
    s = bench.per_image_stats(zigzag[None].astype(np.uint8))
    assert s["bodies"][0] >= 2 and s["spans_flow"][0] == 0  # the jumps cut it into pieces (4-connectivity)
    wave = np.abs(xx - (10 + 5 * np.sin(2 * np.pi * yy / 20))) <= 2.5  # one wavelength, 5 px across, thinner on bends
    s = bench.per_image_stats(wave[None].astype(np.uint8))
    assert s["spans_flow"][0] == 1 and s["spans_across"][0] == 0 and s["bodies"][0] == 1
    assert s["sinuosity"][0] > 1.2 and 1.0 < s["tortuosity"][0] < s["sinuosity"][0]
    assert 2.5 <= s["width_ridge_px"][0] <= 5 and s["run_across_px"][0] >= s["width_ridge_px"][0]


def test_figure_blur_closes_one_pixel_gaps_only(bench):
    img = np.zeros((1, 16, 16), np.uint8)
    img[0, :, 3:7] = 1
    img[0, :, 8:12] = 1  # two channels 1 px apart: read as one body after the blur
    img[0, :, 13:15] = 0
    out = bench.figure_blur(img)
    assert out[0, :, 7].all() and out[0, :, 3:12].all() and not out[0, :, 13:].any()
    wide = np.zeros((1, 16, 16), np.uint8)
    wide[0, :, 2:6] = 1
    wide[0, :, 9:13] = 1  # a 3-px gap stays open
    assert not bench.figure_blur(wide)[0, :, 7].any()
