"""Explicit name → dataset loader registry, and where data lives.

A loader is any callable ``fn(split: str, data_dir: Path, download: bool, **options) -> ImageDataset``; the
options are source-specific keyword arguments (e.g. ``resize`` for facies, from ``data.options`` in a run config)
and are checked against the loader's signature before the call. `SOURCES` is the one table of built-in datasets:
adding a source is its module under genlab/data/sources/ plus one line there (nothing registers itself on import;
`register_source` is for plug-ins and tests).

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

from genlab.audio.dataset import load_spec, load_wave
from genlab.data.dataset import ImageDataset
from genlab.data.sources.channels import load_channels_source, load_procedural_source
from genlab.data.sources.facies_refs import reference_loader
from genlab.data.sources.mnist import FASHION_MNIST, MNIST, load_fashion_mnist, load_mnist
from genlab.data.sources.sprites import SHAPES, load_sprites_source
from genlab.errors import GenlabError

__all__ = ["ALIASES", "CLASS_NAMES", "DATA_DIR_ENV", "SOURCES", "Loader", "canonical_name", "class_names",
           "dataset_names", "load_dataset",
           "register_source", "resolve_data_dir"]

DATA_DIR_ENV = "GENLAB_DATA_DIR"

Loader = Callable[..., ImageDataset]  # (split, data_dir, download, **options) -> ImageDataset

# The table: dataset name → loader. A new source adds one line here (and aliases below if it has other names).
SOURCES: dict[str, Loader] = {
    "mnist": load_mnist,  # IDX files (downloaded)
    "fashion-mnist": load_fashion_mnist,
    "channels": load_channels_source,  # LTrace-style train_images.h5 (binary facies)
    "channels-procedural": load_procedural_source,  # seeded procedural channels
    "mps45": reference_loader("mps45"),  # facies reference sets under data_dir/channels/
    "channels64": reference_loader("channels64"),
    "strebelle": reference_loader("strebelle"),
    "musdb-spec": load_spec,  # MUSDB18 stems as log-magnitude patches
    "musdb-wave": load_wave,  # MUSDB18 stems as waveform segments
    "dsprites": load_sprites_source,  # procedural dSprites-like shapes with factor labels (disentanglement)
}

ALIASES: dict[str, str] = {
    "fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
    "ltrace": "channels", "train_images": "channels", "channels_procedural": "channels-procedural",
}


# Class names of the labelled sources (label order), for headers and the faces without opening the data.
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(MNIST.class_names), "fashion-mnist": tuple(FASHION_MNIST.class_names), "dsprites": SHAPES,
}


def class_names(name: str) -> tuple[str, ...]:
    """The class names of dataset `name` (or an alias), () when unknown or unlabelled."""
    if not isinstance(name, str):
        return ()
    key = name.strip().lower()
    return CLASS_NAMES.get(ALIASES.get(key, key), ())


def register_source(name: str, loader: Loader, aliases: Iterable[str] = ()) -> Loader:
    """Add a source at run time (plug-ins and tests; the built-ins are listed in `SOURCES`). Returns `loader`."""
    SOURCES[name] = loader
    for alias in aliases:
        ALIASES[alias] = name
    return loader


def dataset_names() -> list[str]:
    """Registered canonical dataset names, sorted."""
    return sorted(SOURCES)


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: explicit `data_dir` > environment GENLAB_DATA_DIR > ./data (relative to the cwd).

    `~` is expanded; the folder need not exist (a download creates it).
    """
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get(DATA_DIR_ENV) or "data"
    return Path(data_dir).expanduser()


def canonical_name(name: str) -> str:
    """The registered name for `name` or an alias of it (case-insensitive); GenlabError with a suggestion if none."""
    if not isinstance(name, str):
        raise GenlabError(f"dataset name must be text, got {name!r:.60}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key in SOURCES:
        return key
    known = sorted(SOURCES) + sorted(ALIASES)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    hint = f" (did you mean '{ALIASES.get(close[0], close[0])}'?)" if close else ""
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
    canonical = canonical_name(name)
    loader = SOURCES[canonical]
    _check_options(canonical, loader, options)
    return loader(split, resolve_data_dir(data_dir), download, **options)

