"""Explicit name → dataset loader registry, and where data lives.

A loader is any callable ``fn(split: str, data_dir: Path, download: bool, **options) -> ImageDataset``; the
options are source-specific keyword arguments (e.g. ``resize`` for facies, from ``data.options`` in a run config)
and are checked against the loader's signature before the call. Adding a source is one line in that source's
module or here::

    register_source("facies", load_facies, aliases=("channels",))

The data folder is never hard-coded in a loader: `resolve_data_dir` picks it once (argument > GENLAB_DATA_DIR >
./data) and every loader receives it.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from genlab.data.dataset import ImageDataset
from genlab.data.sources.mnist import load_fashion_mnist, load_mnist
from genlab.errors import GenlabError

__all__ = ["DATA_DIR_ENV", "Loader", "dataset_names", "load_dataset", "register_source", "resolve_data_dir"]

DATA_DIR_ENV = "GENLAB_DATA_DIR"

Loader = Callable[..., ImageDataset]  # (split, data_dir, download, **options) -> ImageDataset

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


def _check_options(name: str, loader: Loader, options: dict[str, Any]) -> None:
    """GenlabError if `loader` cannot take the keyword `options` (a typo in data.options, or a source with none)."""
    if not options:
        return
    params = inspect.signature(loader).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    takes = [p for p, v in params.items() if v.kind is not inspect.Parameter.POSITIONAL_ONLY][3:]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        accepted = ", ".join(takes) or "none"
        raise GenlabError(f"dataset '{name}' does not take option(s) {', '.join(unknown)}; it takes: {accepted}")


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    **options: Any,
) -> ImageDataset:
    """Load the `split` (usually 'train' | 'test') of dataset `name` from the resolved data folder.

    options: source-specific keyword arguments passed to the loader (MNIST-like sources take none).
    Raises GenlabError for an unknown name (with the closest match), an unknown split or option, or
    missing/corrupt files.
    """
    # Each loader validates `split` itself: some sources may offer more than train/test.
    canonical = _canonical(name)
    loader = _SOURCES[canonical]
    _check_options(canonical, loader, options)
    return loader(split, resolve_data_dir(data_dir), download, **options)


register_source("mnist", load_mnist)
register_source("fashion-mnist", load_fashion_mnist, aliases=("fashion_mnist", "fmnist", "fashionmnist"))

# Facies sources register themselves at the end of their modules (after this module is complete).
import genlab.data.sources.channels
import genlab.data.sources.facies_refs  # noqa: F401
