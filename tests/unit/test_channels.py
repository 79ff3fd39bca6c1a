"""LTrace-format channel facies: loader errors, key detection, resize, split, procedural generator, writer."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from genlab.data.sources.channels import (
    LTRACE_KEY,
    ChannelsDataset,
    generate_channels,
    load_channels_h5,
    resize_binary,
    split_indices,
    write_channels_h5,
)
from genlab.errors import GenlabError


def _h5(path, data, key=LTRACE_KEY, extra=None):
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=data)
        for k, v in (extra or {}).items():
            f.create_dataset(k, data=v)
    return path


@pytest.fixture
def imgs():
    rng = np.random.default_rng(0)
    return (rng.random((12, 16, 16, 1)) < 0.3).astype(np.uint8)


def test_loads_ltrace_layout_streaming(tmp_path, imgs):
    ds = load_channels_h5(_h5(tmp_path / "t.h5", imgs))
    assert isinstance(ds.images, h5py.Dataset) and ds.layout == "NHWC" and ds.levels == 2
    assert len(ds) == 12 and ds.image_shape == (1, 16, 16)
    x, y = ds.get_batch([5, 1, 5])
    assert y is None and x.dtype == torch.uint8 and x.shape == (3, 1, 16, 16)
    assert torch.equal(x[0, 0], torch.from_numpy(imgs[5, :, :, 0])) and torch.equal(
        x[1, 0], torch.from_numpy(imgs[1, :, :, 0])
    )
    ds.close()


def test_accepts_nhw_and_autodetects_single_key(tmp_path, imgs):
    ds = load_channels_h5(_h5(tmp_path / "t.h5", imgs[..., 0], key="facies"))
    assert ds.layout == "NHW" and ds.images.name == "/facies"
    assert torch.equal(ds.get_batch([3])[0][0, 0], torch.from_numpy(imgs[3, :, :, 0]))


def test_missing_file_names_download(tmp_path):
    with pytest.raises(GenlabError, match="not found.*curl"):
        load_channels_h5(tmp_path / "nope.h5")


def test_wrong_key_lists_keys(tmp_path, imgs):
    p = _h5(tmp_path / "t.h5", imgs, key="a", extra={"b": imgs})
    with pytest.raises(GenlabError, match="a, b"):
        load_channels_h5(p)
    with pytest.raises(GenlabError, match="no HDF5 dataset 'zz'.*a, b"):
        load_channels_h5(p, key="zz")
    assert len(load_channels_h5(p, key="b")) == 12


def test_wrong_shape(tmp_path, imgs):
    with pytest.raises(GenlabError, match=r"shape \(12, 16, 16, 3\)"):
        load_channels_h5(_h5(tmp_path / "t.h5", np.repeat(imgs, 3, axis=3)))
    with pytest.raises(GenlabError, match="shape"):
        load_channels_h5(_h5(tmp_path / "u.h5", imgs[:, :, 0, 0]))


def test_values_outside_binary_named(tmp_path, imgs):
    bad = imgs * 255
    first = int(np.flatnonzero(bad.reshape(len(bad), -1).max(axis=1) > 1)[0])
    with pytest.raises(GenlabError, match=rf"image {first} holds values \{{0, 255\}}"):
        load_channels_h5(_h5(tmp_path / "t.h5", bad))


def test_resize_is_block_majority(tmp_path):
    x = np.zeros((2, 8, 8), np.uint8)
    x[0, :4, :4] = 1  # one full 4×4 block → one pixel at 2×2
    x[1, 0, :] = 1  # a 1-px line: 1/4 of each top block → dropped
    ds = load_channels_h5(_h5(tmp_path / "t.h5", x), size=2)
    out, _ = ds.get_batch([0, 1])
    assert ds.image_shape == (1, 2, 2) and out.shape == (2, 1, 2, 2)
    assert out[0, 0].tolist() == [[1, 0], [0, 0]] and out[1].sum() == 0
    half = torch.tensor([[[[1, 1], [0, 0]]]], dtype=torch.uint8)
    assert resize_binary(half, (1, 1)).item() == 1  # fraction 0.5 of one cell rounds to one channel cell


def test_resize_keeps_the_fraction_when_every_block_ties():
    # 1-px vertical stripes on every other column: each 2×2 block is a 2-of-4 tie; ties → channel made it all channel
    x = torch.zeros((3, 1, 32, 32), dtype=torch.uint8)
    x[0, 0, :, ::2] = 1  # fraction 0.5, all 256 output blocks tie
    x[1, 0, :8, ::2] = 1  # fraction 0.125: only the top quarter ties
    rng = np.random.default_rng(0)  # random 2-px tall, 1-px wide bars: ties and clear blocks mixed
    bars = rng.random((16, 32)) < 0.3
    x[2, 0] = torch.from_numpy(np.repeat(bars, 2, axis=0).astype(np.uint8))
    out = resize_binary(x, (16, 16))
    f_in, f_out = x.double().mean(dim=(1, 2, 3)), out.double().mean(dim=(1, 2, 3))
    assert torch.all((f_out - f_in).abs() <= 1.0 / 256 + 1e-12), (f_in, f_out)  # within one output cell
    old = (torch.nn.functional.adaptive_avg_pool2d(x.float(), (16, 16)) >= 0.5).double().mean(dim=(1, 2, 3))
    assert old[0] == 1.0 and old[2] > f_in[2] + 0.05  # what the old rule (ties → channel) did to the same images
    # no cell is set against a clear block majority
    avg = torch.nn.functional.adaptive_avg_pool2d(x.double(), (16, 16))
    assert torch.all(out[avg > 0.5 + 1e-9] == 1) and torch.all(out[avg < 0.5 - 1e-9] == 0)
    assert torch.equal(out, resize_binary(x, (16, 16)))  # deterministic


def test_resize_keeps_procedural_fractions_128_to_64():
    imgs = torch.from_numpy(generate_channels(8, seed=1, size=128))[:, None]
    out = resize_binary(imgs, (64, 64))
    diff = (out.double().mean(dim=(1, 2, 3)) - imgs.double().mean(dim=(1, 2, 3))).abs()
    assert out.shape == (8, 1, 64, 64) and float(diff.max()) <= 1.0 / 64**2 + 1e-12


def test_split_is_deterministic_and_disjoint(tmp_path, imgs):
    tr, va = split_indices(100, 0.2, seed=3)
    assert len(va) == 20 and len(np.intersect1d(tr, va)) == 0 and len(np.union1d(tr, va)) == 100
    assert np.array_equal(va, split_indices(100, 0.2, seed=3)[1])
    p = _h5(tmp_path / "t.h5", imgs)
    dtr = load_channels_h5(p, split="train", val_fraction=0.25, seed=1)
    dva = load_channels_h5(p, split="val", val_fraction=0.25, seed=1)
    assert len(dtr) == 9 and len(dva) == 3
    rows = split_indices(12, 0.25, seed=1)[1]
    x, _ = dva.get_batch([2, 0, 2])
    assert torch.equal(x[:, 0], torch.from_numpy(imgs[rows[[2, 0, 2]], :, :, 0]))


def test_generator_statistics_and_determinism():
    x = generate_channels(50, seed=7)
    assert x.shape == (50, 128, 128) and x.dtype == np.uint8 and set(np.unique(x)) <= {0, 1}
    frac = x.reshape(50, -1).mean(1)
    assert frac.min() >= 0.05 and frac.max() <= 0.4 and 0.15 < frac.mean() < 0.3
    assert np.array_equal(x[10:20], generate_channels(10, seed=7, start=10))  # per-image seeding
    assert not np.array_equal(x[:5], generate_channels(5, seed=8))
    # channels run top to bottom: vertical neighbours agree far more often than horizontal ones
    assert (x[:, 1:] != x[:, :-1]).mean() < (x[:, :, 1:] != x[:, :, :-1]).mean()


def test_generator_other_size_and_params():
    x, params = generate_channels(4, seed=0, size=64, return_params=True)
    assert x.shape == (4, 64, 64) and all(1 <= len(p) <= 3 for p in params)
    assert all(2.4 <= c["width_px"] <= 9.1 for p in params for c in p)


def test_writer_produces_ltrace_format(tmp_path):
    out = write_channels_h5(tmp_path / "train_images.h5", n=5, seed=3, size=32, block=2, progress=False)
    with h5py.File(out, "r") as f:
        assert list(f.keys()) == [LTRACE_KEY]
        d = f[LTRACE_KEY]
        assert d.shape == (5, 32, 32, 1) and d.dtype == np.uint8 and d.chunks == (1, 32, 32, 1)
        assert np.array_equal(d[:, :, :, 0], generate_channels(5, seed=3, size=32))
    assert [p.name for p in tmp_path.iterdir()] == ["train_images.h5"]  # no temp file left
    ds = load_channels_h5(out)
    assert isinstance(ds, ChannelsDataset) and len(ds) == 5


def test_writer_errors(tmp_path):
    with pytest.raises(GenlabError, match="positive"):
        write_channels_h5(tmp_path / "x.h5", n=0)
    with pytest.raises(GenlabError, match="does not exist"):
        write_channels_h5(tmp_path / "no" / "x.h5", n=1)


def test_registry_sources(tmp_path, imgs):
    from genlab.data.registry import load_dataset

    _h5(tmp_path / "train_images.h5", imgs)
    tr = load_dataset("channels", "train", data_dir=tmp_path, val_fraction=0.25)
    te = load_dataset("ltrace", "test", data_dir=tmp_path, val_fraction=0.25, size=8)
    assert len(tr) == 9 and len(te) == 3 and te.image_shape == (1, 8, 8)
    a = load_dataset("channels-procedural", "train", n=10, size=32)
    b = load_dataset("channels-procedural", "test", n=10, size=32)
    assert len(a) == 10 and len(b) == 1 and np.array_equal(b.images[0], generate_channels(1, 0, 32, start=10)[0])
    with pytest.raises(GenlabError, match="unknown split"):
        load_dataset("channels", "dev", data_dir=tmp_path)


CHANNEL_PRESETS = ["channels-vae-dense", "channels-vae-fullconv", "channels-wgan-dense", "channels-wgan-fullconv"]


@pytest.mark.parametrize("preset", CHANNEL_PRESETS)
def test_channel_presets_work_at_64_and_128(preset):
    import dataclasses

    from genlab.config.presets import resolve
    from genlab.models.registry import get_family

    for size in (64, 128):  # the presets default to 64; data.options.size=128 is the LTrace size
        cfg = resolve(preset, [f"data.options.size={size}"])
        assert cfg.data.options["size"] == size
        model = get_family(cfg.family)(image_shape=(1, size, size), **dataclasses.asdict(cfg.model))
        with torch.no_grad():
            x = model.decode(model.sample_latent([0, 1]))
        assert x.shape == (2, 1, size, size)


def test_channel_preset_reads_the_real_file_format(tmp_path):
    """The documented command for the real file: data.dataset=channels with the file's own options."""
    from genlab.config.presets import resolve
    from genlab.training.setup import load_training_data

    write_channels_h5(tmp_path / "train_images.h5", n=20, seed=0, size=32, progress=False)
    cfg = resolve("channels-vae-fullconv", ["data.dataset=channels", "data.options={size: 16}",
                                            f"data.data_dir={tmp_path}"])
    data = load_training_data(cfg.data, cfg.train.seed)
    assert len(data) == 18 and data.image_shape == (1, 16, 16)  # 10 % held out for validation
    with pytest.raises(GenlabError, match="does not take option"):  # the procedural 'n' does not apply to a file
        load_training_data(resolve("channels-vae-fullconv", ["data.dataset=channels",
                                                             f"data.data_dir={tmp_path}"]).data, 0)
