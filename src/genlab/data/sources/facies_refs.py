"""Loaders for the real binary channel-facies reference sets (shared/data/channels, provenance in SOURCES.md §2).

- MPS45 (Canchumuni, Emerick & Pacheco, arXiv:1812.06900): MATLAB v5 ``MPS45.mat``, variable ``Dato``, uint8
  (2025, 29997): column k is one 45×45 realization stored column-major (``reshape(45, 45, order='F')``).
- channels64 (wling123/ESMDA-StyleGAN): ``channels64_3000x64x64_uint8.npz``, array ``images`` (3000, 64, 64) {0,1}.
- Strebelle (2002) training image, 250×250 {0,1}: ``.npy`` or a GSLIB text grid; ``strebelle_crops`` cuts random
  square crops (e.g. 128×128) from it.

Every loader returns an in-memory ImageDataset (layout "NHW", levels=2, 1 = channel). Files a user hands us are
never unpickled (np.load with allow_pickle=False; scipy.io.loadmat reads MATLAB arrays without executing anything).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from genlab.data.dataset import ImageDataset
from genlab.errors import GenlabError

# File names inside the reference folder (shared/data/channels in this project; set GENLAB_FACIES_REFS to move it).
REFERENCE_FILES = {
    "mps45": "canchumuni_geofacies_dl/MPS45.mat",
    "channels64": "wling_esmda_stylegan/channels64_3000x64x64_uint8.npz",
    "strebelle": "strebelle_ti/strebelle_250x250_uint8.npy",
    "strebelle_gslib": "strebelle_ti/Strebelle.gslib",
}
_CLASSES = ("background", "channel")


def _existing(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"{what} file '{path}' not found (see shared/data/SOURCES.md §2 for where it comes from)")
    return path


def _binary(a: np.ndarray, path: Path, field: str) -> np.ndarray:
    """uint8 {0,1} copy of `a`, or a GenlabError naming how many values are outside {0, 1}."""
    a = np.asarray(a)
    bad = int(np.count_nonzero((a != 0) & (a != 1)))
    if bad:
        raise GenlabError(f"{path}:{field}: {bad} of {a.size} values are outside {{0, 1}}; expected binary facies")
    return a.astype(np.uint8)


def _dataset(name: str, images: np.ndarray) -> ImageDataset:
    return ImageDataset(name=name, images=images, layout="NHW", levels=2, class_names=_CLASSES)


def load_mps45(path: str | os.PathLike, limit: int | None = None) -> ImageDataset:
    """The 29,997 MPS45 realizations as an ImageDataset of (N, 45, 45) uint8 {0,1} (first `limit` if given)."""
    from scipy.io import loadmat

    path = _existing(path, "MPS45")
    try:
        mat = loadmat(path, variable_names=["Dato"])
    except (ValueError, OSError) as e:
        raise GenlabError(f"{path}: not a readable MATLAB v5 file ({e})") from None
    if "Dato" not in mat:
        raise GenlabError(f"{path}: no variable 'Dato' (expected uint8 (2025, N) realizations)")
    dato = mat["Dato"]
    if dato.ndim != 2 or dato.shape[0] != 45 * 45:
        raise GenlabError(f"{path}:Dato: shape {dato.shape}; expected (2025, N) = 45×45 images as columns")
    cols = dato[:, :limit] if limit else dato
    # column k reshaped column-major (order='F') == row-major reshape of the transpose, then swap the two axes
    images = np.ascontiguousarray(cols.T.reshape(-1, 45, 45).transpose(0, 2, 1))
    return _dataset("mps45", _binary(images, path, "Dato"))


def load_channels64(path: str | os.PathLike) -> ImageDataset:
    """The 3,000 binary 64×64 channel images (array 'images' of the .npz) as an ImageDataset."""
    path = _existing(path, "channels64")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z.files:
                raise GenlabError(f"{path}: no array 'images'; arrays present: {', '.join(z.files)}")
            images = z["images"]
    except (ValueError, OSError) as e:
        raise GenlabError(f"{path}: not a readable .npz without pickles ({e})") from None
    if images.ndim != 3:
        raise GenlabError(f"{path}:images: shape {images.shape}; expected (N, H, W)")
    return _dataset("channels64", _binary(images, path, "images"))


def _numeric(line: str) -> bool:
    try:
        [float(t) for t in line.split()]
        return bool(line.split())
    except ValueError:
        return False


def read_gslib_grid(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A 2-D GSLIB/GeoEAS text grid → (ny, nx) float array of the first variable (x fastest in the file).

    The values are the longest run of numeric lines at the end of the file; the header may be GeoEAS (title, nvar,
    names), GslibIO.jl's ``grid`` header (which carries nx ny), or a single name line. Without `shape` or a ``grid``
    header the grid must be square.
    """
    path = _existing(path, "GSLIB grid")
    lines = path.read_text(errors="replace").splitlines()
    start = len(lines)
    while start > 0 and (_numeric(lines[start - 1]) or not lines[start - 1].strip()):
        start -= 1
    values = np.array([float(ln.split()[0]) for ln in lines[start:] if ln.strip()])
    if shape is None and "grid" in [ln.strip() for ln in lines[:start]]:
        i = [ln.strip() for ln in lines].index("grid")
        nx, ny = (int(t) for t in lines[i + 1].split()[:2])
        shape = (ny, nx)
    if shape is None:
        side = round(float(np.sqrt(values.size)))
        shape = (side, side)
    if values.size != shape[0] * shape[1]:
        raise GenlabError(f"{path}: {values.size} values do not fill a {shape[0]}×{shape[1]} grid")
    return values.reshape(shape)


def load_strebelle(path: str | os.PathLike) -> np.ndarray:
    """Strebelle's training image (250, 250) uint8 {0,1}, from the .npy (no pickles) or a GSLIB text grid."""
    path = _existing(path, "Strebelle training image")
    if path.suffix == ".npy":
        try:
            ti = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise GenlabError(f"{path}: not a readable .npy without pickles ({e})") from None
    else:
        ti = read_gslib_grid(path)
    if ti.ndim != 2:
        raise GenlabError(f"{path}: shape {ti.shape}; expected a 2-D training image")
    return _binary(ti, path, "values")


def strebelle_crops(
    ti: np.ndarray,
    n: int,
    size: int = 128,
    seed: int = 0,
    transpose: bool = False,
) -> ImageDataset:
    """n random size×size crops of a training image (H, W) {0,1} as an ImageDataset; crop i depends on (seed, i).

    As loaded, Strebelle's channels already run top to bottom in the array, like the LTrace images (every 128×128
    crop spans top to bottom and none left to right, `genlab.metrics.facies.channel_continuity` on 300 crops);
    transpose=True turns them left to right.
    """
    ti = np.asarray(ti)
    if size > min(ti.shape):
        raise GenlabError(f"crop size {size} is larger than the training image {ti.shape}")
    out = np.empty((n, size, size), dtype=np.uint8)
    for i in range(n):
        rng = np.random.default_rng([int(seed), i])
        r, c = rng.integers(0, ti.shape[0] - size + 1), rng.integers(0, ti.shape[1] - size + 1)
        crop = ti[r : r + size, c : c + size]
        out[i] = crop.T if transpose else crop
    return _dataset(f"strebelle_crops{size}", out)


def reference_root(root: str | os.PathLike | None = None) -> Path:
    """The folder holding the reference sets: `root`, else $GENLAB_FACIES_REFS."""
    root = root or os.environ.get("GENLAB_FACIES_REFS")
    if not root:
        raise GenlabError(
            "no facies reference folder: pass root=... or set GENLAB_FACIES_REFS "
            "(in this project: /work/shared/data/channels)"
        )
    return Path(root)


def load_reference(name: str, root: str | os.PathLike | None = None, **kwargs) -> ImageDataset:
    """Load reference set `name` ('mps45', 'channels64' or 'strebelle' → crops; kwargs go to the loader)."""
    base = reference_root(root)
    if name == "mps45":
        return load_mps45(base / REFERENCE_FILES["mps45"], **kwargs)
    if name == "channels64":
        return load_channels64(base / REFERENCE_FILES["channels64"])
    if name == "strebelle":
        return strebelle_crops(load_strebelle(base / REFERENCE_FILES["strebelle"]), **{"n": 500, **kwargs})
    raise GenlabError(f"unknown facies reference set '{name}'; known: mps45, channels64, strebelle")


def reference_loader(name: str):
    """Registry loader (split, data_dir, download, val_fraction, seed, **kw) for reference set `name` under
    data_dir/channels/ (the layout of shared/data/channels); 'test' is a deterministic held-out fraction."""

    def load(
        split: str, data_dir: Path, download: bool = False, val_fraction: float = 0.1, seed: int = 0, **kwargs
    ) -> ImageDataset:
        from genlab.data.sources.channels import split_indices

        if split not in ("train", "test", "all"):
            raise GenlabError(f"{name}: unknown split '{split}'; expected train, test or all")
        ds = load_reference(name, Path(data_dir) / "channels", **kwargs)
        if split == "all":
            return ds
        train, test = split_indices(len(ds), val_fraction, seed)
        return _dataset(f"{name}:{split}", ds.images[train if split == "train" else test])

    load.__name__ = f"load_{name}_source"
    return load
