"""Embeddings of scalar conditioning values (diffusion time / noise level)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_embedding(values: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of float values (Vaswani et al. 2017, sec. 3.5; as used by DDPM, Ho et al. 2020).

    Args:
        values: (N,) float conditioning values (e.g. a timestep in [0, 1000) or a log-SNR).
        dim: embedding width (even).
        max_period: longest wavelength, in units of ``values``.

    Returns:
        (N, dim) float32 tensor ``[cos(v * f_k), sin(v * f_k)]`` with ``f_k = max_period^(-k / (dim/2))``.
    """
    if dim % 2:
        raise ValueError(f"sinusoidal embedding dim must be even, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=values.device, dtype=torch.float32) / half)
    args = values.float()[:, None] * freqs[None]  # (N, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class TimestepEmbedding(nn.Module):
    """Sinusoidal features followed by a 2-layer MLP (DDPM): (N,) float → (N, out_dim)."""

    def __init__(self, sin_dim: int, out_dim: int):
        super().__init__()
        self.sin_dim = sin_dim
        self.mlp = nn.Sequential(nn.Linear(sin_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, values: Tensor) -> Tensor:
        return self.mlp(sinusoidal_embedding(values, self.sin_dim))
