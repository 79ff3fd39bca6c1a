"""Samplers: plain functions with one signature (k-diffusion style), independent of backbone and objective.

    fn(denoise, x_T, timesteps, alphas_cumprod, *, generators, callback=None, **opts) -> x_0

- ``denoise(x, t) -> x0_hat``: x (N, C, H, W), t (N,) long training indices (e.g. an `objective.Denoiser`).
- ``x_T`` (N, C, H, W): the initial noise, ``timesteps`` descending training indices (e.g.
  `schedules.sampling_timesteps`), ``alphas_cumprod`` (T,) float64.
- ``generators``: one torch.Generator per sample; every stochastic draw of sample i uses only generators[i], so a
  sample does not depend on which batch it was generated in.
- ``callback({"i", "t", "x", "x0_hat"})`` once per step, with the state x fed to the denoiser at step i.

After the last listed timestep every sampler jumps to the clean image (alpha_bar = 1), i.e. returns the final
x0 prediction. The schedule coefficients are computed in float64 and cast to the sample's dtype.
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


def _alpha_bars(timesteps: Sequence[int] | Tensor, alphas_cumprod: Tensor) -> list[tuple[int, float, float]]:
    """[(t_i, alpha_bar_i, alpha_bar_next)] with alpha_bar_next = 1 after the last step (the clean image)."""
    ts = [int(t) for t in (timesteps.tolist() if isinstance(timesteps, Tensor) else timesteps)]
    if any(b >= a for a, b in pairwise(ts)):
        raise GenlabError(f"sampler: timesteps must be strictly descending, got {ts[:5]}...")
    ab = alphas_cumprod.double().cpu()
    nxt = [float(ab[t]) for t in ts[1:]] + [1.0]
    return [(t, float(ab[t]), a_next) for t, a_next in zip(ts, nxt)]


def _denoise_step(denoise: Denoise, x: Tensor, t: int, i: int, callback: Callback) -> Tensor:
    """x0_hat for the whole batch at index t, and the per-step callback."""
    x0_hat = denoise(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device))
    if callback is not None:
        callback({"i": i, "t": t, "x": x, "x0_hat": x0_hat})
    return x0_hat


def _noise(generators: Sequence[torch.Generator], like: Tensor) -> Tensor:
    """Standard normal (N, C, H, W) where row i is drawn from generators[i] (on the generator's device)."""
    if len(generators) != like.shape[0]:
        raise ValueError(f"sampler: {len(generators)} generators for a batch of {like.shape[0]}")
    return randn_like_per_sample(generators, like.shape[1:], dtype=like.dtype).to(like.device)


def _eps(x: Tensor, x0_hat: Tensor, ab: float) -> Tensor:
    """eps_hat = (x_t - sqrt(alpha_bar) x0_hat) / sqrt(1 - alpha_bar)."""
    return (x - math.sqrt(ab) * x0_hat) / math.sqrt(1.0 - ab)


@torch.no_grad()
def ddim(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators, callback: Callback = None,
         eta: float = 0.0) -> Tensor:
    """DDIM (Song et al. 2021, eq. 12), with sigma_t(eta) from their eq. 16: eta = 0 is deterministic, eta = 1
    matches DDPM's ancestral step.

        x_s = sqrt(ab_s) x0_hat + sqrt(1 - ab_s - sigma^2) eps_hat + sigma z,
        sigma = eta sqrt((1 - ab_s) / (1 - ab_t)) sqrt(1 - ab_t / ab_s)
    """
    x = x_T
    for i, (t, ab_t, ab_s) in enumerate(_alpha_bars(timesteps, alphas_cumprod)):
        x0_hat = _denoise_step(denoise, x, t, i, callback)
        if ab_s >= 1.0:
            return x0_hat
        sigma = eta * math.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
        x = math.sqrt(ab_s) * x0_hat + math.sqrt(max(1 - ab_s - sigma**2, 0.0)) * _eps(x, x0_hat, ab_t)
        if sigma > 0:
            x = x + sigma * _noise(generators, x)
    return x


@torch.no_grad()
def ddpm(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators, callback: Callback = None
         ) -> Tensor:
    """Ancestral sampling from the DDPM posterior q(x_s | x_t, x0_hat) (Ho et al. 2020, eqs. 6-7), generalised to
    skipped steps s < t by using beta_{t|s} = 1 - ab_t / ab_s in place of beta_t:

        mean = sqrt(ab_s) beta_{t|s} / (1 - ab_t) x0_hat + sqrt(ab_t / ab_s) (1 - ab_s) / (1 - ab_t) x_t
        var  = (1 - ab_s) / (1 - ab_t) beta_{t|s}
    """
    x = x_T
    for i, (t, ab_t, ab_s) in enumerate(_alpha_bars(timesteps, alphas_cumprod)):
        x0_hat = _denoise_step(denoise, x, t, i, callback)
        if ab_s >= 1.0:
            return x0_hat
        beta = 1.0 - ab_t / ab_s
        c_x0 = math.sqrt(ab_s) * beta / (1 - ab_t)
        c_xt = math.sqrt(ab_t / ab_s) * (1 - ab_s) / (1 - ab_t)
        std = math.sqrt((1 - ab_s) / (1 - ab_t) * beta)
        x = c_x0 * x0_hat + c_xt * x + std * _noise(generators, x)
    return x


@torch.no_grad()
def dpmpp_2m(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
             callback: Callback = None) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2): multistep second-order solver of the
    diffusion ODE in data prediction, stepping in log-SNR lambda = log(alpha / sigma):

        h = lambda_s - lambda_t,   x_s = (sigma_s / sigma_t) x_t - alpha_s (exp(-h) - 1) D
        D = x0_hat (first step),   D = (1 + 1/(2r)) x0_hat - 1/(2r) x0_hat_prev,  r = h_prev / h

    The final step (alpha_bar = 1, lambda = +inf) returns x0_hat. Deterministic; `generators` is unused.
    """
    x, x0_prev, h_prev = x_T, None, None
    for i, (t, ab_t, ab_s) in enumerate(_alpha_bars(timesteps, alphas_cumprod)):
        x0_hat = _denoise_step(denoise, x, t, i, callback)
        if ab_s >= 1.0:
            return x0_hat
        lam_t, lam_s = 0.5 * math.log(ab_t / (1 - ab_t)), 0.5 * math.log(ab_s / (1 - ab_s))
        h = lam_s - lam_t
        d = x0_hat
        if x0_prev is not None:
            r = h_prev / h
            d = (1 + 1 / (2 * r)) * x0_hat - (1 / (2 * r)) * x0_prev
        x = math.sqrt((1 - ab_s) / (1 - ab_t)) * x - math.sqrt(ab_s) * math.expm1(-h) * d
        x0_prev, h_prev = x0_hat, h
    return x


from genlab.models.diffusion.dpmpp_2m_sde import dpmpp_2m_sde
from genlab.models.diffusion.dpmpp_2s import dpmpp_2s, dpmpp_2s_ancestral
from genlab.models.diffusion.dpmpp_3m import dpmpp_3m, dpmpp_3m_sde
from genlab.models.diffusion.euler import euler
from genlab.models.diffusion.euler_ancestral import euler_ancestral
from genlab.models.diffusion.heun import heun
from genlab.models.diffusion.langevin import langevin
from genlab.models.diffusion.pc import pc_ve, pc_vp
from genlab.models.diffusion.plms import plms
from genlab.models.diffusion.unipc import unipc

# The table: a sampler is its function (here or in its own module, imported above) plus one line.
SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "ddpm": ddpm,
    "ddim": ddim,
    "dpmpp-2m": dpmpp_2m,
    "euler": euler,
    "euler-ancestral": euler_ancestral,
    "heun": heun,
    "dpmpp-2s": dpmpp_2s,
    "dpmpp-2s-ancestral": dpmpp_2s_ancestral,
    "dpmpp-2m-sde": dpmpp_2m_sde,
    "dpmpp-3m": dpmpp_3m,
    "dpmpp-3m-sde": dpmpp_3m_sde,
    "unipc": unipc,
    "plms": plms,
    "langevin": langevin,  # annealed Langevin dynamics (NCSN)
    "pc-ve": pc_ve,  # predictor-corrector, VE SDE
    "pc-vp": pc_vp,  # predictor-corrector, VP SDE
}
SAMPLER_NAMES: tuple[str, ...] = tuple(SAMPLERS)
_ALIASES = {"dpmpp_2m": "dpmpp-2m", "dpm++2m": "dpmpp-2m", "dpm-solver++": "dpmpp-2m"}


def get_sampler(name: str) -> Callable[..., Tensor]:
    """The sampler function registered as `name`; GenlabError listing the known names otherwise."""
    key = _ALIASES.get(name, name)
    if key not in SAMPLERS:
        raise GenlabError(f"unknown sampler '{name}'; known: {', '.join(SAMPLERS)}")
    return SAMPLERS[key]
