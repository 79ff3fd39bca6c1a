"""ELBO terms of the Gaussian-encoder VAE (Kingma & Welling 2014), kept apart from the networks.

Latent tensors are (N, *latent_shape): (N, D) for a latent vector, (N, C_z, h, w) for a latent map; every latent
element is one "dimension" for KL bookkeeping.
"""

from __future__ import annotations

import math

import torch
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


def log_normal_pairs(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z_i,d | μ_j,d, σ²_j,d) for every pair (i, j) of the batch and latent element d: (M, M, D) in nats.

    z, mu, logvar: (M, *latent) are flattened to (M, D).
    """
    z, mu, logvar = z.flatten(1).unsqueeze(1), mu.flatten(1).unsqueeze(0), logvar.flatten(1).unsqueeze(0)
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def total_correlation(z: Tensor, mu: Tensor, logvar: Tensor, dataset_size: int | None = None) -> Tensor:
    """Total correlation KL(q(z) || Π_d q(z_d)) of the aggregate posterior, estimated on a minibatch by
    minibatch-weighted sampling (Chen et al. 2018, "Isolating sources of disentanglement in VAEs", eq. S5):

        log q(z_i) ≈ logsumexp_j log q(z_i | x_j) − log(N·M),   log q(z_i,d) ≈ logsumexp_j log q(z_i,d | x_j) − log(N·M)

    with z_i ~ q(z | x_i) the batch's own samples, M the batch size and N the data set size. TC = mean_i [log q(z_i)
    − Σ_d log q(z_i,d)]; N only adds the constant (D − 1)·log(N·M), so the gradient does not depend on it.
    `dataset_size` None treats the batch as the whole data set: q(z) = (1/M) Σ_j q(z | x_j) exactly (log M in place
    of log(N·M)), the value training logs. A scalar.
    """
    m = z.shape[0]
    log_nm = math.log(dataset_size * m) if dataset_size else math.log(m)
    pairs = log_normal_pairs(z, mu, logvar)  # (M, M, D)
    log_qz = torch.logsumexp(pairs.sum(2), dim=1) - log_nm  # (M,)
    log_prod_qzd = (torch.logsumexp(pairs, dim=1) - log_nm).sum(1)  # (M,)
    return (log_qz - log_prod_qzd).mean()
