"""Ensemble smoother with multiple data assimilation (ES-MDA) over a generator's latent space.

Emerick & Reynolds (2013), "Ensemble smoother with multiple data assimilation", Computers & Geosciences 55, 3–15.
For i = 1..Na with inflation coefficients α_i, Σ_i 1/α_i = 1 (their eq. 13):
  1. forecast       d_j = g(m_j)                                         for every member j
  2. perturb        d_uc,j = d_obs + sqrt(α_i) C_D^{1/2} z_j,   z_j ~ N(0, I)   (eq. 9)
  3. update         m_j ← m_j + C_MD (C_DD + α_i C_D)^{-1} (d_uc,j − d_j)       (eq. 10)
with C_MD, C_DD the ensemble cross-/auto-covariances. The inverse uses a truncated SVD of the C_D-scaled matrix,
keeping 99.9 % of the singular-value sum (Emerick 2016, J. Pet. Sci. Eng. 139, §2.2). In the linear-Gaussian case
and Ne → ∞ the result samples the exact posterior (Emerick & Reynolds 2013, §2).

Used in genlab with m = latent vectors z of a trained generator: `condition_latent` composes generator → facies →
observation operator (facies at wells, flow-proxy data from genlab.geo.flow) into g.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genlab.errors import GenlabError

ForwardFn = Callable[[np.ndarray], np.ndarray]  # (Ne, Nm) → (Ne, Nd)


def esmda_alphas(n_assim: int = 4, kind: str = "constant", ratio: float = 0.5) -> np.ndarray:
    """Inflation coefficients (Na,) with Σ 1/α = 1.

    constant: α_i = Na (Emerick & Reynolds 2013). geometric: α_i ∝ ratio^(i−1)·c, decreasing (large corrections
    damped first — ratio < 1 gives α_1 > α_2 > …), rescaled so that Σ 1/α = 1.
    """
    if n_assim < 1:
        raise GenlabError(f"number of assimilations must be >= 1, got {n_assim}")
    if kind == "constant":
        return np.full(n_assim, float(n_assim))
    if kind == "geometric":
        if not 0 < ratio:
            raise GenlabError(f"geometric ratio must be positive, got {ratio}")
        raw = ratio ** np.arange(n_assim, dtype=np.float64)
        return raw * np.sum(1.0 / raw)
    raise GenlabError(f"unknown inflation schedule '{kind}'; expected 'constant' or 'geometric'")


def validate_alphas(alphas: Any, tol: float = 1e-3) -> np.ndarray:
    """(Na,) positive α with |Σ 1/α − 1| ≤ tol (loose enough for published, rounded schedules), else GenlabError."""
    a = np.asarray(alphas, dtype=np.float64).reshape(-1)
    if a.size == 0 or np.any(~np.isfinite(a)) or np.any(a <= 0):
        raise GenlabError(f"ES-MDA inflation coefficients must be finite and > 0, got {a.tolist()}")
    s = float(np.sum(1.0 / a))
    if abs(s - 1.0) > tol:
        raise GenlabError(f"ES-MDA inflation coefficients must satisfy sum(1/alpha) = 1, got {s:.8g} for {a.tolist()}")
    return a


def _cd_matrix(cd: Any, nd: int) -> np.ndarray:
    """C_D as an (Nd, Nd) matrix from diagonal variances (Nd,) or a full matrix; checks positive definiteness."""
    c = np.asarray(cd, dtype=np.float64)
    c = np.diag(c) if c.ndim == 1 else c
    if c.shape != (nd, nd):
        raise GenlabError(f"observation error covariance has shape {c.shape}; expected ({nd},) or ({nd}, {nd})")
    if np.any(np.diag(c) <= 0):
        raise GenlabError("observation error variances must be > 0")
    return c


def tsvd_inverse(c: np.ndarray, scale: np.ndarray, energy: float = 0.999) -> np.ndarray:
    """Regularised inverse of a symmetric (Nd, Nd) `c`: S⁻¹ (S⁻¹ c S⁻¹)⁺_r S⁻¹ with S = diag(scale), keeping the
    fewest leading singular values whose sum reaches `energy` of the total."""
    s_inv = 1.0 / scale
    u, sv, vt = np.linalg.svd(c * s_inv[:, None] * s_inv[None, :])
    keep = int(np.searchsorted(np.cumsum(sv) / np.sum(sv), energy) + 1)
    inv = (vt[:keep].T / sv[:keep]) @ u[:, :keep].T
    return inv * s_inv[:, None] * s_inv[None, :]


def normalised_mismatch(d: np.ndarray, d_obs: np.ndarray, cd_inv: np.ndarray) -> np.ndarray:
    """(Ne,) O_N = (d − d_obs)ᵀ C_D⁻¹ (d − d_obs) / (2 Nd) per member (Emerick & Reynolds 2013, eq. 19)."""
    r = d - d_obs[None, :]
    return np.einsum("ji,ik,jk->j", r, cd_inv, r) / (2.0 * d.shape[1])


@dataclass
class EsmdaStep:
    """Ensemble state before assimilation `iteration` (iteration Na = the final, posterior ensemble)."""

    iteration: int
    alpha: float | None  # the α used by the update that follows (None for the posterior)
    mismatch_mean: float  # mean over members of the normalised mismatch O_N
    mismatch_median: float
    m_std: float  # mean over parameters of the ensemble std of m (collapse check)
    d_std: float  # mean over data of the ensemble std of the predictions
    extras: dict[str, float] = field(default_factory=dict)


@dataclass
class EsmdaResult:
    m: np.ndarray  # (Ne, Nm) posterior ensemble
    d: np.ndarray  # (Ne, Nd) predictions of the posterior ensemble
    history: list[EsmdaStep]
    alphas: np.ndarray

    def summary(self) -> list[dict[str, Any]]:
        """The history as JSON-ready dicts."""
        return [vars(s) | {"extras": dict(s.extras)} for s in self.history]


def _record(
    i: int,
    alpha: float | None,
    m: np.ndarray,
    d: np.ndarray,
    d_obs: np.ndarray,
    cd_inv: np.ndarray,
    extras: dict[str, float],
) -> EsmdaStep:
    mis = normalised_mismatch(d, d_obs, cd_inv)
    return EsmdaStep(
        i,
        alpha,
        float(mis.mean()),
        float(np.median(mis)),
        float(m.std(0, ddof=1).mean()),
        float(d.std(0, ddof=1).mean()),
        extras,
    )


def _forward(g: ForwardFn, m: np.ndarray, nd: int) -> np.ndarray:
    d = np.asarray(g(m), dtype=np.float64)
    if d.shape != (len(m), nd):
        raise GenlabError(f"forward model returned shape {d.shape}; expected (ensemble size, data) = ({len(m)}, {nd})")
    return d


def esmda_update(
    m: np.ndarray,
    d: np.ndarray,
    d_obs: np.ndarray,
    cd: np.ndarray,
    alpha: float,
    rng: np.random.Generator,
    energy: float = 0.999,
) -> np.ndarray:
    """One ES-MDA analysis (eqs. 9–10): (Ne, Nm) forecast m with predictions d (Ne, Nd) → updated (Ne, Nm)."""
    ne = len(m)
    dm, dd = m - m.mean(0), d - d.mean(0)
    c_md = dm.T @ dd / (ne - 1)  # (Nm, Nd)
    c_dd = dd.T @ dd / (ne - 1)  # (Nd, Nd)
    chol = np.linalg.cholesky(cd)
    d_uc = d_obs[None, :] + np.sqrt(alpha) * rng.standard_normal(d.shape) @ chol.T
    inv = tsvd_inverse(c_dd + alpha * cd, np.sqrt(np.diag(cd)), energy)
    return m + (d_uc - d) @ inv.T @ c_md.T


def esmda(
    m_prior: np.ndarray,
    forward: ForwardFn,
    d_obs: np.ndarray,
    cd: Any,
    alphas: Any = None,
    n_assim: int = 4,
    seed: int = 0,
    energy: float = 0.999,
    extras_fn: Callable[[np.ndarray, np.ndarray], dict] | None = None,
) -> EsmdaResult:
    """Run ES-MDA from the prior ensemble m_prior (Ne, Nm) to match d_obs (Nd,) with error covariance `cd`.

    cd: (Nd,) variances or (Nd, Nd) covariance. alphas: inflation coefficients (validated: Σ 1/α = 1); None →
    constant α = n_assim. extras_fn(m, d) → dict of extra per-iteration numbers (e.g. facies match at wells).
    The forward model runs Na + 1 times (once per assimilation, once for the posterior).
    """
    m = np.array(m_prior, dtype=np.float64)
    if m.ndim != 2 or len(m) < 2:
        raise GenlabError(f"prior ensemble must be (Ne >= 2, Nm), got shape {m.shape}")
    d_obs = np.asarray(d_obs, dtype=np.float64).reshape(-1)
    c = _cd_matrix(cd, d_obs.size)
    a = validate_alphas(esmda_alphas(n_assim) if alphas is None else alphas)
    rng, cd_inv, history = np.random.default_rng(seed), np.linalg.inv(c), []
    for i, alpha in enumerate(a):
        d = _forward(forward, m, d_obs.size)
        history.append(_record(i, float(alpha), m, d, d_obs, cd_inv, extras_fn(m, d) if extras_fn else {}))
        m = esmda_update(m, d, d_obs, c, float(alpha), rng, energy)
    d = _forward(forward, m, d_obs.size)
    history.append(_record(len(a), None, m, d, d_obs, cd_inv, extras_fn(m, d) if extras_fn else {}))
    return EsmdaResult(m, d, history, a)


def condition_latent(
    generator_fn: Callable[[Any], Any],
    z_prior: Any,
    observe_fn: Callable[[np.ndarray], np.ndarray],
    d_obs: np.ndarray,
    cd: Any,
    alphas: Any = None,
    n_assim: int = 4,
    seed: int = 0,
    extras_fn: Callable[[np.ndarray, np.ndarray], dict] | None = None,
) -> tuple[EsmdaResult, np.ndarray]:
    """ES-MDA over a generator's latent: g(z) = observe_fn(generator_fn(z)).

    generator_fn: latent batch (Ne, *latent_shape) → facies (Ne, H, W) or (Ne, 1, H, W), probabilities or {0,1};
        it receives a torch tensor with z_prior's dtype/device when z_prior is a tensor, else a numpy array.
    z_prior: (Ne, *latent_shape) prior latents (vector or spatial latent maps; flattened for the update).
    observe_fn: facies (Ne, H, W) numpy → data (Ne, Nd) (e.g. `facies_at_wells`, a flow proxy, or both stacked).
    extras_fn(facies, d) → extra per-iteration numbers. Returns (result with m = flattened posterior latents, the
    posterior facies (Ne, H, W) from generator_fn).
    """
    is_torch = isinstance(z_prior, torch.Tensor)
    shape = tuple(z_prior.shape)
    z0 = z_prior.detach().cpu().double().numpy() if is_torch else np.asarray(z_prior, dtype=np.float64)

    def facies(m: np.ndarray) -> np.ndarray:
        z = m.reshape((len(m),) + shape[1:])
        if is_torch:
            z = torch.as_tensor(z, dtype=z_prior.dtype, device=z_prior.device)
        with torch.no_grad():
            out = generator_fn(z)
        out = out.detach().float().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        return out[:, 0] if out.ndim == 4 else out

    cache: dict[str, np.ndarray] = {}

    def forward(m: np.ndarray) -> np.ndarray:
        cache["facies"] = facies(m)
        return observe_fn(cache["facies"])

    extra = (lambda m, d: extras_fn(cache["facies"], d)) if extras_fn else None
    res = esmda(z0.reshape(len(z0), -1), forward, d_obs, cd, alphas, n_assim, seed, extras_fn=extra)
    return res, cache["facies"]
