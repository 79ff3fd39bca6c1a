"""The diffusion family: a U-Net backbone trained with the DDPM objective, sampled with any registered sampler.

Backbone (`genlab.nn.unet.UNet`), parameterisation/loss (`objective`), schedule (`schedules`) and samplers
(`samplers`) are separate; this class only wires them together for the training engine and for `generate`.
EMA, optimiser and the training loop live in the engine.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel, Logs
from genlab.models.diffusion import objective
from genlab.models.diffusion.generation import classifier_guided, sampler_options, timestep_grid
from genlab.models.diffusion.samplers import get_sampler
from genlab.models.diffusion.schedules import make_alphas_cumprod
from genlab.nn.backbones import backbone_from_config, check_backbone_options
from genlab.utils.seeding import randn_like_per_sample, sample_generators


@dataclasses.dataclass
class DiffusionConfig:
    """Hyper-parameters of the diffusion family (JSON-friendly: lists, not tuples)."""

    base_channels: int = 32  # width of the first U-Net level
    channel_mults: list[int] = dataclasses.field(default_factory=lambda: [1, 2, 2])  # one per level (28→14→7)
    num_res_blocks: int = 1  # residual blocks per level (down path; +1 on the way up)
    attention_resolutions: list[int] = dataclasses.field(default_factory=lambda: [7])  # feature sizes with attention
    dropout: float = 0.0  # dropout inside residual blocks
    num_heads: int = 4  # attention heads
    prediction: str = "eps"  # backbone target: "eps" (Ho et al. 2020), "v" (Salimans & Ho 2022) or "edm" (Karras 2022)
    # Cosine by default: at 28-64 px the linear schedule spends its last ~30% of steps on near-pure noise and
    # ends at alpha_bar = 4e-5, not ~0; cosine (Nichol & Dhariwal 2021) improves likelihood and FID at small sizes.
    schedule: str = "cosine"  # a name in schedules.SCHEDULES: cosine, linear, quadratic, sigmoid
    num_train_steps: int = 1000  # T
    p_uncond: float = 0.1  # label dropout for classifier-free guidance (only when num_classes > 0)
    min_snr_gamma: float = 0.0  # > 0: min-SNR-gamma loss weighting (Hang et al. 2023); 0 = plain MSE
    # Denoiser network (genlab.nn.backbones.BACKBONES): "unet" (the options above) or "dit" (a Diffusion
    # Transformer, genlab.nn.dit; num_heads and dropout are shared, the dit_* options are its own).
    backbone: str = "unet"
    dit_patch_size: int = 2  # side of the square patches that become tokens
    dit_width: int = 128  # token width
    dit_depth: int = 6  # transformer blocks
    dit_mlp_ratio: float = 4.0  # MLP hidden width / token width
    dit_pos_embed: str = "sincos"  # "sincos" (fixed 2-D) or "learned"

    def validate(self, family: str) -> None:
        """One-line GenlabError naming a bad value (types are checked by `resolve_config`)."""
        objective.check_prediction(self.prediction)
        if not 1 <= self.num_train_steps <= 100_000:
            raise GenlabError(f"{family}: num_train_steps = {self.num_train_steps} must be in 1..100000")
        make_alphas_cumprod(self.schedule, self.num_train_steps)  # validates the schedule name and T
        if not 0.0 <= self.p_uncond < 1.0:
            raise GenlabError(f"{family}: p_uncond must be in [0, 1), got {self.p_uncond}")
        check_backbone_options(self, family)


class Diffusion(GenerativeModel):
    """Denoising diffusion (DDPM/DDIM/DPM-Solver++) with a U-Net; images (N, C, H, W) in [-1, 1]."""

    family = "diffusion"
    Config = DiffusionConfig
    sampling_options = ("sampler", "steps", "guidance", "eta", "order", "grid", "classifier", "classifier_scale",
                        "classifier_class", "guidance_interval", "autoguide")
    latent_kind = "noise"  # DDIM (eta = 0) maps a seed's x_T to its image deterministically

    def __init__(self, image_shape: Sequence[int], num_classes: int = 0, **hparams: Any):
        super().__init__(image_shape, num_classes, **hparams)
        cfg = self._resolve_config(hparams)
        # the denoiser network (a U-Net or a DiT); the attribute keeps its name so snapshot keys stay "unet.*"
        self.unet = backbone_from_config(cfg, self.noise_shape, self.num_classes)
        # (T,) float64 schedule, kept on the CPU on purpose (not a buffer): it is rebuilt from the config, never
        # stored, and MPS has no float64. Per-batch coefficients are gathered on the CPU and copied over.
        self.alphas_cumprod = make_alphas_cumprod(cfg.schedule, cfg.num_train_steps)

    # --- training -----------------------------------------------------------------------------------------------
    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        """Simple diffusion loss on x (N, C, H, W) in [-1, 1]: uniform t, Gaussian eps, label dropout (global RNG)."""
        t = torch.randint(0, self.cfg.num_train_steps, (x.shape[0],))  # (N,) on the CPU: no device sync to index
        eps = torch.randn_like(x)
        alpha, sigma = objective.alpha_sigma(self.alphas_cumprod, t, x.ndim, device=x.device)  # (N, 1, 1, 1)
        x_t = objective.q_sample(x, eps, alpha, sigma)
        noise_cond = objective.backbone_cond(self.cfg.prediction, t, self.cfg.num_train_steps, alpha, sigma)
        out = self.unet(objective.backbone_in(self.cfg.prediction, x_t, alpha, sigma), noise_cond.to(x.device),
                        self._drop_labels(y))
        target = objective.training_target(self.cfg.prediction, x, eps, alpha, sigma)
        loss = objective.diffusion_loss(out, target, alpha, sigma, self.cfg.prediction, self.cfg.min_snr_gamma)
        return loss, {"loss": loss.detach()}

    def _drop_labels(self, y: Tensor | None) -> Tensor | None:
        """Labels with a fraction p_uncond replaced by the null class (Ho & Salimans 2022); None if unconditional."""
        if self.num_classes == 0:
            return None
        if y is None:
            raise GenlabError(f"diffusion: model has num_classes={self.num_classes} but the batch has no labels")
        drop = torch.rand(y.shape, device=y.device) < self.cfg.p_uncond
        return torch.where(drop, torch.full_like(y, self.num_classes), y)

    # --- inference ----------------------------------------------------------------------------------------------
    def denoiser(self, labels: Tensor | None = None, guidance: float = 1.0, clip_x0: bool = True,
                 guidance_interval: tuple[float, float] | str | None = None,
                 autoguide: Diffusion | None = None) -> objective.Denoiser:
        """The `Denoiser` (x_t, t) -> x0_hat of this model for a batch with `labels` (N,) or None; `autoguide`: a
        weaker model of the same kind that guidance pulls away from (`check_autoguide`)."""
        return objective.Denoiser(self.unet, self.alphas_cumprod, self.cfg.prediction, labels, guidance, clip_x0,
                                  null_label=self.num_classes, guidance_interval=guidance_interval,
                                  autoguide=None if autoguide is None else autoguide.unet)

    def check_autoguide(self, weak: object) -> Diffusion:
        """`weak` if it can guide this model (Karras et al. 2024): a model of this family with the same sample
        shape, classes, parameterisation and noise schedule; else a one-line GenlabError naming what differs."""
        if not isinstance(weak, Diffusion) or weak.family != self.family:
            got = getattr(weak, "family", type(weak).__name__)
            raise GenlabError(f"autoguide: expected a {self.family} model, got {got}")
        for what, a, b in (("sample shape", weak.noise_shape, self.noise_shape),
                           ("classes", weak.num_classes, self.num_classes),
                           ("prediction", weak.cfg.prediction, self.cfg.prediction),
                           ("schedule", (weak.cfg.schedule, weak.cfg.num_train_steps),
                            (self.cfg.schedule, self.cfg.num_train_steps))):
            if a != b:
                raise GenlabError(f"autoguide: the guiding model's {what} is {a}, this model's {b}; they must match")
        return weak

    @torch.no_grad()
    def generate(self, seeds: Sequence[int], labels: Tensor | None = None, sampler: str = "ddim", steps: int = 50,
                 guidance: float = 1.0, eta: float | None = None, order: int | None = None, grid: str = "trailing",
                 guidance_interval: tuple[float, float] | str | None = None, classifier: str | None = None,
                 classifier_scale: float | None = None,
                 classifier_class: int | None = None, callback: Callable[[dict], None] | None = None,
                 batch_size: int | None = None, autoguide: Diffusion | None = None) -> Tensor:
        """One image per seed, (N, C, H, W) in [-1, 1]; image i depends only on seeds[i] (and labels[i]).

        sampler: a name in samplers.SAMPLERS; steps: noise levels visited (denoiser calls for most samplers);
        grid: "trailing" or "karras" (generation.GRIDS); eta: fresh noise of ddim and the ancestral/SDE samplers
        (None = the sampler's default; 0 is accepted by every sampler); order: unipc's order;
        guidance: classifier-free guidance weight w (1 = conditional, 0 = unconditional); guidance_interval:
        (lo, hi) or "LO,HI": guide only at noise levels sigma/alpha in (lo, hi], one network call per step elsewhere
        (objective.Denoiser); labels (N,) long or None (null class); classifier, classifier_scale, classifier_class:
        classifier guidance with a file from
        `genlab train-classifier` (generation.classifier_guided); autoguide: a weaker model of the same kind
        (`check_autoguide`) that guidance w pulls away from instead of the unconditional output (autoguidance,
        Karras et al. 2024); batch_size: images per forward pass (default: all); callback: per step and batch.
        """
        sample_fn, seeds = get_sampler(sampler), [int(s) for s in seeds]
        if eta == 0 and "eta" not in inspect.signature(sample_fn).parameters:
            eta = None  # eta = 0 (no extra noise) was always accepted by every sampler
        opts = sampler_options(sampler, sample_fn, eta, order)
        labels = self._check_labels(labels, len(seeds))
        timesteps = timestep_grid(grid, steps, self.alphas_cumprod)
        guide = {"classifier": classifier, "scale": classifier_scale, "target": classifier_class,
                 "interval": objective.check_guidance_interval(guidance_interval),
                 "autoguide": None if autoguide is None else self.check_autoguide(autoguide)}
        size = batch_size or max(len(seeds), 1)
        was_training = self.training
        self.eval()
        try:
            chunks = [
                self._generate_batch(sample_fn, seeds[lo:lo + size], None if labels is None else labels[lo:lo + size],
                                     timesteps, guidance, callback, opts, guide)
                for lo in range(0, len(seeds), size)
            ]
        finally:
            self.train(was_training)
        return torch.cat(chunks) if chunks else torch.empty(0, *self.image_shape)

    @property
    def noise_shape(self) -> tuple[int, ...]:
        """Shape of one sample in the space the diffusion runs in (the image; a latent for latent diffusion)."""
        return self.image_shape

    def _finish(self, x0: Tensor) -> Tensor:
        """The sampler's result in diffusion space → images in [-1, 1] (latent diffusion decodes here)."""
        return x0.clamp(-1.0, 1.0)

    def _generate_batch(self, sample_fn, seeds: list[int], labels: Tensor | None, timesteps: Tensor,
                        guidance: float, callback, opts: dict, guide: dict) -> Tensor:
        """One batch of `generate`: (len(seeds), C, H, W) clamped to [-1, 1] on the model's device."""
        device = self.unet.conv_in.weight.device
        # One CPU generator per image: x_T first, then the sampler's step noise continues the same stream, so an
        # image does not depend on its batch, the batch size or the device.
        gens = sample_generators(seeds)
        x_T = randn_like_per_sample(gens, self.noise_shape).to(device)
        labels = None if labels is None else labels.to(device)
        weak = guide["autoguide"]
        if weak is not None:
            weak.eval()
        denoise = classifier_guided(self.denoiser(labels, guidance, guidance_interval=guide["interval"],
                                                  autoguide=weak),
                                    guide["classifier"], guide["scale"],
                                    guide["target"], seeds, labels, self.alphas_cumprod)
        x0 = sample_fn(denoise, x_T, timesteps, self.alphas_cumprod, generators=gens, callback=callback, **opts)
        return self._finish(x0)

    def _check_labels(self, labels: Tensor | None, n: int) -> Tensor | None:
        if labels is None:
            return None
        if self.num_classes == 0:
            raise GenlabError("diffusion: labels given but the model is unconditional (num_classes=0)")
        labels = torch.as_tensor(labels, dtype=torch.long).flatten()
        if labels.numel() != n or (n > 0 and (labels.min() < 0 or labels.max() >= self.num_classes)):
            raise GenlabError(f"diffusion: labels must be {n} class indices in [0, {self.num_classes}), "
                              f"got {labels.tolist()[:10]}")
        return labels


