"""Latent interpolation between two seeds or two encoded images, decoded into an image strip.

lerp walks the straight line; slerp walks the great circle between the two latents (Shoemake 1985), which keeps
Gaussian prior draws at a typical norm instead of cutting through the low-density centre (White 2016, "Sampling
generative networks", §2). Latents are (*latent_shape) tensors, flattened for the angle.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.latent.encoding import decode, encode_means, latents_from_seeds
from genlab.viz import save_strip

METHODS = ("lerp", "slerp")


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """(1 − t)·a + t·b for every t: a, b (*S); t (T,) → (T, *S)."""
    t = t.to(a.dtype).view(-1, *([1] * a.dim()))
    return (1 - t) * a + t * b


def slerp(a: Tensor, b: Tensor, t: Tensor, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation sin((1−t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b, cos Ω = â·b̂ (Shoemake 1985).

    a, b (*S); t (T,) → (T, *S). Falls back to lerp when a and b are (anti)parallel or zero (Ω undefined).
    """
    fa, fb = a.flatten().double(), b.flatten().double()
    denom = fa.norm() * fb.norm()
    if denom < eps:
        return lerp(a, b, t)
    omega = torch.arccos((fa @ fb / denom).clamp(-1.0, 1.0))
    if torch.sin(omega).abs() < eps:
        return lerp(a, b, t)
    tt = t.double().view(-1, 1)
    out = (torch.sin((1 - tt) * omega) * fa + torch.sin(tt * omega) * fb) / torch.sin(omega)
    return out.to(a.dtype).view(-1, *a.shape)


def interpolation_path(a: Tensor, b: Tensor, steps: int, method: str = "slerp") -> Tensor:
    """`steps` latents from a to b inclusive, (steps, *S)."""
    if method not in METHODS:
        raise GenlabError(f"interpolation method '{method}' is not one of {', '.join(METHODS)}")
    if steps < 2:
        raise GenlabError(f"interpolation steps = {steps}; expected at least 2")
    t = torch.linspace(0.0, 1.0, steps)
    return (slerp if method == "slerp" else lerp)(a, b, t)


def _labels(label: int | None, steps: int) -> Tensor | None:
    return None if label is None else torch.full((steps,), int(label), dtype=torch.long)


def interpolate_seeds(model: torch.nn.Module, seed_a: int, seed_b: int, steps: int = 8, method: str = "slerp",
                      label: int | None = None, temperature: float = 1.0) -> Tensor:
    """Decoded images (steps, C, H, W) in [-1, 1] between the samples of two seeds; the ends equal
    ``model.generate([seed_a])`` and ``model.generate([seed_b])``."""
    z = latents_from_seeds(model, [seed_a, seed_b], temperature).cpu()
    return decode(model, interpolation_path(z[0], z[1], steps, method), _labels(label, steps))


def interpolate_images(model: torch.nn.Module, x_a: Tensor, x_b: Tensor, steps: int = 8, method: str = "lerp",
                       label: int | None = None) -> Tensor:
    """Decoded images (steps, C, H, W) between the encoded means of images x_a, x_b (C, H, W)."""
    y = _labels(label, 2)
    z = encode_means(model, torch.stack([x_a, x_b]), y)
    return decode(model, interpolation_path(z[0], z[1], steps, method), _labels(label, steps))


def to_display(images: Tensor) -> Tensor:
    """Model space [-1, 1] → uint8 0..255 (pass ``codec.to_display(x)`` instead for thresholded binary facies)."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def save_interpolation_strip(images: Tensor, path: str | os.PathLike[str], scale: int = 2) -> Path:
    """Write (S, C, H, W) or (R, S, C, H, W) model-space images as a strip PNG; returns the path."""
    display = images if images.dtype == torch.uint8 else to_display(images)
    return save_strip(display, path, scale=scale)
