"""Shared plumbing for the samplers written in the noise-level (sigma) / log-SNR view (Karras et al. 2022).

With alpha_bar from the training schedule, sigma = sqrt((1 - alpha_bar) / alpha_bar) and the scaled state
x~ = x_t / sqrt(alpha_bar) = x0 + sigma eps, so the probability-flow ODE is dx~/dsigma = (x~ - D(x~)) / sigma with
D the x0-prediction denoiser. lambda = log(alpha / sigma) = -log(sigma) is the log-SNR the DPM-Solvers step in.
The samplers keep x~ internally and hand the denoiser the variance-preserving x_t = x~ / sqrt(1 + sigma^2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import pairwise

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.utils.seeding import randn_like_per_sample

Denoise = Callable[[Tensor, Tensor], Tensor]
Callback = Callable[[dict], None] | None


def index_list(timesteps: Sequence[int] | Tensor) -> list[int]:
    """Timesteps as a strictly descending list of ints; GenlabError otherwise."""
    ts = [int(t) for t in (timesteps.tolist() if isinstance(timesteps, Tensor) else timesteps)]
    if any(b >= a for a, b in pairwise(ts)):
        raise GenlabError(f"sampler: timesteps must be strictly descending, got {ts[:5]}...")
    return ts


def sigma_of(alphas_cumprod: Tensor, t: int) -> float:
    """sigma(t) = sqrt((1 - alpha_bar_t) / alpha_bar_t), in float64."""
    ab = float(alphas_cumprod[t])
    return math.sqrt((1.0 - ab) / ab)


def sigma_steps(timesteps, alphas_cumprod: Tensor) -> list[tuple[int, float, float]]:
    """[(t_i, sigma_i, sigma_next)] with sigma_next = 0 after the last listed timestep (the clean image)."""
    ts = index_list(timesteps)
    ab = alphas_cumprod.double().cpu()
    sigmas = [sigma_of(ab, t) for t in ts] + [0.0]
    return [(t, sigmas[i], sigmas[i + 1]) for i, t in enumerate(ts)]


def scaled_start(x_T: Tensor, sigma: float) -> Tensor:
    """x~ = x_T sqrt(1 + sigma^2): the variance-preserving x_T in the sigma view."""
    return x_T * math.sqrt(1.0 + sigma**2)


def denoise_at(denoise: Denoise, x: Tensor, t: int, sigma: float) -> Tensor:
    """D(x~; sigma) = x0_hat, calling the x0-prediction denoiser on x_t = x~ / sqrt(1 + sigma^2) at index t."""
    x_t = x / math.sqrt(1.0 + sigma**2)
    return denoise(x_t, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device))


def denoise_step(denoise: Denoise, x: Tensor, t: int, sigma: float, i: int, callback: Callback) -> Tensor:
    """denoise_at plus the once-per-step callback with the variance-preserving state fed to the denoiser."""
    x0_hat = denoise_at(denoise, x, t, sigma)
    if callback is not None:
        callback({"i": i, "t": t, "x": x / math.sqrt(1.0 + sigma**2), "x0_hat": x0_hat})
    return x0_hat


def noise(generators: Sequence[torch.Generator], like: Tensor) -> Tensor:
    """Standard normal shaped like `like`, row i drawn from generators[i] only."""
    if len(generators) != like.shape[0]:
        raise ValueError(f"sampler: {len(generators)} generators for a batch of {like.shape[0]}")
    return randn_like_per_sample(generators, like.shape[1:], dtype=like.dtype).to(like.device)


def ancestral_split(sigma: float, sigma_next: float, eta: float = 1.0) -> tuple[float, float]:
    """(sigma_down, sigma_up) for an ancestral step sigma -> sigma_next: a deterministic move to sigma_down, then fresh
    noise of std sigma_up, with sigma_down^2 + sigma_up^2 = sigma_next^2. eta = 1 is the DDPM posterior's noise
    (sigma_up^2 = sigma_next^2 (sigma^2 - sigma_next^2) / sigma^2), eta = 0 the deterministic step.
    """
    if sigma_next == 0.0:
        return 0.0, 0.0
    up = min(sigma_next, eta * math.sqrt(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2))
    return math.sqrt(sigma_next**2 - up**2), up


def nearest_index(t: int, lam_target: float, alphas_cumprod: Tensor) -> int:
    """The training index below t whose log-SNR lambda is closest to `lam_target` (for a solver's intermediate stage).

    Stages off the training grid are rounded to it; the solvers then use that index's actual lambda, so the rounding
    changes the stage position r, not the order of the method.
    """
    ab = alphas_cumprod[:t].double().cpu()
    lam = 0.5 * torch.log(ab / (1.0 - ab))
    return int(torch.argmin((lam - lam_target).abs()))
