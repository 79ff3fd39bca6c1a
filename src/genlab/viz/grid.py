"""Image grids as plain uint8 arrays, and PNGs of them.

Input is always display-space uint8 (N, C, H, W) with values 0..255 — what ``ImageCodec.to_display`` returns —
so a grid of digits, facies or spectrogram images is drawn by the same code. Grids are numpy arrays (H, W) for
grayscale or (H, W, 3) for RGB, ready for Pillow, matplotlib or an HTML report.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from genlab.utils.io import atomic_path

__all__ = ["make_grid", "save_grid", "save_image", "save_strip", "to_uint8_nchw"]


def to_uint8_nchw(images: Any) -> np.ndarray:
    """A uint8 numpy array (N, C, H, W) with C in {1, 3} from a torch tensor or array (N, C, H, W) or (N, H, W).

    Raises ValueError for other dtypes (convert with ``codec.to_display`` first) or shapes.
    """
    if hasattr(images, "detach"):  # torch.Tensor, without importing torch here
        images = images.detach().cpu().numpy()
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise ValueError(f"images must be uint8 0..255 (use codec.to_display), got dtype {arr.dtype}")
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C in (1, 3) or (N, H, W), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("cannot make a grid of zero images")
    return arr


def make_grid(images: Any, nrow: int | None = None, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile N images into rows of `nrow` (default ceil(sqrt(N))), with `padding` pixels of `pad_value` around each.

    images: uint8 (N, C, H, W) or (N, H, W), C in {1, 3}.
    Returns uint8 (rows*(H+p)+p, nrow*(W+p)+p) for C=1, or (..., ..., 3) for C=3. Unused cells are `pad_value`.
    The default white padding keeps dark-background images (digits, facies) visibly apart.
    """
    arr = to_uint8_nchw(images)
    n, c, h, w = arr.shape
    ncol = nrow if nrow is not None else math.ceil(math.sqrt(n))
    if ncol < 1 or padding < 0:
        raise ValueError(f"nrow must be >= 1 and padding >= 0, got nrow={nrow}, padding={padding}")
    ncol = min(ncol, n)
    nrows = math.ceil(n / ncol)
    grid = np.full((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value, dtype=np.uint8)
    for i in range(n):
        top = padding + (i // ncol) * (h + padding)
        left = padding + (i % ncol) * (w + padding)
        grid[:, top : top + h, left : left + w] = arr[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def _upscale(grid: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor (pixels stay crisp: each becomes scale x scale)."""
    if scale < 1 or int(scale) != scale:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    return grid if scale == 1 else grid.repeat(scale, axis=0).repeat(scale, axis=1)


def save_image(array: np.ndarray, path: str | os.PathLike[str], scale: int = 1) -> Path:
    """Write a uint8 (H, W) or (H, W, 3) array as a PNG, enlarged `scale` times, atomically; returns the path."""
    img = Image.fromarray(np.ascontiguousarray(_upscale(np.asarray(array, dtype=np.uint8), scale)))
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return Path(path)


def save_grid(
    images: Any,
    path: str | os.PathLike[str],
    nrow: int | None = None,
    scale: int = 1,
    padding: int = 2,
    pad_value: int = 255,
) -> Path:
    """`make_grid(images, nrow, padding, pad_value)` saved as a PNG enlarged `scale` times; returns the path."""
    return save_image(make_grid(images, nrow=nrow, padding=padding, pad_value=pad_value), path, scale=scale)


def save_strip(
    images: Any,
    path: str | os.PathLike[str],
    scale: int = 1,
    padding: int = 2,
    pad_value: int = 255,
) -> Path:
    """Interpolation strips as a PNG: (S, C, H, W) is one row of S steps; (R, S, C, H, W) is R rows of S steps.

    Returns the path. Rows keep their step order left to right, so column j is the same step in every row.
    """
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    arr = np.asarray(images)
    steps = arr.shape[0]
    if arr.ndim == 5:
        steps = arr.shape[1]
        arr = arr.reshape(-1, *arr.shape[2:])
    return save_grid(arr, path, nrow=steps, scale=scale, padding=padding, pad_value=pad_value)
