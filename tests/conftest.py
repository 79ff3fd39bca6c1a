"""Shared fixtures: tiny datasets written by the tests themselves (no ../shared, no network)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

# Keep the suite fast and quiet on small CPUs; never fetch anything.
torch.set_num_threads(min(2, torch.get_num_threads()))
os.environ.setdefault("GENLAB_MALLOC", "default")


def write_idx(directory: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Write MNIST-format gzipped IDX image and label files."""
    directory.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    head = np.array([2051, n, h, w], dtype=">u4").tobytes()
    (directory / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(head + images.astype(np.uint8).tobytes()))
    lab = np.array([2049, n], dtype=">u4").tobytes() + labels.astype(np.uint8).tobytes()
    (directory / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(lab))


def toy_digits(n: int, seed: int, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Images of class k: a bright vertical bar in column band k, plus a little noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    images = (rng.random((n, size, size)) * 30).astype(np.uint8)
    band = size // 10
    for i, k in enumerate(labels):
        images[i, 4:-4, k * band: k * band + max(2, band)] = 230
    return images, labels


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """A data directory holding a tiny MNIST-format dataset (256 train, 64 test images, 28x28, 10 classes)."""
    root = tmp_path_factory.mktemp("data")
    train, ytrain = toy_digits(256, seed=1)
    test, ytest = toy_digits(64, seed=2)
    write_idx(root / "mnist", "train", train, ytrain)
    write_idx(root / "mnist", "t10k", test, ytest)
    return root
