"""Per-sample seeded noise, so one sample of a batch can be regenerated alone with the same seed."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def sample_generators(seeds: Sequence[int], device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One torch.Generator per sample, seeded with that sample's seed."""
    gens = []
    for s in seeds:
        g = torch.Generator(device=device)
        g.manual_seed(int(s))
        gens.append(g)
    return gens


def randn_like_per_sample(gens: Sequence[torch.Generator], shape: Sequence[int], device=None, dtype=None) -> Tensor:
    """Stack of standard normal draws (len(gens), *shape); draw i uses only gens[i]."""
    device = device or gens[0].device
    return torch.stack([torch.randn(tuple(shape), generator=g, device=device, dtype=dtype) for g in gens])


def randn_per_sample(seeds: Sequence[int], shape: Sequence[int], device=None, dtype=None) -> Tensor:
    """(len(seeds), *shape) standard normal noise; row i depends only on seeds[i] (drawn on CPU for portability)."""
    out = randn_like_per_sample(sample_generators(seeds), shape, device="cpu", dtype=dtype)
    return out.to(device) if device is not None else out


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch global generators (training determinism)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
