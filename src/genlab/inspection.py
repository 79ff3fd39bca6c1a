"""Debugging visualisations of a diffusion model (issue 19 part 6): what the denoiser computes inside, per noise level.

    import genlab.api as gl
    gen = gl.load("mnist-ddpm")
    feats = gl.feature_maps(gen, x0, ts=[900, 500, 100], labels=y)    # {layer: (T, N, C, H, W)} via forward hooks
    attn = gl.attention_maps(gen, x0, ts=[900, 500, 100], labels=y)   # {layer: AttentionMap (T, N, heads, L, L)}
    prof = gl.loss_profile(gen, x0, labels=y, num_points=50)          # training loss against t on real images
    traj = gl.trajectory(gen, seeds=[0, 1], sampler="ddim", steps=10)  # x_t and x̂0 per step (diffusion_tools)
    gl.save_attention_maps(attn, "attn.png")                           # ... and save_feature_maps / _loss_profile /
                                                                       # save_trajectory write PNGs

The denoiser sees x_t = q_sample(x0, eps, t) made with the package's own schedule and parameterisation (one eps
per image, seeded, the same at every t), exactly what training feeds it, so the maps show the trained function.
Layers are the model's module names (``gen.model.unet.named_modules()``, e.g. ``down.1.0`` or ``mid.1``);
`default_layers` picks the U-Net's stage blocks (or the DiT's blocks). Attention weights are recomputed from the
attention module's input with its own projections: softmax(q kᵀ / √d) — the layers use fused
scaled_dot_product_attention, which never materialises them. `ATTENTION` is the table of attention modules this
understands (one line each). `genlab inspect ...` writes the same PNGs from the command line.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn

from genlab.diffusion_tools import Trajectory
from genlab.errors import GenlabError
from genlab.models.diffusion import objective
from genlab.nn.blocks import SelfAttention2d
from genlab.nn.dit import Attention as DiTAttention
from genlab.utils.seeding import randn_per_sample
from genlab.viz.plots import save_figure

__all__ = ["ATTENTION", "AttentionMap", "LossProfile", "attention_maps", "default_layers", "feature_maps",
           "loss_profile", "save_attention_maps", "save_feature_maps", "save_loss_profile", "save_trajectory"]


# --- attention modules: how to get (N, heads, L, L) weights and the key grid (h, w) from the module's input -------
def _conv_attention(module: SelfAttention2d, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
    n, c, h, w = x.shape
    qkv = module.qkv(module.norm(x)).reshape(n, 3, module.num_heads, c // module.num_heads, h * w)
    q, k, _ = qkv.transpose(-1, -2).unbind(dim=1)  # (N, heads, HW, d)
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1), (h, w)


def _token_attention(module: DiTAttention, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
    n, length, width = x.shape
    q, k, _ = module.qkv(x).view(n, length, 3, module.num_heads, width // module.num_heads).permute(2, 0, 3, 1, 4)
    side = math.isqrt(length)
    grid = (side, length // side) if side * (length // side) == length else (1, length)
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1), grid


ATTENTION: dict[type, Callable[[nn.Module, Tensor], tuple[Tensor, tuple[int, int]]]] = {
    SelfAttention2d: _conv_attention,  # the U-Net's attention over H*W positions
    DiTAttention: _token_attention,  # the DiT's attention over patch tokens (a square grid of patches)
}


@dataclass
class AttentionMap:
    """Attention weights of one layer: weights (T, N, heads, L, L), rows = queries (sum to 1); grid (h, w) of the
    L positions; ts the timesteps of the T rows."""

    weights: Tensor
    grid: tuple[int, int]
    ts: list[int]

    def query_map(self, query: int | None = None) -> Tensor:
        """Where one query position looks, averaged over heads: (T, N, h, w); default the centre position."""
        h, w = self.grid
        q = (h // 2) * w + w // 2 if query is None else int(query)
        if not 0 <= q < h * w:
            raise GenlabError(f"query position {query}: expected 0..{h * w - 1} (the {h}x{w} grid, row-major)")
        return self.weights[..., q, :].mean(dim=2).reshape(*self.weights.shape[:2], h, w)


@dataclass
class LossProfile:
    """The training loss per noise level on a batch of real images: t (K,) training indices, loss (K,) the model's
    own objective (its prediction's MSE, min-SNR weighting included), x0_mse (K,) the MSE of the clean-image
    prediction; n images, `prediction` the parameterisation."""

    t: np.ndarray
    loss: np.ndarray
    x0_mse: np.ndarray
    n: int
    prediction: str


# --- inputs -------------------------------------------------------------------------------------------------------
def _diffusion(gen) -> nn.Module:
    model = getattr(gen, "model", gen)
    if not hasattr(model, "alphas_cumprod") or not hasattr(model, "unet") or not hasattr(model, "cfg"):
        raise GenlabError(f"this needs a diffusion snapshot, got family '{getattr(model, 'family', '?')}'")
    return model


def _check_ts(ts: Sequence[int], num_steps: int) -> list[int]:
    try:
        ts = [int(t) for t in ts]
    except (TypeError, ValueError):
        raise GenlabError(f"timesteps {ts!r:.60}: expected integers 0..{num_steps - 1}") from None
    bad = [t for t in ts if not 0 <= t < num_steps]
    if not ts or bad:
        raise GenlabError(f"timesteps {bad or ts}: expected at least one integer in 0..{num_steps - 1}")
    return ts


def _check_images(model: nn.Module, x0: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
    x0 = torch.as_tensor(x0)
    if x0.ndim != 4 or tuple(x0.shape[1:]) != tuple(model.image_shape):
        raise GenlabError(f"images of shape {tuple(x0.shape)}: expected (N, {', '.join(map(str, model.image_shape))})"
                          f" in model space [-1, 1]")
    if x0.dtype == torch.uint8:
        raise GenlabError("images are uint8: encode them to model space first (gen.codec.encode)")
    if labels is not None:
        labels = torch.as_tensor(labels, dtype=torch.long).flatten()
        if labels.numel() != x0.shape[0] or (labels.numel() and (labels.min() < 0 or labels.max() > model.num_classes)):
            raise GenlabError(f"labels {labels.tolist()[:8]}: expected {x0.shape[0]} class numbers in "
                              f"0..{model.num_classes} ({model.num_classes} = the null class)")
        if model.num_classes == 0:
            raise GenlabError("labels given but the model is unconditional")
    return x0.float(), labels


def _backbone_inputs(model: nn.Module, x0: Tensor, t: int, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor,
                                                                             Tensor, Tensor]:
    """(backbone input, noise condition, x_t, eps, alpha, sigma) for all images at one timestep, on the model's
    device; eps seeded per image (seed + i), the same at every t."""
    device = next(model.parameters()).device
    n, num_steps = x0.shape[0], model.cfg.num_train_steps
    eps = randn_per_sample([seed + i for i in range(n)], x0.shape[1:]).to(device)
    x0 = x0.to(device)
    tt = torch.full((n,), int(t), dtype=torch.long)
    alpha, sigma = objective.alpha_sigma(model.alphas_cumprod, tt, x0.ndim, x0.dtype, device)
    x_t = objective.q_sample(x0, eps, alpha, sigma)
    cond = objective.backbone_cond(model.cfg.prediction, tt, num_steps, alpha, sigma).to(device)
    return objective.backbone_in(model.cfg.prediction, x_t, alpha, sigma), cond, x_t, eps, alpha, sigma


def default_layers(gen) -> list[str]:
    """The blocks worth looking at: the U-Net's stage elements (``down.i.j``, ``mid.j``, ``up.i.j``) or the DiT's
    ``blocks.i``, in forward order."""
    net = _diffusion(gen).unet
    names = [n for n, _ in net.named_modules() if re.fullmatch(r"(down|up)\.\d+\.\d+|mid\.\d+|blocks\.\d+", n)]
    return names or [n for n, _ in net.named_children()]


def _modules(net: nn.Module, layers: Sequence[str]) -> dict[str, nn.Module]:
    named = dict(net.named_modules())
    missing = [name for name in layers if name not in named or not name]
    if missing:
        sample = ", ".join([n for n in named if n][:8])
        raise GenlabError(f"layer '{missing[0]}' is not a module of this network (e.g. {sample}, ...)")
    return {name: named[name] for name in layers}


# --- feature maps / attention maps -------------------------------------------------------------------------------
@torch.no_grad()
def feature_maps(gen, x0: Tensor, ts: Sequence[int], labels: Tensor | None = None, layers: Sequence[str] | None = None,
                 seed: int = 0) -> dict[str, Tensor]:
    """The output of each layer (forward hooks) while the denoiser sees x_t = q_sample(x0, t) for each t in `ts`.

    x0: (N, C, H, W) model space; labels (N,) or None (the null class); layers: module names (default
    `default_layers`). Returns {layer: (len(ts), N, *output shape)} on the CPU, in the order of `layers`.
    """
    model = _diffusion(gen)
    ts = _check_ts(ts, model.cfg.num_train_steps)
    x0, labels = _check_images(model, x0, labels)
    modules = _modules(model.unet, list(layers) if layers is not None else default_layers(gen))
    got: dict[str, list[Tensor]] = {name: [] for name in modules}

    def hook(name: str):
        def record(_m: nn.Module, _args, out) -> None:
            out = out[0] if isinstance(out, tuple) else out
            got[name].append(out.detach().float().cpu())
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in modules.items()]
    was_training = model.training
    model.eval()
    try:
        for t in ts:
            inp, cond, *_ = _backbone_inputs(model, x0, t, seed)
            model.unet(inp, cond, None if labels is None else labels.to(inp.device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {name: torch.stack(v) for name, v in got.items()}


@torch.no_grad()
def attention_maps(gen, x0: Tensor, ts: Sequence[int], labels: Tensor | None = None,
                   layers: Sequence[str] | None = None, seed: int = 0) -> dict[str, AttentionMap]:
    """Attention weights of every attention layer (or `layers`, which must be attention modules of a type in
    ATTENTION) at each t in `ts`, recomputed from the layer's input. {layer: AttentionMap} in forward order."""
    model = _diffusion(gen)
    ts = _check_ts(ts, model.cfg.num_train_steps)
    x0, labels = _check_images(model, x0, labels)
    if layers is None:
        modules = {n: m for n, m in model.unet.named_modules() if type(m) in ATTENTION}
        if not modules:
            raise GenlabError("this network has no attention layers (model.attention_resolutions is empty?)")
    else:
        modules = _modules(model.unet, layers)
        bad = [n for n, m in modules.items() if type(m) not in ATTENTION]
        if bad:
            raise GenlabError(f"layer '{bad[0]}' is a {type(modules[bad[0]]).__name__}, not an attention layer")
    got: dict[str, list[Tensor]] = {name: [] for name in modules}
    grids: dict[str, tuple[int, int]] = {}

    def hook(name: str):
        def record(m: nn.Module, args) -> None:
            weights, grids[name] = ATTENTION[type(m)](m, args[0])
            got[name].append(weights.float().cpu())
        return record

    handles = [m.register_forward_pre_hook(hook(name)) for name, m in modules.items()]
    was_training = model.training
    model.eval()
    try:
        for t in ts:
            inp, cond, *_ = _backbone_inputs(model, x0, t, seed)
            model.unet(inp, cond, None if labels is None else labels.to(inp.device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {name: AttentionMap(torch.stack(v), grids[name], ts) for name, v in got.items()}


# --- loss profile ---------------------------------------------------------------------------------------------------
@torch.no_grad()
def loss_profile(gen, x0: Tensor, labels: Tensor | None = None, ts: Sequence[int] | None = None, *,
                 num_points: int = 50, seed: int = 0, batch_size: int = 256) -> LossProfile:
    """The model's training loss at each noise level on real images x0 (N, C, H, W) model space: for each t (default
    `num_points` indices evenly spaced over 0..T-1) the objective `training` minimises — the MSE between the
    network output and its target (ε, v or EDM's F), min-SNR weighted when the run was — with one eps per image
    (seeded, the same at every t), plus the MSE of the implied clean image. labels (N,) or None (null class)."""
    model = _diffusion(gen)
    num_steps = model.cfg.num_train_steps
    if ts is None:
        if isinstance(num_points, bool) or not isinstance(num_points, int) or not 1 <= num_points <= num_steps:
            raise GenlabError(f"num_points {num_points!r}: expected an integer in 1..{num_steps}")
        ts = np.unique(np.linspace(0, num_steps - 1, num_points).round().astype(int)).tolist()
    ts = _check_ts(ts, num_steps)
    x0, labels = _check_images(model, x0, labels)
    if x0.shape[0] == 0:
        raise GenlabError("loss profile: no images given")
    was_training = model.training
    model.eval()
    losses, x0_mse = [], []
    try:
        for t in ts:
            loss_sum = mse_sum = 0.0
            for lo in range(0, x0.shape[0], batch_size):
                xb = x0[lo:lo + batch_size]
                inp, cond, x_t, eps, alpha, sigma = _backbone_inputs(model, xb, t, seed + lo)
                lab = None if labels is None else labels[lo:lo + batch_size].to(inp.device)
                out = model.unet(inp, cond, lab)
                target = objective.training_target(model.cfg.prediction, xb.to(inp.device), eps, alpha, sigma)
                loss = objective.diffusion_loss(out, target, alpha, sigma, model.cfg.prediction,
                                                model.cfg.min_snr_gamma)
                x0_hat, _ = objective.x0_eps_from_output(model.cfg.prediction, out, x_t, alpha, sigma)
                loss_sum += float(loss) * xb.shape[0]
                mse_sum += float((x0_hat.float() - xb.to(inp.device)).square().mean()) * xb.shape[0]
            losses.append(loss_sum / x0.shape[0])
            x0_mse.append(mse_sum / x0.shape[0])
    finally:
        model.train(was_training)
    return LossProfile(np.array(ts), np.array(losses), np.array(x0_mse), int(x0.shape[0]), model.cfg.prediction)


# --- PNG writers --------------------------------------------------------------------------------------------------
def _to_unit(x: Tensor) -> np.ndarray:
    """Model space [-1, 1] → [0, 1] for imshow (first channel, or RGB for 3 channels)."""
    x = ((x.float().clamp(-1, 1) + 1) / 2).cpu()
    return x.permute(1, 2, 0).numpy() if x.shape[0] == 3 else x[0].numpy()


def save_trajectory(traj: Trajectory, path: str | os.PathLike[str], image: int = 0, max_steps: int = 10) -> Path:
    """Two rows for one image of a `trajectory`: the state x_t fed to the denoiser at each step and its clean-image
    prediction x̂0 (at most `max_steps` evenly chosen steps, the last included)."""
    steps = len(traj.timesteps)
    if not 0 <= image < traj.x.shape[1]:
        raise GenlabError(f"image {image}: expected 0..{traj.x.shape[1] - 1}")
    pick = np.unique(np.linspace(0, steps - 1, min(max_steps, steps)).round().astype(int))
    fig = Figure(figsize=(1.3 * len(pick), 3.0))
    axes = fig.subplots(2, len(pick), squeeze=False)
    for j, s in enumerate(pick):
        for row, (name, seq) in enumerate((("x_t", traj.x), ("x̂0", traj.x0_hat))):
            ax = axes[row, j]
            ax.imshow(_to_unit(seq[s, image]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"t={traj.timesteps[s]}", fontsize=8)
            if j == 0:
                ax.set_ylabel(name)
    fig.suptitle(f"{traj.sampler}, {steps} steps: the state and the denoiser's x̂0", fontsize=9)
    return save_figure(fig, path)


def save_feature_maps(maps: dict[str, Tensor], ts: Sequence[int], path: str | os.PathLike[str], image: int = 0,
                      channels: int = 4) -> Path:
    """One row per (layer, t): the first `channels` channels of the layer's output for one image (each channel
    scaled to its own range; token outputs (L, D) are shown as their (L, D) matrix)."""
    rows = [(name, i, t) for name in maps for i, t in enumerate(ts)]
    if not rows:
        raise GenlabError("no feature maps to draw")
    fig = Figure(figsize=(1.4 * channels + 1.2, 1.3 * len(rows)))
    axes = fig.subplots(len(rows), channels, squeeze=False)
    for r, (name, i, t) in enumerate(rows):
        out = maps[name][i, image]
        for c in range(channels):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if out.ndim == 3 and c < out.shape[0]:
                ax.imshow(out[c].numpy(), cmap="viridis")
            elif out.ndim == 2 and c == 0:
                ax.imshow(out.numpy(), cmap="viridis", aspect="auto")
            if c == 0:
                ax.set_ylabel(f"{name}\nt={t}", fontsize=7)
    fig.suptitle("feature maps (first channels)", fontsize=9)
    return save_figure(fig, path)


def save_attention_maps(maps: dict[str, AttentionMap], path: str | os.PathLike[str], image: int = 0,
                        query: int | None = None, background: Tensor | None = None) -> Path:
    """One row per attention layer, one column per t: where the `query` position (default the centre) looks,
    averaged over heads, upsampled over `background` (the image, (C, H, W) model space) when given."""
    if not maps:
        raise GenlabError("no attention maps to draw")
    first = next(iter(maps.values()))
    fig = Figure(figsize=(1.8 * len(first.ts) + 0.6, 1.9 * len(maps)))
    axes = fig.subplots(len(maps), len(first.ts), squeeze=False)
    for r, (name, amap) in enumerate(maps.items()):
        q = amap.query_map(query)[:, image]  # (T, h, w)
        for j, t in enumerate(amap.ts):
            ax = axes[r, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if background is not None:
                size = background.shape[-2:]
                ax.imshow(_to_unit(background), cmap="gray", vmin=0, vmax=1)
                up = F.interpolate(q[j][None, None], size=tuple(size), mode="nearest")[0, 0]
                ax.imshow(up.numpy(), cmap="inferno", alpha=0.6)
            else:
                ax.imshow(q[j].numpy(), cmap="inferno")
            if r == 0:
                ax.set_title(f"t={t}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{name}\n{amap.grid[0]}x{amap.grid[1]}", fontsize=7)
    fig.suptitle("attention of the centre query (mean over heads)" if query is None
                 else f"attention of query {query} (mean over heads)", fontsize=9)
    return save_figure(fig, path)


def save_loss_profile(profile: LossProfile, path: str | os.PathLike[str], title: str = "") -> Path:
    """The loss profile as a PNG: the training loss and the x̂0 MSE against t (log scale)."""
    fig = Figure(figsize=(7.0, 3.2))
    ax = fig.subplots()
    ax.plot(profile.t, profile.loss, label=f"training loss ({profile.prediction}-MSE)")
    ax.plot(profile.t, profile.x0_mse, label="x̂0 MSE")
    ax.set(xlabel="timestep t", ylabel="MSE", yscale="log",
           title=title or f"loss per timestep on {profile.n} real images")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
