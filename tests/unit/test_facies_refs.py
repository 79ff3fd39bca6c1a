"""Reference facies loaders on tiny files made here (MATLAB, npz, npy, GSLIB) — no shared data needed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import savemat

from genlab.data.sources.facies_refs import (
    load_channels64,
    load_mps45,
    load_reference,
    load_strebelle,
    read_gslib_grid,
    strebelle_crops,
)
from genlab.errors import GenlabError


def test_mps45_column_major_layout(tmp_path):
    rng = np.random.default_rng(0)
    imgs = (rng.random((3, 45, 45)) < 0.3).astype(np.uint8)
    dato = np.stack([im.reshape(-1, order="F") for im in imgs], axis=1)  # (2025, 3), as in MPS45.mat
    savemat(tmp_path / "MPS45.mat", {"Dato": dato})
    ds = load_mps45(tmp_path / "MPS45.mat")
    assert ds.levels == 2 and ds.images.shape == (3, 45, 45) and np.array_equal(ds.images, imgs)
    assert len(load_mps45(tmp_path / "MPS45.mat", limit=2)) == 2
    savemat(tmp_path / "bad.mat", {"Other": dato})
    with pytest.raises(GenlabError, match="no variable 'Dato'"):
        load_mps45(tmp_path / "bad.mat")


def test_channels64_npz(tmp_path):
    imgs = np.zeros((4, 64, 64), np.uint8)
    imgs[:, :, 10:20] = 1
    np.savez(tmp_path / "c.npz", images=imgs, names=np.array(["a", "b", "c", "d"]))
    ds = load_channels64(tmp_path / "c.npz")
    assert ds.image_shape == (1, 64, 64) and ds.get_batch([1])[0].sum() == 64 * 10
    np.savez(tmp_path / "d.npz", images=imgs * 255)
    with pytest.raises(GenlabError, match=r"outside \{0, 1\}"):
        load_channels64(tmp_path / "d.npz")
    np.savez(tmp_path / "e.npz", pics=imgs)
    with pytest.raises(GenlabError, match="no array 'images'.*pics"):
        load_channels64(tmp_path / "e.npz")


def test_strebelle_npy_and_gslib_agree(tmp_path):
    ti = (np.random.default_rng(1).random((6, 5)) < 0.3).astype(np.uint8)  # (ny, nx)
    np.save(tmp_path / "ti.npy", ti)
    body = "\n".join(f"{v:.1f}" for v in ti.reshape(-1))  # x fastest
    (tmp_path / "ti.gslib").write_text(f"made here\ngrid\n5 6\n0.0 0.0\n1.0 1.0\n1\ncode\n{body}\n")
    assert np.array_equal(load_strebelle(tmp_path / "ti.npy"), ti)
    assert np.array_equal(load_strebelle(tmp_path / "ti.gslib"), ti)
    sq = ti[:5, :5]
    (tmp_path / "sq.txt").write_text("facies\r\n" + "\r\n".join(str(v) for v in sq.reshape(-1)) + "\r\n")
    assert np.array_equal(read_gslib_grid(tmp_path / "sq.txt"), sq)


def test_crops_deterministic_and_bounded():
    ti = np.arange(40 * 30).reshape(40, 30) % 2
    a = strebelle_crops(ti, n=5, size=16, seed=3)
    b = strebelle_crops(ti, n=2, size=16, seed=3, transpose=True)
    assert a.images.shape == (5, 16, 16) and np.array_equal(a.images[:2].transpose(0, 2, 1), b.images)
    with pytest.raises(GenlabError, match="larger"):
        strebelle_crops(ti, n=1, size=64)


def test_missing_files_and_unknown_set(tmp_path):
    for fn in (load_mps45, load_channels64, load_strebelle):
        with pytest.raises(GenlabError, match="not found"):
            fn(tmp_path / "missing.file")
    with pytest.raises(GenlabError, match="unknown facies reference set"):
        load_reference("nope", root=tmp_path)
