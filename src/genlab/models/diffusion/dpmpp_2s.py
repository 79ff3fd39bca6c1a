"""DPM-Solver++(2S) (Lu et al. 2022, "DPM-Solver++", Algorithm 1): single-step second order in log-SNR
lambda = -log(sigma), data prediction, with an intermediate stage s at lambda_t + r h:

    u = (sigma_s / sigma_t) x~ - expm1(-r h) D_t
    x~_next = (sigma_next / sigma_t) x~ - expm1(-h) [(1 - 1/(2r)) D_t + 1/(2r) D(u; s)]

The stage is put on the training index nearest the lambda midpoint (r is then that index's actual ratio, ~1/2).
`dpmpp_2s_ancestral` steps to sigma_down this way and adds noise of std sigma_up (eta = 1: DDPM's posterior noise).
The last step (sigma_next = 0) returns D. Costs 2 n - 1 denoiser calls for n timesteps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genlab.models.diffusion.sigma_space import (
    Callback,
    Denoise,
    ancestral_split,
    denoise_at,
    denoise_step,
    nearest_index,
    noise,
    scaled_start,
    sigma_of,
    sigma_steps,
)


def _step_2s(denoise: Denoise, x: Tensor, x0_hat: Tensor, t: int, sigma: float, sigma_to: float,
             alphas_cumprod: Tensor) -> Tensor:
    """One DPM-Solver++(2S) step of the ODE from sigma to sigma_to > 0, given D at (x, sigma)."""
    lam, lam_to = -math.log(sigma), -math.log(sigma_to)
    h = lam_to - lam
    s = nearest_index(t, lam + 0.5 * h, alphas_cumprod)
    sigma_s = sigma_of(alphas_cumprod, s)
    r = (-math.log(sigma_s) - lam) / h
    u = (sigma_s / sigma) * x - math.expm1(-r * h) * x0_hat
    d = (1 - 1 / (2 * r)) * x0_hat + 1 / (2 * r) * denoise_at(denoise, u, s, sigma_s)
    return (sigma_to / sigma) * x - math.expm1(-h) * d


@torch.no_grad()
def dpmpp_2s_ancestral(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
                       callback: Callback = None, eta: float = 1.0) -> Tensor:
    """DPM-Solver++(2S) to sigma_down, then sigma_up noise from each sample's generator (eta = 0: deterministic)."""
    ab = alphas_cumprod.double().cpu()
    steps = sigma_steps(timesteps, ab)
    x = scaled_start(x_T, steps[0][1])
    for i, (t, sigma, sigma_next) in enumerate(steps):
        x0_hat = denoise_step(denoise, x, t, sigma, i, callback)
        sigma_down, sigma_up = ancestral_split(sigma, sigma_next, eta)
        if sigma_down == 0.0:
            return x0_hat
        x = _step_2s(denoise, x, x0_hat, t, sigma, sigma_down, ab)
        if sigma_up > 0:
            x = x + sigma_up * noise(generators, x)
    return x


@torch.no_grad()
def dpmpp_2s(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
             callback: Callback = None) -> Tensor:
    """Deterministic DPM-Solver++(2S): `dpmpp_2s_ancestral` with eta = 0; `generators` unused."""
    return dpmpp_2s_ancestral(denoise, x_T, timesteps, alphas_cumprod, generators=generators, callback=callback,
                              eta=0.0)
