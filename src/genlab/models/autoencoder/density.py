"""A full-covariance Gaussian mixture fitted to autoencoder codes, so a deterministic autoencoder can be sampled.

An autoencoder has no prior. Ghosh et al. (2020, "From variational to deterministic autoencoders", §4) fit a
density to the training codes after training ("ex-post density estimation"); a 10-component GMM beat a single
Gaussian on every dataset they tried. Sparse codes need it most: an L1 penalty makes each code lie near a few
axes, a union of low-dimensional pieces that one Gaussian fills with off-manifold codes (scribbles), while a
mixture puts its mass on the pieces.

EM (Dempster et al. 1977; Bishop 2006, §9.2.2) in float64 with k-means++ initial means (Arthur & Vassilvitskii 2007)
from a seeded generator, so a fit is reproducible. Codes are (N, D); parameters are weights (K,), means (K, D) and
lower Cholesky factors of the covariances (K, D, D).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class MixtureFit:
    """A fitted mixture: weights (K,), means (K, D), Cholesky factors (K, D, D); mean log-likelihood per code
    (nats) and the EM iterations run."""

    weights: Tensor
    means: Tensor
    chol: Tensor
    log_likelihood: float
    iterations: int


def _kmeans_pp(x: Tensor, k: int, gen: torch.Generator) -> Tensor:
    """k-means++ seeding: each next centre drawn with probability ∝ squared distance to the nearest centre."""
    first = int(torch.randint(x.shape[0], (1,), generator=gen))
    centres = [x[first]]
    d2 = (x - centres[0]).pow(2).sum(1)
    for _ in range(1, k):
        if float(d2.sum()) <= 0:  # fewer distinct codes than components: repeat one
            idx = int(torch.randint(x.shape[0], (1,), generator=gen))
        else:
            idx = int(torch.multinomial(d2 / d2.sum(), 1, generator=gen))
        centres.append(x[idx])
        d2 = torch.minimum(d2, (x - x[idx]).pow(2).sum(1))
    return torch.stack(centres)


def component_log_prob(x: Tensor, means: Tensor, chol: Tensor) -> Tensor:
    """log N(x_n | μ_k, L_k L_kᵀ) for codes x (N, D): (N, K)."""
    diff = x[None] - means[:, None]  # (K, N, D)
    sol = torch.linalg.solve_triangular(chol, diff.transpose(1, 2), upper=False)  # (K, D, N)
    maha = sol.pow(2).sum(1)  # (K, N)
    logdet = 2 * chol.diagonal(dim1=1, dim2=2).log().sum(1)  # (K,)
    d = x.shape[1]
    return (-0.5 * (maha + logdet[:, None] + d * math.log(2 * math.pi))).T


def mixture_log_prob(x: Tensor, weights: Tensor, means: Tensor, chol: Tensor) -> Tensor:
    """log p(x_n) under the mixture, (N,)."""
    return torch.logsumexp(component_log_prob(x, means, chol) + weights.clamp_min(1e-300).log(), dim=1)


def fit_gmm(x: Tensor, components: int = 10, iterations: int = 100, tol: float = 1e-3, reg: float = 1e-4,
            seed: int = 0) -> MixtureFit:
    """Fit a K-component full-covariance GMM to codes x (N, D) by EM.

    `reg` × the mean code variance is added to every covariance's diagonal (keeps components with few or
    collinear members positive definite). Stops when the mean log-likelihood improves by less than `tol` nats.
    Returned tensors are float32 on x's device.
    """
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"fit_gmm needs codes of shape (N >= 2, D), got {tuple(x.shape)}")
    k = max(1, min(int(components), x.shape[0]))
    xd = x.detach().double().cpu()
    n, d = xd.shape
    eye = torch.eye(d, dtype=xd.dtype)
    ridge = reg * float(xd.var(0).mean().clamp_min(1e-12)) * eye
    gen = torch.Generator().manual_seed(int(seed))
    means = _kmeans_pp(xd, k, gen)
    cov0 = torch.cov(xd.T).reshape(d, d) + ridge
    chol = torch.linalg.cholesky(cov0).expand(k, d, d).clone()
    weights = torch.full((k,), 1.0 / k, dtype=xd.dtype)
    prev, it = -math.inf, 0
    for it in range(1, iterations + 1):
        logp = component_log_prob(xd, means, chol) + weights.log()  # E-step
        ll = torch.logsumexp(logp, 1, keepdim=True)
        resp = (logp - ll).exp()  # (N, K)
        mean_ll = float(ll.mean())
        nk = resp.sum(0) + 1e-10  # M-step
        weights = nk / n
        means = (resp.T @ xd) / nk[:, None]
        diff = xd[None] - means[:, None]  # (K, N, D)
        cov = torch.bmm((diff * resp.T[:, :, None]).transpose(1, 2), diff) / nk[:, None, None] + ridge
        chol = torch.linalg.cholesky(0.5 * (cov + cov.transpose(1, 2)))
        if mean_ll - prev < tol:
            break
        prev = mean_ll
    final_ll = float(mixture_log_prob(xd, weights, means, chol).mean())
    to = {"dtype": torch.float32, "device": x.device}
    return MixtureFit(weights.to(**to), means.to(**to), chol.to(**to), final_ll, it)


def sample_gmm(noise: Tensor, weights: Tensor, means: Tensor, chol: Tensor, temperature: float = 1.0) -> Tensor:
    """Codes (N, D) from standard-normal `noise` (N, D + 1): the last column picks the component through
    Φ(noise) against the cumulative weights, the first D give μ_c + T·L_c ε. Row i depends only on noise row i."""
    u = 0.5 * (1 + torch.erf(noise[:, -1] / math.sqrt(2)))
    cdf = weights.cumsum(0) / weights.sum()
    comp = torch.searchsorted(cdf, u.clamp(0, 1).contiguous()).clamp_max(weights.shape[0] - 1)
    eps = noise[:, :-1]
    return means[comp] + temperature * torch.einsum("nij,nj->ni", chol[comp], eps)
