"""Inpainting, outpainting and image-to-image editing with any denoiser (diffusion, score-sde), without retraining.

Conventions (as in `samplers`): ``denoise(x, t) -> x0_hat`` with x (N, C, H, W) in model space [-1, 1] and t (N,)
long training indices; ``alphas_cumprod`` (T,) float64; ``generators`` one torch.Generator per image, so an image
never depends on its batch. ``hole`` is a float or bool tensor broadcastable to x: 1 where the image is GENERATED,
0 where it is KNOWN (kept from ``x_known``).

- `replacement`: the simple baseline (Song et al. 2021, sec. 5 / "replacement" of Ho et al. 2022's video paper):
  ancestral (DDIM with eta) sampling where, after every step, the known region is overwritten with the known image
  noised to the new level, q(x_s | x_known). Cheap (NFE = steps), but the generated part only sees the known part
  through the noisy replacement, so the two can disagree at the border.
- `repaint`: RePaint (Lugmayr et al. 2022, Algorithm 1 with their "jump" schedule): the same replacement step, plus
  resampling: every ``jump`` levels on the way down, the state is noised back up ``jump`` levels with the forward
  process and denoised again, ``resample - 1`` extra times, which lets the generated part harmonise with the known
  part. NFE ~ steps * (1 + (resample - 1)) for resample >= 1 (exact count: `repaint_schedule`).
- `sdedit`: SDEdit (Meng et al. 2022): noise the input to the level of ``strength`` (0 = unchanged, 1 = pure noise)
  and denoise it with deterministic DDIM: a realistic image close to the input.

Both inpainting methods end with the known region pasted: the returned image equals x_known exactly there. They also
return the denoiser's own last prediction ``x0_unpasted`` (before the paste), whose error on the known region
measures how well the generated image agrees with the constraint by itself.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.models.diffusion.schedules import sampling_timesteps
from genlab.utils.seeding import randn_like_per_sample

Denoise = Callable[[Tensor, Tensor], Tensor]
Callback = Callable[[dict], None] | None


@dataclass
class Inpainted:
    """x0: the completed images (known region pasted); x0_unpasted: the last denoiser prediction; nfe: denoiser
    calls per image."""

    x0: Tensor
    x0_unpasted: Tensor
    nfe: int


def check_hole(hole: Tensor, like: Tensor) -> Tensor:
    """`hole` as a float {0, 1} tensor broadcast to like's shape; GenlabError for a bad shape or values."""
    hole = torch.as_tensor(hole)
    if hole.dtype == torch.bool:
        hole = hole.float()
    if hole.ndim == 2:
        hole = hole[None, None]
    elif hole.ndim == 3:
        hole = hole[:, None] if hole.shape[0] == like.shape[0] and like.shape[1] != hole.shape[0] else hole[None]
    try:
        hole = torch.broadcast_to(hole, like.shape)
    except RuntimeError:
        raise GenlabError(f"mask of shape {tuple(hole.shape)} does not fit images of shape {tuple(like.shape[1:])} "
                          "(expected H x W, or one H x W per image)") from None
    if not bool(((hole == 0) | (hole == 1)).all()):
        raise GenlabError("mask: expected values 0 (known) and 1 (to generate) only")
    return hole.to(like.device, like.dtype)


def _noise(generators: Sequence[torch.Generator], like: Tensor) -> Tensor:
    if len(generators) != like.shape[0]:
        raise ValueError(f"editing: {len(generators)} generators for a batch of {like.shape[0]}")
    return randn_like_per_sample(generators, like.shape[1:], dtype=like.dtype).to(like.device)


def _denoise(denoise: Denoise, x: Tensor, t: int) -> Tensor:
    return denoise(x, torch.full((x.shape[0],), int(t), dtype=torch.long, device=x.device))


def _down_step(x0_hat: Tensor, x: Tensor, ab_t: float, ab_s: float, eta: float, generators) -> Tensor:
    """DDIM step t -> s (Song et al. 2021, eq. 12) with stochasticity eta (1 = DDPM's ancestral step)."""
    if ab_s >= 1.0:
        return x0_hat
    sigma = eta * math.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
    eps = (x - math.sqrt(ab_t) * x0_hat) / math.sqrt(1 - ab_t)
    out = math.sqrt(ab_s) * x0_hat + math.sqrt(max(1 - ab_s - sigma**2, 0.0)) * eps
    return out + sigma * _noise(generators, x) if sigma > 0 else out


def _known_at(x_known: Tensor, ab: float, generators) -> Tensor:
    """q(x_s | x_known): the known image noised to level alpha_bar = ab (itself at ab = 1)."""
    if ab >= 1.0:
        return x_known
    return math.sqrt(ab) * x_known + math.sqrt(1 - ab) * _noise(generators, x_known)


def _levels(timesteps: Tensor, alphas_cumprod: Tensor) -> list[float]:
    """alpha_bar at positions 0..n: position 0 is the clean image (1.0), position p >= 1 is timesteps[n - p]."""
    ts = [int(t) for t in timesteps.tolist()]
    ab = alphas_cumprod.double().cpu()
    return [1.0] + [float(ab[t]) for t in reversed(ts)]


def repaint_schedule(num_steps: int, jump: int, resample: int) -> list[int]:
    """The sequence of positions RePaint visits, from num_steps (noisiest) down to 0 (clean).

    Going down, at every position p that is a positive multiple of `jump` with p <= num_steps - jump, the walk goes
    back up `jump` positions and down again, `resample - 1` times (RePaint's jump schedule, in positions of the
    sampling grid). resample = 1 gives the plain descent n, n-1, ..., 0. Down moves are denoiser calls.
    """
    n, j, r = int(num_steps), int(jump), int(resample)
    if n < 1 or j < 1 or r < 1:
        raise GenlabError(f"repaint: steps, jump and resample must be >= 1, got {num_steps}, {jump}, {resample}")
    seq = [n]
    p = n
    while p > 0:
        p -= 1
        seq.append(p)
        if r > 1 and p > 0 and p % j == 0 and p <= n - j:
            for _ in range(r - 1):
                seq.extend(range(p + 1, p + j + 1))
                seq.extend(range(p + j - 1, p - 1, -1))
    return seq


@torch.no_grad()
def repaint(denoise: Denoise, x_known: Tensor, hole: Tensor, timesteps: Tensor, alphas_cumprod: Tensor, *,
            generators: Sequence[torch.Generator], jump: int = 5, resample: int = 5, eta: float = 1.0,
            x_T: Tensor | None = None, callback: Callback = None) -> Inpainted:
    """RePaint inpainting (module docstring); resample = 1 is `replacement`. timesteps: descending training
    indices (a sampling grid, e.g. `schedules.sampling_timesteps`)."""
    hole = check_hole(hole, x_known)
    known = 1.0 - hole
    ts = [int(t) for t in timesteps.tolist()]
    levels = _levels(timesteps, alphas_cumprod)
    n = len(ts)
    x = _noise(generators, x_known) if x_T is None else x_T
    x0_hat, nfe = x_known, 0
    seq = repaint_schedule(n, jump, resample)
    for i, (p, q) in enumerate(itertools.pairwise(seq)):
        if q < p:  # denoise one level: p -> p - 1
            t = ts[n - p]
            x0_hat = _denoise(denoise, x, t)
            nfe += 1
            if callback is not None:
                callback({"i": i, "t": t, "x": x, "x0_hat": x0_hat})
            unknown_part = _down_step(x0_hat, x, levels[p], levels[q], eta, generators)
            x = known * _known_at(x_known, levels[q], generators) + hole * unknown_part
        else:  # noise one level back up: q(x_q | x_p) = N(sqrt(ab_q / ab_p) x_p, (1 - ab_q / ab_p) I)
            ratio = levels[q] / levels[p]
            x = math.sqrt(ratio) * x + math.sqrt(1 - ratio) * _noise(generators, x)
    return Inpainted(x0=x, x0_unpasted=x0_hat, nfe=nfe)


def replacement(denoise: Denoise, x_known: Tensor, hole: Tensor, timesteps: Tensor, alphas_cumprod: Tensor, *,
                generators: Sequence[torch.Generator], eta: float = 1.0, x_T: Tensor | None = None,
                callback: Callback = None) -> Inpainted:
    """Replacement inpainting: `repaint` without resampling (module docstring)."""
    return repaint(denoise, x_known, hole, timesteps, alphas_cumprod, generators=generators, jump=1, resample=1,
                   eta=eta, x_T=x_T, callback=callback)


def sdedit_timesteps(strength: float, steps: int, num_train_steps: int) -> Tensor:
    """Descending indices from the level of `strength` (index round(strength T) - 1) to near 0, `steps` of them at
    most, trailing-spaced like `schedules.sampling_timesteps`; empty for strength 0 (nothing to do)."""
    if not 0.0 <= float(strength) <= 1.0:
        raise GenlabError(f"edit strength {strength}: expected a number in [0, 1] (0 = unchanged, 1 = pure noise)")
    start = round(float(strength) * num_train_steps)  # number of noise levels to undo
    if start == 0:
        return torch.empty(0, dtype=torch.long)
    return sampling_timesteps(min(int(steps), start), start)


@torch.no_grad()
def sdedit(denoise: Denoise, x_in: Tensor, strength: float, steps: int, alphas_cumprod: Tensor, *,
           generators: Sequence[torch.Generator], eta: float = 0.0, callback: Callback = None) -> Tensor:
    """SDEdit: x_t = sqrt(ab_t) x_in + sqrt(1 - ab_t) z at t = round(strength T) - 1, then DDIM (eta) to the clean
    image. strength 0 returns x_in itself."""
    ts = sdedit_timesteps(strength, steps, len(alphas_cumprod))
    if len(ts) == 0:
        return x_in.clone()
    levels = _levels(ts, alphas_cumprod)
    n = len(ts)
    x = _known_at(x_in, levels[n], generators)
    for i, p in enumerate(range(n, 0, -1)):
        t = int(ts[n - p])
        x0_hat = _denoise(denoise, x, t)
        if callback is not None:
            callback({"i": i, "t": t, "x": x, "x0_hat": x0_hat})
        x = _down_step(x0_hat, x, levels[p], levels[p - 1], eta, generators)
    return x


# ----------------------------------------------------------------------------------------------- mask presets

def _rect(h: int, w: int, top: int, bottom: int, left: int, right: int) -> Tensor:
    m = torch.zeros(h, w, dtype=torch.bool)
    m[top:bottom, left:right] = True
    return m


def _center(h, w, arg, gen):
    return _rect(h, w, h // 4, h - h // 4, w // 4, w - w // 4)


def _outpaint(h, w, arg, gen):
    return ~_center(h, w, arg, gen)


def _random_pixels(h, w, arg, gen):
    frac = 0.8 if arg is None else float(arg)
    if not 0.0 < frac < 1.0:
        raise GenlabError(f"mask random-pixels:{arg}: the fraction to generate must be in (0, 1)")
    return torch.rand(h, w, generator=gen) < frac


def _wells(h, w, arg, gen):
    """Vertical well columns are known, everything else is generated; `arg` wells evenly spaced (default 4)."""
    k = 4 if arg is None else int(float(arg))
    if not 1 <= k <= w:
        raise GenlabError(f"mask wells:{arg}: the number of wells must be in 1..{w}")
    m = torch.ones(h, w, dtype=torch.bool)
    cols = [int((i + 0.5) * w / k) for i in range(k)]
    m[:, cols] = False
    return m


# The table of mask presets: name -> fn(H, W, argument or None, torch.Generator) -> bool (H, W), True = generate.
MASKS: dict[str, Callable[[int, int, str | None, torch.Generator], Tensor]] = {
    "center": _center,  # the central square of half the side
    "outpaint": _outpaint,  # everything but the central square (outpainting)
    "left-half": lambda h, w, a, g: _rect(h, w, 0, h, 0, w // 2),
    "right-half": lambda h, w, a, g: _rect(h, w, 0, h, w // 2, w),
    "top-half": lambda h, w, a, g: _rect(h, w, 0, h // 2, 0, w),
    "bottom-half": lambda h, w, a, g: _rect(h, w, h // 2, h, 0, w),
    "random-pixels": _random_pixels,  # random-pixels[:FRACTION generated, default 0.8]
    "wells": _wells,  # wells[:COUNT known vertical columns, default 4] (facies conditioned on wells)
}


def preset_mask(spec: str, height: int, width: int, seed: int = 0) -> Tensor:
    """A preset mask, e.g. "center" or "random-pixels:0.9": bool (H, W), True = generate."""
    name, _, arg = str(spec).partition(":")
    if name not in MASKS:
        raise GenlabError(f"mask '{spec}': expected a file (.png, .npy) or a preset: {', '.join(MASKS)} "
                          "(random-pixels:FRACTION, wells:COUNT)")
    try:
        mask = MASKS[name](int(height), int(width), arg or None, torch.Generator().manual_seed(int(seed)))
    except ValueError:
        raise GenlabError(f"mask '{spec}': the value after ':' must be a number") from None
    if bool(mask.all()) or not bool(mask.any()):
        raise GenlabError(f"mask '{spec}' at {height}x{width}: nothing known or nothing to generate")
    return mask
