"""From a RunConfig to the objects a run needs: dataset, codec and model."""

from __future__ import annotations

import numpy as np

from genlab.config.core import DataConfig, RunConfig
from genlab.data.codecs import ImageCodec
from genlab.data.dataset import ImageDataset
from genlab.data.registry import load_dataset
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel
from genlab.models.registry import get_family
from genlab.training.frozen import build_with_frozen


def load_training_data(data: DataConfig, seed: int) -> ImageDataset:
    """The configured dataset, filtered to `data.classes` and limited to a random `data.limit` images."""
    options = dict(data.options)  # source-specific (e.g. resize for facies); most sources take none
    ds = load_dataset(data.dataset, split=data.split, data_dir=data.data_dir, download=data.download, **options)
    keep = np.arange(len(ds))
    if data.classes:
        if ds.labels is None:
            raise GenlabError(f"data.classes is set but dataset '{data.dataset}' has no labels")
        keep = keep[np.isin(ds.labels, data.classes)]
        if len(keep) == 0:
            raise GenlabError(f"data.classes={data.classes}: no images with those labels in '{data.dataset}'")
    if data.limit and data.limit < len(keep):
        keep = np.sort(np.random.default_rng(seed).choice(keep, size=data.limit, replace=False))
    if len(keep) < len(ds):
        ds = ds.subset(keep)
    return ds


def codec_for(ds: ImageDataset) -> ImageCodec:
    """The dataset's own codec if it has one (e.g. spectrograms), else the uint8 image codec."""
    if hasattr(ds, "codec"):
        return ds.codec()
    c, h, w = ds.image_shape
    return ImageCodec(channels=c, height=h, width=w, levels=ds.levels)


def build_model(cfg: RunConfig, ds: ImageDataset) -> GenerativeModel:
    """The family's model for this dataset's image shape (and classes, when training is conditional); a frozen part
    it is built around (latent diffusion's autoencoder) is read from its snapshot (`genlab.training.frozen`)."""
    import dataclasses

    if cfg.data.conditional and ds.num_classes <= 0:
        raise GenlabError(f"data.conditional=true but dataset '{cfg.data.dataset}' has no class labels")
    num_classes = ds.num_classes if cfg.data.conditional else 0
    cls = get_family(cfg.family)
    return build_with_frozen(cls, ds.image_shape, num_classes, dataclasses.asdict(cfg.model))
