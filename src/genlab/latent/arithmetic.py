"""Vector arithmetic on encoded means (White 2016; Radford et al. 2016, §6.3): the difference between two class
means is an attribute direction that can be added to any image's latent.

Latents are (N, *latent_shape); labels (N,) integers; images (N, C, H, W) in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.latent.encoding import decode, encode_means


def class_means(codes: Tensor, labels: Tensor) -> dict[int, Tensor]:
    """Mean latent of every class present: {label: (*latent_shape)}."""
    labels = labels.long().cpu()
    return {int(k): codes[labels == k].mean(0) for k in labels.unique()}


def attribute_vector(means: dict[int, Tensor], source: int, target: int) -> Tensor:
    """means[target] − means[source]: the direction that turns class `source` into class `target`."""
    for k in (source, target):
        if k not in means:
            raise GenlabError(f"class {k} has no encoded images; classes present: {sorted(means)}")
    return means[target] - means[source]


def apply_vector(model: torch.nn.Module, z: Tensor, vector: Tensor, scales: Sequence[float] = (0.0, 0.5, 1.0),
                 y: Tensor | None = None) -> Tensor:
    """Decode z + s·vector for every scale s: z (N, *L) → images (N, len(scales), C, H, W)."""
    rows = [decode(model, z + s * vector, y) for s in scales]  # each (N, C, H, W)
    return torch.stack(rows, dim=1)


def class_transfer(model: torch.nn.Module, x: Tensor, labels: Tensor, source: int, target: int,
                   scales: Sequence[float] = (0.0, 0.5, 1.0, 1.5)) -> Tensor:
    """Encode a labelled set, take the source→target mean difference and add it to the images of class
    `source`: returns (N_source, len(scales), C, H, W) (column 0 = the plain reconstruction)."""
    codes = encode_means(model, x)
    vector = attribute_vector(class_means(codes, labels), source, target)
    return apply_vector(model, codes[labels.cpu() == source], vector, scales)
