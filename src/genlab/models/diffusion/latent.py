"""The "latent-diffusion" family: diffusion in the latent space of a frozen autoencoder (Rombach et al. 2022).

    training:  x (N, C, H, W) --frozen encoder--> z (N, C_z, h, w) --normalise--> diffusion loss on z (as `diffusion`)
    sampling:  seeded noise (N, C_z, h, w) --any sampler, CFG--> z0 --denormalise--> frozen decoder --> image

The autoencoder is an `ae` / `dae` / `sparse-ae` / `vae` model with a spatial latent (``architecture=fully_conv``,
e.g. 4x7x7 for 28x28 digits), trained first and never updated here: its parameters take no gradient, are left out
of the optimiser and the module stays in eval mode. A VAE is encoded by its posterior mean.

Where the autoencoder comes from: the option ``autoencoder`` names its snapshot (file, run directory or pretrained
name); the training engine reads it once (safetensors + JSON header only, `genlab.training.frozen`) and fills
``ae_family`` and ``ae_kwargs`` from its header, which is all this class needs to rebuild it. The autoencoder's
weights are then stored inside every latent-diffusion snapshot (tensors ``ae.*``), so a snapshot samples on its own
even when the autoencoder's file is gone.

Latent scale: the diffusion's noise schedule assumes data of roughly unit variance, and an autoencoder's code has
whatever scale it learned. The latent is normalised per channel, (z - shift) * scale, with shift and scale the
channel mean and 1/std of the first training batch's codes (buffers ``latent_shift``, ``latent_scale``; the LDM
paper uses one global factor from the first batch). x0 predictions are not clipped to [-1, 1] in latent space.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from genlab.errors import GenlabError
from genlab.models.autoencoder.model import Autoencoder, DenoisingAutoencoder, SparseAutoencoder
from genlab.models.base import GenerativeModel, Logs
from genlab.models.diffusion import objective
from genlab.models.diffusion.model import Diffusion, DiffusionConfig
from genlab.models.diffusion.schedules import make_alphas_cumprod
from genlab.models.vae.model import VAE
from genlab.nn.backbones import backbone_from_config

# The autoencoder families whose latent a latent-diffusion model can run in (family name -> class).
AUTOENCODERS: dict[str, type[GenerativeModel]] = {
    "ae": Autoencoder, "dae": DenoisingAutoencoder, "sparse-ae": SparseAutoencoder, "vae": VAE,
}


@dataclasses.dataclass
class LatentDiffusionConfig(DiffusionConfig):
    """The diffusion options (backbone, prediction, schedule, ...) for the latent, plus the frozen autoencoder."""

    autoencoder: str = ""  # snapshot of the trained autoencoder: file, run directory or pretrained name
    ae_family: str = ""  # filled from that snapshot's header by the training engine (ae, dae, sparse-ae or vae)
    ae_kwargs: dict = dataclasses.field(default_factory=dict)  # the autoencoder's constructor options, ditto

    def validate(self, family: str) -> None:
        super().validate(family)
        if self.ae_family and self.ae_family not in AUTOENCODERS:
            raise GenlabError(f"{family}: option 'ae_family' = {self.ae_family!r:.40} is not one of "
                              f"{', '.join(AUTOENCODERS)}")


class LatentDiffusion(Diffusion):
    """Diffusion on the normalised latent of a frozen autoencoder; images (N, C, H, W) in [-1, 1] in and out."""

    family = "latent-diffusion"
    Config = LatentDiffusionConfig
    # classifier guidance needs a classifier of noisy *images*; the diffusion here runs on latents
    sampling_options = ("sampler", "steps", "guidance", "eta", "order", "grid", "guidance_interval")
    latent_kind = "noise"

    def __init__(self, image_shape: Sequence[int], num_classes: int = 0, **hparams: Any):
        GenerativeModel.__init__(self, image_shape, num_classes, **hparams)
        cfg = self._resolve_config(hparams)
        self.ae = build_autoencoder(cfg, self.image_shape)
        self.ae.requires_grad_(False).eval()
        self.latent_shape = tuple(int(s) for s in self.ae.latent_shape)
        channels = self.latent_shape[0]
        self.register_buffer("latent_shift", torch.zeros(channels, 1, 1))
        self.register_buffer("latent_scale", torch.ones(channels, 1, 1))
        self.register_buffer("latent_stats_ready", torch.zeros(()))
        self.unet = backbone_from_config(cfg, self.latent_shape, self.num_classes)
        self.alphas_cumprod = make_alphas_cumprod(cfg.schedule, cfg.num_train_steps)

    # --- the frozen autoencoder ---------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> LatentDiffusion:
        super().train(mode)
        self.ae.eval()  # frozen: no dropout, no running statistics, whatever the engine asks
        return self

    def param_groups(self) -> dict[str, Iterable[nn.Parameter]]:
        """Only the denoiser network is trained."""
        return {"model": list(self.unet.parameters())}

    def load_autoencoder(self, tensors: dict[str, Tensor], where: str = "autoencoder") -> None:
        """Load the autoencoder's weights (a snapshot's tensors, names as in its own state dict); a one-line
        GenlabError for a missing, extra or misshapen tensor or a non-finite value."""
        own = self.ae.state_dict()
        missing, extra = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
        if missing or extra:
            name = (missing or extra)[0]
            raise GenlabError(f"{where}: tensor {name!r:.60} {'missing' if missing else 'not expected'} for a "
                              f"'{self.cfg.ae_family}' with the header's options")
        for name, value in tensors.items():
            if tuple(value.shape) != tuple(own[name].shape):
                raise GenlabError(f"{where}: tensor {name!r:.60} has shape {tuple(value.shape)}, expected "
                                  f"{tuple(own[name].shape)}")
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise GenlabError(f"{where}: tensor {name!r:.60} holds NaN or Inf")
        self.ae.load_state_dict(tensors)

    @property
    def noise_shape(self) -> tuple[int, ...]:
        return self.latent_shape

    @torch.no_grad()
    def to_latent(self, x: Tensor) -> Tensor:
        """Images (N, C, H, W) in [-1, 1] → normalised latents (N, *latent_shape). In training, the first batch
        fixes the per-channel normalisation."""
        z = self.ae.encode(x)
        z = (z[0] if isinstance(z, tuple) else z).float()  # a VAE's posterior mean
        if self.training and not bool(self.latent_stats_ready):
            self.latent_shift.copy_(z.mean(dim=(0, 2, 3)).view(-1, 1, 1))
            self.latent_scale.copy_(1.0 / z.std(dim=(0, 2, 3)).clamp_min(1e-6).view(-1, 1, 1))
            self.latent_stats_ready.fill_(1.0)
        return (z - self.latent_shift) * self.latent_scale

    @torch.no_grad()
    def from_latent(self, z: Tensor) -> Tensor:
        """Normalised latents (N, *latent_shape) → images (N, C, H, W) in [-1, 1] through the frozen decoder."""
        return self.ae.decode(z / self.latent_scale + self.latent_shift).clamp(-1.0, 1.0)

    # --- training -----------------------------------------------------------------------------------------------
    def forward(self, phase: str, x: Tensor, y: Tensor | None) -> tuple[Tensor, Logs]:  # type: ignore[override]
        """The diffusion loss on the normalised latent of x (N, C, H, W) in [-1, 1]."""
        if phase != "model":
            raise GenlabError(f"latent-diffusion: unknown training phase '{phase}'; expected 'model'")
        return super().forward(phase, self.to_latent(x), y)

    # --- inference ----------------------------------------------------------------------------------------------
    def denoiser(self, labels: Tensor | None = None, guidance: float = 1.0, clip_x0: bool = False,
                 guidance_interval: tuple[float, float] | str | None = None,
                 autoguide: Diffusion | None = None) -> objective.Denoiser:
        """As `Diffusion.denoiser`, without clipping x0 to [-1, 1] (latents are not images) unless asked."""
        return super().denoiser(labels, guidance, clip_x0, guidance_interval, autoguide)

    def _finish(self, x0: Tensor) -> Tensor:
        return self.from_latent(x0)


def build_autoencoder(cfg: LatentDiffusionConfig, image_shape: tuple[int, ...]) -> GenerativeModel:
    """The (untrained) autoencoder `cfg.ae_family` / `cfg.ae_kwargs` describe, checked against the images."""
    if not cfg.ae_family:
        raise GenlabError("latent-diffusion: no autoencoder: set model.autoencoder=<snapshot of a trained ae/vae "
                          "with architecture=fully_conv> (file, run directory or pretrained name)")
    kwargs = dict(cfg.ae_kwargs)
    ae_shape = tuple(int(s) for s in kwargs.pop("image_shape", image_shape))
    if ae_shape != tuple(image_shape):
        raise GenlabError(f"latent-diffusion: the autoencoder was trained on {list(ae_shape)} images, the data are "
                          f"{list(image_shape)}")
    if int(kwargs.pop("num_classes", 0)):
        raise GenlabError("latent-diffusion: the autoencoder must be unconditional (trained with "
                          "data.conditional=false); class conditioning belongs to the diffusion")
    try:
        ae = AUTOENCODERS[cfg.ae_family](ae_shape, 0, **kwargs)
    except GenlabError as e:
        raise GenlabError(f"latent-diffusion: the autoencoder's options do not build a '{cfg.ae_family}' ({e})"
                          ) from None
    if len(ae.latent_shape) != 3:
        raise GenlabError(f"latent-diffusion: the autoencoder's latent is a vector {list(ae.latent_shape)}; "
                          "diffusion here needs a spatial latent (train it with model.architecture=fully_conv)")
    return ae
