"""Heun sampler: the deterministic second-order solver of EDM (Karras et al. 2022, Algorithm 1 with S_churn = 0).

    d = (x~ - D(x~; sigma)) / sigma,   x' = x~ + (sigma_next - sigma) d
    d' = (x' - D(x'; sigma_next)) / sigma_next,   x~_next = x~ + (sigma_next - sigma) (d + d') / 2

The correction is skipped on the last step (sigma_next = 0), which returns D, and on a step that starts above
EDM's sigma_max = 80 (their Table 1): the cosine schedule's last index has sigma ~ 2e4, where the trapezoid over
[sigma_next, sigma] multiplies the correction by sigma / sigma_next ~ 3000 and leaves visible noise, while the
Euler step from there is already accurate (D is nearly constant for sigma far above the data's scale). Costs up to
2 n - 1 denoiser calls for n timesteps (the extra call is at the next listed timestep). Deterministic.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.models.diffusion.sigma_space import Callback, Denoise, denoise_at, denoise_step, scaled_start, sigma_steps

EDM_SIGMA_MAX = 80.0


@torch.no_grad()
def heun(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
         callback: Callback = None) -> Tensor:
    """EDM's Heun steps from the first timestep to the clean image; `generators` unused."""
    steps = sigma_steps(timesteps, alphas_cumprod)
    x = scaled_start(x_T, steps[0][1])
    for i, (t, sigma, sigma_next) in enumerate(steps):
        d = (x - denoise_step(denoise, x, t, sigma, i, callback)) / sigma
        x_euler = x + (sigma_next - sigma) * d
        if sigma_next == 0.0 or sigma > EDM_SIGMA_MAX:
            x = x_euler
            continue
        t_next = steps[i + 1][0]
        d_next = (x_euler - denoise_at(denoise, x_euler, t_next, sigma_next)) / sigma_next
        x = x + (sigma_next - sigma) * 0.5 * (d + d_next)
    return x
