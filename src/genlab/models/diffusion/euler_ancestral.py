"""Euler-ancestral sampler: an Euler step down to sigma_down, then fresh noise of std sigma_up, with
sigma_down^2 + sigma_up^2 = sigma_next^2 (the ancestral split of DDPM's posterior, in the sigma view).

eta = 1 adds the DDPM posterior's noise, eta = 0 is plain Euler. Each sample's noise comes from its own generator.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.models.diffusion.sigma_space import (
    Callback,
    Denoise,
    ancestral_split,
    denoise_step,
    noise,
    scaled_start,
    sigma_steps,
)


@torch.no_grad()
def euler_ancestral(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
                    callback: Callback = None, eta: float = 1.0) -> Tensor:
    """x~ <- x~ + (sigma_down - sigma) (x~ - D) / sigma + sigma_up z, per step; returns D at the last step."""
    steps = sigma_steps(timesteps, alphas_cumprod)
    x = scaled_start(x_T, steps[0][1])
    for i, (t, sigma, sigma_next) in enumerate(steps):
        x0_hat = denoise_step(denoise, x, t, sigma, i, callback)
        sigma_down, sigma_up = ancestral_split(sigma, sigma_next, eta)
        x = x + (sigma_down - sigma) * (x - x0_hat) / sigma
        if sigma_up > 0:
            x = x + sigma_up * noise(generators, x)
    return x
