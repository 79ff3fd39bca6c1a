"""The "aae" family: adversarial autoencoder (Makhzani, Shlens, Jaitly, Goodfellow & Frey 2016).

A deterministic autoencoder x → z = E(x) → x̂ = Dec(z) whose *aggregate posterior* q(z) = E_x[δ(z − E(x))] is
pushed onto the prior p(z) = N(0, I) by a GAN played in code space (§2): a small MLP discriminator D(z) tells prior
draws from codes of training images, and the encoder, acting as the generator, learns to fool it. Once q(z)
matches p(z), decoding prior draws gives images, as for a VAE — without a KL term or a per-image posterior.

Phases per step (§2, "reconstruction phase" then "regularization phase"):
  "discriminator": −log D(z_p) − log(1 − D(E(x))), z_p ~ N(0, I), encoder output detached;
  "model": reconstruction NLL of x (Bernoulli or Gaussian, nats per image) + adv_weight · (−log D(E(x))) with D
  frozen — the reconstruction and the encoder's generator step in one update of encoder + decoder.
With class labels the decoder (not the encoder) sees them, so the code is pushed to carry only "style"
(Makhzani et al. §5, the supervised AAE); D stays unconditional.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from genlab.errors import GenlabError
from genlab.models.autoencoder.common import (
    LIKELIHOODS,
    AdversarialPhases,
    ConvEncoderDecoder,
    ConvNetConfig,
    LatentGeneration,
    check_choice,
    check_range,
    label_embedding,
    net_kwargs,
    output_to_image,
    reconstruction_nll,
)
from genlab.models.base import GenerativeModel, Logs
from genlab.models.gan.losses import discriminator_loss, generator_loss
from genlab.models.gan.model import frozen
from genlab.nn.convnets import ImageDecoder, ImageEncoder, latent_shape_for
from genlab.utils.seeding import randn_per_sample


@dataclass
class AAEConfig(ConvNetConfig):
    """Autoencoder options plus the code discriminator's."""

    latent_dim: int = 8  # a small code: the discriminator must be able to match q(z) to N(0, I)
    likelihood: str = "bernoulli"  # reconstruction term: "bernoulli" (BCE) | "gaussian" (squared error / σ²)
    gaussian_sigma: float = 0.1  # σ of the Gaussian reconstruction term, model-space units
    adv_weight: float = 1.0  # weight of the encoder's adversarial (generator) loss beside the reconstruction
    d_hidden: int = 256  # width of the discriminator MLP's two hidden layers
    d_input_noise: float = 0.0  # σ of Gaussian noise on both inputs of D (smooths the code-space game; 0 = off)
    adam_beta1: float = 0.5  # Adam β₁ of both groups

    def validate(self, family: str) -> None:
        super().validate(family)
        if self.architecture != "conv_dense":
            raise GenlabError(f"{family}: option 'architecture' = {self.architecture!r} is not supported; the code "
                              "discriminator is an MLP on latent vectors (use 'conv_dense')")
        check_choice(family, "likelihood", self.likelihood, LIKELIHOODS)
        check_range(family, "gaussian_sigma", self.gaussian_sigma, 1e-6)
        check_range(family, "adv_weight", self.adv_weight, 0.0)
        check_range(family, "d_hidden", self.d_hidden, 1, 65536)
        check_range(family, "d_input_noise", self.d_input_noise, 0.0)
        check_range(family, "adam_beta1", self.adam_beta1, 0.0, 0.999)


class CodeDiscriminator(nn.Module):
    """z (N, D) → logit (N,) that z came from the prior: Linear-LeakyReLU ×2 → Linear (Makhzani et al. §3)."""

    def __init__(self, latent_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).squeeze(1)


class AAE(AdversarialPhases, ConvEncoderDecoder, LatentGeneration, GenerativeModel):
    """Deterministic conv encoder/decoder, latent (N, latent_dim), prior N(0, I) imposed adversarially."""

    family = "aae"
    Config = AAEConfig
    sampling_options = ("temperature",)
    latent_kind = "code"
    has_latent = True

    def __init__(self, image_shape: Sequence[int], num_classes: int = 0, **hparams: Any):
        super().__init__(image_shape, num_classes, **hparams)
        cfg = self._resolve_config(hparams)
        kw = net_kwargs(cfg, self.image_shape)
        self.latent_shape = latent_shape_for(cfg.architecture, self.image_shape, kw["num_down"], cfg.latent_dim)
        cond = cfg.class_embed_dim if num_classes > 0 else 0
        self.encoder = ImageEncoder(out_size=cfg.latent_dim, **kw)  # never sees labels (see the module doc)
        self.decoder = ImageDecoder(latent_size=cfg.latent_dim, cond_dim=cond, **kw)
        self.label_emb = label_embedding(num_classes, cfg.class_embed_dim)
        self.discriminator = CodeDiscriminator(cfg.latent_dim, cfg.d_hidden)

    # --- what the engine asks: AdversarialPhases gives the two groups and phases ------------------------------
    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        """Loss of one phase on images x (N, C, H, W) in [-1, 1] with labels y (N,) or None."""
        if phase == "discriminator":
            with torch.no_grad():
                z = self.encode(x, y)
            d_prior, d_code = self._d(torch.randn_like(z)), self._d(z)
            loss = discriminator_loss("ns", d_prior, d_code)
            return loss, {"d_loss": loss.detach(), "d_prior": d_prior.mean().detach(),
                          "d_code": d_code.mean().detach()}
        if phase == "model":
            z = self.encode(x, y)
            out = self.decoder(z, self._emb(y))
            recon = reconstruction_nll(out, x, self.cfg.likelihood, self.cfg.gaussian_sigma).mean()
            with frozen(self.discriminator):
                adv = generator_loss("ns", self._d(z))
            loss = recon + self.cfg.adv_weight * adv
            return loss, {"loss": loss.detach(), "recon": recon.detach(), "g_loss": adv.detach(),
                          "code_std": z.detach().std(0).mean()}
        raise GenlabError(f"aae: unknown training phase '{phase}'; expected 'discriminator' or 'model'")

    def _d(self, z: Tensor) -> Tensor:
        if self.cfg.d_input_noise > 0 and self.training:
            z = z + self.cfg.d_input_noise * torch.randn_like(z)
        return self.discriminator(z)

    # --- latent interface (used by genlab.latent) ------------------------------------------------------------
    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """x (N, C, H, W) in [-1, 1] → codes z (N, latent_dim). The encoder never sees labels (see module doc)."""
        return self.encoder(x)

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z (N, latent_dim) → images (N, C, H, W) in [-1, 1] (Bernoulli: the mean image 2·p − 1)."""
        return output_to_image(self.decoder(z, self._emb(y)), self.cfg.likelihood)

    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.decode(self.encode(x, y), y)

    def sample_latent(self, seeds: Sequence[int], temperature: float = 1.0) -> Tensor:
        """Prior draws z ~ N(0, T²·I), (len(seeds), latent_dim); row i depends only on seeds[i]."""
        device = next(self.parameters()).device
        return temperature * randn_per_sample(seeds, self.latent_shape, device=device)
