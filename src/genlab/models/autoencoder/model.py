"""The "ae", "dae" and "sparse-ae" families: deterministic autoencoders x → code h → x̂.

Loss (per image): reconstruction NLL (Gaussian = ½·SSE/σ² + const, or Bernoulli BCE) of the *clean* image from
the (optionally corrupted) input, plus a sparsity penalty on the code. The three families share one class and
differ only in Config defaults.

Sampling: an autoencoder has no prior, so `generate` draws codes from a density fitted to the training codes — the
"ex-post density estimation" of Ghosh et al. (2020, "From variational to deterministic autoencoders"). With
``code_density="gmm"`` (the default) the engine fits a full-covariance Gaussian mixture to the codes of training
images with the sampling (EMA) weights before every grid and snapshot (`fit_density`; `genlab latent fit-density`
does it for a saved snapshot). Until a mixture is fitted, and with ``code_density="gaussian"``, codes come from one
full-covariance Gaussian tracked by running mean and covariance buffers in every training forward. One Gaussian
fills the space between a sparse code's axis-aligned pieces with codes no image has: the sparse autoencoder's
samples were scribbles on MNIST with it. Samples stay rougher than a VAE's; that is the expected lesson.
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
    check_choice,
    check_range,
    output_to_image,
    reconstruction_nll,
)
from genlab.models.autoencoder.density import fit_gmm, sample_gmm
from genlab.models.autoencoder.perceptual import PerceptualOption
from genlab.models.autoencoder.regularizers import CORRUPTIONS, SPARSITIES, corrupt, kl_sparsity, l1_sparsity
from genlab.models.base import GenerativeModel, Logs
from genlab.utils.seeding import randn_per_sample

CODE_DENSITIES = ("gmm", "gaussian")


@dataclass
class AEConfig(ConvNetConfig):
    """Plain autoencoder."""

    likelihood: str = "gaussian"  # "gaussian" (squared error) | "bernoulli" (BCE, binary data)
    gaussian_sigma: float = 1.0  # σ of the Gaussian reconstruction term (1 → ½·SSE)
    corruption: str = "none"  # "none" | "gaussian" | "masking" | "salt_pepper" (denoising AE)
    corruption_level: float = 0.0  # σ for gaussian; pixel probability for masking / salt_pepper
    sparsity: str = "none"  # "none" | "l1" | "kl" (kl puts a sigmoid on the code)
    sparsity_weight: float = 0.0  # weight of the sparsity penalty
    sparsity_target: float = 0.05  # target mean activation ρ of the kl penalty
    code_momentum: float = 0.01  # momentum of the running code mean/covariance (the "gaussian" code density)
    code_density: str = "gmm"  # what `generate` samples codes from: "gmm" (fitted mixture) | "gaussian"
    density_components: int = 10  # mixture components K (Ghosh et al. 2020 use 10)
    perceptual_weight: float = 0.0  # weight of the feature-space loss added to the reconstruction (0 = off)
    perceptual_net: str = "mnist"  # which shipped domain feature net it uses (genlab.metrics.perceptual)

    def validate(self, family: str) -> None:
        super().validate(family)
        check_choice(family, "likelihood", self.likelihood, LIKELIHOODS)
        check_choice(family, "corruption", self.corruption, CORRUPTIONS)
        check_choice(family, "sparsity", self.sparsity, SPARSITIES)
        check_range(family, "corruption_level", self.corruption_level, 0.0, 1.0 if self.corruption != "gaussian"
                    else 10.0)
        check_range(family, "sparsity_weight", self.sparsity_weight, 0.0)
        check_range(family, "sparsity_target", self.sparsity_target, 1e-4, 1 - 1e-4)
        check_range(family, "code_momentum", self.code_momentum, 0.0, 1.0)
        check_choice(family, "code_density", self.code_density, CODE_DENSITIES)
        check_range(family, "density_components", self.density_components, 1, 256)
        check_range(family, "perceptual_weight", self.perceptual_weight, 0.0)


@dataclass
class DAEConfig(AEConfig):
    """Denoising autoencoder (Vincent et al. 2008/2010): reconstruct the clean image from a corrupted one."""

    corruption: str = "gaussian"
    corruption_level: float = 0.3


@dataclass
class SparseAEConfig(AEConfig):
    """Sparse autoencoder: an L1 (or KL, Ng 2011) penalty on the code activations."""

    latent_dim: int = 64
    sparsity: str = "l1"
    sparsity_weight: float = 0.1


class Autoencoder(ConvEncoderDecoder, LatentGeneration, PerceptualOption, GenerativeModel):
    """x (N, C, H, W) in [-1, 1] → code (N, *latent_shape) → x̂ (N, C, H, W)."""

    family = "ae"
    Config = AEConfig
    sampling_options = ("temperature",)
    latent_kind = "code"
    has_latent = True
    fits_density = True

    def __init__(self, image_shape: Sequence[int], num_classes: int = 0, **hparams: Any):
        super().__init__(image_shape, num_classes, **hparams)
        cfg = self._resolve_config(hparams)
        self._build_networks(cfg)
        self.register_buffer("code_mean", torch.zeros(self.latent_shape))
        self.register_buffer("code_var", torch.ones(self.latent_shape))
        self.register_buffer("code_cov", torch.eye(self.code_mean.numel()))
        k, d = cfg.density_components, self.code_mean.numel()
        # the fitted mixture; all-zero weights = not fitted yet (sample from the running Gaussian)
        self.register_buffer("gmm_weights", torch.zeros(k))
        self.register_buffer("gmm_means", torch.zeros(k, d))
        self.register_buffer("gmm_chol", torch.eye(d).expand(k, d, d).clone())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        # Snapshots written before the covariance buffer existed sample from their diagonal, as they did then;
        # those written before the mixture existed load as "not fitted" and sample from the running Gaussian.
        key = prefix + "code_cov"
        if key not in state_dict and prefix + "code_var" in state_dict:
            state_dict[key] = torch.diag(state_dict[prefix + "code_var"].flatten())
        if prefix + "code_mean" in state_dict and prefix + "gmm_weights" not in state_dict:
            state_dict[prefix + "gmm_weights"] = torch.zeros_like(self.gmm_weights)
            for name in ("gmm_means", "gmm_chol"):
                state_dict[prefix + name] = getattr(self, name).clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        """Reconstruction NLL of clean x from corrupt(x), plus the sparsity penalty (nats-like units per image)."""
        if phase != "model":
            raise GenlabError(f"{self.family}: unknown training phase '{phase}'; expected 'model'")
        code = self.encode(corrupt(x, self.cfg.corruption, self.cfg.corruption_level), y)
        out = self.decoder(code, self._emb(y))
        recon = reconstruction_nll(out, x, self.cfg.likelihood, self.cfg.gaussian_sigma).mean()
        sparse = self._sparsity(code)
        loss = recon + self.cfg.sparsity_weight * sparse
        self._track_codes(code)
        x_hat = output_to_image(out, self.cfg.likelihood)
        logs = {"recon": recon.detach(), "mse": (x_hat - x).pow(2).mean().detach(), "sparsity": sparse.detach(),
                "code_abs_mean": code.abs().mean().detach()}
        if self.cfg.perceptual_weight > 0:  # feature-space L2 with the domain feature net
            perceptual = self.perceptual_term(x_hat, x).mean()
            loss = loss + self.cfg.perceptual_weight * perceptual
            logs["perceptual"] = perceptual.detach()
        return loss, {"loss": loss.detach(), **logs}

    def _sparsity(self, code: Tensor) -> Tensor:
        if self.cfg.sparsity == "l1":
            return l1_sparsity(code)
        if self.cfg.sparsity == "kl":
            return kl_sparsity(code, self.cfg.sparsity_target)
        return code.new_zeros(())

    @torch.no_grad()
    def _track_codes(self, code: Tensor) -> None:
        m = self.cfg.code_momentum
        self.code_mean.lerp_(code.mean(0), m)
        if code.shape[0] < 2:
            return
        self.code_var.lerp_(code.var(0, unbiased=False), m)
        flat = code.flatten(1).float()
        flat = flat - flat.mean(0)
        self.code_cov.lerp_(flat.T @ flat / flat.shape[0], m)

    # --- latent interface -------------------------------------------------------------------------------------
    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """x (N, C, H, W) → code (N, *latent_shape) (sigmoid activations when sparsity='kl')."""
        code = self.encoder(x, self._emb(y))
        return torch.sigmoid(code) if self.cfg.sparsity == "kl" else code

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """code (N, *latent_shape) → images (N, C, H, W) in [-1, 1]."""
        return output_to_image(self.decoder(z, self._emb(y)), self.cfg.likelihood)

    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """decode(encode(x)), (N, C, H, W) in [-1, 1]."""
        return self.decode(self.encode(x, y), y)

    @property
    def density_fitted(self) -> bool:
        """True when a code mixture has been fitted (and ``code_density`` is "gmm")."""
        return self.cfg.code_density == "gmm" and bool(self.gmm_weights.sum() > 0)

    @torch.no_grad()
    def fit_density(self, x: Tensor, y: Tensor | None = None, batch_size: int = 256, seed: int = 0
                    ) -> dict[str, float]:
        """Fit the code mixture to the codes of images x (N, C, H, W) in [-1, 1] (labels y for a conditional
        model) with the current weights. Returns its mean log-likelihood per code and EM iterations; {} when
        ``code_density`` is not "gmm"."""
        if self.cfg.code_density != "gmm":
            return {}
        codes = torch.cat([self.encode(x[i:i + batch_size], None if y is None else y[i:i + batch_size])
                           for i in range(0, x.shape[0], batch_size)]).flatten(1)
        fit = fit_gmm(codes, self.cfg.density_components, seed=seed)
        k = fit.weights.shape[0]  # fewer than K when there are fewer codes than components
        self.gmm_weights.zero_()[:k].copy_(fit.weights)
        self.gmm_means.zero_()[:k].copy_(fit.means)
        self.gmm_chol[:k].copy_(fit.chol)
        return {"density_log_likelihood": fit.log_likelihood, "density_iterations": float(fit.iterations)}

    def sample_latent(self, seeds: Sequence[int], temperature: float = 1.0) -> Tensor:
        """Codes (len(seeds), *latent_shape) from the fitted mixture, else from N(code_mean, T²·code_cov); row i
        uses only seeds[i]."""
        device = self.code_mean.device
        if self.density_fitted:
            noise = randn_per_sample(seeds, (self.code_mean.numel() + 1,), device=device)
            z = sample_gmm(noise, self.gmm_weights, self.gmm_means, self.gmm_chol, temperature)
            z = z.view(-1, *self.latent_shape)
        else:
            eps = randn_per_sample(seeds, self.latent_shape, device=device).flatten(1)
            z = self.code_mean + temperature * (eps @ self._code_cholesky().T).view(-1, *self.latent_shape)
        return z.clamp(0.0, 1.0) if self.cfg.sparsity == "kl" else z

    def _code_cholesky(self) -> Tensor:
        """Lower Cholesky factor of the code covariance, with jitter grown until it factorises."""
        cov = 0.5 * (self.code_cov + self.code_cov.T).double()
        eye = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
        jitter = 1e-6 * float(cov.diagonal().mean().clamp_min(1e-12))
        for _ in range(8):
            chol, info = torch.linalg.cholesky_ex(cov + jitter * eye)
            if int(info) == 0:
                return chol.to(self.code_mean.dtype)
            jitter *= 10
        raise GenlabError(f"{self.family}: the fitted code covariance is not positive definite")



class DenoisingAutoencoder(Autoencoder):
    family = "dae"
    Config = DAEConfig


class SparseAutoencoder(Autoencoder):
    family = "sparse-ae"
    Config = SparseAEConfig

