"""DPM-Solver++(3M) and its SDE variant (Lu et al. 2022, "DPM-Solver++", multistep third order in log-SNR
lambda = -log(sigma), data prediction; the SDE form follows their SDE-DPM-Solver++ with h_eta = (1 + eta) h).

With the last three x0 predictions D0, D1, D2 and step ratios r0 = h_1 / h, r1 = h_2 / h:

    x~_next = exp(-h_eta) x~ - expm1(-h_eta) D0 + phi_2 D' - phi_3 D'' + sigma_next sqrt(-expm1(-2 eta h)) z
    d0 = (D0 - D1) / r0,  d1 = (D1 - D2) / r1,  D' = d0 + r0 / (r0 + r1) (d0 - d1),  D'' = (d0 - d1) / (r0 + r1)
    phi_2 = expm1(-h_eta) / h_eta + 1,  phi_3 = phi_2 / h_eta - 1/2

The first two steps use first and second order (D'' = 0, then D' = (D0 - D1) / r0). eta = 0 is the deterministic
ODE solver ("dpmpp-3m"), eta = 1 the SDE solver ("dpmpp-3m-sde"). The last step returns D0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genlab.models.diffusion.sigma_space import Callback, Denoise, denoise_step, noise, scaled_start, sigma_steps


def _higher_order(d_hist: list[Tensor], h_hist: list[float], h: float, h_eta: float) -> Tensor | float:
    """phi_2 D' - phi_3 D'' from the previous x0 predictions (newest first) and step sizes; 0 on the first step."""
    phi_2 = math.expm1(-h_eta) / h_eta + 1
    if len(d_hist) == 1:
        return 0.0
    r0 = h_hist[0] / h
    d0 = (d_hist[0] - d_hist[1]) / r0
    if len(d_hist) == 2:
        return phi_2 * d0
    r1 = h_hist[1] / h
    d1 = (d_hist[1] - d_hist[2]) / r1
    first = d0 + (d0 - d1) * r0 / (r0 + r1)
    second = (d0 - d1) / (r0 + r1)
    return phi_2 * first - (phi_2 / h_eta - 0.5) * second


@torch.no_grad()
def dpmpp_3m_sde(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
                 callback: Callback = None, eta: float = 1.0) -> Tensor:
    """Multistep third-order DPM-Solver++; eta > 0 adds each sample's own noise (see the module docstring)."""
    steps = sigma_steps(timesteps, alphas_cumprod)
    x = scaled_start(x_T, steps[0][1])
    d_hist: list[Tensor] = []
    h_hist: list[float] = []
    for i, (t, sigma, sigma_next) in enumerate(steps):
        d_hist = [denoise_step(denoise, x, t, sigma, i, callback), *d_hist][:3]
        if sigma_next == 0.0:
            return d_hist[0]
        h = math.log(sigma) - math.log(sigma_next)
        h_eta = h * (1 + eta)
        x = math.exp(-h_eta) * x - math.expm1(-h_eta) * d_hist[0] + _higher_order(d_hist, h_hist, h, h_eta)
        if eta > 0:
            x = x + sigma_next * math.sqrt(-math.expm1(-2 * eta * h)) * noise(generators, x)
        h_hist = [h, *h_hist][:2]
    return x


@torch.no_grad()
def dpmpp_3m(denoise: Denoise, x_T: Tensor, timesteps, alphas_cumprod: Tensor, *, generators,
             callback: Callback = None) -> Tensor:
    """Deterministic DPM-Solver++(3M): `dpmpp_3m_sde` with eta = 0; `generators` unused."""
    return dpmpp_3m_sde(denoise, x_T, timesteps, alphas_cumprod, generators=generators, callback=callback, eta=0.0)
