"""Input corruptions of the denoising autoencoder and code sparsity penalties of the sparse autoencoder.

Images are (N, C, H, W) in [-1, 1]; −1 is the "off" value (black / background facies), +1 the "on" value.
Codes are (N, *code_shape).
"""

from __future__ import annotations

import torch
from torch import Tensor

CORRUPTIONS = ("none", "gaussian", "masking", "salt_pepper")
SPARSITIES = ("none", "l1", "kl")


def corrupt(x: Tensor, kind: str, level: float) -> Tensor:
    """Corrupted copy of x (Vincent et al. 2010, §4.2), drawn from torch's global generator.

    gaussian: x + level·ε, ε ~ N(0, 1), clamped to [-1, 1] (level = σ in model-space units).
    masking: each pixel set to −1 ("off") with probability `level`.
    salt_pepper: each pixel, with probability `level`, set to −1 or +1 with equal chance.
    """
    if kind == "none" or level <= 0:
        return x
    if kind == "gaussian":
        return (x + level * torch.randn_like(x)).clamp(-1.0, 1.0)
    hit = torch.rand_like(x) < level
    if kind == "masking":
        return torch.where(hit, torch.full_like(x, -1.0), x)
    if kind == "salt_pepper":
        salt = torch.where(torch.rand_like(x) < 0.5, 1.0, -1.0).to(x.dtype)
        return torch.where(hit, salt, x)
    raise ValueError(f"unknown corruption {kind!r}; expected one of {CORRUPTIONS}")


def l1_sparsity(code: Tensor) -> Tensor:
    """E_x[Σ_j |h_j|]: L1 penalty on the code, per image (Goodfellow et al. 2016, Deep Learning §14.2.1)."""
    return code.abs().flatten(1).sum(1).mean()


def kl_sparsity(code: Tensor, target: float, eps: float = 1e-6) -> Tensor:
    """Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j = batch-mean activation of unit j in (0, 1) (Ng 2011, "Sparse autoencoder", §3).

    KL(ρ‖ρ̂) = ρ·log(ρ/ρ̂) + (1 − ρ)·log((1 − ρ)/(1 − ρ̂)). `code` must be sigmoid activations.
    """
    rho_hat = code.flatten(1).mean(0).clamp(eps, 1 - eps)
    rho = torch.as_tensor(target, dtype=code.dtype, device=code.device)
    return (rho * (rho / rho_hat).log() + (1 - rho) * ((1 - rho) / (1 - rho_hat)).log()).sum()
