"""The facies HDF5 loader checks the values of every image, not a sample: a file whose later images hold other
codes is refused in one line naming the file, key, image index and values."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from genlab.data.sources import channels
from genlab.errors import GenlabError


def write(path, images: np.ndarray, key: str = "train_images"):
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=images, chunks=(1, *images.shape[1:]))
    return path


def binary(n: int, size: int = 16) -> np.ndarray:
    return (np.random.default_rng(0).random((n, size, size, 1)) < 0.3).astype(np.uint8)


def test_a_bad_image_late_in_the_file_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(channels, "_VALUE_CHECK_BYTES", 16 * 16 * 7)  # 7 images a block: several blocks
    images = binary(1000)
    images[997] *= 200  # {0, 200}: a sample of 256 evenly spaced images skipped it
    path = write(tmp_path / "late.h5", images)
    with pytest.raises(GenlabError) as err:
        channels.load_channels_h5(path)
    msg = str(err.value)
    assert "\n" not in msg
    for word in ("late.h5", "train_images", "image 997", "{0, 200}", "{0, 1}"):
        assert word in msg, msg


def test_negative_codes_and_the_first_bad_image_is_named(tmp_path):
    images = binary(50, 8).astype(np.int16)
    images[31, 0, 0, 0] = -1
    images[40, 0, 0, 0] = 5
    with pytest.raises(GenlabError, match=r"image 31 holds values \{-1, 0(, 1)?\}"):
        channels.load_channels_h5(write(tmp_path / "neg.h5", images, "facies"), key="facies")


def test_a_clean_file_loads_and_check_can_be_skipped(tmp_path):
    images = binary(300)
    ds = channels.load_channels_h5(write(tmp_path / "ok.h5", images))
    x, _ = ds.get_batch([0, 299])
    assert x.shape == (2, 1, 16, 16) and int(x.max()) <= 1
    ds.close()
    images[-1] = 3
    bad = write(tmp_path / "bad.h5", images)
    channels.load_channels_h5(bad, check_values=False).close()  # opt-out kept for trusted files
    with pytest.raises(GenlabError, match="image 299"):
        channels.load_channels_h5(bad)
