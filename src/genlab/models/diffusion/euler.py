"""Euler sampler: first-order steps of the probability-flow ODE in the sigma view (Karras et al. 2022, eq. 3 / Alg. 1
without the second-order correction).

    d = (x~ - D(x~; sigma)) / sigma,   x~_next = x~ + (sigma_next - sigma) d

Deterministic; the last step (sigma_next = 0) lands on D, i.e. returns the final x0 prediction.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.models.diffusion.sigma_space import Callback, Denoise, denoise_step, scaled_start, sigma_steps


@torch.no_grad()
def euler(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
          callback: Callback = None) -> Tensor:
    """Euler steps dx~/dsigma = (x~ - D) / sigma from the first timestep to the clean image; `generators` unused."""
    steps = sigma_steps(timesteps, alphas_cumprod)
    x = scaled_start(x_T, steps[0][1])
    for i, (t, sigma, sigma_next) in enumerate(steps):
        x0_hat = denoise_step(denoise, x, t, sigma, i, callback)
        x = x + (sigma_next - sigma) * (x - x0_hat) / sigma
    return x
