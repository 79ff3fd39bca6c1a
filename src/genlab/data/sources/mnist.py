"""MNIST and Fashion-MNIST from IDX files (raw or gzip), with validated headers and an optional download.

IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a big-endian header — a 4-byte magic whose third
byte is the element type (0x08 = uint8) and fourth the number of dimensions — then one big-endian uint32 per
dimension, then the row-major payload. Images are magic 2051 (0x00000803, dims N, rows, cols); labels are magic
2049 (0x00000801, dims N).

Where files are looked for (first folder holding both files of a split wins):
  MNIST:         <data_dir>/mnist, <data_dir>/MNIST/raw, <data_dir>
  Fashion-MNIST: <data_dir>/fashion-mnist, <data_dir>/FashionMNIST/raw, /usr/share/datasets/fashion-mnist
                 (the last is where Debian's ``dataset-fashion-mnist`` package installs them)
When a split is missing and download is allowed, the .gz files are fetched into the first folder from the
official mirrors, md5-checked against the published checksums and written atomically.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genlab.data.dataset import ImageDataset
from genlab.errors import GenlabError
from genlab.utils.io import atomic_path

__all__ = [
    "FASHION_MNIST",
    "MNIST",
    "IdxSource",
    "find_split_files",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_mnist",
    "read_idx_images",
    "read_idx_labels",
]

log = logging.getLogger(__name__)

IMAGE_MAGIC = 2051  # 0x00000803: uint8, 3 dims
LABEL_MAGIC = 2049  # 0x00000801: uint8, 1 dim
_GZIP_MAGIC = b"\x1f\x8b"
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
_CHUNK_BYTES = 1 << 20
_DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class IdxSource:
    """An MNIST-like dataset stored as four IDX files.

    subdirs: folders relative to the data dir to search, in order (the first is the download target).
    extra_dirs: absolute folders searched after those (e.g. a distribution package's install location).
    mirrors: base URLs ending in '/', tried in order; md5: published checksum of each .gz file.
    """

    name: str
    subdirs: tuple[str, ...]
    extra_dirs: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()
    md5: dict[str, str] = field(default_factory=dict)
    class_names: tuple[str, ...] = tuple(str(d) for d in range(10))
    image_hw: tuple[int, int] = (28, 28)

    def search_dirs(self, data_dir: Path) -> list[Path]:
        """Folders searched for this source's files, in order."""
        return [data_dir / sub if sub else data_dir for sub in self.subdirs] + [Path(d) for d in self.extra_dirs]


MNIST = IdxSource(
    name="mnist",
    subdirs=("mnist", "MNIST/raw", ""),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
)

FASHION_MNIST = IdxSource(
    name="fashion-mnist",
    subdirs=("fashion-mnist", "FashionMNIST/raw"),
    extra_dirs=("/usr/share/datasets/fashion-mnist",),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    md5={
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
)


# ---------------------------------------------------------------------------------------------------------------
# Reading and validating IDX files
# ---------------------------------------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    """The file's IDX bytes, gunzipped if the file is gzip (sniffed from content, not the name)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise GenlabError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if raw[:2] != _GZIP_MAGIC:
        if path.suffix == ".gz":
            raise GenlabError(f"{path}: not a gzip file (first bytes {raw[:2].hex()}, expected 1f8b)")
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as exc:
        raise GenlabError(f"{path}: truncated gzip file ({len(raw)} bytes); re-download it") from exc
    except (OSError, zlib.error) as exc:
        raise GenlabError(f"{path}: corrupt gzip data ({exc}); re-download it") from exc


def _parse_header(path: Path, data: bytes, magic: int, ndim: int, what: str) -> tuple[int, ...]:
    """Validate magic and payload size; returns the dims. `what` describes the expected content for messages."""
    header_bytes = 4 + 4 * ndim
    # Magic first: a swapped labels/images file is then reported as such rather than as "too short".
    if len(data) >= 4 and (found := int.from_bytes(data[:4], "big")) != magic:
        raise GenlabError(f"{path}: magic {found}, expected {magic} ({what})")
    if len(data) < header_bytes:
        raise GenlabError(f"{path}: {len(data)} bytes, too short for an IDX header of {header_bytes} bytes ({what})")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header_bytes + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        shape = "x".join(str(d) for d in dims)
        raise GenlabError(
            f"{path}: {len(data)} bytes after decompression, expected {expected} "
            f"(header {header_bytes} + {shape} uint8 payload); the file is truncated or padded"
        )
    return dims


def read_idx_images(path: str | Path, image_hw: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 images (N, H, W) from an IDX image file (raw or .gz); `image_hw` checks H, W if given."""
    path = Path(path)
    data = _read_bytes(path)
    n, h, w = _parse_header(path, data, IMAGE_MAGIC, 3, "IDX uint8 images")
    if image_hw is not None and (h, w) != tuple(image_hw):
        raise GenlabError(f"{path}: images are {h}x{w}, expected {image_hw[0]}x{image_hw[1]}")
    # .copy(): frombuffer over `bytes` is read-only, and torch.from_numpy warns on read-only arrays.
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, h, w).copy()


def read_idx_labels(path: str | Path, num_classes: int | None = None) -> np.ndarray:
    """uint8 labels (N,) from an IDX label file (raw or .gz); `num_classes` checks every label is below it."""
    path = Path(path)
    data = _read_bytes(path)
    (n,) = _parse_header(path, data, LABEL_MAGIC, 1, "IDX uint8 labels")
    labels = np.frombuffer(data, dtype=np.uint8, offset=8).copy()
    if num_classes is not None and n and int(labels.max()) >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise GenlabError(f"{path}: label {int(labels[bad])} at index {bad}, expected 0..{num_classes - 1}")
    return labels


# ---------------------------------------------------------------------------------------------------------------
# Finding files
# ---------------------------------------------------------------------------------------------------------------


def _split_stems(split: str) -> tuple[str, str]:
    """('train-images-idx3-ubyte', 'train-labels-idx1-ubyte') for 'train'; 't10k-…' for 'test'."""
    if split not in _SPLIT_PREFIX:
        raise GenlabError(f"unknown split '{split}'; expected one of: {', '.join(_SPLIT_PREFIX)}")
    prefix = _SPLIT_PREFIX[split]
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _find_in(directory: Path, stem: str) -> Path | None:
    """`stem`.gz, `stem`, or the Kaggle spelling with a dot ('train-images.idx3-ubyte') inside `directory`."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def find_split_files(source: IdxSource, data_dir: Path, split: str) -> tuple[Path, Path] | None:
    """(images, labels) paths from the first search folder holding both files of `split`, else None."""
    image_stem, label_stem = _split_stems(split)
    for directory in source.search_dirs(data_dir):
        images, labels = _find_in(directory, image_stem), _find_in(directory, label_stem)
        if images is not None and labels is not None:
            return images, labels
    return None


# ---------------------------------------------------------------------------------------------------------------
# Downloading
# ---------------------------------------------------------------------------------------------------------------


def _fetch_verified(url: str, dest: Path, md5: str) -> None:
    """Stream `url` into `dest` atomically; raises ValueError on an md5 mismatch (dest untouched)."""
    digest = hashlib.md5(usedforsecurity=False)
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, atomic_path(dest) as tmp:
        with open(tmp, "wb") as fh:
            while chunk := response.read(_CHUNK_BYTES):
                digest.update(chunk)
                fh.write(chunk)
        if digest.hexdigest() != md5:
            raise ValueError(f"md5 {digest.hexdigest()}, expected {md5}")


def _download_file(source: IdxSource, name: str, directory: Path) -> Path:
    """Fetch `name` from the first mirror that serves it with the published md5; GenlabError if none does."""
    if name not in source.md5:
        raise GenlabError(f"{source.name}: no published md5 for '{name}', refusing to download it unchecked")
    failures: list[str] = []
    for base in source.mirrors:
        url = base + name
        try:
            log.info("downloading %s -> %s", url, directory / name)
            _fetch_verified(url, directory / name, source.md5[name])
            return directory / name
        except (OSError, ValueError) as exc:  # URLError/HTTPError/timeouts are OSErrors
            failures.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
    raise GenlabError(f"download failed ({'; '.join(failures) or 'no mirrors configured'})")


def _download_split(source: IdxSource, data_dir: Path, split: str) -> tuple[Path, Path]:
    """Fetch whichever of the split's two files the download folder lacks; returns (images, labels)."""
    directory = source.search_dirs(data_dir)[0]
    paths = []
    for stem in _split_stems(split):
        existing = _find_in(directory, stem)
        paths.append(existing if existing is not None else _download_file(source, stem + ".gz", directory))
    return paths[0], paths[1]


def _missing_message(source: IdxSource, data_dir: Path, split: str, reason: str) -> str:
    """One line: what was searched, which names were expected, why there is no download, how to fix it."""
    dirs = ", ".join(str(d) for d in source.search_dirs(data_dir))
    names = " and ".join(f"{stem}[.gz]" for stem in _split_stems(split))
    return (
        f"{source.name} {split} split not found: searched {dirs} for {names}; {reason}. "
        f"Put the files in one of those folders, point GENLAB_DATA_DIR (or --data-dir) at a folder holding them, "
        f"or allow download"
    )


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------


def _resolve_files(source: IdxSource, data_dir: Path, split: str, download: bool) -> tuple[Path, Path]:
    """Local files if present, else downloaded ones; GenlabError naming what was expected otherwise."""
    found = find_split_files(source, data_dir, split)
    if found is not None:
        return found
    if not download:
        raise GenlabError(_missing_message(source, data_dir, split, "download is disabled"))
    try:
        return _download_split(source, data_dir, split)
    except GenlabError as exc:
        raise GenlabError(_missing_message(source, data_dir, split, str(exc))) from exc


def load_idx_dataset(source: IdxSource, split: str, data_dir: str | Path, download: bool = True) -> ImageDataset:
    """The `split` ('train' | 'test') of `source` as an in-memory ImageDataset: images (N, H, W) uint8, labels (N,)."""
    images_path, labels_path = _resolve_files(source, Path(data_dir), split, download)
    num_classes = len(source.class_names)
    images = read_idx_images(images_path, source.image_hw)
    labels = read_idx_labels(labels_path, num_classes)
    if len(images) != len(labels):
        raise GenlabError(
            f"{labels_path}: {len(labels)} labels, expected {len(images)} to match the images in {images_path}"
        )
    return ImageDataset(
        name=source.name,
        images=images,
        labels=labels,
        num_classes=num_classes,
        layout="NHW",
        levels=256,
        class_names=source.class_names,
    )


def load_mnist(split: str = "train", data_dir: str | Path = "data", download: bool = True) -> ImageDataset:
    """MNIST digits: train 60,000 / test 10,000 images (N, 28, 28) uint8 with labels 0..9."""
    return load_idx_dataset(MNIST, split, data_dir, download)


def load_fashion_mnist(split: str = "train", data_dir: str | Path = "data", download: bool = True) -> ImageDataset:
    """Fashion-MNIST (Xiao et al. 2017): train 60,000 / test 10,000 images (N, 28, 28) uint8, 10 clothing classes."""
    return load_idx_dataset(FASHION_MNIST, split, data_dir, download)
