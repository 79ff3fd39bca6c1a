"""ELBO terms of the Gaussian-encoder VAE (Kingma & Welling 2014), kept apart from the networks.

Latent tensors are (N, *latent_shape): (N, D) for a latent vector, (N, C_z, h, w) for a latent map; every latent
element is one "dimension" for KL bookkeeping.
"""

from __future__ import annotations

from torch import Tensor

from genlab.models.autoencoder.common import linear_ramp


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per latent element (nats), same shape as `mu`.

    Kingma & Welling (2014), Appendix B: −KL = ½ Σ (1 + log σ² − μ² − σ²).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


def kl_per_dimension(mu: Tensor, logvar: Tensor) -> Tensor:
    """Batch-mean KL of every latent element, flattened: (N, *latent) → (D,) in nats."""
    return kl_to_standard_normal(mu, logvar).flatten(1).mean(0)


def free_bits_kl(kl_dims: Tensor, free_bits: float) -> Tensor:
    """Σ_j max(λ, KL_j) over batch-mean per-dimension KLs (Kingma et al. 2016, "free bits", Appendix C.8).

    A dimension below λ nats contributes a constant λ, so the optimiser gains nothing by squeezing it further —
    this guards against posterior collapse. λ = 0 gives the plain KL sum.
    """
    if free_bits <= 0:
        return kl_dims.sum()
    return kl_dims.clamp_min(free_bits).sum()


def kl_weight(step: int, beta: float, warmup_steps: int) -> float:
    """β_t = β · min(1, step / warmup): linear KL annealing (Bowman et al. 2016) towards a β-VAE weight
    (Higgins et al. 2017)."""
    return beta * linear_ramp(step, warmup_steps)


def reparameterize(mu: Tensor, logvar: Tensor, noise: Tensor) -> Tensor:
    """z = μ + σ·ε with ε ~ N(0, I) given as `noise` (the reparameterisation trick)."""
    return mu + (0.5 * logvar).exp() * noise
