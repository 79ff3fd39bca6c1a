"""Evidence that a VAE's latent space is regularised, computed from encoder posteriors q(z|x) = N(mu, diag σ²).

- per-dimension KL E_x[KL(q(z_j|x) ‖ N(0, 1))]: dimensions near 0 nats carry no information (posterior collapse);
- active units (Burda et al. 2016, §5.2): A_u = Cov_x(E_{q(z|x)}[z_u]) > 0.01;
- the aggregate posterior q(z) = (1/N) Σ_i q(z|x_i) against the prior N(0, I): its mean, its covariance
  Cov(mu) + E[diag σ²] (law of total covariance), their Fréchet distance and KL to N(0, I) (Gaussian fit).

Posterior tensors are (N, D) with latent maps flattened (D = C_z·h·w). Statistics are float64.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.latent.encoding import encode_posterior


def kl_per_dimension(mu: Tensor, logvar: Tensor) -> Tensor:
    """E_x KL(N(mu_j, σ_j²) ‖ N(0, 1)) per dimension, (D,) nats (Kingma & Welling 2014, App. B)."""
    mu, logvar = mu.flatten(1).double(), logvar.flatten(1).double()
    return (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)).mean(0)


def active_units(mu: Tensor, threshold: float = 0.01) -> tuple[int, Tensor]:
    """Number of units with Var_x(E[z_u|x]) > threshold, and the (D,) variances (Burda et al. 2016)."""
    var = mu.flatten(1).double().var(0, unbiased=True)
    return int((var > threshold).sum()), var


def aggregate_posterior(mu: Tensor, logvar: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (D,) and covariance (D, D) of the mixture (1/N) Σ N(mu_i, diag σ_i²): E[mu] and
    Cov(mu) + diag(E[σ²])."""
    m = mu.flatten(1).double()
    mean = m.mean(0)
    centred = m - mean
    cov = centred.T @ centred / max(m.shape[0] - 1, 1)
    return mean, cov + torch.diag(logvar.flatten(1).double().exp().mean(0))


def _sym_eigvals(cov: Tensor) -> Tensor:
    return torch.linalg.eigvalsh(0.5 * (cov + cov.T)).clamp_min(0.0)


def frechet_to_standard_normal(mean: Tensor, cov: Tensor) -> float:
    """Fréchet (2-Wasserstein²) distance between N(mean, cov) and N(0, I):
    ‖m‖² + tr(C) + D − 2·tr(C^{1/2}) (Dowson & Landau 1982), with tr(C^{1/2}) = Σ √λ_i."""
    eig = _sym_eigvals(cov)
    return float(mean.pow(2).sum() + eig.sum() + cov.shape[0] - 2 * eig.sqrt().sum())


def kl_gaussian_to_standard_normal(mean: Tensor, cov: Tensor, eps: float = 1e-12) -> float:
    """KL(N(mean, cov) ‖ N(0, I)) = ½(tr C + ‖m‖² − D − log det C), nats."""
    eig = _sym_eigvals(cov).clamp_min(eps)
    return float(0.5 * (eig.sum() + mean.pow(2).sum() - cov.shape[0] - eig.log().sum()))


def regularity_stats(mu: Tensor, logvar: Tensor, active_threshold: float = 0.01) -> dict[str, Any]:
    """All regularity numbers as a JSON-able dict (lists for per-dimension values)."""
    kl = kl_per_dimension(mu, logvar)
    count, var = active_units(mu, active_threshold)
    mean, cov = aggregate_posterior(mu, logvar)
    off = cov - torch.diag(torch.diag(cov))
    return {"num_dims": int(kl.numel()), "kl_total": float(kl.sum()), "kl_per_dim": kl.tolist(),
            "active_units": count, "active_threshold": active_threshold, "mu_variance_per_dim": var.tolist(),
            "aggregate_mean_norm": float(mean.norm()), "aggregate_var_mean": float(torch.diag(cov).mean()),
            "aggregate_offdiag_abs_max": float(off.abs().max()) if cov.shape[0] > 1 else 0.0,
            "frechet_to_prior": frechet_to_standard_normal(mean, cov),
            "kl_gaussian_fit_to_prior": kl_gaussian_to_standard_normal(mean, cov)}


def regularity_report(model: torch.nn.Module, x: Tensor, y: Tensor | None = None, batch_size: int = 256,
                      active_threshold: float = 0.01) -> dict[str, Any]:
    """Encode x (N, C, H, W) with a VAE and return `regularity_stats` of its posteriors."""
    mu, logvar = encode_posterior(model, x, y, batch_size)
    if logvar is None:
        raise GenlabError(f"model family '{model.family}' has a deterministic encoder; regularity needs a VAE")
    return regularity_stats(mu, logvar, active_threshold)
