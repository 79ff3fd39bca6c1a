"""The forward SDEs of score-based modelling (Song et al. 2021, "Score-Based Generative Modeling through Stochastic
Differential Equations", sec. 3.4), as noise levels over a time t in [t_min, 1]:

- VE (variance exploding; SMLD/NCSN): x(t) = x0 + sigma(t) z with sigma(t) = sigma_min (sigma_max / sigma_min)^t,
  i.e. the SDE dx = sigma(t) sqrt(2 log(sigma_max / sigma_min)) dW, geometric noise levels (Song & Ermon 2019).
- VP (variance preserving; the continuous DDPM): dx = -beta(t) x / 2 dt + sqrt(beta(t)) dW with beta linear from
  beta_min to beta_max, so x(t) = alpha(t) x0 + sqrt(1 - alpha(t)^2) z, alpha(t)^2 = exp(-int_0^t beta).

Both are written in the variance-preserving coordinates genlab's samplers use: alpha_bar(t) = 1 / (1 + sigma(t)^2)
for VE (the VE state is x_t / sqrt(alpha_bar), see sigma_space.py), so a model trained on either is sampled by every
sampler of `SAMPLERS` through a table of N levels (t_i evenly spaced), and by PF-ODE for likelihoods. `SDES` is
the table (name -> class); a new SDE is a class with `alpha_bar(t)` and `t_min`, plus one line.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor


@dataclasses.dataclass(frozen=True)
class VESDE:
    sigma_min: float = 0.01
    sigma_max: float = 50.0
    t_min: float = 0.0  # sigma(0) = sigma_min > 0 already keeps the scores finite

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def alpha_bar(self, t: Tensor) -> Tensor:
        """alpha_bar(t) = 1 / (1 + sigma(t)^2), float64 for t float64."""
        return 1.0 / (1.0 + self.sigma(t) ** 2)


@dataclasses.dataclass(frozen=True)
class VPSDE:
    beta_min: float = 0.1
    beta_max: float = 20.0
    t_min: float = 1e-3  # Song et al.'s epsilon: at t = 0 the VP score blows up (sigma = 0)

    def alpha_bar(self, t: Tensor) -> Tensor:
        """alpha_bar(t) = exp(-(beta_min t + (beta_max - beta_min) t^2 / 2))."""
        return torch.exp(-(self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2))


SDES = {"ve": VESDE, "vp": VPSDE}


def make_sde(name: str, sigma_min: float, sigma_max: float, beta_min: float, beta_max: float) -> VESDE | VPSDE:
    return VESDE(sigma_min, sigma_max) if name == "ve" else VPSDE(beta_min, beta_max)


def time_grid(sde: VESDE | VPSDE, num_scales: int) -> Tensor:
    """The N times t_i = t_min + i (1 - t_min) / (N - 1), float64: index i of the model's level table."""
    return torch.linspace(sde.t_min, 1.0, int(num_scales), dtype=torch.float64)


def level_table(sde: VESDE | VPSDE, num_scales: int) -> Tensor:
    """alpha_bar at the N levels (N,) float64, strictly decreasing: the `alphas_cumprod` samplers take."""
    return sde.alpha_bar(time_grid(sde, num_scales))


def fractional_index(sde: VESDE | VPSDE, t: Tensor, num_scales: int) -> Tensor:
    """Continuous t in [t_min, 1] as a (fractional) index into the level table: i = (t - t_min)(N - 1)/(1 - t_min)."""
    return (t - sde.t_min) * ((num_scales - 1) / (1.0 - sde.t_min))


def log_sigma_range(sde: VESDE | VPSDE) -> tuple[float, float]:
    """(log sigma at t_min, log sigma at 1) in the VE view sigma = sqrt((1 - alpha_bar) / alpha_bar)."""
    ends = sde.alpha_bar(torch.tensor([sde.t_min, 1.0], dtype=torch.float64))
    s = ((1 - ends) / ends).sqrt()
    return math.log(float(s[0])), math.log(float(s[1]))
