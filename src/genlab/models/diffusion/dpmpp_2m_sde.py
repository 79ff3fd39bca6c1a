"""SDE-DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", sec. 5 / their SDE solver, midpoint form), data prediction
in log-SNR lambda = -log(sigma), step h = lambda_next - lambda:

    x~_next = (sigma_next / sigma) e^{-eta h} x~ - expm1(-(1 + eta) h) [D0 + (D0 - D1) / (2 r)]
              + sigma_next sqrt(-expm1(-2 eta h)) z,     r = h_prev / h

The first step is first order (no D1). eta = 1 is the SDE solver; eta = 0 reduces to a deterministic 2M variant.
The last step returns D0. Each sample's noise comes from its own generator.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genlab.models.diffusion.sigma_space import Callback, Denoise, denoise_step, noise, scaled_start, sigma_steps


@torch.no_grad()
def dpmpp_2m_sde(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
                 callback: Callback = None, eta: float = 1.0) -> Tensor:
    """Second-order multistep SDE solver from the first timestep to the clean image."""
    steps = sigma_steps(timesteps, alphas_cumprod)
    x = scaled_start(x_T, steps[0][1])
    x0_prev, h_prev = None, None
    for i, (t, sigma, sigma_next) in enumerate(steps):
        x0_hat = denoise_step(denoise, x, t, sigma, i, callback)
        if sigma_next == 0.0:
            return x0_hat
        h = math.log(sigma) - math.log(sigma_next)
        d = x0_hat if x0_prev is None else x0_hat + (x0_hat - x0_prev) * h / (2 * h_prev)
        x = (sigma_next / sigma) * math.exp(-eta * h) * x - math.expm1(-(1 + eta) * h) * d
        if eta > 0:
            x = x + sigma_next * math.sqrt(-math.expm1(-2 * eta * h)) * noise(generators, x)
        x0_prev, h_prev = x0_hat, h
    return x
