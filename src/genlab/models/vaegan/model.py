"""The "vae-gan" family: a VAE whose reconstruction is judged in a discriminator's feature space.

Larsen, Sønderby, Larochelle & Winther (2016), "Autoencoding beyond pixels using a learned similarity metric":
the pixel-wise reconstruction term of the VAE is replaced by a Gaussian likelihood on the features Dis_l(x) of a
GAN discriminator's hidden layer, and the decoder doubles as the GAN generator. Per image (nats-like units):

    L_prior = KL(q(z|x) || N(0, I))                                                          (eq. 5)
    L_llike = ½ ‖Dis_l(x) − Dis_l(Dec(z))‖² / σ²,   z ~ q(z|x)                                  (eq. 6)
    L_GAN   = log D(x) + log(1 − D(Dec(z))) + log(1 − D(Dec(z_p))),   z_p ~ N(0, I)             (eq. 7)

Phases (Larsen et al., Algorithm 1): "discriminator" raises L_GAN (x real; reconstructions and prior samples
fake); "model" lowers β·L_prior + feature_weight·L_llike + pixel_weight·(pixel NLL) + gan_weight·(non-saturating
generator loss on both kinds of fakes). As in the paper, the encoder gets no GAN gradient: the adversarial term
decodes a detached z. The small pixel term (not in the paper; off with ``pixel_weight=0``) anchors the first steps
while the discriminator's features still mean nothing; Dis_l is the discriminator's last conv level.

Everything latent (encode → (mu, logvar), decode, the prior, IWAE log-weights, negative ELBO) is the VAE's: the
class derives from genlab.models.vae.model.VAE and only adds the discriminator, its phase, the new loss and the
decoder's ``upsample`` choice ("nearest": nearest-neighbour ×2 + 3×3 conv instead of transposed convs, against the
checkerboard texture a GAN-trained decoder shows; Odena et al. 2016).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.models.autoencoder.common import (
    AdversarialPhases,
    ConvNetConfig,
    check_choice,
    check_range,
    net_kwargs,
    output_to_image,
    reconstruction_nll,
)
from genlab.models.base import Logs
from genlab.models.gan.losses import discriminator_loss, generator_loss
from genlab.models.gan.model import frozen
from genlab.models.gan.networks import Discriminator
from genlab.models.vae.losses import kl_per_dimension, kl_weight, reparameterize
from genlab.models.vae.model import VAE, VAEConfig
from genlab.nn.convnets import UPSAMPLES, ImageDecoder


@dataclass
class VAEGANConfig(VAEConfig):
    """VAE options (β, warm-up, likelihood of the pixel term, conv nets) plus the discriminator's."""

    feature_weight: float = 1.0  # weight of L_llike, the discriminator-feature reconstruction loss
    feature_sigma: float = 1.0  # σ of the Gaussian on Dis_l features (L_llike = ½‖Δ‖²/σ² summed over features)
    pixel_weight: float = 0.1  # weight of the VAE's pixel NLL kept beside L_llike (0 = the paper's pure feature loss)
    gan_weight: float = 1.0  # weight of the generator's adversarial loss (the paper's γ is 1/gan_weight)
    d_base_channels: int = 32  # discriminator width (its depth follows num_down)
    spectral_norm: bool = True  # spectral normalisation of the discriminator (Miyato et al. 2018)
    adam_beta1: float = 0.5  # Adam β₁ of both groups (DCGAN)
    # how the decoder doubles its size: "transpose" (4×4 stride-2 transposed convs, DCGAN) | "nearest"
    # (nearest-neighbour ×2 then a 3×3 conv; no checkerboard texture, Odena et al. 2016)
    upsample: str = "transpose"

    def validate(self, family: str) -> None:
        super().validate(family)
        for name in ("feature_weight", "pixel_weight", "gan_weight"):
            check_range(family, name, getattr(self, name), 0.0)
        check_range(family, "feature_sigma", self.feature_sigma, 1e-6)
        check_range(family, "d_base_channels", self.d_base_channels, 1, 4096)
        check_range(family, "adam_beta1", self.adam_beta1, 0.0, 0.999)
        check_choice(family, "upsample", self.upsample, UPSAMPLES)
        if self.objective != "elbo" or self.binarize != "none":
            raise GenlabError(f"{family}: options 'objective' and 'binarize' are the VAE's likelihood-training "
                              f"modes and must stay 'elbo'/'none' here (got {self.objective!r}/{self.binarize!r})")
        if getattr(self, "tc_beta", 1.0) != 1.0 or getattr(self, "perceptual_weight", 0.0) != 0.0:
            raise GenlabError(f"{family}: options 'tc_beta' and 'perceptual_weight' shape the VAE's own loss and are "
                              "not used here (the discriminator features are this family's learned similarity)")
        if self.feature_weight == 0 and self.pixel_weight == 0:
            raise GenlabError(f"{family}: feature_weight and pixel_weight are both 0, so nothing asks the decoder "
                              "to reconstruct; set one > 0")


class VAEGAN(AdversarialPhases, VAE):
    """VAE encoder/decoder + a DCGAN discriminator whose hidden features measure reconstructions."""

    family = "vae-gan"
    Config = VAEGANConfig

    def __init__(self, image_shape: Sequence[int], num_classes: int = 0, **hparams: Any):
        super().__init__(image_shape, num_classes, **hparams)
        cfg = self.cfg
        self.discriminator = Discriminator(self.image_shape, "conv_dense", cfg.resolved_num_down(self.image_shape),
                                           cfg.d_base_channels, cfg.max_channels, "none", cfg.spectral_norm,
                                           num_classes)

    def _build_networks(self, cfg: ConvNetConfig, encoder_outputs: int = 1) -> None:
        """The VAE's networks; with ``upsample`` other than "transpose" the decoder is rebuilt with it (the default
        builds exactly the VAE's decoder, so snapshots written before the option load unchanged)."""
        super()._build_networks(cfg, encoder_outputs)
        if cfg.upsample != "transpose":
            cond = cfg.class_embed_dim if self.num_classes > 0 else 0
            self.decoder = ImageDecoder(latent_size=cfg.latent_size(), cond_dim=cond, upsample=cfg.upsample,
                                        **net_kwargs(cfg, self.image_shape))

    # --- what the engine asks: AdversarialPhases gives the two groups and phases ------------------------------
    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        """Loss of one phase on images x (N, C, H, W) in [-1, 1] with labels y (N,) or None."""
        if phase == "discriminator":
            return self._discriminator_phase(x, y)
        if phase == "model":
            return self._model_phase(x, y)
        raise GenlabError(f"vae-gan: unknown training phase '{phase}'; expected 'discriminator' or 'model'")

    # --- the discriminator, read at two depths ----------------------------------------------------------------
    def features(self, x: Tensor) -> Tensor:
        """Dis_l(x): the discriminator's last conv features (N, C_last, h, w) of images in [-1, 1]."""
        return self.discriminator.features(x)

    def score(self, h: Tensor, y: Tensor | None) -> Tensor:
        """D's logit (N,) from its features `h` (the same head and class projection as Discriminator.forward)."""
        d = self.discriminator
        s = d.head(h).flatten(1).mean(1)
        if d.projection is not None:
            if y is None:
                raise GenlabError("vae-gan: this model is class-conditional; pass labels")
            s = s + (d.projection(y.long()) * h.mean(dim=(2, 3))).sum(1)
        return s

    def feature_loss(self, x: Tensor, x_rec: Tensor) -> Tensor:
        """L_llike per image (N,): ½‖Dis_l(x) − Dis_l(x̃)‖²/σ², targets detached (eq. 6). One discriminator pass
        over both, so a spectral-norm power iteration cannot make them differ."""
        target, rec = self.features(torch.cat([x, x_rec])).chunk(2)
        diff = rec - target.detach()
        return 0.5 * diff.pow(2).flatten(1).sum(1) / self.cfg.feature_sigma ** 2

    # --- the two phases ---------------------------------------------------------------------------------------
    def _fakes(self, x: Tensor, y: Tensor | None, z: Tensor) -> Tensor:
        """Decoded images of codes z (reconstructions) and of fresh prior draws, (2N, C, H, W) in [-1, 1]."""
        z_p = torch.randn_like(z)
        yy = None if y is None else torch.cat([y, y])
        return output_to_image(self.decoder(torch.cat([z, z_p]), self._emb(yy)), self.cfg.likelihood)

    def _discriminator_phase(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:
        with torch.no_grad():
            mu, logvar = self.encode(x, y)
            fakes = self._fakes(x, y, reparameterize(mu, logvar, torch.randn_like(mu)))
        yy = None if y is None else torch.cat([y, y])
        d_real, d_fake = self.score(self.features(x), y), self.score(self.features(fakes), yy)
        loss = discriminator_loss("ns", d_real, d_fake)
        return loss, {"d_loss": loss.detach(), "d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}

    def _model_phase(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:
        cfg = self.cfg
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar, torch.randn_like(mu))
        out = self.decoder(z, self._emb(y))
        x_rec = output_to_image(out, cfg.likelihood)
        kl_dims = kl_per_dimension(mu, logvar)
        beta_t = kl_weight(self.current_step, cfg.beta, cfg.kl_warmup_steps)
        pixel = reconstruction_nll(out, x, cfg.likelihood, cfg.gaussian_sigma).mean()
        with frozen(self.discriminator):
            feature = self.feature_loss(x, x_rec).mean()
            yy = None if y is None else torch.cat([y, y])
            adv = generator_loss("ns", self.score(self.features(self._fakes(x, y, z.detach())), yy))
        loss = beta_t * kl_dims.sum() + cfg.feature_weight * feature + cfg.pixel_weight * pixel + cfg.gan_weight * adv
        return loss, {"loss": loss.detach(), "kl": kl_dims.sum().detach(), "feature": feature.detach(),
                      "pixel": pixel.detach(), "g_loss": adv.detach(), "beta": beta_t}
