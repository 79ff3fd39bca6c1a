"""Predictor-corrector samplers of the reverse SDE (Song et al. 2021, "Score-Based Generative Modeling through
Stochastic Differential Equations", Algorithms 2-3): a reverse-diffusion predictor step from one noise level to the
next, preceded at each level by `corrector_steps` Langevin corrector steps whose size follows a signal-to-noise
ratio `snr` (their Algorithms 4-5):

    eps_step = 2 alpha (snr ||z|| / ||s||)^2,   x <- x + eps_step s + sqrt(2 eps_step) z

(norms per sample, so a sample does not depend on its batch; the paper's code averages them over the batch). The
score comes from the x0-prediction denoiser by Tweedie's formula.

- `pc_ve`: the variance-exploding SDE dx = sqrt(d sigma^2/dt) dW in the scaled state x~ = x0 + sigma z (Algorithm
  2, the SMLD/NCSN discretisation): predictor x~ <- x~ + (sigma_i^2 - sigma_next^2) s + sqrt(sigma_i^2 -
  sigma_next^2) z; alpha = 1.
- `pc_vp`: the variance-preserving SDE dx = -beta x / 2 dt + sqrt(beta) dW in the DDPM state x_t (Algorithm 3):
  with beta_i = 1 - alpha_bar_t / alpha_bar_s between grid points, predictor x <- (2 - sqrt(1 - beta_i)) x +
  beta_i s + sqrt(beta_i) z (the ancestral step where beta_i > 0.1); the corrector's alpha is 1 - beta_t of the
  training step at t (as in the paper's code, whatever the grid's stride).

Any model whose noise levels are given by alpha_bar can be sampled with either (the VP and VE SDEs share their
marginals up to the scaling x~ = x_t / sqrt(alpha_bar)); they differ in discretisation. After the last level both
return D (the denoised mean). Network evaluations: steps x (corrector_steps + 1).
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
    index_list,
    noise,
    scaled_start,
    sigma_steps,
)

SIGMA_MAX_REVERSE = 80.0  # above this noise level pc_ve's predictor takes the ancestral step (see pc_ve)
# pc_vp: a step with beta_i above this takes the ancestral step. (2 - sqrt(1 - beta)) x + beta s is the first-order
# form of the posterior mean (x + beta s) / sqrt(1 - beta); at 10 steps of a VP table (beta_i up to ~0.99) it gave
# pure noise (genlab evaluate of the VP score model: FID 963 vs 71 floor at n = 50).
BETA_MAX_REVERSE = 0.1


def _check(corrector_steps: int, snr: float) -> None:
    if int(corrector_steps) < 0 or not 0 < snr <= 10:
        raise GenlabError(f"pc sampler: need corrector_steps >= 0 and 0 < snr <= 10, got {corrector_steps}, {snr}")


def _norm(v: Tensor) -> Tensor:
    """Per-sample L2 norm, shaped (N, 1, ..., 1)."""
    return v.flatten(1).norm(dim=1).reshape(-1, *([1] * (v.ndim - 1)))


def _langevin_corrector(score_fn, x: Tensor, generators, snr: float, alpha: float) -> Tensor:
    """One corrector step with the step size set by `snr` (Song et al. 2021, Algorithm 4/5)."""
    g = score_fn(x)
    z = noise(generators, x)
    step = 2 * alpha * (snr * _norm(z) / _norm(g).clamp_min(1e-12)) ** 2
    return x + step * g + (2 * step).sqrt() * z


@torch.no_grad()
def pc_ve(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
          callback: Callback = None, corrector_steps: int = 1, snr: float = 0.16) -> Tensor:
    """PC sampling of the VE SDE (reverse-diffusion predictor + Langevin corrector) in the sigma view."""
    _check(corrector_steps, snr)
    steps = sigma_steps(timesteps, alphas_cumprod)
    x = scaled_start(x_T, steps[0][1])
    for i, (t, sigma, sigma_next) in enumerate(steps):
        def score(v: Tensor, t=t, sigma=sigma) -> Tensor:
            return (denoise_at(denoise, v, t, sigma) - v) / sigma**2
        for _ in range(int(corrector_steps)):
            x = _langevin_corrector(score, x, generators, snr, 1.0)
        d = denoise_step(denoise, x, t, sigma, i, callback)
        if sigma_next == 0.0:
            return d
        var = sigma**2 - sigma_next**2
        # Reverse-diffusion step (Euler-Maruyama of the reverse SDE): its noise has variance sigma^2 - sigma_next^2,
        # right for small steps but ~sigma^2 for a big one - from the cosine schedule's first sigma (~2e4) it left
        # the sample at noise ~2e4. Above EDM's sigma_max = 80 the step is the ancestral one (the exact Gaussian
        # posterior given x0 = D, noise variance sigma_next^2 var / sigma^2), as in Song et al.'s ancestral predictor.
        std = math.sqrt(var) if sigma <= SIGMA_MAX_REVERSE else math.sqrt(sigma_next**2 * var / sigma**2)
        x = x + var * (d - x) / sigma**2 + std * noise(generators, x)
    return x


def _vp_steps(timesteps, alphas_cumprod: Tensor) -> list[tuple[int, float, float]]:
    """[(t_i, alpha_bar_i, alpha_bar_next)] with alpha_bar_next = 1 after the last listed timestep."""
    ts = index_list(timesteps)
    ab = alphas_cumprod.double().cpu()
    nxt = [float(ab[t]) for t in ts[1:]] + [1.0]
    return [(t, float(ab[t]), a_next) for t, a_next in zip(ts, nxt)]


@torch.no_grad()
def pc_vp(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
          callback: Callback = None, corrector_steps: int = 1, snr: float = 0.16) -> Tensor:
    """PC sampling of the VP SDE (reverse-diffusion predictor + Langevin corrector) in the DDPM state x_t."""
    _check(corrector_steps, snr)
    x, table = x_T, alphas_cumprod.double().cpu()
    for i, (t, ab, ab_next) in enumerate(_vp_steps(timesteps, alphas_cumprod)):
        alpha_t = float(table[t] / table[t - 1]) if t > 0 else ab  # 1 - beta_t of one training step
        t_vec = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)

        def score(v: Tensor, t_vec=t_vec, ab=ab) -> Tensor:  # -(x_t - sqrt(ab) x0_hat) / (1 - ab)
            return -(v - math.sqrt(ab) * denoise(v, t_vec)) / (1 - ab)
        beta = 1.0 - ab / ab_next if ab_next < 1.0 else 1.0 - ab
        for _ in range(int(corrector_steps)):
            x = _langevin_corrector(score, x, generators, snr, alpha_t)
        x0_hat = denoise(x, t_vec)
        if callback is not None:
            callback({"i": i, "t": t, "x": x, "x0_hat": x0_hat})
        if ab_next >= 1.0:
            return x0_hat
        if beta > BETA_MAX_REVERSE:  # too big a step for the first-order form: the ancestral (posterior) step
            c_x0, c_x = math.sqrt(ab_next) * beta / (1 - ab), math.sqrt(ab / ab_next) * (1 - ab_next) / (1 - ab)
            std = math.sqrt((1 - ab_next) / (1 - ab) * beta)
            x = c_x0 * x0_hat + c_x * x + std * noise(generators, x)
            continue
        s = -(x - math.sqrt(ab) * x0_hat) / (1 - ab)
        x = (2 - math.sqrt(1 - beta)) * x + beta * s + math.sqrt(beta) * noise(generators, x)
    return x
