"""Tiny synthetic stand-ins for the real datasets, written in the real on-disk formats.

Tests and the notebooks' tiny mode run without the real data (a user's clone has none): these writers produce a
few hundred images or a few seconds of audio that every genlab loader reads exactly like the real thing.

- `write_toy_mnist(root)`: ``root/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` (MNIST's gzipped IDX
  files). Class k is a bright vertical bar in column band k plus a little noise — easy to learn in a few steps,
  nothing like real digits, so metrics on it say nothing about MNIST.
- `write_toy_musdb(root)`: ``root/musdb/MUSDB18-7/{train,test}/<track>/{mixture,drums,bass,other,vocals}.wav``
  (the MUSDB18-HQ layout, read without ffmpeg). Stems are synthesised: a vibrato "voice" with harmonics and
  syllable envelopes, a bass line, kick + hi-hat drums and a chord pad; the mixture is their sum.

The channel facies need no writer here: `genlab.data.sources.channels.write_channels_h5` writes procedural images
in the LTrace format at any size.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["toy_digits", "toy_stems", "write_idx", "write_toy_mnist", "write_toy_musdb"]

PathLike = str | os.PathLike[str]


def write_idx(directory: PathLike, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Write MNIST-format gzipped IDX files ``prefix-images-idx3-ubyte.gz`` and ``prefix-labels-idx1-ubyte.gz``.

    images: uint8 (N, H, W); labels: (N,) integers 0..255.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    head = np.array([2051, n, h, w], dtype=">u4").tobytes()
    (directory / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(head + images.astype(np.uint8).tobytes()))
    lab = np.array([2049, n], dtype=">u4").tobytes() + labels.astype(np.uint8).tobytes()
    (directory / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(lab))


def toy_digits(n: int, seed: int, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, size, size), labels (n,)): class k is a bright vertical bar in column band k, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    images = (rng.random((n, size, size)) * 30).astype(np.uint8)
    band = size // 10
    for i, k in enumerate(labels):
        images[i, 4:-4, k * band: k * band + max(2, band)] = 230
    return images, labels


def write_toy_mnist(root: PathLike, n_train: int = 256, n_test: int = 64) -> Path:
    """A data directory holding a toy MNIST (`n_train` train and `n_test` test images, 28x28, 10 classes) under
    ``root/mnist``; returns `root` (what ``data.data_dir`` / ``GENLAB_DATA_DIR`` should point at)."""
    root = Path(root)
    train, ytrain = toy_digits(n_train, seed=1)
    test, ytest = toy_digits(n_test, seed=2)
    write_idx(root / "mnist", "train", train, ytrain)
    write_idx(root / "mnist", "t10k", test, ytest)
    return root


def _envelope(t: np.ndarray, period: float, attack: float, decay: float, duty: float = 1.0,
              release: float = 0.02) -> np.ndarray:
    """Repeating attack/decay envelope of `period` seconds, faded out over `release` s before `duty` of each
    period (no clicks)."""
    phase = np.mod(t, period)
    env = np.minimum(phase / attack, 1.0) * np.exp(-phase / decay)
    return env * np.clip((duty * period - phase) / release, 0.0, 1.0)


def toy_stems(seconds: float = 2.0, seed: int = 0, sample_rate_hz: int = 44100) -> dict[str, np.ndarray]:
    """Four synthetic stereo stems {drums, bass, other, vocals} as float32 (2, S) arrays, plus their sum 'mixture'.

    Notes, tempo and panning are drawn from `seed`; every stem peaks well below full scale.
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    beat = 60.0 / rng.uniform(100, 140)
    note = np.floor(t / beat).astype(int)  # a new note every beat
    root_hz = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    melody = root_hz * 2 * 2 ** (scale[rng.integers(0, len(scale), note.max() + 1)][note] / 12)
    vib = 1 + 0.01 * np.sin(2 * np.pi * 5.5 * t)
    phase = 2 * np.pi * np.cumsum(melody * vib) / sample_rate_hz
    voice = sum(np.sin(k * phase) / k ** 1.5 for k in range(1, 8)) * _envelope(t, beat, 0.03, 0.8, 0.9)
    bass_hz = root_hz / 2 * 2 ** (scale[rng.integers(0, 5, note.max() + 1)][note] / 12)
    bass_phase = 2 * np.pi * np.cumsum(bass_hz) / sample_rate_hz
    bass = (np.sin(bass_phase) + 0.3 * np.sin(2 * bass_phase)) * _envelope(t, beat, 0.01, 0.4, 0.95)
    kick_t = np.mod(t, beat)
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-kick_t / 0.03)) * kick_t) * np.exp(-kick_t / 0.12)
    hat = rng.standard_normal(n) * _envelope(t + beat / 2, beat, 0.001, 0.03)
    chord = sum(np.sin(2 * np.pi * root_hz * 2 ** (s / 12) * t) for s in (0, 4, 7)) / 3
    mono = {"drums": kick + 0.3 * hat, "bass": bass, "other": chord * (0.6 + 0.4 * np.sin(2 * np.pi * t / 3)),
            "vocals": voice}
    stems = {}
    for name, x in mono.items():
        x = 0.2 * x / (np.abs(x).max() + 1e-9)
        pan = rng.uniform(0.35, 0.65)
        stems[name] = np.stack([x * (1 - pan) * 2, x * pan * 2]).astype(np.float32)
    stems["mixture"] = sum(stems[k] for k in ("drums", "bass", "other", "vocals")).astype(np.float32)
    return stems


def write_toy_musdb(root: PathLike, n_train: int = 2, n_test: int = 1, seconds: float = 2.0,
                    sample_rate_hz: int = 44100) -> Path:
    """A data directory with a toy MUSDB18 in the HQ layout under ``root/musdb/MUSDB18-7`` (`n_train` + `n_test`
    tracks named "Toy Band N - Song N" of `seconds` each, 16-bit WAV); returns `root`."""
    from genlab.audio.io import write_wav

    root = Path(root)
    for k in range(n_train + n_test):
        subset = "train" if k < n_train else "test"
        folder = root / "musdb" / "MUSDB18-7" / subset / f"Toy Band {k} - Song {k}"
        for name, audio in toy_stems(seconds, seed=k, sample_rate_hz=sample_rate_hz).items():
            write_wav(folder / f"{name}.wav", audio, sample_rate_hz)
    return root
