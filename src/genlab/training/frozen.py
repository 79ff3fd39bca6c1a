"""Frozen parts a model is built around: latent diffusion's autoencoder, read from its snapshot.

`build_model` calls `build_with_frozen` for every family; families without frozen parts are built as they are.
For `latent-diffusion` the option ``autoencoder`` (a snapshot file, a run directory or a pretrained name) is read
once, safetensors + JSON only (never a pickle): the header gives ``ae_family`` / ``ae_kwargs`` (stored in the
new model's own options so its snapshots rebuild without the file) and the tensors the autoencoder's weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genlab.checkpoints import pretrained
from genlab.checkpoints.snapshot import read_header, read_tensors
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel
from genlab.models.diffusion.latent import AUTOENCODERS, LatentDiffusion


def snapshot_path(source: str) -> Path:
    """A snapshot file, a run directory (its final snapshot, else its newest epoch snapshot) or a pretrained name."""
    try:
        return pretrained.find_snapshot(source)
    except GenlabError as exc:
        raise GenlabError(f"model.autoencoder: {exc}") from None


def read_autoencoder(source: str) -> tuple[str, dict[str, Any], dict[str, Any], Path]:
    """(family, constructor kwargs, tensors, path) of the autoencoder snapshot `source`; one-line GenlabErrors."""
    if not source:
        raise GenlabError("latent-diffusion: set model.autoencoder=<snapshot of a trained ae/vae with "
                          "architecture=fully_conv> (file, run directory or pretrained name)")
    path = snapshot_path(source)
    header = read_header(path)
    family = header.get("family") if isinstance(header, dict) else None
    kwargs = header.get("kwargs") if isinstance(header, dict) else None
    if family not in AUTOENCODERS:
        raise GenlabError(f"model.autoencoder: {path} holds a '{family}' model; expected one of "
                          f"{', '.join(AUTOENCODERS)}")
    if not isinstance(kwargs, dict):
        raise GenlabError(f"model.autoencoder: {path}: header 'kwargs' is not an object")
    return family, kwargs, read_tensors(path), path


def build_with_frozen(cls: type[GenerativeModel], image_shape, num_classes: int, options: dict[str, Any]
                      ) -> GenerativeModel:
    """`cls(image_shape, num_classes, **options)`, with a latent-diffusion model's autoencoder read and loaded."""
    if not issubclass(cls, LatentDiffusion):
        return cls(image_shape=image_shape, num_classes=num_classes, **options)
    family, kwargs, tensors, path = read_autoencoder(str(options.get("autoencoder") or ""))
    model = cls(image_shape=image_shape, num_classes=num_classes, **{**options, "ae_family": family,
                                                                      "ae_kwargs": kwargs})
    model.load_autoencoder(tensors, where=f"model.autoencoder: {path}")
    return model
