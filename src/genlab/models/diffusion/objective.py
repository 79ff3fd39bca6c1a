"""Diffusion parameterisation, training loss and the `Denoiser` that samplers call (kept apart from the backbone).

Notation (Kingma et al. 2021; Salimans & Ho 2022): for a training index t, ``alpha = sqrt(alpha_bar_t)``,
``sigma = sqrt(1 - alpha_bar_t)`` (variance preserving: alpha^2 + sigma^2 = 1) and

    x_t = alpha * x0 + sigma * eps                     (forward process, Ho et al. 2020 eq. 4)
    v   = alpha * eps - sigma * x0                     (velocity, Salimans & Ho 2022 sec. 4)
    x0  = (x_t - sigma * eps) / alpha = alpha * x_t - sigma * v
    eps = (x_t - alpha * x0) / sigma  = sigma * x_t + alpha * v

Noise condition given to the backbone: ``t * 1000 / T`` (a float in [0, 1000)), the DDPM convention for which the
sinusoidal embedding's frequencies were chosen; it is independent of the schedule, so a schedule change does not
change what the network sees for a given index.

"edm" is EDM's preconditioned denoiser (module `edm`): the backbone sees c_in x~ and 1000 c_noise, its output F
gives x0 = c_skip x~ + c_out F, and its MSE against (x0 - c_skip x~) / c_out is EDM's weighted loss. The samplers
call every parameterisation the same way, through `Denoiser`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from genlab.errors import GenlabError
from genlab.models.diffusion import edm

# The table of parameterisations (what the backbone outputs): a new one is a branch in the four functions below
# (backbone_in, backbone_cond, x0_eps_from_output, training_target) plus its name here.
PREDICTIONS = ("eps", "v", "edm")


def check_prediction(prediction: str) -> str:
    if prediction not in PREDICTIONS:
        raise GenlabError(f"diffusion: prediction must be one of {', '.join(PREDICTIONS)}, got '{prediction}'")
    return prediction


def check_guidance_interval(value: object) -> tuple[float, float] | None:
    """A guidance interval (lo, hi] of noise levels sigma/alpha from None, "LO,HI" or a pair; one-line GenlabError
    unless 0 <= lo < hi (hi may be inf)."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else value
    try:
        lo, hi = (float(v) for v in parts)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise GenlabError(f"guidance_interval {value!r}: expected two noise levels LO,HI (sigma/alpha), "
                          "e.g. 0.3,5") from None
    if not 0.0 <= lo < hi:
        raise GenlabError(f"guidance_interval {value!r}: expected 0 <= LO < HI (noise levels sigma/alpha)")
    return lo, hi


def autoguide_off(value: object) -> bool:
    """True for the values that switch autoguidance off where a snapshot's settings would turn it on: "none" (any
    case) or an empty string, as typed on the command line (`--autoguide none`)."""
    return isinstance(value, str) and value.strip().lower() in ("", "none")


def alpha_sigma(alphas_cumprod: Tensor, t: Tensor, ndim: int = 4, dtype=torch.float32, device=None
                ) -> tuple[Tensor, Tensor]:
    """alpha = sqrt(alpha_bar[t]), sigma = sqrt(1 - alpha_bar[t]) for t (N,) long, shaped (N, 1, ..., 1).

    Computed on the table's device (CPU float64: MPS has no float64), then cast to `dtype` and moved to `device`
    (default: t's device).
    """
    ab = alphas_cumprod[t.to(alphas_cumprod.device)]  # (N,) in the table's dtype
    shape, device = (-1,) + (1,) * (ndim - 1), device or t.device
    alpha, sigma = ab.sqrt(), (1 - ab).sqrt()
    return alpha.to(device, dtype).reshape(shape), sigma.to(device, dtype).reshape(shape)


def q_sample(x0: Tensor, eps: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """x_t = alpha x0 + sigma eps (Ho et al. 2020 eq. 4); shapes (N, C, H, W) with (N, 1, 1, 1) coefficients."""
    return alpha * x0 + sigma * eps


def x0_from_eps(x_t: Tensor, eps: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    return (x_t - sigma * eps) / alpha


def eps_from_x0(x_t: Tensor, x0: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    return (x_t - alpha * x0) / sigma


def v_from_x0_eps(x0: Tensor, eps: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """v = alpha eps - sigma x0 (Salimans & Ho 2022, sec. 4 / appendix D)."""
    return alpha * eps - sigma * x0


def x0_eps_from_v(x_t: Tensor, v: Tensor, alpha: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
    """(x0, eps) = (alpha x_t - sigma v, sigma x_t + alpha v), valid when alpha^2 + sigma^2 = 1."""
    return alpha * x_t - sigma * v, sigma * x_t + alpha * v


def x0_eps_from_output(prediction: str, out: Tensor, x_t: Tensor, alpha: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
    """Convert a backbone output in `prediction` space to (x0_hat, eps_hat)."""
    if prediction == "eps":
        return x0_from_eps(x_t, out, alpha, sigma), out
    if prediction == "edm":
        x0 = edm.denoised(out, x_t, alpha, sigma)
        return x0, eps_from_x0(x_t, x0, alpha, sigma)
    return x0_eps_from_v(x_t, out, alpha, sigma)


def training_target(prediction: str, x0: Tensor, eps: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """Regression target of the backbone: eps (Ho et al. 2020 eq. 14), v (Salimans & Ho 2022) or EDM's F*."""
    if prediction == "edm":
        return edm.target(x0, q_sample(x0, eps, alpha, sigma), alpha, sigma)
    return eps if prediction == "eps" else v_from_x0_eps(x0, eps, alpha, sigma)


def backbone_in(prediction: str, x_t: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """What the backbone is fed: x_t itself, or EDM's c_in x~."""
    return edm.backbone_input(x_t, alpha, sigma) if prediction == "edm" else x_t


def backbone_cond(prediction: str, t: Tensor, num_train_steps: int, alpha: Tensor, sigma: Tensor) -> Tensor:
    """The backbone's noise condition (N,) float: t * 1000 / T, or EDM's 1000 c_noise = 250 ln(sigma / alpha)."""
    if prediction == "edm":
        return edm.backbone_condition(alpha, sigma)
    return noise_condition(t, num_train_steps)


def min_snr_weight(prediction: str, alpha: Tensor, sigma: Tensor, gamma: float) -> Tensor:
    """Min-SNR-gamma loss weight (Hang et al. 2023, eq. 10 with their eps/v conversions), shape of alpha.

    In x0-MSE terms the weight is min(SNR, gamma); the eps-MSE equals x0-MSE * SNR and the v-MSE equals
    x0-MSE * (SNR + 1), hence the division.
    """
    snr = (alpha / sigma) ** 2
    clipped = snr.clamp(max=gamma)
    if prediction == "edm":  # F-MSE = x0-MSE / c_out^2
        return clipped * edm.edm_coefficients(sigma / alpha)[1] ** 2
    return clipped / snr if prediction == "eps" else clipped / (snr + 1)


def diffusion_loss(
    out: Tensor, target: Tensor, alpha: Tensor, sigma: Tensor, prediction: str, min_snr_gamma: float = 0.0
) -> Tensor:
    """Mean over the batch of the per-sample MSE between backbone output and target (N, C, H, W) → scalar.

    ``min_snr_gamma > 0`` switches on min-SNR weighting (off by default: plain "simple" loss of Ho et al.).
    """
    per_sample = (out.float() - target.float()).square().flatten(1).mean(dim=1)  # (N,)
    if min_snr_gamma > 0:
        per_sample = per_sample * min_snr_weight(prediction, alpha, sigma, min_snr_gamma).flatten()
    return per_sample.mean()


def noise_condition(t: Tensor, num_train_steps: int) -> Tensor:
    """Backbone noise condition for indices t (N,) long: the float t * 1000 / T (see module docstring)."""
    return t.float() * (1000.0 / num_train_steps)


class Denoiser:
    """Backbone + parameterisation + classifier-free guidance, as the samplers see it.

    ``denoiser(x_t, t) -> x0_hat`` for x_t (N, C, H, W) and t (N,) long; ``denoiser.predict`` also returns eps_hat.
    With class labels and guidance w, the backbone output is ``uncond + w * (cond - uncond)`` (Ho & Salimans
    2022, eq. 6 written with w = 1 + their w): w = 1 is plain conditional, w = 0 plain unconditional; otherwise
    the conditional and unconditional passes run as ONE batch of 2N.

    Args:
        backbone: callable (x, noise_cond (N,) float, class_labels (N,) long | None) → output like x.
        alphas_cumprod: (T,) float64 schedule.
        prediction: a name in PREDICTIONS ("eps", "v" or "edm").
        labels: (N,) long class labels of the batch, or None (unconditional / null class).
        guidance: w above.
        clip_x0: clamp x0_hat to [-1, 1] (data range) before eps_hat is derived from it ("clip_denoised" of DDPM).
        null_label: the label of the null class (default: ``backbone.num_classes``, the U-Net convention).
        guidance_interval: (lo, hi) or None: guidance only where the noise level sigma/alpha (EDM's sigma) lies in
            (lo, hi]; elsewhere the plain conditional output, one backbone pass instead of two (Kynkäänniemi et al.
            2024, "Applying guidance in a limited interval improves sample and distribution quality").
        autoguide: the backbone of a weaker model of the same parameterisation and schedule (an earlier snapshot
            of the same run, or a smaller network), or None. With it, guidance w pulls away from the weaker
            model instead of the unconditional one: ``weak + w * (strong - weak)``, both with the batch's labels
            (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself"); it needs no labels, so
            unconditional models can be guided too. Two passes per guided step, as for classifier-free guidance.
    """

    def __init__(
        self,
        backbone: Callable[..., Tensor] | nn.Module,
        alphas_cumprod: Tensor,
        prediction: str = "eps",
        labels: Tensor | None = None,
        guidance: float = 1.0,
        clip_x0: bool = False,
        null_label: int | None = None,
        guidance_interval: tuple[float, float] | None = None,
        autoguide: Callable[..., Tensor] | nn.Module | None = None,
    ):
        self.backbone = backbone
        self.alphas_cumprod = alphas_cumprod
        self.num_train_steps = len(alphas_cumprod)
        self.prediction = check_prediction(prediction)
        self.labels = labels
        self.guidance = float(guidance)
        self.clip_x0 = clip_x0
        self.null_label = getattr(backbone, "num_classes", None) if null_label is None else int(null_label)
        if labels is not None and guidance not in (0.0, 1.0) and self.null_label is None and autoguide is None:
            raise ValueError("Denoiser: guidance needs null_label (backbone has no num_classes attribute)")
        self.guidance_interval = check_guidance_interval(guidance_interval)
        self.autoguide = autoguide

    def _output(self, x_t: Tensor, t: Tensor) -> Tensor:
        """Backbone output in prediction space, with classifier-free guidance applied."""
        alpha, sigma = alpha_sigma(self.alphas_cumprod, t, x_t.ndim, x_t.dtype, x_t.device)
        cond = backbone_cond(self.prediction, t, self.num_train_steps, alpha, sigma).to(x_t.device)
        x_t = backbone_in(self.prediction, x_t, alpha, sigma)
        if self.autoguide is None and (self.labels is None or self.guidance == 0.0):
            return self.backbone(x_t, cond, None)
        inside = self._guided(alpha, sigma)  # (N,) bool or None (= every sample)
        if self.guidance == 1.0 or (inside is not None and not bool(inside.any())):
            return self.backbone(x_t, cond, self.labels)
        if self.autoguide is not None:  # the weaker model's output is what guidance pulls away from
            out_cond = self.backbone(x_t, cond, self.labels)
            out_base = self.autoguide(x_t, cond, self.labels)
        else:  # classifier-free: the conditional and unconditional passes as one batch of 2N
            n = x_t.shape[0]
            null = torch.full_like(self.labels, self.null_label)
            out = self.backbone(torch.cat([x_t, x_t]), torch.cat([cond, cond]), torch.cat([self.labels, null]))
            out_cond, out_base = out[:n], out[n:]
        guided = out_base + self.guidance * (out_cond - out_base)
        if inside is None or bool(inside.all()):
            return guided
        return torch.where(inside.to(guided.device).reshape(-1, *([1] * (guided.ndim - 1))), guided, out_cond)

    def _guided(self, alpha: Tensor, sigma: Tensor) -> Tensor | None:
        """(N,) bool: which samples' noise level sigma/alpha lies in the guidance interval; None without one."""
        if self.guidance_interval is None:
            return None
        lo, hi = self.guidance_interval
        level = (sigma / alpha).flatten().float()
        return (level > lo) & (level <= hi)

    def predict(self, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """(x0_hat, eps_hat), both (N, C, H, W), for x_t (N, C, H, W) and t (N,) long."""
        alpha, sigma = alpha_sigma(self.alphas_cumprod, t, x_t.ndim, x_t.dtype, x_t.device)
        x0, eps = x0_eps_from_output(self.prediction, self._output(x_t, t), x_t, alpha, sigma)
        if self.clip_x0:
            x0 = x0.clamp(-1.0, 1.0)
            eps = eps_from_x0(x_t, x0, alpha, sigma)
        return x0, eps

    def __call__(self, x_t: Tensor, t: Tensor) -> Tensor:
        return self.predict(x_t, t)[0]
