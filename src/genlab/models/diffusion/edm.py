"""EDM preconditioning and loss weighting (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based
Generative Models", Table 1 and eq. 7-8), written for genlab's variance-preserving training schedule.

In the noise-level view the state is x~ = x0 + s n with s the EDM noise level. For a training index t of the VP
schedule (alpha = sqrt(alpha_bar_t), sigma = sqrt(1 - alpha_bar_t)): s = sigma / alpha and x~ = x_t / alpha. The
denoiser is

    D(x~; s) = c_skip(s) x~ + c_out(s) F(c_in(s) x~, c_noise(s))

    c_skip = sd^2 / (s^2 + sd^2)      c_out = s sd / sqrt(s^2 + sd^2)
    c_in   = 1 / sqrt(s^2 + sd^2)     c_noise = ln(s) / 4

with sd = sigma_data (0.5 for data in [-1, 1]). The backbone input has unit variance at every noise level, and its
target F* = (x0 - c_skip x~) / c_out too. EDM's loss weight lambda(s) = (s^2 + sd^2) / (s sd)^2 = 1 / c_out^2 on
||D - x0||^2 makes the loss the plain MSE of F against F* (eq. 8), which is what training minimises here.

The noise levels are drawn as for eps/v (a uniform training index of the schedule), not from EDM's log-normal
p(s): every index a sampler can visit, including the schedule's noisiest one, is trained. The backbone's noise
condition is 1000 c_noise, on the scale of the DDPM convention t * 1000 / T that its sinusoidal embedding expects.
"""

from __future__ import annotations

from torch import Tensor

SIGMA_DATA = 0.5  # std of the data in [-1, 1] (EDM's value for images scaled to [-1, 1])


def edm_sigma(alpha: Tensor, sigma: Tensor) -> Tensor:
    """EDM noise level s = sigma / alpha of the VP pair (alpha, sigma), any shape."""
    return sigma / alpha


def edm_coefficients(s: Tensor, sigma_data: float = SIGMA_DATA) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(c_skip, c_out, c_in, c_noise) at noise levels s (any shape), Karras et al. 2022 Table 1 ("ours")."""
    sd2 = sigma_data**2
    norm = (s**2 + sd2).sqrt()
    return sd2 / (s**2 + sd2), s * sigma_data / norm, 1.0 / norm, s.log() / 4.0


def edm_loss_weight(s: Tensor, sigma_data: float = SIGMA_DATA) -> Tensor:
    """lambda(s) = (s^2 + sd^2) / (s sd)^2, the weight of ||D - x0||^2 (Karras et al. 2022, eq. 8 / Table 1)."""
    return (s**2 + sigma_data**2) / (s * sigma_data) ** 2


def backbone_input(x_t: Tensor, alpha: Tensor, sigma: Tensor, sigma_data: float = SIGMA_DATA) -> Tensor:
    """c_in x~ with x~ = x_t / alpha: what the backbone sees (unit variance at every noise level)."""
    s = edm_sigma(alpha, sigma)
    _, _, c_in, _ = edm_coefficients(s, sigma_data)
    return c_in * (x_t / alpha)


def backbone_condition(alpha: Tensor, sigma: Tensor) -> Tensor:
    """The backbone's noise condition 1000 c_noise = 250 ln(s), shape (N,) from (N, 1, ..., 1) coefficients."""
    return (250.0 * edm_sigma(alpha, sigma).log()).flatten().float()


def denoised(out: Tensor, x_t: Tensor, alpha: Tensor, sigma: Tensor, sigma_data: float = SIGMA_DATA) -> Tensor:
    """D = c_skip x~ + c_out F for the backbone output F: the x0 prediction."""
    c_skip, c_out, _, _ = edm_coefficients(edm_sigma(alpha, sigma), sigma_data)
    return c_skip * (x_t / alpha) + c_out * out


def target(x0: Tensor, x_t: Tensor, alpha: Tensor, sigma: Tensor, sigma_data: float = SIGMA_DATA) -> Tensor:
    """F* = (x0 - c_skip x~) / c_out: the backbone's regression target (its MSE is EDM's weighted loss)."""
    c_skip, c_out, _, _ = edm_coefficients(edm_sigma(alpha, sigma), sigma_data)
    return (x0 - c_skip * (x_t / alpha)) / c_out


def skip_only(x_t: Tensor, alpha: Tensor, sigma: Tensor, sigma_data: float = SIGMA_DATA) -> Tensor:
    """D with F = 0: c_skip x~ = the optimal denoiser of N(0, sd^2 I) data (the posterior mean of x0 given x~)."""
    c_skip, _, _, _ = edm_coefficients(edm_sigma(alpha, sigma), sigma_data)
    return c_skip * (x_t / alpha)


__all__ = ["SIGMA_DATA", "backbone_condition", "backbone_input", "denoised", "edm_coefficients", "edm_loss_weight",
           "edm_sigma", "skip_only", "target"]
