"""How the latent tools talk to a model: latents from seeds, batched encoding, decoding.

Works with every family that sets ``has_latent = True`` and exposes ``latent_shape``, ``decode(z, y)`` and
(for image-based tools) ``encode(x, y)`` returning ``(mu, logvar)`` (VAE) or a code ``z`` (AE, GAN inversion).
Latents are (N, *latent_shape); images (N, C, H, W) in model space [-1, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.utils.seeding import randn_per_sample


def require_latent(model: torch.nn.Module, need_encoder: bool = False) -> None:
    """Raise a one-line GenlabError when `model` has no latent space (or no encoder when one is needed)."""
    family = getattr(model, "family", type(model).__name__)
    if not getattr(model, "has_latent", False):
        raise GenlabError(f"model family '{family}' has no latent space; latent tools need a GAN, VAE or autoencoder")
    if need_encoder and not hasattr(model, "encode"):
        raise GenlabError(f"model family '{family}' cannot encode images")


def model_device(model: torch.nn.Module) -> torch.device:
    """Device of the model's first parameter (CPU for a parameter-free model)."""
    return next(iter(model.parameters()), torch.empty(0)).device


def latents_from_seeds(model: torch.nn.Module, seeds: Sequence[int], temperature: float = 1.0) -> Tensor:
    """The latents `model.generate(seeds)` would decode, (len(seeds), *latent_shape)."""
    require_latent(model)
    if hasattr(model, "sample_latent"):
        return model.sample_latent(seeds, temperature)
    return temperature * randn_per_sample(seeds, model.latent_shape, device=model_device(model))


def _batches(n: int, batch_size: int) -> list[slice]:
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _labels_slice(y: Tensor | None, sl: slice, device: torch.device) -> Tensor | None:
    return None if y is None else y[sl].to(device)


@torch.no_grad()
def encode_posterior(model: torch.nn.Module, x: Tensor, y: Tensor | None = None, batch_size: int = 256
                     ) -> tuple[Tensor, Tensor | None]:
    """(mu, logvar) for a VAE, (z, None) for deterministic encoders; each (N, *latent_shape), on the CPU."""
    require_latent(model, need_encoder=True)
    device, mus, logvars = model_device(model), [], []
    for sl in _batches(x.shape[0], batch_size):
        out = model.encode(x[sl].to(device), _labels_slice(y, sl, device))  # GAN inversion enables grad itself
        mu, logvar = out if isinstance(out, tuple) else (out, None)
        mus.append(mu.detach().cpu())
        logvars.append(None if logvar is None else logvar.detach().cpu())
    return torch.cat(mus), (None if logvars[0] is None else torch.cat(logvars))


def encode_means(model: torch.nn.Module, x: Tensor, y: Tensor | None = None, batch_size: int = 256) -> Tensor:
    """E[z|x] (VAE) or the code (AE / GAN inversion), (N, *latent_shape), on the CPU."""
    return encode_posterior(model, x, y, batch_size)[0]


@torch.no_grad()
def decode(model: torch.nn.Module, z: Tensor, y: Tensor | None = None, batch_size: int = 256) -> Tensor:
    """Images (N, C, H, W) in [-1, 1] for latents z (N, *latent_shape), on the CPU."""
    require_latent(model)
    device = model_device(model)
    outs = [model.decode(z[sl].to(device), _labels_slice(y, sl, device)).cpu() for sl in _batches(z.shape[0],
                                                                                                   batch_size)]
    return torch.cat(outs)


@torch.no_grad()
def reconstruct(model: torch.nn.Module, x: Tensor, y: Tensor | None = None, batch_size: int = 256) -> Tensor:
    """decode(E[z|x]): reconstructions (N, C, H, W) in [-1, 1], on the CPU."""
    return decode(model, encode_means(model, x, y, batch_size), y, batch_size)
