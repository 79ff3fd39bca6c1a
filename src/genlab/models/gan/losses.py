"""GAN objectives and regularisers as plain functions of discriminator scores (logits / critic values).

Scores are (N,) tensors: D(x) for real images and D(G(z)) for generated ones. Every loss is "to minimise".
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

GAN_LOSSES = ("ns", "hinge", "wasserstein")


def discriminator_loss(kind: str, d_real: Tensor, d_fake: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Discriminator / critic loss.

    ns: −log σ(D(x)) − log(1 − σ(D(G(z)))) (Goodfellow et al. 2014, eq. 1), with one-sided label smoothing: the
        real target is 1 − ε (Salimans et al. 2016, §3.4), i.e. BCE(D(x), 1 − ε).
    hinge: relu(1 − D(x)) + relu(1 + D(G(z))) (Lim & Ye 2017; Miyato et al. 2018).
    wasserstein: D(G(z)) − D(x) (Arjovsky et al. 2017; Gulrajani et al. 2017, Algorithm 1).
    """
    if kind == "ns":
        real_target = torch.full_like(d_real, 1.0 - label_smoothing)
        real = F.binary_cross_entropy_with_logits(d_real, real_target)
        return real + F.softplus(d_fake).mean()
    if kind == "hinge":
        return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
    if kind == "wasserstein":
        return d_fake.mean() - d_real.mean()
    raise ValueError(f"unknown GAN loss {kind!r}; expected one of {GAN_LOSSES}")


def generator_loss(kind: str, d_fake: Tensor) -> Tensor:
    """Generator loss: ns → −log σ(D(G(z))) (the non-saturating form, Goodfellow et al. 2014 §3);
    hinge and wasserstein → −D(G(z))."""
    if kind == "ns":
        return F.softplus(-d_fake).mean()
    if kind in ("hinge", "wasserstein"):
        return -d_fake.mean()
    raise ValueError(f"unknown GAN loss {kind!r}; expected one of {GAN_LOSSES}")


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, eps: Tensor | None = None
                     ) -> Tensor:
    """WGAN-GP penalty E[(‖∇_x̂ D(x̂)‖₂ − 1)²] at x̂ = ε·x + (1 − ε)·x̃, ε ~ U[0, 1] per sample
    (Gulrajani et al. 2017, eq. 3; multiply by λ = 10 outside). real, fake: (N, C, H, W); eps: (N,) or None."""
    if eps is None:
        eps = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    eps = eps.view(-1, *([1] * (real.dim() - 1)))
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


def r1_penalty(d_real: Tensor, real: Tensor) -> Tensor:
    """R1 = E[‖∇_x D(x)‖²] on real data (Mescheder et al. 2018, eq. 9; multiply by γ/2 outside).
    `real` must have required grad when `d_real` was computed."""
    (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


def instance_noise_sigma(step: int, sigma0: float, anneal_steps: int) -> float:
    """σ_t = σ₀ · max(0, 1 − step / anneal_steps): Gaussian instance noise added to both real and fake inputs of
    D, annealed linearly to zero (Sønderby et al. 2017, §4; Arjovsky & Bottou 2017)."""
    if sigma0 <= 0:
        return 0.0
    if anneal_steps <= 0:
        return sigma0
    return sigma0 * max(0.0, 1.0 - step / anneal_steps)
