"""Meandering-channel facies in the LTrace ``train_images.h5`` format: loader, procedural generator, writer.

The real file (LTrace "deep_esmda" test data) is one HDF5 dataset, key ``train_images``, shape
(50000, 128, 128, 1), dtype uint8, values {0, 1} (1 = channel). It lives on LTrace's object storage; download it with

    curl -L -o train_images.h5 "https://grrjnyzvhu1t.objectstorage.sa-saopaulo-1.oci.customer-oci.com/p/jflQ-fCMHmA5jLi-DdqElenJTzARdTp61YIzIDpRBI531v05mmWObjM2F1CBTIVL/n/grrjnyzvhu1t/b/General_ltrace_files/o/deep_esmda/train_images.h5"

or write a look-alike with ``write_channels_h5(path, n)`` (CLI: ``genlab data channels -n 50000 -o train_images.h5``).

The generator follows what the public figures of the real set show (shared/data/SOURCES.md §2a): 1–3 channels
running roughly top to bottom; centrelines = a main sinusoid (period ≈ 128 px, lateral swing 15–40 px) plus small
harmonics and a tilt; width constant along a channel (measured perpendicular to it), 5–18 px; a ~1 px background gap
where a later channel crosses an earlier one; some channel pieces removed between straight cuts perpendicular to the
channel, leaving isolated fragments; channel fraction kept in a band around 0.10–0.33.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor

from genlab.data.dataset import ImageDataset
from genlab.errors import GenlabError

LTRACE_KEY = "train_images"
LTRACE_URL = (
    "https://grrjnyzvhu1t.objectstorage.sa-saopaulo-1.oci.customer-oci.com/p/"
    "jflQ-fCMHmA5jLi-DdqElenJTzARdTp61YIzIDpRBI531v05mmWObjM2F1CBTIVL/n/grrjnyzvhu1t/b/"
    "General_ltrace_files/o/deep_esmda/train_images.h5"
)
DOWNLOAD_COMMAND = f'curl -L -o train_images.h5 "{LTRACE_URL}"'
_VALUE_CHECK_BYTES = 64 << 20  # every image's values are checked, streamed in blocks of about this many bytes


# ----------------------------------------------------------------------------------------------------------------
# Procedural generator
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelStyle:
    """Parameters of the procedural meander generator, in pixels of a 128×128 image (scaled for other sizes)."""

    channel_count_probs: tuple[float, ...] = (0.1, 0.5, 0.4)  # P(1), P(2), P(3); ≈ the 12 reference figures
    width_px: tuple[float, float] = (5.0, 18.0)  # uniform, per channel, perpendicular to the centreline
    swing_px: tuple[float, float] = (15.0, 40.0)  # amplitude of the main sinusoid
    period_px: tuple[float, float] = (100.0, 170.0)  # wavelength of the main sinusoid (≈ one per image)
    period_jitter: float = 0.08  # channels of one image share the period up to ± this fraction (they look alike)
    harmonic_rel_amp: tuple[float, float] = (0.03, 0.15)  # amplitude of each harmonic relative to the swing
    n_harmonics: int = 2
    max_tilt: float = 0.35  # |dx/dy| of the linear trend
    gap_px: float = 1.0  # background gap drawn around a channel where it crosses an earlier one
    cut_prob: float = 0.25  # probability that a channel has pieces removed
    cut_len_px: tuple[float, float] = (12.0, 45.0)  # along-channel length of a removed piece
    min_fragment_px: float = 12.0  # smaller channel specks (slivers left between crossing gaps) are removed
    fraction_range: tuple[float, float] = (0.09, 0.36)  # accepted channel fraction (redrawn otherwise)
    max_tries: int = 25


@dataclass
class _Channel:
    centre: np.ndarray  # (S,) x of the centreline at each row y, px
    slope: np.ndarray  # (S,) dx/dy
    width: float  # px, perpendicular
    cuts: list[tuple[float, float]] = field(default_factory=list)  # removed along-channel intervals (row units)


def _draw_channel(rng: np.random.Generator, style: ChannelStyle, size: int, period: float) -> _Channel:
    """One random centreline: tilt + main sinusoid (≈ `period` px) + small harmonics, all with random phases."""
    s = size / 128.0
    ys = np.arange(size, dtype=np.float64)
    amp = rng.uniform(*style.swing_px) * s
    omega = 2 * np.pi / (period * (1.0 + rng.uniform(-style.period_jitter, style.period_jitter)))
    comps = [(amp, omega, rng.uniform(0, 2 * np.pi))]
    for _ in range(style.n_harmonics):
        comps.append((amp * rng.uniform(*style.harmonic_rel_amp), omega * rng.uniform(1.6, 3.2), rng.uniform(0, 6.3)))
    tilt = rng.uniform(-style.max_tilt, style.max_tilt)
    centre = rng.uniform(-0.05, 1.05) * size + tilt * (ys - size / 2)
    slope = np.full(size, tilt)
    for a, w, p in comps:
        centre = centre + a * np.sin(w * ys + p)
        slope = slope + a * w * np.cos(w * ys + p)
    cuts = []
    if rng.random() < style.cut_prob:
        for _ in range(int(rng.integers(1, 3))):
            start = rng.uniform(-0.1, 1.0) * size
            cuts.append((start, start + rng.uniform(*style.cut_len_px) * s))
    return _Channel(centre, slope, rng.uniform(*style.width_px) * s, cuts)


def _paint(img: np.ndarray, ch: _Channel, gap: float) -> None:
    """Draw one channel over `img` (S, S) bool in place, clearing a `gap`-px band of earlier channels around it.

    A pixel (y, x) is inside when its horizontal offset from the centreline is within (w/2)·sqrt(1 + c'(y)²), the
    horizontal half-width of a band of perpendicular width w. Cuts use the along-channel coordinate of the foot of
    the perpendicular, y + (x − c)·c'/(1 + c'²), so pieces end with straight cuts across the channel.
    """
    size = img.shape[0]
    dx = np.arange(size, dtype=np.float64)[None, :] - ch.centre[:, None]  # (S, S)
    stretch = np.sqrt(1.0 + ch.slope**2)[:, None]
    adx = np.abs(dx)
    inside = adx <= 0.5 * ch.width * stretch
    band = adx <= (0.5 * ch.width + gap) * stretch
    if ch.cuts:
        along = np.arange(size)[:, None] + dx * (ch.slope / (1.0 + ch.slope**2))[:, None]
        keep = np.ones_like(inside)
        for lo, hi in ch.cuts:
            keep &= (along < lo) | (along > hi)
        inside &= keep
        band &= keep
    img &= ~band
    img |= inside


def _remove_specks(img: np.ndarray, min_px: float) -> None:
    """Clear 4-connected channel pieces smaller than `min_px` pixels in place (bool (S, S))."""
    lab, n = ndimage.label(img)
    if n:
        small = np.bincount(lab.ravel(), minlength=n + 1) < min_px
        small[0] = False
        img[small[lab]] = False


def _one_image(rng: np.random.Generator, style: ChannelStyle, size: int) -> tuple[np.ndarray, list[_Channel]]:
    """One accepted image (S, S) uint8 and its channels; redrawn until the channel fraction is in range."""
    lo, hi = style.fraction_range
    best: tuple[float, np.ndarray, list[_Channel]] | None = None
    for _ in range(style.max_tries):
        k = 1 + int(rng.choice(len(style.channel_count_probs), p=np.asarray(style.channel_count_probs)))
        img = np.zeros((size, size), dtype=bool)
        period = rng.uniform(*style.period_px) * size / 128.0
        chans = [_draw_channel(rng, style, size, period) for _ in range(k)]
        for ch in chans:
            _paint(img, ch, style.gap_px)  # the gap is a pixel-scale feature: not scaled
        _remove_specks(img, max(2.0, style.min_fragment_px * (size / 128.0) ** 2))
        frac = float(img.mean())
        miss = max(lo - frac, frac - hi, 0.0)
        if best is None or miss < best[0]:
            best = (miss, img, chans)
        if miss == 0.0:
            break
    return best[1].astype(np.uint8), best[2]


def _describe(ch: _Channel) -> dict[str, Any]:
    """Drawn parameters of one channel; swing = half the range of the centreline after removing its linear trend."""
    ys = np.arange(len(ch.centre))
    detrended = ch.centre - np.polyval(np.polyfit(ys, ch.centre, 1), ys)
    return {"width_px": float(ch.width), "n_cuts": len(ch.cuts), "swing_px": float(np.ptp(detrended) / 2)}


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of image `index` of a dataset with `seed`; image i depends only on (seed, i)."""
    return np.random.default_rng([int(seed), int(index)])


def generate_channels(
    n: int,
    seed: int = 0,
    size: int = 128,
    start: int = 0,
    style: ChannelStyle | None = None,
    return_params: bool = False,
) -> np.ndarray | tuple[np.ndarray, list[list[dict[str, Any]]]]:
    """Procedural meandering-channel images (n, size, size) uint8 in {0, 1}; image i uses ``image_rng(seed, start+i)``.

    With ``return_params`` also returns, per image, a list of channel dicts (width_px, n_cuts, swing_px) — the
    benchmark uses them to report the width distribution and channel counts.
    """
    if n < 0 or size < 8:
        raise GenlabError(f"generate_channels: need n >= 0 and size >= 8, got n={n}, size={size}")
    style = style or ChannelStyle()
    out = np.empty((n, size, size), dtype=np.uint8)
    params = []
    for i in range(n):
        out[i], chans = _one_image(image_rng(seed, start + i), style, size)
        if return_params:
            params.append([_describe(ch) for ch in chans])
    return (out, params) if return_params else out


# Classes of the facies feature net (genlab.metrics.facies): what the generator drew, binned. Edges are in pixels of a
# 128-px image, read off the generator's own distribution (3,000 images, seed 1): tertiles of the mean channel width
# and the median of the mean swing, so the width and swing classes are about equally frequent.
FEATURE_WIDTH_EDGES = (10.6, 12.7)
FEATURE_SWING_EDGES = (26.7,)


def feature_class_names(style: ChannelStyle | None = None) -> tuple[str, ...]:
    """Names of the feature-net classes, index order: '<k>ch-w<width class>-s<swing class>' (count-major)."""
    counts = len((style or ChannelStyle()).channel_count_probs)
    return tuple(f"{k}ch-w{w}-s{s}" for k in range(1, counts + 1) for w in range(len(FEATURE_WIDTH_EDGES) + 1)
                 for s in range(len(FEATURE_SWING_EDGES) + 1))


def feature_class(channels: Sequence[dict[str, Any]], size: int) -> int:
    """Class of one image from its drawn channels (dicts of `generate_channels(..., return_params=True)`):
    channel count × mean-width class × mean-swing class, as indexed by `feature_class_names`."""
    scale = 128.0 / size
    width = float(np.mean([c["width_px"] for c in channels])) * scale
    swing = float(np.mean([c["swing_px"] for c in channels])) * scale
    w_cls, s_cls = int(np.searchsorted(FEATURE_WIDTH_EDGES, width)), int(np.searchsorted(FEATURE_SWING_EDGES, swing))
    n_w, n_s = len(FEATURE_WIDTH_EDGES) + 1, len(FEATURE_SWING_EDGES) + 1
    return ((len(channels) - 1) * n_w + w_cls) * n_s + s_cls


def labelled_procedural_channels(n: int, seed: int = 0, size: int = 64, start: int = 0,
                                 style: ChannelStyle | None = None) -> ImageDataset:
    """Procedural images (those of `generate_channels`) with their `feature_class` labels, for training and testing
    the facies feature net. Images are in display space, uint8 0/255 (channel = 255), the FeatureNet input
    convention (genlab.metrics.features)."""
    images, params = generate_channels(n, seed, size, start, style, return_params=True)
    names = feature_class_names(style)
    return ImageDataset(name=f"channels-procedural-labelled:{seed}:{start}", images=images * np.uint8(255),
                        labels=np.array([feature_class(p, size) for p in params], dtype=np.int64),
                        num_classes=len(names), layout="NHW", levels=256, class_names=names)


def write_channels_h5(
    path: str | os.PathLike,
    n: int,
    seed: int = 0,
    size: int = 128,
    block: int = 512,
    progress: bool = True,
    compression: str | None = "gzip",
) -> Path:
    """Write n procedural images in exactly the LTrace format: key 'train_images', (n, size, size, 1) uint8 {0,1}.

    Chunked one image per chunk (fast random reads while training), gzip level 1 by default. Atomic: written to a
    temporary file next to `path`, renamed on success, removed on failure. Returns the final path.
    """
    import h5py
    from tqdm import tqdm

    path = Path(path)
    if n <= 0:
        raise GenlabError(f"write_channels_h5: number of images must be positive, got {n}")
    if not path.parent.exists():
        raise GenlabError(f"output folder '{path.parent}' does not exist")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            ds = f.create_dataset(
                LTRACE_KEY,
                shape=(n, size, size, 1),
                dtype="uint8",
                chunks=(1, size, size, 1),
                compression=compression,
                compression_opts=1 if compression == "gzip" else None,
            )
            with tqdm(total=n, unit="img", desc=f"writing {path.name}", disable=not progress) as bar:
                for lo in range(0, n, block):
                    hi = min(n, lo + block)
                    ds[lo:hi] = generate_channels(hi - lo, seed=seed, size=size, start=lo)[..., None]
                    bar.update(hi - lo)
            ds.attrs["generator"] = f"genlab procedural meanders, seed={seed}"
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# ----------------------------------------------------------------------------------------------------------------
# Loader
# ----------------------------------------------------------------------------------------------------------------


def _read_rows(store: Any, rows: np.ndarray) -> np.ndarray:
    """store[rows] for sorted unique `rows`. h5py point selections (`ds[list]`) cost ~7 ms per row on a chunked file
    (0.9 s for a random batch of 128 measured here) while one read per row costs ~50 µs, so h5py datasets are read
    row by row; anything else (numpy, a row view) is indexed directly."""
    if hasattr(store, "id") and hasattr(store, "chunks"):  # an h5py Dataset
        out = np.empty((len(rows),) + tuple(store.shape[1:]), dtype=store.dtype)
        for k, r in enumerate(rows):
            out[k] = store[int(r)]
        return out
    return np.asarray(store[rows])


class _Rows:
    """A read-only row view `base[rows]` that h5py can serve: fancy reads are mapped, sorted and de-duplicated."""

    def __init__(self, base: Any, rows: np.ndarray) -> None:
        self.base, self.rows = base, np.asarray(rows, dtype=np.int64)
        self.shape = (len(self.rows),) + tuple(base.shape[1:])
        self.dtype = base.dtype

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, idx: Any) -> np.ndarray:
        src = self.rows[np.asarray(idx, dtype=np.int64)]
        uniq, inv = np.unique(src, return_inverse=True)
        return _read_rows(self.base, uniq)[inv.reshape(src.shape)]


@dataclass
class ChannelsDataset(ImageDataset):
    """ImageDataset of binary facies streamed from HDF5, optionally resized in `get_batch`.

    size: (H, W) to resize to, or None. Resizing is `resize_binary`: block majority (area averaging), with the tied
    blocks split so each image keeps its channel fraction to within one output cell when the ties allow it.
    h5file: the open h5py.File the images come from (kept open while the dataset lives).
    """

    size: tuple[int, int] | None = None
    h5file: Any = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = super().image_shape
        return (c, *self.size) if self.size else (c, h, w)

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> tuple[Tensor, Tensor | None]:
        """uint8 images (B, 1, H, W) in {0, 1} (resized if `size`) and labels (None), in the order given.

        Repeated indices are allowed (each distinct row is read once, in increasing order).
        """
        idx = np.asarray(indices, dtype=np.int64)
        uniq, inv = np.unique(idx, return_inverse=True)
        raw = _read_rows(self.images, uniq)[inv.reshape(idx.shape)]
        x = torch.from_numpy(np.ascontiguousarray(raw)).to(torch.uint8)
        x = x.unsqueeze(1) if self.layout == "NHW" else x.permute(0, 3, 1, 2).contiguous()
        y = torch.from_numpy(self.labels[idx].astype(np.int64)) if self.labels is not None else None
        if self.size and tuple(x.shape[-2:]) != tuple(self.size):
            x = resize_binary(x, self.size)
        return x, y

    def close(self) -> None:
        """Close the underlying HDF5 file (the dataset is unusable afterwards)."""
        if self.h5file is not None:
            self.h5file.close()


_TIE_EPS = 1e-6


def resize_binary(x: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, C, H, W) {0,1} → (B, C, h, w) {0,1}: block majority, ties decided so the channel fraction is kept.

    Each output cell is the area average of its input block (adaptive average pooling; an exact block for integer
    factors). A clear majority (> 0.5) is channel and a clear minority (< 0.5) is background, so no cell is ever set
    against its block. Cells whose block is exactly half channel (ties: 2 of 4 pixels at 128 → 64) are the only
    free choice: per image and channel, k = round(fraction_in · h·w) cells should be channel, so the
    max(0, min(ties, k − majority cells)) ties with the most channel around them (mean of the 3×3 neighbouring
    block averages, then a fixed pseudo-random order) become channel and the other ties background. Ties beside a
    channel body extend it, so bodies stay continuous and no isolated specks appear.

    The output fraction therefore equals the input fraction to within one cell whenever the ties allow it
    (majority cells ≤ k ≤ majority + tie cells); otherwise it is the nearest the block majorities permit. The old
    rule (ties → channel) raised the fraction of 128 → 64 px channel images by several per cent.
    """
    size = (int(size[0]), int(size[1]))
    xf = x.to(torch.float64)
    avg = F.adaptive_avg_pool2d(xf, size)  # (B, C, h, w)
    major = avg > 0.5 + _TIE_EPS
    tie = (avg - 0.5).abs() <= _TIE_EPS
    b, c, h, w = avg.shape
    if not bool(tie.any()):
        return major.to(torch.uint8)
    cells = h * w
    target = torch.floor(xf.mean(dim=(-2, -1)) * cells + 0.5)  # (B, C) channel cells wanted
    need = (target - major.flatten(2).sum(-1)).clamp(min=0)
    need = torch.minimum(need, tie.flatten(2).sum(-1).to(need.dtype))
    around = F.avg_pool2d(avg.reshape(b * c, 1, h, w), 3, stride=1, padding=1, count_include_pad=False)
    order = torch.randperm(cells, generator=torch.Generator().manual_seed(0)).to(torch.float64) / cells
    score = around.reshape(b, c, cells) + 1e-9 * order  # the neighbourhood first, the fixed order breaks its ties
    score = torch.where(tie.flatten(2), 1.0 + score, torch.full_like(score, -1.0))
    rank = torch.empty_like(score, dtype=torch.long)
    ranked = score.argsort(dim=-1, descending=True)
    rank.scatter_(-1, ranked, torch.arange(cells).expand_as(ranked).contiguous())
    chosen = (rank < need[..., None]).reshape(b, c, h, w) & tie
    return (major | chosen).to(torch.uint8)


def _list_datasets(f: Any) -> list[str]:
    import h5py

    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def _pick_key(f: Any, path: Path, key: str | None) -> str:
    names = _list_datasets(f)
    if key is not None:
        if key not in names:
            raise GenlabError(f"{path}: no HDF5 dataset '{key}'; datasets present: {', '.join(names) or 'none'}")
        return key
    if LTRACE_KEY in names:
        return LTRACE_KEY
    if len(names) == 1:
        return names[0]
    raise GenlabError(
        f"{path}: no dataset '{LTRACE_KEY}' and {len(names)} candidates ({', '.join(names) or 'none'}); pass key=<name>"
    )


def _check_shape(ds: Any, path: Path, key: str) -> str:
    """Return the layout ("NHWC"/"NHW") or raise for anything but (N, H, W, 1) / (N, H, W) integer images."""
    shape = tuple(ds.shape)
    if not (np.issubdtype(ds.dtype, np.integer) or ds.dtype == np.bool_):
        raise GenlabError(f"{path}:{key}: dtype {ds.dtype}; expected uint8 facies codes 0/1")
    if len(shape) == 4 and shape[3] == 1 and min(shape[:3]) > 0:
        return "NHWC"
    if len(shape) == 3 and min(shape) > 0:
        return "NHW"
    raise GenlabError(f"{path}:{key}: shape {shape}; expected (N, H, W, 1) or (N, H, W), e.g. (50000, 128, 128, 1)")


def _check_values(ds: Any, path: Path, key: str) -> None:
    """Check that every image holds only 0 and 1, reading contiguous blocks of ~64 MB (one pass over the file;
    a sample would let a file whose later images hold other codes train silently)."""
    if ds.dtype == np.bool_:
        return
    n = int(ds.shape[0])
    image_bytes = max(1, int(np.prod(ds.shape[1:])) * ds.dtype.itemsize)
    block = max(1, _VALUE_CHECK_BYTES // image_bytes)
    for lo in range(0, n, block):
        images = np.asarray(ds[lo : lo + block])
        if images.max() > 1 or images.min() < 0:
            _raise_bad_values(images, lo, path, key)


def _raise_bad_values(images: np.ndarray, lo: int, path: Path, key: str) -> None:
    flat = images.reshape(len(images), -1)
    first = int(np.flatnonzero(((flat > 1) | (flat < 0)).any(axis=1))[0])
    values = np.unique(flat[first])
    shown = ", ".join(str(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")
    raise GenlabError(
        f"{path}:{key}: image {lo + first} holds values {{{shown}}}; expected binary facies {{0, 1}} (1 = channel)"
    )


def split_indices(n: int, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, validation) sorted index arrays: a seeded permutation, the last part is validation."""
    if not 0.0 <= val_fraction < 1.0:
        raise GenlabError(f"validation fraction must be in [0, 1), got {val_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = round(float(n * val_fraction))
    return np.sort(perm[: n - n_val]), np.sort(perm[n - n_val :])


def load_channels_h5(
    path: str | os.PathLike,
    key: str | None = None,
    size: int | tuple[int, int] | None = None,
    split: str = "all",
    val_fraction: float = 0.1,
    seed: int = 0,
    check_values: bool = True,
) -> ChannelsDataset:
    """Open an LTrace-format facies file for streaming (nothing is copied into memory).

    key: dataset name; None → 'train_images', else the single dataset in the file.
    size: resize to (size, size) (or (H, W)) on the fly, e.g. 64.
    split: "all", "train" or "val" — a deterministic split by `split_indices(N, val_fraction, seed)`.
    Returns a ChannelsDataset (levels=2); for split="all" its `images` is the h5py dataset itself.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise GenlabError(
            f"channel file '{path}' not found; download the LTrace data with: {DOWNLOAD_COMMAND} "
            f"(or write a procedural look-alike: genlab data channels -n 50000 -o {path.name})"
        )
    if split not in ("all", "train", "val"):
        raise GenlabError(f"split must be 'all', 'train' or 'val', got '{split}'")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise GenlabError(f"{path}: not a readable HDF5 file ({e})") from None
    k = _pick_key(f, path, key)
    ds = f[k]
    layout = _check_shape(ds, path, k)
    if check_values:
        _check_values(ds, path, k)
    images: Any = ds
    if split != "all":
        train, val = split_indices(int(ds.shape[0]), val_fraction, seed)
        images = _Rows(ds, train if split == "train" else val)
    hw = None if size is None else ((size, size) if isinstance(size, int) else tuple(size))
    return ChannelsDataset(
        name=f"channels:{path.name}:{split}",
        images=images,
        layout=layout,
        levels=2,
        class_names=("background", "channel"),
        size=hw,
        h5file=f,
    )


def procedural_channels(n: int = 2000, seed: int = 0, size: int = 128) -> ImageDataset:
    """An in-memory ImageDataset of n procedural channel images (levels=2), for tests and quick runs."""
    return ImageDataset(
        name=f"channels:procedural:{seed}",
        images=generate_channels(n, seed, size),
        layout="NHW",
        levels=2,
        class_names=("background", "channel"),
    )


# ----------------------------------------------------------------------------------------------------------------
# Registry loaders: fn(split, data_dir, download, **options) -> ImageDataset (see genlab.data.registry)
# ----------------------------------------------------------------------------------------------------------------

_SPLITS = {"train": "train", "test": "val", "val": "val", "validation": "val", "all": "all"}


def load_channels_source(
    split: str,
    data_dir: Path,
    download: bool = False,
    file: str = "train_images.h5",
    size: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    key: str | None = None,
) -> ChannelsDataset:
    """Registry loader for the LTrace file `data_dir/file`; 'test' is the held-out validation split.

    The file is never downloaded or replaced by procedural data silently: a missing file is a GenlabError naming
    the download command and the procedural alternative.
    """
    if split not in _SPLITS:
        raise GenlabError(f"channels: unknown split '{split}'; expected one of {', '.join(_SPLITS)}")
    path = Path(file) if Path(file).is_absolute() else Path(data_dir) / file
    return load_channels_h5(path, key=key, size=size, split=_SPLITS[split], val_fraction=val_fraction, seed=seed)


def load_procedural_source(
    split: str, data_dir: Path, download: bool = False, n: int = 2000, size: int = 128, seed: int = 0
) -> ImageDataset:
    """Registry loader for in-memory procedural channels: 'train' = images 0..n−1, 'test' = the next n/10."""
    if split not in ("train", "test"):
        raise GenlabError(f"channels-procedural: unknown split '{split}'; expected train or test")
    count, start = (n, 0) if split == "train" else (max(1, n // 10), n)
    return ImageDataset(
        name=f"channels-procedural:{split}",
        images=generate_channels(count, seed, size, start),
        layout="NHW",
        levels=2,
        class_names=("background", "channel"),
    )
