"""Shared fixtures: tiny datasets written by the tests themselves (no ../shared, no network)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from genlab.data.toy import write_toy_mnist

# Keep the suite fast and quiet on small CPUs; never fetch anything.
torch.set_num_threads(min(2, torch.get_num_threads()))
os.environ.setdefault("GENLAB_MALLOC", "default")


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """A data directory holding a tiny MNIST-format dataset (256 train, 64 test images, 28x28, 10 classes)."""
    return write_toy_mnist(tmp_path_factory.mktemp("data"))
