"""A dSprites-like data set drawn procedurally, with its generative factors as labels (disentanglement studies).

dSprites (Matthey et al. 2017) is every combination of five independent factors rendered as a white shape on black:
shape (square, ellipse, heart), scale (6 values in [0.5, 1]), orientation (40 values in [0, 2π)), position x and
y (32 values each in [0, 1]). This source draws the same kind of images itself, so nothing is downloaded: each image's
factors are drawn uniformly from those grids with a seeded generator (`seed`, and `seed + 1` for the test split),
and the shape is rasterised by testing every pixel centre against its implicit equation in the sprite's own frame
(rotate and scale the pixel grid, not the shape). The images are binary, stored as 0/255 grayscale so the image
tools and the Bernoulli decoder read them as {0, 1}.

The factor labels travel with the data: ``SpritesDataset.factors`` (N, 5) holds each image's factor *indices*
(into `FACTOR_SIZES`), `factor_values` their physical values; ``labels`` is the shape (3 classes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genlab.data.dataset import ImageDataset
from genlab.errors import GenlabError

SHAPES = ("square", "ellipse", "heart")
FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)  # as in dSprites
SPLIT_SEED_OFFSET = {"train": 0, "test": 1}
MAX_IMAGES = 1_000_000
SIZES = (16, 32, 64)


@dataclass
class SpritesDataset(ImageDataset):
    """An ImageDataset that also carries each image's generative factors (indices, (N, 5) int)."""

    factors: np.ndarray = field(default_factory=lambda: np.zeros((0, len(FACTOR_NAMES)), dtype=np.int64))
    factor_names: tuple[str, ...] = FACTOR_NAMES
    factor_sizes: tuple[int, ...] = FACTOR_SIZES

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> SpritesDataset:
        idx = np.asarray(indices, dtype=np.int64)
        return SpritesDataset(name=name or self.name, images=self.images[idx], labels=self.labels[idx],
                              num_classes=self.num_classes, layout=self.layout, levels=self.levels,
                              class_names=self.class_names, factors=self.factors[idx])

    def factor_values(self) -> np.ndarray:
        """Physical factor values (N, 5): shape index, scale, orientation (radians), x and y in [0, 1]."""
        return factor_values(self.factors)


def factor_values(factors: np.ndarray) -> np.ndarray:
    """Factor indices (N, 5) → values: shape index, scale in [0.5, 1], angle in [0, 2π), x and y in [0, 1]."""
    f = np.asarray(factors)
    scale = 0.5 + 0.1 * f[:, 1]  # 0.5, 0.6, ..., 1.0
    angle = 2 * np.pi * f[:, 2] / FACTOR_SIZES[2]
    pos_x, pos_y = f[:, 3] / (FACTOR_SIZES[3] - 1), f[:, 4] / (FACTOR_SIZES[4] - 1)
    return np.stack([f[:, 0].astype(float), scale, angle, pos_x, pos_y], axis=1)


def sample_factors(n: int, seed: int) -> np.ndarray:
    """(n, 5) factor indices drawn uniformly and independently from the dSprites grids, seeded."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, size=n) for k in FACTOR_SIZES], axis=1).astype(np.int64)


def _inside(shape: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether sprite-frame points (u, v) (unit sprite: about [-1, 1]², v up) lie inside each image's shape."""
    square = np.maximum(np.abs(u), np.abs(v)) <= 0.8
    ellipse = (u / 1.0) ** 2 + (v / 0.5) ** 2 <= 1.0
    # the heart curve (x² + y² − 1)³ − x² y³ ≤ 0, scaled to the unit box (it spans x ±1.14, y −1 … 1.25)
    hx, hy = u * 1.15, v * 1.15 + 0.1
    heart = (hx**2 + hy**2 - 1) ** 3 - hx**2 * hy**3 <= 0
    return np.where(shape == 0, square, np.where(shape == 1, ellipse, heart))


def render(factors: np.ndarray, size: int = 64, batch: int = 2048) -> np.ndarray:
    """Binary images uint8 (N, size, size) in {0, 255} for factor indices (N, 5).

    The sprite's half-width is `scale` × 0.2 of the image side, its centre x, y mapped into [0.25, 0.75]·size so the
    largest sprite stays inside at every angle, and it is rotated by the orientation (counter-clockwise).
    """
    values = factor_values(factors).astype(np.float32)
    centres = ((np.arange(size) + 0.5) / size).astype(np.float32)  # pixel centres in [0, 1]
    gx, gy = np.meshgrid(centres, centres)  # (size, size): x to the right, y down
    out = np.empty((len(factors), size, size), dtype=np.uint8)
    for start in range(0, len(factors), batch):
        val = values[start:start + batch]
        shape = val[:, 0].astype(int)[:, None, None]
        half = (0.2 * val[:, 1])[:, None, None]
        cos, sin = np.cos(val[:, 2])[:, None, None], np.sin(val[:, 2])[:, None, None]
        dx = gx[None] - (0.25 + 0.5 * val[:, 3])[:, None, None]
        dy = (0.25 + 0.5 * val[:, 4])[:, None, None] - gy[None]  # pos_y runs down the rows; v is up in the sprite
        u = (cos * dx + sin * dy) / half  # rotate the grid by −θ = rotate the sprite by +θ
        v = (-sin * dx + cos * dy) / half
        out[start:start + batch] = _inside(shape, u, v).astype(np.uint8) * 255
    return out


def make_sprites(n: int, seed: int = 0, size: int = 64, name: str | None = None) -> SpritesDataset:
    """`n` sprites with seeded random factors at `size`×`size` (in memory)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
        raise GenlabError(f"dsprites: option 'n' = {n!r}; expected an integer in 1..{MAX_IMAGES}")
    if size not in SIZES:
        raise GenlabError(f"dsprites: option 'size' = {size!r}; expected one of {', '.join(map(str, SIZES))}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise GenlabError(f"dsprites: option 'seed' = {seed!r}; expected an integer >= 0")
    factors = sample_factors(n, seed)
    return SpritesDataset(name=name or f"dsprites:{size}:{seed}", images=render(factors, size), labels=factors[:, 0],
                          num_classes=len(SHAPES), layout="NHW", levels=256, class_names=SHAPES, factors=factors)


def load_sprites_source(split: str, data_dir: Path, download: bool = False, n: int = 50_000, size: int = 64,
                        seed: int = 0) -> SpritesDataset:
    """Registry loader: `n` train images from `seed`, `n` // 5 test images from `seed` + 1 (data_dir unused)."""
    if split not in SPLIT_SEED_OFFSET:
        raise GenlabError(f"dsprites: unknown split '{split}'; expected train or test")
    count = n if split == "train" else max(1, n // 5)
    return make_sprites(count, seed + SPLIT_SEED_OFFSET[split], size, name=f"dsprites:{split}")
