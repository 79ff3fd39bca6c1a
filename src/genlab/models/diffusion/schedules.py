"""Noise schedules (alpha_bar_t for t = 0..T-1) and sampling-time grids, separate from objective and sampler.

Convention: index t in [0, T) has ``alpha_bar[t] = prod_{s<=t} (1 - beta_s)``; x_t = sqrt(alpha_bar) x0 +
sqrt(1 - alpha_bar) eps. Everything is float64 so that sqrt(1 - alpha_bar) near t=0 and log-SNR are accurate.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genlab.errors import GenlabError


def linear_alphas_cumprod(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """DDPM linear schedule (Ho et al. 2020, sec. 4): beta_t linear from 1e-4 to 0.02 at T=1000.

    The endpoints are rescaled by 1000/T so other T keep the same overall noise (as in Nichol & Dhariwal 2021).
    Returns alpha_bar, (T,) float64, strictly decreasing in (0, 1).
    """
    scale = 1000.0 / num_steps
    betas = torch.linspace(beta_start * scale, beta_end * scale, num_steps, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


def cosine_alphas_cumprod(num_steps: int, offset: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Cosine schedule (Nichol & Dhariwal 2021, eq. 17): alpha_bar(t) = f(t)/f(0), f(t) = cos^2(((t/T + s)/(1 + s)) pi/2).

    Betas are clipped at `max_beta` (their sec. 3.2) to avoid a singularity at t = T. Returns (T,) float64.
    """
    steps = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((steps + offset) / (1 + offset) * math.pi / 2) ** 2
    betas = (1.0 - f[1:] / f[:-1]).clamp(max=max_beta)
    return torch.cumprod(1.0 - betas, dim=0)


def quadratic_alphas_cumprod(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """Quadratic schedule (Ho et al. 2020's code, "quad"): sqrt(beta_t) linear from sqrt(beta_start) to
    sqrt(beta_end), endpoints rescaled by 1000/T like `linear_alphas_cumprod`. Returns (T,) float64."""
    scale = 1000.0 / num_steps
    roots = torch.linspace(math.sqrt(beta_start * scale), math.sqrt(beta_end * scale), num_steps, dtype=torch.float64)
    return torch.cumprod(1.0 - roots**2, dim=0)


def sigmoid_alphas_cumprod(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02,
                           width: float = 6.0) -> Tensor:
    """Sigmoid schedule (as in Ho et al. 2020's code and GeoDiff, Xu et al. 2022): beta_t = beta_start +
    (beta_end - beta_start) sigmoid(u_t), u_t linear from -width to width; endpoints rescaled by 1000/T.
    Returns (T,) float64."""
    scale = 1000.0 / num_steps
    u = torch.linspace(-width, width, num_steps, dtype=torch.float64)
    betas = (beta_start + (beta_end - beta_start) * torch.sigmoid(u)) * scale
    return torch.cumprod(1.0 - betas, dim=0)


def karras_sigmas(num_steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """Karras et al. 2022 (EDM, eq. 5) noise levels: sigma_i = (sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) -
    sigma_max^(1/rho)))^rho, i = 0..n-1, descending from sigma_max to sigma_min (the final 0 is not included).
    rho = 7 spends more steps at low noise. Returns (n,) float64; GenlabError on a bad range or n."""
    if int(num_steps) < 2:
        raise GenlabError(f"karras_sigmas: num_steps must be >= 2, got {num_steps}")
    if not 0 < sigma_min < sigma_max:
        raise GenlabError(f"karras_sigmas: need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    ramp = torch.linspace(0, 1, int(num_steps), dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def karras_timesteps(num_steps: int, alphas_cumprod: Tensor, rho: float = 7.0) -> Tensor:
    """Descending training indices nearest (in log-sigma) to `karras_sigmas` between the schedule's own sigma range,
    sigma = sqrt((1 - alpha_bar) / alpha_bar); duplicates after rounding are dropped, so it may hold fewer than
    num_steps indices. A timestep grid for any sampler."""
    ab = alphas_cumprod.double()
    log_sigma = 0.5 * torch.log((1 - ab) / ab)
    targets = karras_sigmas(num_steps, float(log_sigma[0].exp()), float(log_sigma[-1].exp()), rho).log()
    idx = (log_sigma[None, :] - targets[:, None]).abs().argmin(dim=1)
    return torch.unique_consecutive(idx)


SCHEDULES = {
    "linear": linear_alphas_cumprod,
    "cosine": cosine_alphas_cumprod,
    "quadratic": quadratic_alphas_cumprod,
    "sigmoid": sigmoid_alphas_cumprod,
}


def make_alphas_cumprod(name: str, num_steps: int) -> Tensor:
    """alpha_bar (T,) float64 of schedule `name` (a key of SCHEDULES); GenlabError on a bad name or T."""
    if name not in SCHEDULES:
        raise GenlabError(f"diffusion: unknown schedule '{name}'; expected one of {', '.join(SCHEDULES)}")
    if int(num_steps) < 2:
        raise GenlabError(f"diffusion: num_train_steps must be >= 2, got {num_steps}")
    return SCHEDULES[name](int(num_steps))


def sampling_timesteps(num_steps: int, num_train_steps: int) -> Tensor:
    """`num_steps` descending training indices with "trailing" spacing (Lin et al. 2024, "Common Diffusion Noise
    Schedules and Sample Steps are Flawed", Table 2): t_i = round(T - i*T/n) - 1, so the grid starts at T-1 (the
    noisiest step, matching pure-noise x_T) and ends near 0.

    Returns a (num_steps,) int64 tensor, strictly descending, first element T-1.
    """
    n, big_t = int(num_steps), int(num_train_steps)
    if not 1 <= n <= big_t:
        raise GenlabError(f"diffusion: sampling steps must be in [1, {big_t}], got {num_steps}")
    ts = torch.round(big_t - torch.arange(n, dtype=torch.float64) * (big_t / n)).long() - 1
    return ts
