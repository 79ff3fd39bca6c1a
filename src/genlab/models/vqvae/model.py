"""The "vq-vae" family: vector-quantised autoencoder with a learned prior over its codes (van den Oord, Vinyals &
Kavukcuoglu 2017, "Neural discrete representation learning").

The encoder gives a map z_e(x) (N, D, h, w); every position is replaced by its nearest codebook entry
e_k (K entries of size D), z_q = e_argmin‖z_e − e_k‖, and the decoder reconstructs x from z_q. Loss per image (eq. 3):

    −log p(x | z_q) + ‖sg[z_e] − z_q‖² + β‖z_e − sg[z_q]‖²

(reconstruction NLL in nats; codebook loss; commitment loss with β = ``commitment``, 0.25 in the paper; the squared
norms are summed over the map). The gradient of the reconstruction crosses the quantiser unchanged — the
straight-through estimator z_e + sg[z_q − z_e] (§3.2). The codebook starts from the data (``codebook_init="kmeans"``,
the default): at the first training step it is set to k-means++ centres (Arthur & Vassilvitskii 2007) of the first
batch's encoder outputs, refined by a few Lloyd iterations — the paper's uniform ±1/K start (``"uniform"``) sits far
from encoder outputs of order 1, so the first few codes any output lands near take everything (a 64-code run used
~17). Codes unused for ``restart_every`` steps are moved onto random encoder outputs of the batch (dead-code
restarts, as in Dhariwal et al. 2020 "Jukebox" §B.1) so the small codebook stays in use.

Sampling needs a prior over codes: a small causal transformer (genlab.models.vqvae.prior) is fitted to the codes
of training images in its own phase "prior" (its own optimiser; the encoder runs without gradients), from
``prior_start_step`` on, while the autoencoder trains in phase "model"; from ``prior_only_from_step`` on (when
set) only the prior trains, on codes that no longer move. `generate` draws a code grid from the prior (its logits
divided by ``temperature``; 0 = the most likely code at every position) and decodes it.

Latent (for the latent tools): the quantised map z_q (N, D, h, w). `encode` gives z_q (so decode(encode(x)) is the
reconstruction); `decode` takes any continuous map, so latent sliders move smoothly between codebook vectors.
With class labels, encoder and decoder see the label and the prior stays unconditional (it models the codes, which
then need to hold only what the label does not say).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from genlab.errors import GenlabError
from genlab.models.autoencoder.common import (
    LIKELIHOODS,
    ConvEncoderDecoder,
    ConvNetConfig,
    StepTracking,
    check_choice,
    check_range,
    default_labels,
    output_to_image,
    reconstruction_nll,
)
from genlab.models.base import GenerativeModel, Logs
from genlab.models.vqvae.prior import CodePrior
from genlab.utils.seeding import sample_generators

CODEBOOK_INITS = ("kmeans", "uniform")
LLOYD_ITERATIONS = 10


@dataclass
class VQVAEConfig(ConvNetConfig):
    """Conv encoder/decoder (fully convolutional: the code is a map), codebook, and the prior's size."""

    architecture: str = "fully_conv"  # the code grid is the encoder's lowest-resolution map
    latent_channels: int = 16  # D, the size of each codebook vector
    codebook_size: int = 64  # K, the number of codes
    commitment: float = 0.25  # β of the commitment loss
    likelihood: str = "bernoulli"  # "bernoulli" (BCE) | "gaussian"
    gaussian_sigma: float = 0.1  # σ of the Gaussian reconstruction term, model-space units
    restart_every: int = 100  # steps between dead-code restarts (0 = never)
    codebook_init: str = "kmeans"  # "kmeans": k-means++ on the first training batch's encoder outputs | "uniform"
    prior_width: int = 128  # transformer width of the code prior
    prior_depth: int = 3  # transformer blocks
    prior_heads: int = 4  # attention heads (must divide prior_width)
    prior_start_step: int = 0  # the "prior" phase runs from this training step on
    # from this step on only the "prior" phase runs: the autoencoder (and so the codes) stays fixed while the prior
    # keeps fitting them (0 = never; must then exceed prior_start_step)
    prior_only_from_step: int = 0

    def validate(self, family: str) -> None:
        super().validate(family)
        if self.architecture != "fully_conv":
            raise GenlabError(f"{family}: option 'architecture' = {self.architecture!r} is not supported; the codes "
                              "are a spatial grid (use 'fully_conv')")
        check_range(family, "codebook_size", self.codebook_size, 2, 65536)
        check_range(family, "commitment", self.commitment, 0.0)
        check_choice(family, "likelihood", self.likelihood, LIKELIHOODS)
        check_range(family, "gaussian_sigma", self.gaussian_sigma, 1e-6)
        check_range(family, "restart_every", self.restart_every, 0)
        check_choice(family, "codebook_init", self.codebook_init, CODEBOOK_INITS)
        check_range(family, "prior_width", self.prior_width, 1, 4096)
        check_range(family, "prior_depth", self.prior_depth, 1, 64)
        check_range(family, "prior_heads", self.prior_heads, 1, 64)
        check_range(family, "prior_start_step", self.prior_start_step, 0)
        check_range(family, "prior_only_from_step", self.prior_only_from_step, 0)
        if 0 < self.prior_only_from_step <= self.prior_start_step:
            raise GenlabError(f"{family}: option 'prior_only_from_step' = {self.prior_only_from_step} must exceed "
                              f"prior_start_step = {self.prior_start_step} (or be 0 = never)")
        if self.prior_width % self.prior_heads:
            raise GenlabError(f"{family}: option 'prior_heads' = {self.prior_heads} must divide "
                              f"prior_width = {self.prior_width}")


def straight_through(z_e: Tensor, z_q: Tensor) -> Tensor:
    """z_e + sg[z_q − z_e]: z_q forward, the identity's gradient backward (van den Oord et al. 2017, §3.2)."""
    return z_e + (z_q - z_e).detach()


@torch.no_grad()
def kmeans_init(vectors: Tensor, k: int, iterations: int = LLOYD_ITERATIONS,
                generator: torch.Generator | None = None) -> Tensor:
    """k centres (k, D) of vectors (M, D): k-means++ seeding (each next centre drawn with probability ∝ squared
    distance to the nearest centre so far), then `iterations` Lloyd steps (a centre left without points keeps its
    place). With fewer distinct vectors than k the remaining centres repeat points (restarts will move them)."""
    vectors = vectors.float()
    m = vectors.shape[0]
    first = torch.randint(0, m, (1,), generator=generator)
    centres = [vectors[first[0]]]
    nearest = (vectors - centres[0]).pow(2).sum(1)
    for _ in range(1, k):
        total = nearest.sum()
        if total <= 0:
            pick = torch.randint(0, m, (1,), generator=generator)[0]
        else:
            pick = torch.multinomial(nearest / total, 1, generator=generator)[0]
        centres.append(vectors[pick])
        nearest = torch.minimum(nearest, (vectors - vectors[pick]).pow(2).sum(1))
    c = torch.stack(centres)
    for _ in range(iterations):
        assign = torch.cdist(vectors, c).argmin(1)
        counts = torch.bincount(assign, minlength=k).float()
        sums = torch.zeros_like(c).index_add_(0, assign, vectors)
        filled = counts > 0
        c[filled] = sums[filled] / counts[filled, None]
    return c


def vq_losses(z_e: Tensor, z_q: Tensor) -> tuple[Tensor, Tensor]:
    """(codebook loss ‖sg[z_e] − z_q‖², commitment loss ‖z_e − sg[z_q]‖²), each summed over the map and averaged
    over the batch (van den Oord et al. 2017, eq. 3): the first moves only the codebook, the second only the
    encoder."""
    codebook = (z_q - z_e.detach()).pow(2).flatten(1).sum(1).mean()
    commit = (z_e - z_q.detach()).pow(2).flatten(1).sum(1).mean()
    return codebook, commit


class VQVAE(ConvEncoderDecoder, StepTracking, GenerativeModel):
    """x (N, C, H, W) → z_e (N, D, h, w) → codes (N, h, w) → z_q → x̂; a causal transformer prior over codes."""

    family = "vq-vae"
    Config = VQVAEConfig
    sampling_options = ("temperature",)
    latent_kind = "code"
    has_latent = True

    def __init__(self, image_shape: Sequence[int], num_classes: int = 0, **hparams: Any):
        super().__init__(image_shape, num_classes, **hparams)
        cfg = self._resolve_config(hparams)
        self._build_networks(cfg)
        k, d = cfg.codebook_size, cfg.latent_channels
        self.codebook = nn.Parameter(torch.empty(k, d).uniform_(-1.0 / k, 1.0 / k))
        self.prior = CodePrior(k, math.prod(self.latent_shape[1:]), cfg.prior_width, cfg.prior_depth,
                               cfg.prior_heads)
        self.register_buffer("code_usage", torch.zeros(k))  # assignments since the last restart
        # 1 once the codebook holds its data-dependent start (saved, so a resumed run does not redo it)
        self.register_buffer("codebook_ready", torch.tensor(float(cfg.codebook_init == "uniform")))

    # --- the quantiser ----------------------------------------------------------------------------------------
    def quantize(self, z_e: Tensor) -> tuple[Tensor, Tensor]:
        """Nearest codebook entries of a map z_e (N, D, h, w): (codes (N, h, w) long, z_q (N, D, h, w))."""
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])  # (N·h·w, D)
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + self.codebook.pow(2).sum(1)
        codes = dist.argmin(1).view(z_e.shape[0], *z_e.shape[2:])
        return codes, self.embed(codes)

    def embed(self, codes: Tensor) -> Tensor:
        """Codes (N, h, w) → their codebook vectors as a map (N, D, h, w)."""
        return self.codebook[codes].permute(0, 3, 1, 2)

    def codes(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The code grid (N, h, w) of images x (N, C, H, W)."""
        return self.quantize(self.encoder(x, self._emb(y)))[0]

    @torch.no_grad()
    def _init_codebook(self, z_e: Tensor) -> None:
        """Set the codebook to k-means++ centres of this batch's encoder outputs (once, at the first training
        step)."""
        flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        self.codebook.data.copy_(kmeans_init(flat, self.cfg.codebook_size).to(self.codebook))
        self.codebook_ready.fill_(1.0)

    @torch.no_grad()
    def _restart_dead_codes(self, codes: Tensor, z_e: Tensor) -> int:
        """Count this batch's assignments; every `restart_every` steps move unused codes onto random encoder
        outputs of the batch. Returns how many were moved."""
        self.code_usage += torch.bincount(codes.flatten(), minlength=self.cfg.codebook_size).to(self.code_usage)
        every = self.cfg.restart_every
        if every <= 0 or self.current_step == 0 or self.current_step % every:
            return 0
        dead = (self.code_usage == 0).nonzero().flatten()
        if len(dead):
            flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
            pick = torch.randint(0, flat.shape[0], (len(dead),), device=flat.device)
            self.codebook.data[dead] = flat[pick].to(self.codebook.dtype)
        self.code_usage.zero_()
        return len(dead)

    # --- what the engine asks ---------------------------------------------------------------------------------
    def param_groups(self) -> dict[str, Iterable[nn.Parameter]]:
        prior_ids = {id(p) for p in self.prior.parameters()}
        return {"model": [p for p in self.parameters() if id(p) not in prior_ids],
                "prior": list(self.prior.parameters())}

    def phases(self, step: int) -> list[str]:
        self.set_step(step)
        if 0 < self.cfg.prior_only_from_step <= step:
            return ["prior"]
        return ["model", "prior"] if step >= self.cfg.prior_start_step else ["model"]

    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        """Loss of one phase on images x (N, C, H, W) in [-1, 1] with labels y (N,) or None; nats per image."""
        if phase == "model":
            return self._model_phase(x, y)
        if phase == "prior":
            with torch.no_grad():
                codes = self.codes(x, y)
            nll = self.prior.nll(codes).mean()
            return nll, {"prior_nll": nll.detach(), "prior_bits_per_code": nll.detach() / codes[0].numel()
                         / math.log(2)}
        raise GenlabError(f"vq-vae: unknown training phase '{phase}'; expected 'model' or 'prior'")

    def _model_phase(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:
        z_e = self.encoder(x, self._emb(y))
        if self.training and not bool(self.codebook_ready):
            self._init_codebook(z_e)
        codes, z_q = self.quantize(z_e)
        out = self.decoder(straight_through(z_e, z_q), self._emb(y))
        recon = reconstruction_nll(out, x, self.cfg.likelihood, self.cfg.gaussian_sigma).mean()
        codebook, commit = vq_losses(z_e, z_q)
        loss = recon + codebook + self.cfg.commitment * commit
        logs: Logs = {"loss": loss.detach(), "recon": recon.detach(), "codebook": codebook.detach(),
                      "commitment": commit.detach()}
        if self.training:
            logs["codes_used"] = float(torch.unique(codes).numel())
            logs["codes_restarted"] = float(self._restart_dead_codes(codes, z_e))
        return loss, logs

    # --- sampling -----------------------------------------------------------------------------------------------
    def sample_codes(self, seeds: Sequence[int], temperature: float = 1.0) -> Tensor:
        """Code grids (len(seeds), h, w) from the prior; grid i depends only on seeds[i]. temperature divides the
        prior's logits (< 1: likelier codes, less variety); 0 takes the most likely code at every position."""
        if not (math.isfinite(temperature) and temperature >= 0):
            raise GenlabError(f"vq-vae: temperature {temperature!r} must be a number >= 0 (1 = the prior as "
                              "trained, 0 = the most likely code at every position)")
        device = self.codebook.device
        uniforms = torch.stack([torch.rand(self.prior.length, generator=g) for g in sample_generators(seeds)])
        seq = self.prior.sample(uniforms.to(device), temperature)
        return seq.view(len(seeds), *self.latent_shape[1:])

    @torch.no_grad()
    def generate(self, seeds: Sequence[int], labels: Tensor | None = None, temperature: float = 1.0,
                 callback: Any = None) -> Tensor:
        """One sample per seed, (N, C, H, W) in [-1, 1]: prior codes → decoder. Conditional models default to
        label = seed mod K. `callback` is never called (the decoder is one pass)."""
        z = self.sample_latent(seeds, temperature)
        if self.num_classes > 0 and labels is None:
            labels = default_labels(list(seeds), self.num_classes, z.device)
        return self.decode(z, labels)

    # --- latent interface (used by genlab.latent) ------------------------------------------------------------
    def sample_latent(self, seeds: Sequence[int], temperature: float = 1.0) -> Tensor:
        """Quantised maps z_q (len(seeds), D, h, w) of prior code grids (temperature divides the prior's logits)."""
        return self.embed(self.sample_codes(seeds, temperature))

    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """x → z_q (N, D, h, w), the quantised code map the decoder sees."""
        return self.quantize(self.encoder(x, self._emb(y)))[1]

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """A map (N, D, h, w) → images (N, C, H, W) in [-1, 1]; not re-quantised (sliders move smoothly)."""
        return output_to_image(self.decoder(z, self._emb(y)), self.cfg.likelihood)

    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.decode(self.encode(x, y), y)
