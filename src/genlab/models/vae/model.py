"""The "vae" family: Gaussian encoder q(z|x), Bernoulli or Gaussian decoder p(x|z), optional class conditioning.

Loss per batch (nats per image): recon + β_t · Σ_j max(λ, KL_j), i.e. the negative ELBO (Kingma & Welling 2014)
with β (Higgins et al. 2017), linear KL warm-up (Bowman et al. 2016) and free bits λ (Kingma et al. 2016).
``architecture="fully_conv"`` uses a spatial latent map and contains no nn.Linear (LTrace facies test).

Binarized data: ``binarize="dynamic"`` redraws every training image as Bernoulli pixels with P(on) = intensity at
every step (dynamic binarization, as in Burda et al. 2016), so a Bernoulli decoder models binary images and its
log-likelihood is comparable to the published binarized-MNIST figures (genlab.metrics.likelihood evaluates on a
seeded binarization of the test set). ``objective="iwae"`` trains the importance-weighted bound with ``iwae_k``
samples instead of the ELBO (Burda et al. 2016, the "IWAE"); β, warm-up and free bits then do not apply.
"""

from __future__ import annotations

import math
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
    linear_ramp,
    output_to_image,
    reconstruction_nll,
)
from genlab.models.autoencoder.perceptual import PerceptualOption
from genlab.models.base import GenerativeModel, Logs
from genlab.models.vae.losses import (
    free_bits_kl,
    kl_per_dimension,
    kl_to_standard_normal,
    kl_weight,
    reparameterize,
    total_correlation,
)
from genlab.utils.seeding import randn_per_sample

BINARIZATIONS = ("none", "dynamic")
OBJECTIVES = ("elbo", "iwae")


def binarize_images(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Stochastic binarization of images in model space [-1, 1]: pixel on (+1) with probability (x + 1) / 2, else
    −1. `generator` makes it reproducible (the fixed test binarization); without one it is a fresh draw."""
    p = ((x + 1) / 2).clamp(0.0, 1.0)
    u = torch.rand(p.shape, generator=generator, device=generator.device if generator is not None else p.device)
    return torch.where(u.to(p.device) < p, 1.0, -1.0).to(x.dtype)


@dataclass
class VAEConfig(ConvNetConfig):
    """Hyper-parameters of the VAE (the conv-net options come from ConvNetConfig)."""

    likelihood: str = "bernoulli"  # "bernoulli" (binary / near-binary data, BCE) | "gaussian"
    gaussian_sigma: float = 0.1  # decoder σ in model-space units; <= 0: optimal σ per batch (σ-VAE)
    beta: float = 1.0  # KL weight after warm-up (β-VAE)
    kl_warmup_steps: int = 0  # linear KL annealing 0 → β over this many steps
    free_bits: float = 0.0  # per latent element floor on the KL, nats (0 = off)
    logvar_min: float = -10.0  # clamp of the encoder's log-variance (numerical safety)
    binarize: str = "none"  # "none" | "dynamic": training images redrawn as Bernoulli pixels every step
    objective: str = "elbo"  # "elbo" (β, warm-up, free bits apply) | "iwae" (importance-weighted bound, iwae_k)
    iwae_k: int = 5  # importance samples of the "iwae" objective
    tc_beta: float = 1.0  # β-TC-VAE: weight of the total-correlation part of the KL (1 = plain ELBO; Chen et al. 2018)
    perceptual_weight: float = 0.0  # weight of the feature-space loss added to the reconstruction (0 = off)
    perceptual_net: str = "mnist"  # which shipped domain feature net it uses (genlab.metrics.perceptual)

    def validate(self, family: str) -> None:
        super().validate(family)
        check_choice(family, "likelihood", self.likelihood, LIKELIHOODS)
        check_range(family, "beta", self.beta, 0.0)
        check_range(family, "kl_warmup_steps", self.kl_warmup_steps, 0)
        check_range(family, "free_bits", self.free_bits, 0.0)
        check_choice(family, "binarize", self.binarize, BINARIZATIONS)
        check_choice(family, "objective", self.objective, OBJECTIVES)
        check_range(family, "iwae_k", self.iwae_k, 1, 4096)
        check_range(family, "tc_beta", self.tc_beta, 0.0, 1000.0)
        check_range(family, "perceptual_weight", self.perceptual_weight, 0.0)
        if self.binarize != "none" and self.likelihood != "bernoulli":
            raise GenlabError(f"{family}: option 'binarize' = {self.binarize!r} needs likelihood 'bernoulli', "
                              f"got {self.likelihood!r}")


class VAE(ConvEncoderDecoder, LatentGeneration, StepTracking, PerceptualOption, GenerativeModel):
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
        if self.cfg.binarize == "dynamic" and self.training:
            x = binarize_images(x)
        if self.cfg.objective == "iwae":
            bound = self._logmeanexp(self.log_importance_weights(x, self.cfg.iwae_k, y)).mean()
            return -bound, {"loss": -bound.detach(), "iwae": bound.detach(), "iwae_k": float(self.cfg.iwae_k)}
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar, torch.randn_like(mu))
        out = self.decoder(z, self._emb(y))
        recon = reconstruction_nll(out, x, self.cfg.likelihood, self.cfg.gaussian_sigma).mean()
        kl_dims = kl_per_dimension(mu, logvar)  # (D,)
        kl = kl_dims.sum()
        beta_t = kl_weight(self.current_step, self.cfg.beta, self.cfg.kl_warmup_steps)
        loss = recon + beta_t * free_bits_kl(kl_dims, self.cfg.free_bits)
        logs = {"recon": recon.detach(), "kl": kl.detach(), "beta": beta_t, "elbo": -(recon + kl).detach(),
                "kl_active_dims": float((kl_dims > 0.01).sum())}
        if self.cfg.tc_beta != 1.0:  # β-TC-VAE: KL = MI + TC + dim-wise KL; TC gets weight tc_beta instead of 1
            tc = total_correlation(z, mu, logvar)
            loss = loss + linear_ramp(self.current_step, self.cfg.kl_warmup_steps) * (self.cfg.tc_beta - 1.0) * tc
            logs["tc"] = tc.detach()
        if self.cfg.perceptual_weight > 0:  # feature-space L2 with the domain feature net
            perceptual = self.perceptual_term(output_to_image(out, self.cfg.likelihood), x).mean()
            loss = loss + self.cfg.perceptual_weight * perceptual
            logs["perceptual"] = perceptual.detach()
        return loss, {"loss": loss.detach(), **logs}

    @staticmethod
    def _logmeanexp(log_w: Tensor) -> Tensor:
        return torch.logsumexp(log_w, dim=1) - math.log(log_w.shape[1])

    def log_importance_weights(self, x: Tensor, k: int, y: Tensor | None = None,
                               noise: Tensor | None = None) -> Tensor:
        """log w_i = log p(x | z_i) + log p(z_i) − log q(z_i | x) for z_i ~ q(z | x), i = 1..k: (N, k) in nats.

        logmeanexp over i is the importance-weighted bound L_k (Burda et al. 2016); i = 1 is an unbiased ELBO
        sample. `noise` (N, k, *latent_shape) fixes the standard-normal draws (else fresh ones). The decoder runs
        on N·k codes at once, so callers bound memory by choosing N and k (genlab.metrics.likelihood chunks).
        """
        mu, logvar = self.encode(x, y)
        n = mu.shape[0]
        if noise is None:
            noise = torch.randn((n, k, *mu.shape[1:]), device=mu.device, dtype=mu.dtype)
        eps = noise.to(mu.device, mu.dtype)
        z = mu.unsqueeze(1) + (0.5 * logvar).exp().unsqueeze(1) * eps  # (N, k, *latent)
        half_log_2pi = 0.5 * math.log(2 * math.pi)
        log_q = (-0.5 * eps.pow(2) - 0.5 * logvar.unsqueeze(1) - half_log_2pi).flatten(2).sum(2)
        log_prior = (-0.5 * z.pow(2) - half_log_2pi).flatten(2).sum(2)
        emb = self._emb(None if y is None else y.repeat_interleave(k, dim=0))
        out = self.decoder(z.flatten(0, 1), emb)
        log_lik = -reconstruction_nll(out, x.repeat_interleave(k, dim=0), self.cfg.likelihood,
                                      self.cfg.gaussian_sigma).view(n, k)
        return log_lik + log_prior - log_q

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


