"""The "dcgan" and "wgan-gp" families on the shared model contract.

A training step runs the phases "discriminator" (× n_critic) then "generator"; each phase draws fresh noise from
torch's global generator. In the discriminator phase the generator runs under no_grad; in the generator phase the
discriminator's parameters are frozen while its graph is built, so backward only reaches the generator.
Options users reach for when a GAN misbehaves: spectral norm, hinge loss, R1, TTUR (``d_lr_scale``), one-sided
label smoothing, annealed instance noise, the minibatch-std feature against mode collapse.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from genlab.errors import GenlabError
from genlab.models.autoencoder.common import (
    NORMS,
    ConvNetConfig,
    LatentGeneration,
    StepTracking,
    check_choice,
    check_range,
)
from genlab.models.base import GenerativeModel, Logs
from genlab.models.gan.losses import (
    GAN_LOSSES,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    instance_noise_sigma,
    r1_penalty,
)
from genlab.models.gan.networks import Discriminator, ImageGenerator
from genlab.nn.convnets import latent_shape_for
from genlab.utils.seeding import randn_per_sample


@dataclass
class GANConfig(ConvNetConfig):
    """DCGAN defaults (Radford et al. 2016): non-saturating loss, one D step per G step, Adam β₁ = 0.5."""

    latent_dim: int = 64  # conv_dense: size of z
    d_norm: str = "none"  # discriminator normalisation ("layer" for WGAN-GP critics; never "batch" with gp/r1)
    spectral_norm: bool = False  # spectral normalisation of every discriminator layer (Miyato et al. 2018)
    d_minibatch_std: int = 0  # group size G of D's minibatch-std feature (Karras et al. 2018; 4 there), 0 = off
    g_num_down: int = 0  # the generator's stride-2 stages, when fewer than D's num_down: a larger latent map for
    # fully_conv (e.g. 16×16 positions at 128 px with 3, as in Laloy et al. 2018's SGAN); 0 = the same as num_down
    loss: str = "ns"  # "ns" | "hinge" | "wasserstein"
    n_critic: int = 1  # discriminator phases per generator phase
    gp_lambda: float = 0.0  # WGAN-GP gradient-penalty weight λ (10 in Gulrajani et al. 2017)
    r1_gamma: float = 0.0  # R1 weight γ on real data (Mescheder et al. 2018); penalty is γ/2 · E‖∇D‖²
    label_smoothing: float = 0.0  # one-sided: real target 1 − ε (ns loss only)
    instance_noise: float = 0.0  # initial σ of Gaussian noise on D inputs, model-space units
    instance_noise_steps: int = 10000  # steps over which σ anneals linearly to 0
    d_lr_scale: float = 1.0  # TTUR: discriminator lr = d_lr_scale × base lr (Heusel et al. 2017)
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999

    def validate(self, family: str) -> None:
        super().validate(family)
        check_choice(family, "d_norm", self.d_norm, NORMS)
        check_choice(family, "loss", self.loss, GAN_LOSSES)
        check_range(family, "n_critic", self.n_critic, 1, 100)
        check_range(family, "d_minibatch_std", self.d_minibatch_std, 0, 64)
        check_range(family, "g_num_down", self.g_num_down, 0, 8)
        for name in ("gp_lambda", "r1_gamma", "instance_noise", "d_lr_scale"):
            check_range(family, name, getattr(self, name), 0.0)
        check_range(family, "label_smoothing", self.label_smoothing, 0.0, 0.5)
        if self.architecture == "mlp":  # the MLP stacks are autoencoder nets; the GAN's generator is convolutional
            raise GenlabError(f"{family}: option 'architecture' = 'mlp' is not supported by the GAN families; "
                              "expected 'conv_dense' or 'fully_conv'")
        if self.d_norm == "batch" and (self.gp_lambda > 0 or self.r1_gamma > 0):
            raise GenlabError(f"{family}: d_norm='batch' mixes samples, which breaks the per-sample gradient "
                              "penalty; use 'layer' or 'none'")


@dataclass
class WGANGPConfig(GANConfig):
    """WGAN-GP defaults (Gulrajani et al. 2017, Algorithm 1): λ = 10, n_critic = 5, Adam (0, 0.9), LayerNorm critic."""

    loss: str = "wasserstein"
    n_critic: int = 5
    gp_lambda: float = 10.0
    d_norm: str = "layer"
    adam_beta1: float = 0.0
    adam_beta2: float = 0.9


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Build graphs through `module` without recording gradients for its parameters (restored on exit)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


class GAN(LatentGeneration, StepTracking, GenerativeModel):
    """Generator + discriminator with DCGAN defaults; subclasses change only the Config defaults."""

    family = "dcgan"
    Config = GANConfig
    sampling_options = ("temperature",)
    latent_kind = "code"
    has_latent = True

    def __init__(self, image_shape: Sequence[int], num_classes: int = 0, **hparams: Any):
        super().__init__(image_shape, num_classes, **hparams)
        cfg = self._resolve_config(hparams)
        num_down = cfg.resolved_num_down(self.image_shape)
        g_down = cfg.g_num_down or num_down
        self.latent_shape = latent_shape_for(cfg.architecture, self.image_shape, g_down, cfg.latent_size())
        self.generator = ImageGenerator(self.image_shape, cfg.architecture, cfg.latent_size(), g_down,
                                   cfg.base_channels, cfg.max_channels, cfg.norm, num_classes, cfg.class_embed_dim)
        self.discriminator = Discriminator(self.image_shape, cfg.architecture, num_down, cfg.base_channels,
                                           cfg.max_channels, cfg.d_norm, cfg.spectral_norm, num_classes,
                                           cfg.d_minibatch_std)

    # --- what the engine asks ---------------------------------------------------------------------------------
    def param_groups(self) -> dict[str, Iterable[nn.Parameter]]:
        return {"generator": list(self.generator.parameters()),
                "discriminator": list(self.discriminator.parameters())}

    def group_lr_scale(self) -> dict[str, float]:
        """Learning-rate factor per group (TTUR)."""
        return {"generator": 1.0, "discriminator": self.cfg.d_lr_scale}

    def group_betas(self) -> dict[str, tuple[float, float]]:
        """Adam (β₁, β₂) per group: DCGAN (0.5, 0.999); WGAN-GP (0, 0.9)."""
        betas = (self.cfg.adam_beta1, self.cfg.adam_beta2)
        return {"generator": betas, "discriminator": betas}

    def phases(self, step: int) -> list[str]:
        self.set_step(step)
        return ["discriminator"] * self.cfg.n_critic + ["generator"]

    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        """Loss of one phase on real images x (N, C, H, W) in [-1, 1] with labels y (N,) or None."""
        if self.num_classes > 0 and y is None:
            raise GenlabError(f"{self.family}: this model is class-conditional but the batch has no labels")
        if phase == "discriminator":
            return self._discriminator_phase(x, y)
        if phase == "generator":
            return self._generator_phase(x, y)
        raise GenlabError(f"{self.family}: unknown training phase '{phase}'; expected 'discriminator' or 'generator'")

    # --- the two phases ---------------------------------------------------------------------------------------
    def _noise(self, n: int, device: torch.device) -> Tensor:
        return torch.randn(n, *self.latent_shape, device=device)

    def _instance_noise(self, x: Tensor) -> Tensor:
        sigma = instance_noise_sigma(self.current_step, self.cfg.instance_noise, self.cfg.instance_noise_steps)
        return x + sigma * torch.randn_like(x) if sigma > 0 else x

    def _discriminator_phase(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:
        with torch.no_grad():
            fake = self.generator(self._noise(x.shape[0], x.device), y)
        real_in, fake_in = self._instance_noise(x), self._instance_noise(fake)
        if self.cfg.r1_gamma > 0:
            real_in = real_in.detach().requires_grad_(True)
        d_real, d_fake = self.discriminator(real_in, y), self.discriminator(fake_in, y)
        d_loss = discriminator_loss(self.cfg.loss, d_real, d_fake, self.cfg.label_smoothing)
        loss, logs = d_loss, {"d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}
        if self.cfg.gp_lambda > 0:
            gp = gradient_penalty(lambda t: self.discriminator(t, y), real_in, fake_in)
            loss, logs["gp"] = loss + self.cfg.gp_lambda * gp, gp.detach()
        if self.cfg.r1_gamma > 0:
            r1 = r1_penalty(d_real, real_in)
            loss, logs["r1"] = loss + 0.5 * self.cfg.r1_gamma * r1, r1.detach()
        if self.cfg.loss == "wasserstein":
            logs["w_distance"] = (d_real.mean() - d_fake.mean()).detach()
        logs["d_loss"] = loss.detach()
        return loss, logs

    def _generator_phase(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:
        fake = self.generator(self._noise(x.shape[0], x.device), y)
        with frozen(self.discriminator):
            d_fake = self.discriminator(self._instance_noise(fake), y)
        loss = generator_loss(self.cfg.loss, d_fake)
        return loss, {"g_loss": loss.detach(), "d_fake_g": d_fake.mean().detach()}

    # --- latent interface -------------------------------------------------------------------------------------
    def sample_latent(self, seeds: Sequence[int], temperature: float = 1.0) -> Tensor:
        """z ~ N(0, T²·I), (len(seeds), *latent_shape); row i depends only on seeds[i]."""
        device = next(self.parameters()).device
        return temperature * randn_per_sample(seeds, self.latent_shape, device=device)

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z (N, *latent_shape) → images (N, C, H, W) in [-1, 1]."""
        return self.generator(z, y)

    def encode(self, x: Tensor, y: Tensor | None = None, steps: int = 200, lr: float = 0.05) -> Tensor:
        """Latent of images x by GAN inversion: argmin_z ‖G(z) − x‖² + ½‖z‖²/numel (Zhu et al. 2016, §3.2;
        Creswell & Bharath 2018), Adam from z = 0. Returns z (N, *latent_shape). Costs `steps` G passes."""
        z = torch.zeros(x.shape[0], *self.latent_shape, device=x.device, requires_grad=True)
        opt = torch.optim.Adam([z], lr=lr)
        with frozen(self.generator), torch.enable_grad():
            for _ in range(steps):
                fit = (self.generator(z, y) - x).pow(2).flatten(1).mean(1)
                prior = 0.5 * z.pow(2).flatten(1).mean(1)
                opt.zero_grad()
                (fit + 1e-2 * prior).sum().backward()
                opt.step()
        return z.detach()

    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """G(encode(x)): the generator's closest image to x (N, C, H, W)."""
        return self.decode(self.encode(x, y), y)



class WGANGP(GAN):
    """WGAN-GP: same networks, WGAN-GP defaults (see WGANGPConfig)."""

    family = "wgan-gp"
    Config = WGANGPConfig

