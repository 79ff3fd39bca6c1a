"""PLMS, the pseudo linear multistep sampler of PNDM (Liu et al. 2022, "Pseudo Numerical Methods for Diffusion
Models", eq. 12): Adams-Bashforth extrapolation of the noise prediction eps, fed through the DDIM transfer step
(which in the sigma view is x~_next = x~ + (sigma_next - sigma) eps'):

    eps' = (55 e_0 - 59 e_1 + 37 e_2 - 9 e_3) / 24   (lower-order Adams-Bashforth on the first steps)

The first step is a pseudo improved-Euler (Heun) step with one extra denoiser call at the next timestep, so the
start-up costs no order: n timesteps cost n + 1 calls. Steps from sigma above EDM's sigma_max (the cosine schedule's
first sigma is ~2e4) are plain DDIM steps and start no history, as in `heun`. The fixed coefficients assume equally spaced steps; on a grid
equally spaced in sigma the method is third order (fourth-order steps after a second-order start), on other grids it
falls towards first order (see tests/unit/test_samplers_order.py). The last step returns the final x0 prediction.
Deterministic.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.models.diffusion.heun import EDM_SIGMA_MAX
from genlab.models.diffusion.sigma_space import Callback, Denoise, denoise_at, denoise_step, scaled_start, sigma_steps

_ADAMS_BASHFORTH = ((1.0,), (3 / 2, -1 / 2), (23 / 12, -16 / 12, 5 / 12), (55 / 24, -59 / 24, 37 / 24, -9 / 24))


@torch.no_grad()
def plms(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
         callback: Callback = None) -> Tensor:
    """PLMS from the first timestep to the clean image; `generators` unused."""
    steps = sigma_steps(timesteps, alphas_cumprod)
    x = scaled_start(x_T, steps[0][1])
    eps_hist: list[Tensor] = []
    for i, (t, sigma, sigma_next) in enumerate(steps):
        x0_hat = denoise_step(denoise, x, t, sigma, i, callback)
        if sigma_next == 0.0:
            return x0_hat
        eps_hist = [(x - x0_hat) / sigma, *eps_hist][:4]
        if sigma > EDM_SIGMA_MAX:  # far above the data's scale: a DDIM step, and no history (see heun.py)
            x, eps_hist = x + (sigma_next - sigma) * eps_hist[0], []
            continue
        if len(eps_hist) == 1:
            x_euler = x + (sigma_next - sigma) * eps_hist[0]
            eps_next = (x_euler - denoise_at(denoise, x_euler, steps[i + 1][0], sigma_next)) / sigma_next
            eps = 0.5 * (eps_hist[0] + eps_next)
        else:
            eps = sum(c * e for c, e in zip(_ADAMS_BASHFORTH[len(eps_hist) - 1], eps_hist))
        x = x + (sigma_next - sigma) * eps
    return x
