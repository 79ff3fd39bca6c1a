"""Explicit name → dataset loader registry, and where data lives.

A loader is any callable ``fn(split: str, data_dir: Path, download: bool) -> ImageDataset``. Adding a source is
one line in that source's module or here::

    register_source("facies", load_facies, aliases=("channels",))

The data folder is never hard-coded in a loader: `resolve_data_dir` picks it once (argument > GENLAB_DATA_DIR >
./data) and every loader receives it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from genlab.data.dataset import ImageDataset
from genlab.data.sources.mnist import load_fashion_mnist, load_mnist
from genlab.errors import GenlabError

__all__ = ["DATA_DIR_ENV", "Loader", "dataset_names", "load_dataset", "register_source", "resolve_data_dir"]

DATA_DIR_ENV = "GENLAB_DATA_DIR"

Loader = Callable[[str, Path, bool], ImageDataset]

_SOURCES: dict[str, Loader] = {}
_ALIASES: dict[str, str] = {}


def register_source(name: str, loader: Loader, aliases: Iterable[str] = ()) -> Loader:
    """Register `loader` under `name` (and `aliases`); re-registering a name replaces it. Returns `loader`."""
    _SOURCES[name] = loader
    for alias in aliases:
        _ALIASES[alias] = name
    return loader


def dataset_names() -> list[str]:
    """Registered canonical dataset names, sorted."""
    return sorted(_SOURCES)


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: explicit `data_dir` > environment GENLAB_DATA_DIR > ./data (relative to the cwd).

    `~` is expanded; the folder need not exist (a download creates it).
    """
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get(DATA_DIR_ENV) or "data"
    return Path(data_dir).expanduser()


def _canonical(name: str) -> str:
    """The registered name for `name` or an alias of it (case-insensitive); GenlabError with a suggestion if none."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in _SOURCES:
        return key
    known = sorted(_SOURCES) + sorted(_ALIASES)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    hint = f" (did you mean '{_ALIASES.get(close[0], close[0])}'?)" if close else ""
    raise GenlabError(f"unknown dataset '{name}'{hint}; known: {', '.join(dataset_names())}")


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> ImageDataset:
    """Load the `split` (usually 'train' | 'test') of dataset `name` from the resolved data folder.

    Raises GenlabError for an unknown name (with the closest match), an unknown split, or missing/corrupt files.
    """
    # Each loader validates `split` itself: some sources may offer more than train/test.
    loader = _SOURCES[_canonical(name)]
    return loader(split, resolve_data_dir(data_dir), download)


register_source("mnist", load_mnist)
register_source("fashion-mnist", load_fashion_mnist, aliases=("fashion_mnist", "fmnist", "fashionmnist"))
