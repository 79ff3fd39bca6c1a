"""Grids: exact layout and pixel values; PNG writers: readable files of the right size, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.viz import make_grid, plot_curves, save_grid, save_strip, side_by_side


def _images(n: int, c: int = 1, h: int = 4, w: int = 5) -> np.ndarray:
    """(n, c, h, w) uint8 where image i is filled with value 10 * (i + 1)."""
    return np.stack([np.full((c, h, w), 10 * (i + 1), dtype=np.uint8) for i in range(n)])


def test_grid_shape_layout_and_padding() -> None:
    grid = make_grid(_images(5), nrow=3, padding=2, pad_value=255)
    assert grid.shape == (2 * (4 + 2) + 2, 3 * (5 + 2) + 2) and grid.dtype == np.uint8
    assert (grid[2:6, 2:7] == 10).all()  # image 0, top-left
    assert (grid[2:6, 16:21] == 30).all()  # image 2, end of row 0
    assert (grid[8:12, 9:14] == 50).all()  # image 4, row 1 col 1
    assert (grid[8:12, 16:21] == 255).all()  # the unused sixth cell is padding
    assert (grid[:2] == 255).all() and (grid[:, :2] == 255).all() and (grid[6:8] == 255).all()


def test_grid_default_nrow_is_square_and_torch_input_works() -> None:
    grid = make_grid(torch.from_numpy(_images(9, h=3, w=3)), padding=0)
    assert grid.shape == (9, 9)
    assert grid[0, 0] == 10 and grid[8, 8] == 90 and grid[3, 0] == 40


def test_rgb_and_nhw_inputs() -> None:
    rgb = _images(2, c=3)
    rgb[1, 0] = 200  # red channel of the second image
    grid = make_grid(rgb, nrow=2, padding=1, pad_value=0)
    assert grid.shape == (6, 13, 3)
    np.testing.assert_array_equal(grid[1, 7], [200, 20, 20])
    assert make_grid(_images(4)[:, 0], nrow=4, padding=0).shape == (4, 20)


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((2, 1, 4, 4), np.float32), "uint8"),
        (np.zeros((2, 2, 4, 4), np.uint8), "C in"),
        (np.zeros((0, 1, 4, 4), np.uint8), "zero images"),
    ],
)
def test_grid_rejects_bad_input(images: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_grid(images)


def test_save_grid_scale_png_roundtrip(tmp_path: Path) -> None:
    images = _images(4)
    path = save_grid(images, tmp_path / "out" / "grid.png", nrow=2, scale=3)
    png = np.asarray(Image.open(path))
    expected = make_grid(images, nrow=2)
    assert png.shape == (expected.shape[0] * 3, expected.shape[1] * 3)
    np.testing.assert_array_equal(png[::3, ::3], expected)
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]


def test_save_strip_rows_of_steps(tmp_path: Path) -> None:
    strips = np.stack([_images(6), _images(6)])  # (R=2, S=6, 1, 4, 5)
    png = np.asarray(Image.open(save_strip(strips, tmp_path / "strip.png", padding=0)))
    assert png.shape == (8, 30)
    np.testing.assert_array_equal(png[0, ::5], [10, 20, 30, 40, 50, 60])
    assert np.asarray(Image.open(save_strip(_images(6), tmp_path / "one.png", padding=0))).shape == (4, 30)


def test_plot_curves_and_side_by_side_write_pngs(tmp_path: Path) -> None:
    xs = np.arange(20)
    ys = np.exp(-xs / 5.0)
    ys[3] = np.nan  # a diverged point must not break the plot
    out = plot_curves(
        {"train": (xs, ys), "val": (xs, ys * 1.1)}, tmp_path / "loss.png", "epoch", "loss", "t", logy=True
    )
    assert Image.open(out).format == "PNG" and Image.open(out).size[0] > 100
    with pytest.raises(ValueError, match="curve 'bad'"):
        plot_curves({"bad": ([0, 1], [1.0])}, tmp_path / "bad.png")
    panels = [(f"epoch {e}", make_grid(_images(4), nrow=2)) for e in range(5)]
    fig = side_by_side(panels, tmp_path / "cmp.png", title="samples")
    assert Image.open(fig).format == "PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.png", "loss.png"]
