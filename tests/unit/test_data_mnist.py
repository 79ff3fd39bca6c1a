"""MNIST/Fashion-MNIST IDX reading, validation, search folders, md5-checked download, and the dataset registry.

Every file here is written by the test (3 tiny 28x28 images); the network is never touched: `urlopen` is
monkeypatched to serve bytes from a dict.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from genlab.data import registry
from genlab.data.sources import mnist
from genlab.data.sources.mnist import FASHION_MNIST, IdxSource, load_idx_dataset, load_mnist
from genlab.errors import GenlabError

N = 3


def idx_images(n: int = N, h: int = 28, w: int = 28, magic: int = 2051) -> tuple[bytes, np.ndarray]:
    """(IDX bytes, the (n, h, w) uint8 array they encode)."""
    arr = (np.arange(n * h * w, dtype=np.int64) * 7 % 256).astype(np.uint8).reshape(n, h, w)
    header = np.array([magic, n, h, w], dtype=">u4").tobytes()
    return header + arr.tobytes(), arr


def idx_labels(labels: list[int], magic: int = 2049) -> bytes:
    return np.array([magic, len(labels)], dtype=">u4").tobytes() + bytes(labels)


def write_split(
    directory: Path,
    gz: bool = True,
    prefix: str = "train",
    labels: list[int] | None = None,
    images: bytes | None = None,
) -> tuple[Path, Path]:
    """Write an images + labels pair into `directory`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    images = images if images is not None else idx_images()[0]
    label_bytes = idx_labels(labels if labels is not None else [3, 1, 4])
    suffix = ".gz" if gz else ""
    pi = directory / f"{prefix}-images-idx3-ubyte{suffix}"
    pl = directory / f"{prefix}-labels-idx1-ubyte{suffix}"
    pi.write_bytes(gzip.compress(images) if gz else images)
    pl.write_bytes(gzip.compress(label_bytes) if gz else label_bytes)
    return pi, pl


# ------------------------------------------------------------------ reading valid files


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("sub", ["mnist", "MNIST/raw", ""])
def test_loads_raw_and_gz_from_each_search_folder(tmp_path: Path, gz: bool, sub: str) -> None:
    write_split(tmp_path / sub if sub else tmp_path, gz=gz)
    ds = load_mnist("train", tmp_path, download=False)
    assert ds.images.shape == (N, 28, 28) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images, idx_images()[1])
    assert ds.labels.tolist() == [3, 1, 4]
    assert (ds.num_classes, ds.layout, ds.levels, ds.name) == (10, "NHW", 256, "mnist")
    x, y = ds.get_batch([2, 0])
    assert tuple(x.shape) == (2, 1, 28, 28) and y.tolist() == [4, 3]


def test_test_split_and_kaggle_dotted_names(tmp_path: Path) -> None:
    d = tmp_path / "mnist"
    pi, pl = write_split(d, gz=False, prefix="t10k", labels=[9, 0, 0])
    pi.rename(d / "t10k-images.idx3-ubyte")
    pl.rename(d / "t10k-labels.idx1-ubyte")
    assert load_mnist("test", tmp_path, download=False).labels.tolist() == [9, 0, 0]


def test_fashion_mnist_class_names(tmp_path: Path) -> None:
    write_split(tmp_path / "fashion-mnist")
    ds = load_idx_dataset(dataclasses.replace(FASHION_MNIST, extra_dirs=()), "train", tmp_path, download=False)
    assert ds.name == "fashion-mnist" and ds.class_names[9] == "Ankle boot" and len(ds.class_names) == 10


# ------------------------------------------------------------------ corruption → GenlabError naming the file


def _error(tmp_path: Path, **kw: object) -> str:
    write_split(tmp_path / "mnist", **kw)  # type: ignore[arg-type]
    with pytest.raises(GenlabError) as info:
        load_mnist("train", tmp_path, download=False)
    return str(info.value)


def test_bad_image_magic(tmp_path: Path) -> None:
    msg = _error(tmp_path, images=idx_images(magic=1234)[0])
    assert "train-images-idx3-ubyte.gz" in msg and "magic 1234, expected 2051" in msg


def test_labels_file_given_as_images_is_rejected(tmp_path: Path) -> None:
    msg = _error(tmp_path, gz=False, images=idx_labels([1, 2, 3]))
    assert "train-images-idx3-ubyte" in msg and "magic 2049, expected 2051" in msg


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_payload(tmp_path: Path, gz: bool) -> None:
    msg = _error(tmp_path, gz=gz, images=idx_images()[0][:-100])
    assert "train-images-idx3-ubyte" in msg and f"expected {16 + N * 784}" in msg


def test_padded_payload(tmp_path: Path) -> None:
    msg = _error(tmp_path, images=idx_images()[0] + b"\x00")
    assert "train-images-idx3-ubyte.gz" in msg and "padded" in msg


def test_header_too_short(tmp_path: Path) -> None:
    assert "too short" in _error(tmp_path, images=b"\x00\x00\x08")


def test_wrong_image_size(tmp_path: Path) -> None:
    msg = _error(tmp_path, images=idx_images(h=8, w=8)[0])
    assert "train-images-idx3-ubyte.gz" in msg and "8x8, expected 28x28" in msg


def test_count_mismatch(tmp_path: Path) -> None:
    msg = _error(tmp_path, labels=[1, 2])
    assert "train-labels-idx1-ubyte.gz" in msg and "2 labels, expected 3" in msg


def test_label_out_of_range(tmp_path: Path) -> None:
    msg = _error(tmp_path, labels=[1, 12, 2])
    assert "train-labels-idx1-ubyte.gz" in msg and "label 12 at index 1" in msg


def test_truncated_gzip(tmp_path: Path) -> None:
    pi, _ = write_split(tmp_path / "mnist")
    pi.write_bytes(pi.read_bytes()[:-40])
    with pytest.raises(GenlabError, match=r"train-images-idx3-ubyte\.gz: truncated gzip"):
        load_mnist("train", tmp_path, download=False)


def test_corrupt_gzip_and_non_gzip_with_gz_name(tmp_path: Path) -> None:
    pi, _ = write_split(tmp_path / "mnist")
    data = bytearray(pi.read_bytes())
    data[20:30] = b"\xff" * 10
    pi.write_bytes(bytes(data))
    with pytest.raises(GenlabError, match=r"train-images-idx3-ubyte\.gz: corrupt gzip"):
        load_mnist("train", tmp_path, download=False)
    pi.write_bytes(idx_images()[0])
    with pytest.raises(GenlabError, match=r"train-images-idx3-ubyte\.gz: not a gzip file"):
        load_mnist("train", tmp_path, download=False)


# ------------------------------------------------------------------ missing files and download


def test_offline_error_lists_folders_and_names(tmp_path: Path) -> None:
    with pytest.raises(GenlabError) as info:
        load_mnist("test", tmp_path, download=False)
    msg = str(info.value)
    for part in (
        str(tmp_path / "mnist"),
        str(tmp_path / "MNIST" / "raw"),
        "t10k-images-idx3-ubyte[.gz]",
        "t10k-labels-idx1-ubyte[.gz]",
        "GENLAB_DATA_DIR",
        "download is disabled",
    ):
        assert part in msg
    assert "\n" not in msg


class FakeWeb:
    """Serves `files` (url → bytes); any other url raises URLError, like being offline."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.requested = files, []

    def __call__(self, url: str, timeout: float | None = None) -> io.BytesIO:
        self.requested.append(url)
        if url not in self.files:
            raise urllib.error.URLError("no route to host")
        return io.BytesIO(self.files[url])


def _tiny_source() -> tuple[IdxSource, dict[str, bytes]]:
    gz = {
        "train-images-idx3-ubyte.gz": gzip.compress(idx_images()[0]),
        "train-labels-idx1-ubyte.gz": gzip.compress(idx_labels([7, 8, 9])),
    }
    md5 = {k: hashlib.md5(v).hexdigest() for k, v in gz.items()}
    source = IdxSource(name="tiny", subdirs=("tiny",), mirrors=("https://a.invalid/", "https://b.invalid/"), md5=md5)
    return source, gz


def test_download_falls_back_to_second_mirror_and_verifies_md5(tmp_path: Path, monkeypatch) -> None:
    source, gz = _tiny_source()
    web = FakeWeb({"https://b.invalid/" + k: v for k, v in gz.items()})
    monkeypatch.setattr(mnist.urllib.request, "urlopen", web)
    ds = load_idx_dataset(source, "train", tmp_path, download=True)
    assert ds.labels.tolist() == [7, 8, 9]
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == sorted(gz)
    assert web.requested[0] == "https://a.invalid/train-images-idx3-ubyte.gz"
    web.requested.clear()
    load_idx_dataset(source, "train", tmp_path, download=True)
    assert web.requested == []  # present files are never re-downloaded


def test_download_md5_mismatch_is_rejected_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    source, gz = _tiny_source()
    tampered = {"https://a.invalid/" + k: v + b"x" for k, v in gz.items()}
    monkeypatch.setattr(mnist.urllib.request, "urlopen", FakeWeb(tampered))
    with pytest.raises(GenlabError) as info:
        load_idx_dataset(source, "train", tmp_path, download=True)
    msg = str(info.value)
    assert "download failed" in msg and "md5" in msg and "expected " + source.md5["train-images-idx3-ubyte.gz"] in msg
    assert list((tmp_path / "tiny").iterdir()) == []


def test_offline_download_error_names_urls(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(mnist.urllib.request, "urlopen", FakeWeb({}))
    with pytest.raises(GenlabError) as info:
        load_mnist("train", tmp_path, download=True)
    msg = str(info.value)
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz" in msg
    assert "no route to host" in msg and "train-labels-idx1-ubyte[.gz]" in msg


def test_published_md5_table_is_complete() -> None:
    for source in (mnist.MNIST, FASHION_MNIST):
        assert len(source.md5) == 4 and all(len(v) == 32 for v in source.md5.values())


# ------------------------------------------------------------------ registry


def test_resolve_data_dir_precedence(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(registry.DATA_DIR_ENV, raising=False)
    assert registry.resolve_data_dir(None) == Path("data")
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(tmp_path / "env"))
    assert registry.resolve_data_dir(None) == tmp_path / "env"
    assert registry.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"


def test_load_dataset_uses_env_dir_and_aliases(tmp_path: Path, monkeypatch) -> None:
    write_split(tmp_path / "mnist")
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(tmp_path))
    assert len(registry.load_dataset("MNIST", download=False)) == N
    seen = []
    registry.register_source("tiny-test", lambda split, d, dl: seen.append((split, d, dl)), aliases=("tt",))
    try:
        registry.load_dataset("tt", "test", download=False)
        assert seen == [("test", tmp_path, False)]
    finally:
        registry.SOURCES.pop("tiny-test"), registry.ALIASES.pop("tt")
    for alias in ("fashion_mnist", "fmnist"):
        assert registry.canonical_name(alias) == "fashion-mnist"


def test_unknown_dataset_suggests_closest() -> None:
    with pytest.raises(
        GenlabError, match=r"unknown dataset 'minst' \(did you mean 'mnist'\?\); known: .*fashion-mnist"
    ):
        registry.load_dataset("minst")
    with pytest.raises(GenlabError, match=r"did you mean 'fashion-mnist'"):
        registry.load_dataset("fashon_mnist")


def test_unknown_split(tmp_path: Path) -> None:
    with pytest.raises(GenlabError, match=r"unknown split 'val'"):
        registry.load_dataset("mnist", "val", data_dir=tmp_path, download=False)


def test_options_are_checked_against_the_loader(tmp_path: Path) -> None:
    write_split(tmp_path / "mnist")
    with pytest.raises(GenlabError, match=r"dataset 'mnist' does not take option\(s\) resize; it takes: none"):
        registry.load_dataset("mnist", data_dir=tmp_path, download=False, resize=64)
    seen = []

    def loader(split: str, data_dir: Path, download: bool, resize: int = 0) -> None:
        seen.append(resize)

    registry.register_source("opt-test", loader)
    try:
        registry.load_dataset("opt-test", data_dir=tmp_path, resize=64)
        assert seen == [64]
        with pytest.raises(GenlabError, match=r"option\(s\) rezise; it takes: resize"):
            registry.load_dataset("opt-test", data_dir=tmp_path, rezise=64)
    finally:
        registry.SOURCES.pop("opt-test")
