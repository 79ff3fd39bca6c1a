"""Fréchet distance between Gaussians fitted to feature sets (the "F" of FID).

For two Gaussians N(mu1, S1) and N(mu2, S2) (Dowson & Landau 1982; Heusel et al. 2017, eq. 6):

    d^2 = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2})

Tr((S1 S2)^{1/2}) equals Tr((S1^{1/2} S2 S1^{1/2})^{1/2}), and the inner matrix is symmetric positive
semi-definite, so both square roots are taken with a symmetric eigendecomposition in float64. Round-off can make
eigenvalues of a PSD matrix slightly negative; they are clipped to zero (their true value), which avoids the
complex square roots that `scipy.linalg.sqrtm(S1 @ S2)` produces on near-singular covariances.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

ArrayLike = Tensor | np.ndarray


def _as_f64(x: ArrayLike) -> Tensor:
    """Any array → float64 tensor (on its own device when it is a tensor)."""
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.asarray(x, dtype=np.float64))
    return x.detach().to(torch.float64)


def _psd_sqrt(matrix: Tensor) -> Tensor:
    """Symmetric square root of a PSD matrix (D, D) via eigh; negative round-off eigenvalues become 0."""
    sym = 0.5 * (matrix + matrix.T)
    eigvals, eigvecs = torch.linalg.eigh(sym)
    root = eigvals.clamp_min(0.0).sqrt()
    return (eigvecs * root) @ eigvecs.T


def trace_sqrt_product(sigma1: ArrayLike, sigma2: ArrayLike) -> float:
    """Tr((S1 S2)^{1/2}) for PSD (D, D) matrices, computed as Tr((S1^{1/2} S2 S1^{1/2})^{1/2}) in float64."""
    s1, s2 = _as_f64(sigma1), _as_f64(sigma2).to(_as_f64(sigma1).device)
    root1 = _psd_sqrt(s1)
    inner = root1 @ s2 @ root1
    eigvals = torch.linalg.eigvalsh(0.5 * (inner + inner.T))
    return float(eigvals.clamp_min(0.0).sqrt().sum())


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Squared Fréchet distance d^2 between N(mu1, sigma1) and N(mu2, sigma2); mu: (D,), sigma: (D, D).

    Returned in squared feature units (the value reported as "FID"). Never negative.
    """
    m1, m2 = _as_f64(mu1), _as_f64(mu2)
    s1, s2 = _as_f64(sigma1), _as_f64(sigma2)
    if m1.shape != m2.shape or s1.shape != s2.shape or s1.shape != (m1.shape[0], m1.shape[0]):
        raise ValueError(f"shape mismatch: mu {tuple(m1.shape)}/{tuple(m2.shape)}, sigma {tuple(s1.shape)}/{tuple(s2.shape)}")
    m2, s2 = m2.to(m1.device), s2.to(m1.device)
    mean_term = float((m1 - m2).square().sum())
    cov_term = float(torch.trace(s1) + torch.trace(s2)) - 2.0 * trace_sqrt_product(s1, s2)
    return max(mean_term + cov_term, 0.0)


def feature_stats(features: ArrayLike) -> tuple[Tensor, Tensor]:
    """Mean (D,) and unbiased covariance (D, D) in float64 of `features` (N, D), N >= 2."""
    f = _as_f64(features)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (N >= 2, D), got {tuple(f.shape)}")
    mu = f.mean(dim=0)
    centred = f - mu
    sigma = centred.T @ centred / (f.shape[0] - 1)
    return mu, sigma


def stats_from_sums(count: float | Tensor, total: Tensor, outer: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (D,) and unbiased covariance (D, D) from n, sum(f) (D,) and sum(f f^T) (D, D) in float64."""
    if count < 2:
        raise ValueError(f"need at least 2 samples for a covariance, have {int(count)}")
    mu = total / count
    return mu, (outer - count * torch.outer(mu, mu)) / (count - 1)


class GaussianAccumulator:
    """Streaming float64 sums for the mean and covariance of features seen batch by batch.

    Keeps n, sum(f) (D,) and sum(f f^T) (D, D), so memory does not grow with the number of samples.
    """

    def __init__(self, dim: int, device: torch.device | str = "cpu") -> None:
        self.count = 0
        self.total = torch.zeros(dim, dtype=torch.float64, device=device)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64, device=device)

    def update(self, features: Tensor) -> None:
        """Add a batch of features (B, D)."""
        f = _as_f64(features).to(self.total.device)
        self.count += int(f.shape[0])
        self.total += f.sum(dim=0)
        self.outer += f.T @ f

    def stats(self) -> tuple[Tensor, Tensor]:
        """Mean (D,) and unbiased covariance (D, D) of everything added so far."""
        return stats_from_sums(self.count, self.total, self.outer)
