"""Annealed Langevin dynamics (Song & Ermon 2019, "Generative Modeling by Estimating Gradients of the Data
Distribution", Algorithm 1): the NCSN sampler, written in the noise-level (sigma) view of `sigma_space`.

A diffusion model's denoiser is a noise-conditional score network: in the scaled state x~ = x0 + sigma z,

    s(x~, sigma) = grad log p_sigma(x~) = (D(x~; sigma) - x~) / sigma^2        (Tweedie; Song et al. 2021 eq. 5)

At each noise level sigma_i of the grid (from the noisiest down) the sampler runs `corrector_steps` Langevin steps

    x~ <- x~ + (alpha_i / 2) s(x~, sigma_i) + sqrt(alpha_i) z,    alpha_i = eps sigma_i^2 / sigma_L^2

with sigma_L the grid's smallest level. `step_size` is eps / sigma_L^2 = alpha_i / sigma_i^2 (dimensionless; NCSN's
CIFAR-10 setting eps = 2e-5 at sigma_L = 0.01 is 0.2, with 100 steps per level). ALD needs levels close together (a
geometric grid, as the score-sde family's VE table gives): the noise left over from level i is removed only by the
Langevin steps at level i+1, so from a grid with big jumps (the trailing grid of the cosine schedule starts at
sigma ~2e4) it stays in the sample; use grid="karras" there. Measured on Gaussian data (tests/unit/
test_samplers_score.py): 100 geometric levels x 3 steps at step_size 0.5 leave the output std ~7% too wide. After the last level the sample is denoised once,
x0 = D(x~; sigma_L) (Jolicoeur-Martineau et al. 2021; NCSNv2's "denoising" step), like every genlab sampler.
Network evaluations: steps x corrector_steps + 1.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.models.diffusion.sigma_space import (
    Callback,
    Denoise,
    denoise_at,
    denoise_step,
    noise,
    scaled_start,
    sigma_steps,
)


@torch.no_grad()
def langevin(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
             callback: Callback = None, corrector_steps: int = 3, step_size: float = 0.5) -> Tensor:
    """Annealed Langevin dynamics over the grid's levels; the noise of sample i comes from generators[i] only."""
    if int(corrector_steps) < 1 or not 0 < step_size <= 2:
        raise GenlabError(f"langevin: need corrector_steps >= 1 and 0 < step_size <= 2, got {corrector_steps}, "
                          f"{step_size}")
    steps = sigma_steps(timesteps, alphas_cumprod)
    x = scaled_start(x_T, steps[0][1])
    for i, (t, sigma, _) in enumerate(steps):
        alpha = step_size * sigma**2  # alpha_i = eps sigma_i^2 / sigma_L^2
        for k in range(int(corrector_steps)):
            d = denoise_step(denoise, x, t, sigma, i, callback) if k == 0 else denoise_at(denoise, x, t, sigma)
            score = (d - x) / sigma**2
            x = x + 0.5 * alpha * score + math.sqrt(alpha) * noise(generators, x)
    t_last, sigma_last = steps[-1][0], steps[-1][1]
    return denoise_at(denoise, x, t_last, sigma_last)
