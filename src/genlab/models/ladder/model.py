"""The "ladder-vae" family: a two-level hierarchical VAE with top-down inference (Sønderby, Raiko, Maaløe,
Sønderby & Winther 2016, "Ladder variational autoencoders").

Generative model (top-down): z2 ~ N(0, I), z1 | z2 ~ N(μ_p(z2), σ²_p(z2)), x | z1, z2 ~ Bernoulli/Gaussian
(decoder on the concatenated [z1, z2]). Inference shares the top-down path (eq. 16–20): a deterministic bottom-up
pass gives Gaussian "likelihood" terms (μ̂₁, σ̂₁²) and the top posterior q(z2|x) = N(μ̂₂, σ̂₂²); then, going down,
q(z1 | x, z2) is the precision-weighted combination of the bottom-up term and the generative prior p(z1 | z2):

    σ₁² = 1 / (σ̂₁⁻² + σ_p⁻²),   μ₁ = (μ̂₁ σ̂₁⁻² + μ_p σ_p⁻²) · σ₁²                                        (eq. 19–20)

Loss per image (nats): −log p(x|z1,z2) + β_t · [KL(q(z2|x) ‖ N(0, I)) + KL(q(z1|x,z2) ‖ p(z1|z2))], both KLs in
closed form for the sampled z2, with linear KL warm-up (Sønderby et al. §2.3) and optional free bits per level.

Latent (for the latent tools): the concatenation [z1, z2], (N, latent_dim + top_latent_dim). `encode` gives its
Gaussian posterior with z2 at its mean; `sample_latent` runs the top-down prior, so decoding it is a sample.
`log_importance_weights` gives log p(x, z1, z2) − log q(z1, z2 | x) per importance sample (IWAE, Burda et al.).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from genlab.errors import GenlabError
from genlab.models.autoencoder.common import (
    LIKELIHOODS,
    ConvEncoderDecoder,
    ConvNetConfig,
    LatentGeneration,
    StepTracking,
    check_choice,
    check_range,
    label_embedding,
    net_kwargs,
    output_to_image,
    reconstruction_nll,
)
from genlab.models.base import GenerativeModel, Logs
from genlab.models.vae.losses import free_bits_kl, kl_to_standard_normal, kl_weight, reparameterize
from genlab.nn.convnets import ImageDecoder, ImageEncoder
from genlab.utils.seeding import randn_per_sample

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def gaussian_kl(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL(N(μ_q, σ_q²) ‖ N(μ_p, σ_p²)) per element (nats): ½[log σ_p²/σ_q² + (σ_q² + (μ_q − μ_p)²)/σ_p² − 1]."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) * torch.exp(-logvar_p) - 1.0)


def log_normal(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z | μ, σ²) summed over the last dimension (nats)."""
    return (-0.5 * (z - mu).pow(2) * torch.exp(-logvar) - 0.5 * logvar - _HALF_LOG_2PI).sum(-1)


def precision_weighted(mu_a: Tensor, logvar_a: Tensor, mu_b: Tensor, logvar_b: Tensor) -> tuple[Tensor, Tensor]:
    """Product of two Gaussians, renormalised: (μ, log σ²) with σ⁻² = σ_a⁻² + σ_b⁻² (Sønderby et al. eq. 19–20)."""
    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    var = 1.0 / (prec_a + prec_b)
    return (mu_a * prec_a + mu_b * prec_b) * var, torch.log(var)


@dataclass
class LadderVAEConfig(ConvNetConfig):
    """Two stochastic layers: z1 (latent_dim, near the pixels) and z2 (top_latent_dim, the top)."""

    latent_dim: int = 32  # size of z1
    top_latent_dim: int = 16  # size of z2
    hidden: int = 256  # width of the deterministic bottom-up / top-down MLP layers
    likelihood: str = "bernoulli"  # "bernoulli" (BCE) | "gaussian"
    gaussian_sigma: float = 0.1  # decoder σ in model-space units (gaussian)
    beta: float = 1.0  # KL weight after warm-up
    kl_warmup_steps: int = 0  # linear KL annealing 0 → β (Sønderby et al. use warm-up for the top layers)
    free_bits: float = 0.0  # per latent element floor on each level's KL, nats (0 = off)
    logvar_min: float = -10.0  # clamp of every predicted log-variance (numerical safety)

    def validate(self, family: str) -> None:
        super().validate(family)
        if self.architecture != "conv_dense":
            raise GenlabError(f"{family}: option 'architecture' = {self.architecture!r} is not supported; the "
                              "ladder's stochastic layers are vectors (use 'conv_dense')")
        check_range(family, "top_latent_dim", self.top_latent_dim, 1, 4096)
        check_range(family, "hidden", self.hidden, 1, 65536)
        check_choice(family, "likelihood", self.likelihood, LIKELIHOODS)
        check_range(family, "gaussian_sigma", self.gaussian_sigma, 0.0)
        check_range(family, "beta", self.beta, 0.0)
        check_range(family, "kl_warmup_steps", self.kl_warmup_steps, 0)
        check_range(family, "free_bits", self.free_bits, 0.0)


class LadderVAE(ConvEncoderDecoder, LatentGeneration, StepTracking, GenerativeModel):
    """Ladder VAE on images (N, C, H, W) in [-1, 1]; latent [z1, z2] (N, latent_dim + top_latent_dim)."""

    family = "ladder-vae"
    Config = LadderVAEConfig
    sampling_options = ("temperature",)
    latent_kind = "code"
    has_latent = True

    def __init__(self, image_shape: Sequence[int], num_classes: int = 0, **hparams: Any):
        super().__init__(image_shape, num_classes, **hparams)
        cfg = self._resolve_config(hparams)
        d1, d2, h = cfg.latent_dim, cfg.top_latent_dim, cfg.hidden
        cond = cfg.class_embed_dim if num_classes > 0 else 0
        kw = net_kwargs(cfg, self.image_shape)
        self.latent_shape = (d1 + d2,)
        # bottom-up: x → d1 (→ μ̂₁, log σ̂₁²) → d2 (→ μ̂₂, log σ̂₂²)
        self.encoder = ImageEncoder(out_size=h, cond_dim=cond, **kw)
        self.up1 = nn.Linear(h, 2 * d1)
        self.up2 = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, 2 * d2))
        # top-down: z2 → (μ_p, log σ_p²) of p(z1 | z2)
        self.down = nn.Sequential(nn.Linear(d2, h), nn.LeakyReLU(0.2), nn.Linear(h, h), nn.LeakyReLU(0.2),
                                  nn.Linear(h, 2 * d1))
        self.decoder = ImageDecoder(latent_size=d1 + d2, cond_dim=cond, **kw)
        self.label_emb = label_embedding(num_classes, cfg.class_embed_dim)

    # --- the two passes ---------------------------------------------------------------------------------------
    def bottom_up(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x → (μ̂₁, log σ̂₁², μ₂, log σ₂²): z1's bottom-up Gaussian term and the top posterior q(z2|x), (N, d)."""
        d = self.encoder(x, self._emb(y))
        mu1, lv1 = self.up1(nn.functional.leaky_relu(d, 0.2)).chunk(2, dim=1)
        mu2, lv2 = self.up2(d).chunk(2, dim=1)
        lo = self.cfg.logvar_min
        return mu1, lv1.clamp_min(lo), mu2, lv2.clamp_min(lo)

    def top_down(self, z2: Tensor) -> tuple[Tensor, Tensor]:
        """p(z1 | z2): (μ_p, log σ_p²), (N, latent_dim)."""
        mu, lv = self.down(z2).chunk(2, dim=1)
        return mu, lv.clamp_min(self.cfg.logvar_min)

    def _posterior_z1(self, mu1h: Tensor, lv1h: Tensor, z2: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """q(z1 | x, z2) and p(z1 | z2) for a z2: (μ₁, log σ₁², μ_p, log σ_p²)."""
        mu_p, lv_p = self.top_down(z2)
        mu1, lv1 = precision_weighted(mu1h, lv1h, mu_p, lv_p)
        return mu1, lv1, mu_p, lv_p

    # --- training ---------------------------------------------------------------------------------------------
    def phases(self, step: int) -> list[str]:
        self.set_step(step)
        return ["model"]

    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        """Negative ELBO (β, warm-up, free bits per level) of a batch x (N, C, H, W); logs in nats per image."""
        if phase != "model":
            raise GenlabError(f"ladder-vae: unknown training phase '{phase}'; expected 'model'")
        cfg = self.cfg
        mu1h, lv1h, mu2, lv2 = self.bottom_up(x, y)
        z2 = reparameterize(mu2, lv2, torch.randn_like(mu2))
        mu1, lv1, mu_p, lv_p = self._posterior_z1(mu1h, lv1h, z2)
        z1 = reparameterize(mu1, lv1, torch.randn_like(mu1))
        out = self.decoder(torch.cat([z1, z2], dim=1), self._emb(y))
        recon = reconstruction_nll(out, x, cfg.likelihood, cfg.gaussian_sigma).mean()
        kl1_dims = gaussian_kl(mu1, lv1, mu_p, lv_p).mean(0)  # (d1,)
        kl2_dims = kl_to_standard_normal(mu2, lv2).mean(0)  # (d2,)
        beta_t = kl_weight(self.current_step, cfg.beta, cfg.kl_warmup_steps)
        kl_term = free_bits_kl(kl1_dims, cfg.free_bits) + free_bits_kl(kl2_dims, cfg.free_bits)
        loss = recon + beta_t * kl_term
        kl1, kl2 = kl1_dims.sum().detach(), kl2_dims.sum().detach()
        return loss, {"loss": loss.detach(), "recon": recon.detach(), "kl1": kl1, "kl2": kl2, "beta": beta_t,
                      "elbo": -(recon.detach() + kl1 + kl2), "active_z1": float((kl1_dims > 0.01).sum()),
                      "active_z2": float((kl2_dims > 0.01).sum())}

    # --- likelihood ---------------------------------------------------------------------------------------------
    def log_importance_weights(self, x: Tensor, k: int, y: Tensor | None = None,
                               noise: Tensor | None = None) -> Tensor:
        """log w_i = log p(x, z1_i, z2_i) − log q(z1_i, z2_i | x), (z1_i, z2_i) ~ q, i = 1..k: (N, k) in nats.

        z2_i ~ q(z2|x), then z1_i ~ q(z1|x, z2_i); log p = log p(x|z1,z2) + log p(z1|z2) + log N(z2; 0, I).
        `noise` (N, k, latent_dim + top_latent_dim) fixes the standard-normal draws ([ε₁, ε₂]); else fresh ones.
        """
        d1 = self.cfg.latent_dim
        mu1h, lv1h, mu2, lv2 = self.bottom_up(x, y)
        n = x.shape[0]
        if noise is None:
            noise = torch.randn((n, k, self.latent_shape[0]), device=mu2.device, dtype=mu2.dtype)
        eps = noise.to(mu2.device, mu2.dtype).flatten(0, 1)  # (N·k, d1 + d2)
        rep = lambda t: t.repeat_interleave(k, dim=0)  # (N, d) → (N·k, d), row i·k + j = image i
        mu2, lv2, mu1h, lv1h = rep(mu2), rep(lv2), rep(mu1h), rep(lv1h)
        z2 = reparameterize(mu2, lv2, eps[:, d1:])
        mu1, lv1, mu_p, lv_p = self._posterior_z1(mu1h, lv1h, z2)
        z1 = reparameterize(mu1, lv1, eps[:, :d1])
        emb = self._emb(None if y is None else y.repeat_interleave(k, dim=0))
        out = self.decoder(torch.cat([z1, z2], dim=1), emb)
        log_lik = -reconstruction_nll(out, x.repeat_interleave(k, dim=0), self.cfg.likelihood,
                                      self.cfg.gaussian_sigma)
        log_p = log_lik + log_normal(z1, mu_p, lv_p) + log_normal(z2, torch.zeros_like(z2), torch.zeros_like(z2))
        log_q = log_normal(z1, mu1, lv1) + log_normal(z2, mu2, lv2)
        return (log_p - log_q).view(n, k)

    def negative_elbo(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Per-image −ELBO in nats (N,) at the posterior means (no sampling noise): NLL + KL(z2) + KL(z1 | z2)."""
        mu1h, lv1h, mu2, lv2 = self.bottom_up(x, y)
        mu1, lv1, mu_p, lv_p = self._posterior_z1(mu1h, lv1h, mu2)
        out = self.decoder(torch.cat([mu1, mu2], dim=1), self._emb(y))
        nll = reconstruction_nll(out, x, self.cfg.likelihood, self.cfg.gaussian_sigma)
        return nll + gaussian_kl(mu1, lv1, mu_p, lv_p).sum(1) + kl_to_standard_normal(mu2, lv2).sum(1)

    # --- latent interface (used by genlab.latent) ------------------------------------------------------------
    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x → (mu, logvar) of [z1, z2], each (N, latent_dim + top_latent_dim); z1's posterior takes z2 = its mean."""
        mu1h, lv1h, mu2, lv2 = self.bottom_up(x, y)
        mu1, lv1, _, _ = self._posterior_z1(mu1h, lv1h, mu2)
        return torch.cat([mu1, mu2], dim=1), torch.cat([lv1, lv2], dim=1)

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """[z1, z2] (N, latent_dim + top_latent_dim) → images (N, C, H, W) in [-1, 1] (Bernoulli: 2·p − 1)."""
        return output_to_image(self.decoder(z, self._emb(y)), self.cfg.likelihood)

    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.decode(self.encode(x, y)[0], y)

    def sample_latent(self, seeds: Sequence[int], temperature: float = 1.0) -> Tensor:
        """Ancestral draws [z1, z2]: z2 ~ N(0, T²I), z1 = μ_p(z2) + T·σ_p(z2)·ε; row i depends only on seeds[i]."""
        device = next(self.parameters()).device
        d1 = self.cfg.latent_dim
        eps = temperature * randn_per_sample(seeds, self.latent_shape, device=device)
        z2 = eps[:, d1:]
        mu_p, lv_p = self.top_down(z2)
        return torch.cat([reparameterize(mu_p, lv_p, eps[:, :d1]), z2], dim=1)
