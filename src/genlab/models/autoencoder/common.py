"""Pieces shared by the GAN, VAE and autoencoder families: option checks (the configs are resolved by
`GenerativeModel._resolve_config`), the conv-net options they all take, the VAE/AE encoder-decoder construction,
decoder likelihoods (Bernoulli / Gaussian) and the step counter used by schedules.

Model space is (N, C, H, W) in [-1, 1]. A Bernoulli decoder reads targets as {0, 1} via (x + 1) / 2 and outputs
logits; a Gaussian decoder outputs the mean in model space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.errors import GenlabError
from genlab.nn.convnets import ARCHITECTURES, NORMS, ImageDecoder, ImageEncoder, auto_num_down, latent_shape_for
from genlab.nn.mlp import MLP_ACTIVATIONS

LIKELIHOODS = ("bernoulli", "gaussian")


def check_choice(family: str, name: str, value: Any, choices: tuple) -> None:
    """Raise a one-line GenlabError when option `name` of `family` is not one of `choices`."""
    if value not in choices:
        raise GenlabError(f"{family}: option '{name}' = {value!r} is not one of {', '.join(map(str, choices))}")


def check_range(family: str, name: str, value: float, low: float, high: float = math.inf) -> None:
    """Raise a one-line GenlabError when option `name` is outside [low, high]."""
    if not (low <= value <= high):
        raise GenlabError(f"{family}: option '{name}' = {value!r} must be in [{low}, {high}]")


@dataclass
class ConvNetConfig:
    """Options of the conv encoder/decoder stacks (see genlab.nn.convnets)."""

    architecture: str = "conv_dense"  # "conv_dense" (latent vector) | "fully_conv" (spatial latent map, no Linear)
    #                                    | "mlp" (dense layers only, latent vector; Burda et al. 2016)
    latent_dim: int = 32  # conv_dense / mlp: size of the latent vector z
    latent_channels: int = 8  # fully_conv: channels of the latent map (its size is the lowest feature resolution)
    num_down: int = 0  # stride-2 stages; 0 = auto (smallest side stays >= 4 px)
    base_channels: int = 32  # channels after the stem; doubled per stage
    max_channels: int = 256  # cap on channels per stage
    norm: str = "group"  # "group" | "layer" | "batch" | "none" (encoder/decoder/generator)
    class_embed_dim: int = 16  # size of the class embedding when num_classes > 0
    hidden_sizes: list[int] = field(default_factory=lambda: [200, 200])  # mlp: encoder layers (decoder: reversed)
    activation: str = "tanh"  # mlp: nonlinearity after every dense layer (genlab.nn.mlp.MLP_ACTIVATIONS)

    def validate(self, family: str) -> None:
        check_choice(family, "architecture", self.architecture, ARCHITECTURES)
        check_choice(family, "norm", self.norm, NORMS)
        check_choice(family, "activation", self.activation, MLP_ACTIVATIONS)
        sizes = self.hidden_sizes
        if (not isinstance(sizes, (list, tuple)) or not sizes
                or any(not isinstance(s, int) or isinstance(s, bool) or not 1 <= s <= 65536 for s in sizes)):
            raise GenlabError(f"{family}: option 'hidden_sizes' = {sizes!r} must be a non-empty list of ints in "
                              "[1, 65536]")
        for name in ("latent_dim", "latent_channels", "base_channels", "max_channels", "class_embed_dim"):
            check_range(family, name, getattr(self, name), 1)
        check_range(family, "num_down", self.num_down, 0, 8)

    def resolved_num_down(self, image_shape: tuple[int, ...]) -> int:
        """`num_down`, or the automatic choice for this image size when it is 0."""
        return self.num_down or auto_num_down(image_shape[1], image_shape[2])

    def latent_size(self) -> int:
        """Vector size (conv_dense, mlp) or map channels (fully_conv) of the latent."""
        return self.latent_channels if self.architecture == "fully_conv" else self.latent_dim


def net_kwargs(cfg: ConvNetConfig, image_shape: tuple[int, ...]) -> dict[str, Any]:
    """Keyword arguments shared by ImageEncoder / ImageDecoder for this config."""
    return {"image_shape": image_shape, "architecture": cfg.architecture,
            "num_down": cfg.resolved_num_down(image_shape), "base_channels": cfg.base_channels,
            "max_channels": cfg.max_channels, "norm": cfg.norm, "hidden_sizes": list(cfg.hidden_sizes),
            "activation": cfg.activation}


def label_embedding(num_classes: int, dim: int) -> nn.Embedding | None:
    """A class-embedding table (an nn.Embedding lookup, not an nn.Linear) or None when unconditional."""
    return nn.Embedding(num_classes, dim) if num_classes > 0 else None


class ConvEncoderDecoder:
    """Mixin for the VAE and autoencoder families: a conv encoder and decoder built from a ConvNetConfig, both fed
    the class embedding of a conditional model."""

    def _build_networks(self, cfg: ConvNetConfig, encoder_outputs: int = 1) -> None:
        """Set ``latent_shape``, ``encoder`` (``encoder_outputs`` × the latent size out, e.g. 2 for mean and
        log-variance), ``decoder`` and ``label_emb`` (None when unconditional), created in that order."""
        cond = cfg.class_embed_dim if self.num_classes > 0 else 0
        kw = net_kwargs(cfg, self.image_shape)
        self.latent_shape = latent_shape_for(cfg.architecture, self.image_shape, kw["num_down"], cfg.latent_size())
        self.encoder = ImageEncoder(out_size=encoder_outputs * cfg.latent_size(), cond_dim=cond, **kw)
        self.decoder = ImageDecoder(latent_size=cfg.latent_size(), cond_dim=cond, **kw)
        self.label_emb = label_embedding(self.num_classes, cfg.class_embed_dim)

    def _emb(self, y: Tensor | None) -> Tensor | None:
        """Class embedding of labels y (N,), or None for an unconditional model; a conditional one needs labels."""
        if self.label_emb is None:
            return None
        if y is None:
            raise GenlabError(f"{self.family}: this model is class-conditional; pass labels")
        return self.label_emb(y.to(self.label_emb.weight.device).long())


def default_labels(seeds: list[int] | tuple[int, ...], num_classes: int, device: torch.device) -> Tensor:
    """Labels for conditional sampling when none are given: seed mod K (so sample i depends only on seeds[i])."""
    return torch.tensor([int(s) % num_classes for s in seeds], dtype=torch.long, device=device)


# --- decoder likelihoods ------------------------------------------------------------------------------------------
def reconstruction_nll(out: Tensor, x: Tensor, likelihood: str, sigma: float) -> Tensor:
    """Negative log-likelihood per image, summed over pixels (nats), shape (N,).

    bernoulli: BCE of logits `out` against targets (x + 1) / 2 (binary data read as {0, 1}).
    gaussian: 0.5·((x − out)/σ)² + log σ + 0.5·log 2π per pixel; σ <= 0 uses the batch's optimal σ
    (σ² = mean squared error, detached; Rybkin et al. 2021, "σ-VAE").
    """
    if likelihood == "bernoulli":
        bce = F.binary_cross_entropy_with_logits(out, (x + 1) / 2, reduction="none")
        return bce.flatten(1).sum(1)
    sq = (x - out).pow(2)
    if sigma <= 0:
        sigma = float(sq.detach().mean().clamp_min(1e-6).sqrt())
    nll = 0.5 * sq / sigma**2 + math.log(sigma) + 0.5 * math.log(2 * math.pi)
    return nll.flatten(1).sum(1)


def output_to_image(out: Tensor, likelihood: str) -> Tensor:
    """Decoder output → model space [-1, 1]: bernoulli logits → 2·sigmoid − 1; gaussian means → clamp."""
    if likelihood == "bernoulli":
        return 2 * torch.sigmoid(out) - 1
    return out.clamp(-1.0, 1.0)


class StepTracking:
    """Mixin: remembers the training step the engine passes to ``phases(step)`` so schedules (KL warm-up,
    instance-noise annealing) can read it in ``forward``. ``set_step`` does the same for callers without an engine."""

    current_step: int = 0

    def set_step(self, step: int) -> None:
        self.current_step = int(step)


class AdversarialPhases(StepTracking):
    """Mixin for autoencoders trained against a discriminator (``self.discriminator``; VAE-GAN, adversarial AE):
    two optimiser groups, "discriminator" and "model" (every other parameter), both Adam with β₁ =
    ``cfg.adam_beta1``, and each step runs the discriminator phase, then the model phase."""

    def param_groups(self) -> dict[str, Any]:
        d_ids = {id(p) for p in self.discriminator.parameters()}
        return {"model": [p for p in self.parameters() if id(p) not in d_ids],
                "discriminator": list(self.discriminator.parameters())}

    def group_betas(self) -> dict[str, tuple[float, float]]:
        return {"model": (self.cfg.adam_beta1, 0.999), "discriminator": (self.cfg.adam_beta1, 0.999)}

    def phases(self, step: int) -> list[str]:
        self.set_step(step)
        return ["discriminator", "model"]


class LatentGeneration:
    """Mixin for latent-variable families: ``generate`` decodes ``sample_latent(seeds)`` (prior, generator noise or
    the fitted code Gaussian, as the family defines it); conditional models default to label = seed mod K."""

    @torch.no_grad()
    def generate(self, seeds, labels: Tensor | None = None, temperature: float = 1.0, callback: Any = None) -> Tensor:
        """One sample per seed, (len(seeds), C, H, W) in [-1, 1]; sample i depends only on seeds[i] (one network
        pass: `callback` is never called)."""
        z = self.sample_latent(seeds, temperature)
        if self.num_classes > 0 and labels is None:
            labels = default_labels(seeds, self.num_classes, z.device)
        return self.decode(z, labels)


def linear_ramp(step: int, warmup_steps: int) -> float:
    """0 → 1 linearly over `warmup_steps` (1 at once when warmup_steps <= 0)."""
    return 1.0 if warmup_steps <= 0 else min(1.0, max(0.0, step / warmup_steps))
