"""The score-sde family: a noise-conditional score network (NCSN) trained by denoising score matching on the noise
levels of a VE or VP SDE (Song & Ermon 2019; Song et al. 2021), sampled by annealed Langevin dynamics,
predictor-corrector or any other sampler of `SAMPLERS`.

Score network. The U-Net (genlab.nn.unet) sees x_t in variance-preserving coordinates (x_t = alpha x0 + sigma z,
alpha^2 + sigma^2 = 1; for VE, x_t = x~ / sqrt(1 + sigma~^2), an input scaling that keeps the network's input at unit
variance) and the noise level as a continuous condition 1000 i / N, with i the fractional index of t in the level
table (for VE, linear in log sigma: a sigma-conditioning). The score is s(x_t, t) = -out / sigma.

Denoising score matching (Vincent 2011; Song & Ermon 2019 eq. 5 with lambda(sigma) = sigma^2):

    L = E_t E_x0 E_z [ sigma^2 || s(alpha x0 + sigma z, t) + z / sigma ||^2 ] = E || out - z ||^2

with t uniform on [t_min, 1] (the SDEs' continuous training) or uniform over the N levels (`discrete`: NCSN's
L geometric noise levels). Sampling reads the model as a denoiser x0_hat = (x_t - sigma out) / alpha over the N-level
table, so `generate` takes the same samplers and options as the diffusion family.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel, Logs
from genlab.models.diffusion import objective
from genlab.models.diffusion.generation import classifier_guided, sampler_options, timestep_grid
from genlab.models.diffusion.samplers import get_sampler
from genlab.models.score.sde import SDES, fractional_index, level_table, make_sde, time_grid
from genlab.nn.unet import check_unet_options, unet_from_config
from genlab.utils.seeding import randn_like_per_sample, sample_generators


@dataclasses.dataclass
class ScoreSDEConfig:
    """Hyper-parameters of the score-sde family (JSON-friendly: lists, not tuples)."""

    base_channels: int = 32  # width of the first U-Net level
    channel_mults: list[int] = dataclasses.field(default_factory=lambda: [1, 2, 2])  # one per level (28→14→7)
    num_res_blocks: int = 1  # residual blocks per level (down path; +1 on the way up)
    attention_resolutions: list[int] = dataclasses.field(default_factory=lambda: [7])  # feature sizes with attention
    dropout: float = 0.0  # dropout inside residual blocks
    num_heads: int = 4  # attention heads
    sde: str = "ve"  # a name in score.sde.SDES: "ve" (SMLD/NCSN) or "vp" (continuous DDPM)
    sigma_min: float = 0.01  # VE: smallest noise level (data in [-1, 1])
    sigma_max: float = 50.0  # VE: largest, about the largest distance between training images (NCSNv2 technique 1)
    beta_min: float = 0.1  # VP: beta(0)
    beta_max: float = 20.0  # VP: beta(1)
    num_scales: int = 1000  # N: noise levels of the sampling table (NCSN's L when discrete)
    discrete: bool = False  # True: train on the N levels only (NCSN); False: continuous t (the SDEs)
    p_uncond: float = 0.1  # label dropout for classifier-free guidance (only when num_classes > 0)

    def validate(self, family: str) -> None:
        if self.sde not in SDES:
            raise GenlabError(f"{family}: sde must be one of {', '.join(SDES)}, got '{self.sde}'")
        if not 0 < self.sigma_min < self.sigma_max <= 1e4:
            raise GenlabError(f"{family}: need 0 < sigma_min < sigma_max <= 1e4, got {self.sigma_min}, {self.sigma_max}")
        if not 0 < self.beta_min < self.beta_max <= 100:
            raise GenlabError(f"{family}: need 0 < beta_min < beta_max <= 100, got {self.beta_min}, {self.beta_max}")
        if not 2 <= self.num_scales <= 100_000:
            raise GenlabError(f"{family}: num_scales = {self.num_scales} must be in 2..100000")
        if not 0.0 <= self.p_uncond < 1.0:
            raise GenlabError(f"{family}: p_uncond must be in [0, 1), got {self.p_uncond}")
        check_unet_options(self, family)


class ScoreSDE(GenerativeModel):
    """NCSN / score SDE with a U-Net score network; images (N, C, H, W) in [-1, 1]."""

    family = "score-sde"
    Config = ScoreSDEConfig
    sampling_options = ("sampler", "steps", "guidance", "eta", "order", "grid", "classifier", "classifier_scale",
                        "classifier_class")
    latent_kind = "noise"  # deterministic samplers map a seed's x_T to its image

    def __init__(self, image_shape: Sequence[int], num_classes: int = 0, **hparams: Any):
        super().__init__(image_shape, num_classes, **hparams)
        cfg = self._resolve_config(hparams)
        self.unet = unet_from_config(cfg, self.image_shape, self.num_classes)
        self.sde = make_sde(cfg.sde, cfg.sigma_min, cfg.sigma_max, cfg.beta_min, cfg.beta_max)
        # (N,) float64 alpha_bar of the N levels, on the CPU (rebuilt from the config, never stored): what samplers,
        # the likelihood and a noise-conditional classifier index into.
        self.alphas_cumprod = level_table(self.sde, cfg.num_scales)

    # --- training -----------------------------------------------------------------------------------------------
    def _draw_times(self, n: int) -> Tensor:
        """(n,) float64 times: uniform over the N levels (discrete, NCSN) or on [t_min, 1] (continuous SDE)."""
        if self.cfg.discrete:
            return time_grid(self.sde, self.cfg.num_scales)[torch.randint(0, self.cfg.num_scales, (n,))]
        return self.sde.t_min + (1.0 - self.sde.t_min) * torch.rand(n, dtype=torch.float64)

    def noise_condition(self, t: Tensor) -> Tensor:
        """(N,) float condition 1000 i / N for times t (i their fractional level index), as `objective.Denoiser`
        computes it for integer levels."""
        return (fractional_index(self.sde, t, self.cfg.num_scales) * (1000.0 / self.cfg.num_scales)).float()

    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        """Denoising score matching with lambda = sigma^2 on x (N, C, H, W) in [-1, 1] (global RNG)."""
        t = self._draw_times(x.shape[0])
        ab = self.sde.alpha_bar(t).to(x.device, torch.float32).reshape(-1, *([1] * (x.ndim - 1)))
        alpha, sigma = ab.sqrt(), (1 - ab).sqrt()
        z = torch.randn_like(x)
        out = self.unet(alpha * x + sigma * z, self.noise_condition(t).to(x.device), self._drop_labels(y))
        # sigma^2 || s + z / sigma ||^2 with s = -out / sigma is || out - z ||^2: the same number, better rounded
        loss = (out.float() - z).square().flatten(1).mean(dim=1).mean()
        return loss, {"loss": loss.detach()}

    def _drop_labels(self, y: Tensor | None) -> Tensor | None:
        """Labels with a fraction p_uncond replaced by the null class (classifier-free guidance); None if unconditional."""
        if self.num_classes == 0:
            return None
        if y is None:
            raise GenlabError(f"score-sde: model has num_classes={self.num_classes} but the batch has no labels")
        drop = torch.rand(y.shape, device=y.device) < self.cfg.p_uncond
        return torch.where(drop, torch.full_like(y, self.num_classes), y)

    # --- inference ----------------------------------------------------------------------------------------------
    def score(self, x_t: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """grad log p_t(x_t) (N, C, H, W) at continuous times t (N,) float64, in the x_t coordinates."""
        sigma = (1 - self.sde.alpha_bar(t)).sqrt().to(x_t.device, x_t.dtype).reshape(-1, *([1] * (x_t.ndim - 1)))
        return -self.unet(x_t, self.noise_condition(t).to(x_t.device), labels) / sigma

    def denoiser(self, labels: Tensor | None = None, guidance: float = 1.0, clip_x0: bool = True
                 ) -> objective.Denoiser:
        """x0_hat = (x_t - sigma out) / alpha over the N-level table (eps parameterisation), with guidance."""
        return objective.Denoiser(self.unet, self.alphas_cumprod, "eps", labels, guidance, clip_x0,
                                  null_label=self.num_classes)

    @torch.no_grad()
    def generate(self, seeds: Sequence[int], labels: Tensor | None = None, sampler: str = "pc-ve", steps: int = 100,
                 guidance: float = 1.0, eta: float | None = None, order: int | None = None, grid: str = "trailing",
                 classifier: str | None = None, classifier_scale: float | None = None,
                 classifier_class: int | None = None, callback: Callable[[dict], None] | None = None,
                 batch_size: int | None = None) -> Tensor:
        """One image per seed, (N, C, H, W) in [-1, 1]; image i depends only on seeds[i] (and labels[i]).

        sampler: a name in samplers.SAMPLERS (langevin = NCSN's annealed Langevin dynamics, pc-ve / pc-vp =
        predictor-corrector); steps: noise levels visited; grid: "trailing" or "karras"; eta / order: see
        `generation.sampler_options`; guidance: classifier-free guidance weight; classifier (a file written by
        `genlab train-classifier` for this model), classifier_scale, classifier_class: classifier guidance (see
        `generation.classifier_guided`).
        """
        sample_fn, seeds = get_sampler(sampler), [int(s) for s in seeds]
        opts = sampler_options(sampler, sample_fn, eta, order)
        labels = self._check_labels(labels, len(seeds))
        timesteps = timestep_grid(grid, steps, self.alphas_cumprod)
        size = batch_size or max(len(seeds), 1)
        device = self.unet.conv_in.weight.device
        was_training = self.training
        self.eval()
        try:
            chunks = []
            for lo in range(0, len(seeds), size):
                gens = sample_generators(seeds[lo:lo + size])
                x_T = randn_like_per_sample(gens, self.image_shape).to(device)
                part = None if labels is None else labels[lo:lo + size].to(device)
                denoise = classifier_guided(self.denoiser(part, guidance), classifier, classifier_scale,
                                            classifier_class, seeds[lo:lo + size], part, self.alphas_cumprod)
                x0 = sample_fn(denoise, x_T, timesteps, self.alphas_cumprod, generators=gens, callback=callback,
                               **opts)
                chunks.append(x0.clamp(-1.0, 1.0))
        finally:
            self.train(was_training)
        return torch.cat(chunks) if chunks else torch.empty(0, *self.image_shape)

    def _check_labels(self, labels: Tensor | None, n: int) -> Tensor | None:
        if labels is None:
            return None
        if self.num_classes == 0:
            raise GenlabError("score-sde: labels given but the model is unconditional (num_classes=0)")
        labels = torch.as_tensor(labels, dtype=torch.long).flatten()
        if labels.numel() != n or (n > 0 and (labels.min() < 0 or labels.max() >= self.num_classes)):
            raise GenlabError(f"score-sde: labels must be {n} class indices in [0, {self.num_classes}), "
                              f"got {labels.tolist()[:10]}")
        return labels
