"""The "vae" family: Gaussian encoder q(z|x), Bernoulli or Gaussian decoder p(x|z), optional class conditioning.

Loss per batch (nats per image): recon + β_t · Σ_j max(λ, KL_j), i.e. the negative ELBO (Kingma & Welling 2014)
with β (Higgins et al. 2017), linear KL warm-up (Bowman et al. 2016) and free bits λ (Kingma et al. 2016).
``architecture="fully_conv"`` uses a spatial latent map and contains no nn.Linear (LTrace facies test).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.models.autoencoder.common import (
    LIKELIHOODS,
    ConvEncoderDecoder,
    ConvNetConfig,
    LatentGeneration,
    StepTracking,
    check_choice,
    check_range,
    output_to_image,
    reconstruction_nll,
)
from genlab.models.base import GenerativeModel, Logs
from genlab.models.vae.losses import free_bits_kl, kl_per_dimension, kl_to_standard_normal, kl_weight, reparameterize
from genlab.utils.seeding import randn_per_sample


@dataclass
class VAEConfig(ConvNetConfig):
    """Hyper-parameters of the VAE (the conv-net options come from ConvNetConfig)."""

    likelihood: str = "bernoulli"  # "bernoulli" (binary / near-binary data, BCE) | "gaussian"
    gaussian_sigma: float = 0.1  # decoder σ in model-space units; <= 0: optimal σ per batch (σ-VAE)
    beta: float = 1.0  # KL weight after warm-up (β-VAE)
    kl_warmup_steps: int = 0  # linear KL annealing 0 → β over this many steps
    free_bits: float = 0.0  # per latent element floor on the KL, nats (0 = off)
    logvar_min: float = -10.0  # clamp of the encoder's log-variance (numerical safety)

    def validate(self, family: str) -> None:
        super().validate(family)
        check_choice(family, "likelihood", self.likelihood, LIKELIHOODS)
        check_range(family, "beta", self.beta, 0.0)
        check_range(family, "kl_warmup_steps", self.kl_warmup_steps, 0)
        check_range(family, "free_bits", self.free_bits, 0.0)


class VAE(ConvEncoderDecoder, LatentGeneration, StepTracking, GenerativeModel):
    """Gaussian-encoder VAE on images (N, C, H, W) in [-1, 1]; latent (N, D) or (N, C_z, h, w)."""

    family = "vae"
    Config = VAEConfig
    sampling_options = ("temperature",)
    latent_kind = "code"
    has_latent = True

    def __init__(self, image_shape: Sequence[int], num_classes: int = 0, **hparams: Any):
        super().__init__(image_shape, num_classes, **hparams)
        cfg = self._resolve_config(hparams)
        self._build_networks(cfg, encoder_outputs=2)  # mean and log-variance

    # --- training ---------------------------------------------------------------------------------------------
    def phases(self, step: int) -> list[str]:
        self.set_step(step)
        return ["model"]

    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        """Negative ELBO (with β, warm-up, free bits) of a batch x (N, C, H, W); logs in nats per image."""
        if phase != "model":
            raise GenlabError(f"vae: unknown training phase '{phase}'; expected 'model'")
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar, torch.randn_like(mu))
        out = self.decoder(z, self._emb(y))
        recon = reconstruction_nll(out, x, self.cfg.likelihood, self.cfg.gaussian_sigma).mean()
        kl_dims = kl_per_dimension(mu, logvar)  # (D,)
        kl = kl_dims.sum()
        beta_t = kl_weight(self.current_step, self.cfg.beta, self.cfg.kl_warmup_steps)
        loss = recon + beta_t * free_bits_kl(kl_dims, self.cfg.free_bits)
        logs = {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach(), "beta": beta_t,
                "elbo": -(recon + kl).detach(), "kl_active_dims": float((kl_dims > 0.01).sum())}
        return loss, logs

    # --- latent interface (used by genlab.latent) ------------------------------------------------------------
    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (N, C, H, W) in [-1, 1] → (mu, logvar), each (N, *latent_shape)."""
        mu, logvar = self.encoder(x, self._emb(y)).chunk(2, dim=1)
        return mu, logvar.clamp_min(self.cfg.logvar_min)

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z (N, *latent_shape) → images (N, C, H, W) in [-1, 1] (Bernoulli: 2·p − 1, the mean image)."""
        return output_to_image(self.decoder(z, self._emb(y)), self.cfg.likelihood)

    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """decode(E[z|x]): the deterministic reconstruction (N, C, H, W) in [-1, 1]."""
        return self.decode(self.encode(x, y)[0], y)

    def negative_elbo(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Per-image −ELBO in nats, (N,), with z = E[z|x] (no sampling noise): reconstruction NLL + KL to N(0, I).

        An anomaly score that, unlike pixel MSE, charges an image for an unlikely code as well as a bad fit.
        """
        mu, logvar = self.encode(x, y)
        out = self.decoder(mu, self._emb(y))
        nll = reconstruction_nll(out, x, self.cfg.likelihood, self.cfg.gaussian_sigma)
        return nll + kl_to_standard_normal(mu, logvar).flatten(1).sum(1)

    def sample_latent(self, seeds: Sequence[int], temperature: float = 1.0) -> Tensor:
        """Prior draws z ~ N(0, T²·I), (len(seeds), *latent_shape); row i depends only on seeds[i]."""
        device = next(self.parameters()).device
        return temperature * randn_per_sample(seeds, self.latent_shape, device=device)


