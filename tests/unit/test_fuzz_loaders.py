"""Fuzz the data loaders (hypothesis): random and garbled MNIST IDX bytes, HDF5 facies files with wrong keys,
dtypes, shapes and values, and WAV bytes. Each input either loads or raises a clean one-line GenlabError — never
another exception. Bounded examples and no deadline keep it to a few seconds."""

from __future__ import annotations

import io
import struct
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genlab.audio.io import read_wav
from genlab.data.sources.channels import load_channels_h5
from genlab.data.sources.mnist import IMAGE_MAGIC, LABEL_MAGIC, read_idx_images, read_idx_labels
from genlab.errors import GenlabError

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def clean_or_success(fn, *args, **kwargs):
    """Call fn; a GenlabError must be one line. Any other exception fails the test."""
    try:
        return fn(*args, **kwargs)
    except GenlabError as e:
        assert "\n" not in str(e), str(e)
        return None


_TMP = tempfile.TemporaryDirectory(prefix="genlab-fuzz-")  # removed at interpreter exit


def fresh_dir() -> Path:
    return Path(tempfile.mkdtemp(dir=_TMP.name))


def in_tmp(name: str, data: bytes) -> Path:
    path = fresh_dir() / name
    path.write_bytes(data)
    return path


# --- MNIST IDX ------------------------------------------------------------------------------------------------------
def idx_bytes(magic: int, dims: list[int], payload: bytes) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


@st.composite
def garbled_idx(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["random", "header", "gzip"]))
    if kind == "random":
        return draw(st.sampled_from(["x-idx3-ubyte", "x-idx3-ubyte.gz"])), draw(st.binary(max_size=300))
    magic = draw(st.sampled_from([IMAGE_MAGIC, LABEL_MAGIC, 0, 2**32 - 1]))
    dims = draw(st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 6), min_size=1, max_size=3))
    data = idx_bytes(magic, dims, draw(st.binary(max_size=200)))
    if kind == "gzip":
        import gzip

        data = gzip.compress(data)
        cut = draw(st.integers(0, len(data)))
        return "x-idx3-ubyte.gz", data[:cut] if draw(st.booleans()) else data
    return "x-idx3-ubyte", data


@FUZZ
@given(garbled_idx())
def test_idx_images_and_labels(case):
    name, data = case
    path = in_tmp(name, data)
    images = clean_or_success(read_idx_images, path)
    if images is not None:
        assert images.dtype == np.uint8 and images.ndim == 3
    labels = clean_or_success(read_idx_labels, path, num_classes=10)
    if labels is not None:
        assert labels.ndim == 1 and (labels < 10).all()


# --- HDF5 facies ----------------------------------------------------------------------------------------------------
@st.composite
def facies_files(draw) -> tuple[bytes | None, dict]:
    if draw(st.integers(0, 5)) == 0:  # not HDF5 at all
        return draw(st.binary(max_size=200)), {}
    key = draw(st.sampled_from(["train_images", "images", "x/y"]))
    dtype = draw(st.sampled_from(["uint8", "int16", "float32", "bool", "int64"]))
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=5)))
    values = draw(st.sampled_from([(0, 1), (0, 200), (-1, 1), (0, 0)]))
    extra = draw(st.booleans())
    return None, {"key": key, "dtype": dtype, "shape": shape, "values": values, "extra": extra,
                  "ask": draw(st.sampled_from([None, "train_images", "missing"])),
                  "size": draw(st.sampled_from([None, 2, 3])), "split": draw(st.sampled_from(["all", "train", "x"]))}


@FUZZ
@given(facies_files())
def test_channels_h5(case):
    raw, spec = case
    if raw is not None:
        clean_or_success(load_channels_h5, in_tmp("f.h5", raw))
        return
    path = fresh_dir() / "f.h5"
    rng = np.random.default_rng(0)
    lo, hi = spec["values"]
    data = rng.integers(lo, hi + 1, size=spec["shape"]).astype(spec["dtype"]) if spec["shape"] else np.array(lo)
    with h5py.File(path, "w") as f:
        f.create_dataset(spec["key"], data=data.astype(spec["dtype"]))
        if spec["extra"]:
            f.create_dataset("other", data=np.zeros(3))
    ds = clean_or_success(load_channels_h5, path, key=spec["ask"], size=spec["size"], split=spec["split"])
    if ds is not None:
        if len(ds):
            x, _ = ds.get_batch([0])
            assert x.dtype.is_floating_point is False and int(x.max()) <= 1
        ds.close()


# --- WAV ------------------------------------------------------------------------------------------------------------
def wav_bytes(num_frames: int, channels: int, subtype: str, values: float) -> bytes:
    buf = io.BytesIO()
    data = np.full((num_frames, channels), values, dtype=np.float32)
    sf.write(buf, data, 8000, subtype=subtype, format="WAV")
    return buf.getvalue()


@st.composite
def garbled_wav(draw) -> bytes:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=300))
    data = wav_bytes(draw(st.integers(0, 300)), draw(st.integers(1, 3)), draw(st.sampled_from(["PCM_16", "FLOAT"])),
                     draw(st.sampled_from([0.0, 0.5, float("nan"), float("inf")])))
    action = draw(st.sampled_from(["keep", "cut", "flip"]))
    if action == "cut":
        return data[: draw(st.integers(0, len(data)))]
    if action == "flip":
        pos = draw(st.integers(0, len(data) - 1))
        return data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1:]
    return data


@FUZZ
@given(garbled_wav(), st.sampled_from([None, 8000, 16000]), st.sampled_from([None, 1, 2]))
def test_wav(data, rate, channels):
    audio = clean_or_success(read_wav, in_tmp("x.wav", data), rate, channels)
    if audio is not None:
        assert audio.ndim == 2 and audio.shape[1] > 0 and np.isfinite(audio).all()


def test_the_fuzzers_do_reach_both_outcomes():
    """Sanity: valid files load through the same helpers (the fuzz would pass vacuously if everything failed)."""
    assert clean_or_success(read_wav, in_tmp("ok.wav", wav_bytes(100, 1, "PCM_16", 0.5)), None, None) is not None
    ok = idx_bytes(IMAGE_MAGIC, [2, 2, 2], bytes(8))
    assert clean_or_success(read_idx_images, in_tmp("ok-idx3-ubyte", ok)).shape == (2, 2, 2)
    with pytest.raises(GenlabError):
        read_idx_images(in_tmp("bad-idx3-ubyte", ok[:-1]))
