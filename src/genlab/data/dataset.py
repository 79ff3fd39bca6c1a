"""The in-memory / streamed image dataset every image-like domain hands to the engine.

Images are kept as stored (uint8, (N, H, W) or (N, H, W, C) or (N, C, H, W) as the source gives them) and are
converted batch by batch, so a 50,000-image HDF5 file can be streamed instead of copied. The engine only calls
``len(ds)`` and ``ds.get_batch(indices)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor


@dataclass
class ImageDataset:
    """A set of images plus optional integer labels.

    images: array-like supporting fancy indexing with a sorted int array (numpy array or h5py dataset);
        layout given by `layout`: "NHW", "NHWC" or "NCHW"; dtype uint8.
    labels: (N,) int array or None.
    levels: number of distinct pixel values the codec expects (256 for grayscale, 2 for binary facies {0, 1}).
    """

    name: str
    images: Any
    labels: np.ndarray | None = None
    num_classes: int = 0
    layout: str = "NHW"
    levels: int = 256
    class_names: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.layout not in ("NHW", "NHWC", "NCHW"):
            raise ValueError(f"layout must be NHW, NHWC or NCHW, got {self.layout}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image as the model sees it."""
        s = self.images.shape
        if self.layout == "NHW":
            return (1, int(s[1]), int(s[2]))
        if self.layout == "NHWC":
            return (int(s[3]), int(s[1]), int(s[2]))
        return (int(s[1]), int(s[2]), int(s[3]))

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> tuple[Tensor, Tensor | None]:
        """uint8 images (B, C, H, W) and labels (B,) (or None) for `indices`, in the order given."""
        idx = np.asarray(indices, dtype=np.int64)
        if isinstance(self.images, np.ndarray):
            raw = self.images[idx]
        else:  # h5py and other lazy arrays: row reads are fast and allow repeats and any order
            raw = np.stack([np.asarray(self.images[int(i)]) for i in idx])
        x = torch.from_numpy(np.ascontiguousarray(raw))
        if self.layout == "NHW":
            x = x.unsqueeze(1)
        elif self.layout == "NHWC":
            x = x.permute(0, 3, 1, 2).contiguous()
        y = torch.from_numpy(self.labels[idx].astype(np.int64)) if self.labels is not None else None
        return x, y

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> ImageDataset:
        """A new in-memory dataset holding only `indices` (read once)."""
        x, y = self.get_batch(indices)
        return ImageDataset(
            name=name or self.name,
            images=x.numpy(),
            labels=None if y is None else y.numpy(),
            num_classes=self.num_classes,
            layout="NCHW",
            levels=self.levels,
            class_names=self.class_names,
        )
