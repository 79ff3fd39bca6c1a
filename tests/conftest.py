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


# --- tiny untrained snapshots shared by the web tests (unit and end to end) ---------------------------------------
@pytest.fixture(scope="session")
def tiny_channel_vae(tmp_path_factory) -> Path:
    """An untrained tiny fully convolutional channel-facies VAE snapshot (1×16×16, binary codec: kind 'channels');
    its path. Untrained is enough for the web UI and ES-MDA, which do not care about sample quality."""
    from genlab.checkpoints.snapshot import save_snapshot
    from genlab.data.codecs import ImageCodec
    from genlab.models.registry import get_family

    torch.manual_seed(0)
    model = get_family("vae")((1, 16, 16), architecture="fully_conv", latent_channels=2, base_channels=4,
                              max_channels=8)
    return save_snapshot(tmp_path_factory.mktemp("tiny-channel-vae") / "snapshot.safetensors", model,
                         ImageCodec(1, 16, 16, levels=2).state())


@pytest.fixture(scope="session")
def tiny_vocos(tmp_path_factory) -> Path:
    """An untrained tiny vocos vocoder snapshot (waveform codec: kind 'audio'); its path."""
    import warnings

    from genlab.audio.dataset import WaveformCodec
    from genlab.checkpoints.snapshot import save_snapshot
    from genlab.models.registry import get_family

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = get_family("vocos")(image_shape=(1, 1, 1024), n_fft=256, hop=64, n_mels=16, dim=8, hidden=16,
                                    num_blocks=1, periods=[2], disc_channels=2, stft_sizes=[64])
    return save_snapshot(tmp_path_factory.mktemp("tiny-vocos") / "snapshot.safetensors", model,
                         WaveformCodec().state())


@pytest.fixture(scope="session")
def toy_musdb_dir(tmp_path_factory) -> Path:
    """A data directory with a toy MUSDB18 (HQ layout) holding one 1-s test track, "Toy Band 0 - Song 0"."""
    from genlab.data.toy import write_toy_musdb

    return write_toy_musdb(tmp_path_factory.mktemp("musdb-data"), n_train=0, n_test=1, seconds=1.0)
