"""Moving through a latent space one direction at a time: traversal grids and the explorer's slider basis.

A traversal (Higgins et al. 2017, fig. 1) starts from one code and sets a single dimension to each of a row of
values while the others stay put; a disentangled model changes one factor of the image per row. The explorer
generalises it to any directions: a `LatentBasis` holds a centre code, unit directions (principal directions of
encoded training codes, or chosen dimensions) and the spread of the codes along each, so a slider position c_i is
"c_i standard deviations along direction i":  z = centre + Σ_i c_i · std_i · direction_i.
Latents are (N, *latent_shape); directions are flattened (k, D).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.latent.encoding import decode


@dataclass
class LatentBasis:
    """Centre (D,), unit directions (k, D), std of the codes along each (k,), the variance share each explains
    (k,) (PCA; None for chosen dimensions), what the codes were ("encoded" images or "prior" samples), how many, and
    the chosen dimensions (None for PCA)."""

    centre: Tensor
    directions: Tensor
    stds: Tensor
    explained: Tensor | None
    source: str
    num_codes: int
    dims: list[int] | None = None

    def latent(self, coords: Sequence[float], latent_shape: Sequence[int]) -> Tensor:
        """The code (1, *latent_shape) at slider positions `coords` (k,), in stds along each direction."""
        c = torch.as_tensor(list(coords), dtype=self.centre.dtype)
        if c.shape != (self.directions.shape[0],):
            raise GenlabError(f"coords: expected {self.directions.shape[0]} values (one per direction), got "
                              f"{c.numel()}")
        z = self.centre + (c * self.stds) @ self.directions
        return z.view(1, *latent_shape)

    def to_dict(self) -> dict:
        return {"source": self.source, "num_codes": self.num_codes, "dims": self.dims,
                "stds": [round(float(s), 6) for s in self.stds],
                "explained": None if self.explained is None else [round(float(e), 6) for e in self.explained]}


def has_fast_encoder(model: torch.nn.Module) -> bool:
    """True when `model.encode` is one network pass (VAE, autoencoders), False for encoding by optimisation (GAN
    inversion takes `steps`) or no encoder at all."""
    encode = getattr(model, "encode", None)
    if encode is None:
        return False
    try:
        return "steps" not in inspect.signature(encode).parameters
    except (TypeError, ValueError):
        return False


def pca_basis(codes: Tensor, k: int, source: str) -> LatentBasis:
    """The `k` principal directions of codes (N, *latent) (N >= 2), ordered by variance."""
    flat = codes.flatten(1).double()
    if flat.shape[0] < 2:
        raise GenlabError(f"a principal-direction basis needs at least 2 codes, got {flat.shape[0]}")
    k = min(k, flat.shape[1], flat.shape[0] - 1) if flat.shape[0] > 1 else 1
    centre = flat.mean(0)
    _, s, vh = torch.linalg.svd(flat - centre, full_matrices=False)
    var = s.pow(2) / (flat.shape[0] - 1)
    explained = var / var.sum().clamp_min(1e-12)
    return LatentBasis(centre.float(), vh[:k].float(), var[:k].sqrt().float(), explained[:k].float(), source,
                       int(flat.shape[0]))


def dims_basis(codes: Tensor, dims: Sequence[int], source: str) -> LatentBasis:
    """Unit directions along chosen latent elements `dims` (indices into the flattened code), centred on the codes'
    mean, scaled by their std along each."""
    flat = codes.flatten(1).float()
    size = flat.shape[1]
    bad = [d for d in dims if not 0 <= int(d) < size]
    if bad or not dims:
        raise GenlabError(f"dims {list(dims)}: expected 1 or more latent dimensions in 0..{size - 1}")
    idx = torch.tensor([int(d) for d in dims])
    directions = torch.zeros(len(idx), size)
    directions[torch.arange(len(idx)), idx] = 1.0
    std = flat[:, idx].std(0) if flat.shape[0] > 1 else torch.ones(len(idx))
    return LatentBasis(flat.mean(0), directions, std.clamp_min(1e-6), None, source, int(flat.shape[0]),
                       [int(d) for d in idx])


def most_varied_dims(codes: Tensor, count: int) -> list[int]:
    """The `count` latent elements whose codes vary most (for a VAE: the active dimensions, the others sit at the
    prior's mean), most varied first."""
    var = codes.flatten(1).float().var(0)
    return [int(i) for i in var.argsort(descending=True)[:count]]


@torch.no_grad()
def traversal(model: torch.nn.Module, start: Tensor, dims: Sequence[int], values: Sequence[float],
              label: int | None = None) -> Tensor:
    """Traversal grid in model space, (len(dims) · len(values), C, H, W): row r sets latent element dims[r] of
    `start` (*latent_shape) to each of `values` in turn."""
    flat = start.flatten().float()
    bad = [d for d in dims if not 0 <= int(d) < flat.numel()]
    if bad:
        raise GenlabError(f"dims {bad}: latent dimensions are 0..{flat.numel() - 1}")
    if not values:
        raise GenlabError("traversal values: expected at least one value")
    rows = []
    for d in dims:
        z = flat.repeat(len(values), 1)
        z[:, int(d)] = torch.as_tensor(list(values), dtype=z.dtype)
        rows.append(z)
    z = torch.cat(rows).view(-1, *start.shape)
    y = None if label is None else torch.full((z.shape[0],), int(label), dtype=torch.long)
    return decode(model, z, y)
