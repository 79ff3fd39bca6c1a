"""Perceptual (feature-space) reconstruction loss for autoencoders and VAEs, with the project's domain feature net.

A pixel loss blurs: it charges a one-pixel shift of a stroke like a missing stroke. Comparing the images in the
feature space of a frozen classifier (Johnson et al. 2016, "perceptual losses"; Hou et al. 2017, "deep feature
consistent VAE") charges what the classifier sees instead. Here the classifier is genlab's domain feature net
(genlab.metrics.features, the one FID uses): the loss is the squared distance between the activations after each of
its three conv stages, each stage's mean over its elements, summed over stages and multiplied by the image's pixel
count C·H·W so that a weight of 1 sits on the scale of a per-image (summed) pixel loss.

The feature net is not part of the model: `attach_perceptual` (called by the trainer for a model whose
``perceptual_weight`` > 0) hands the model a loss function holding the frozen net in eval mode, loaded from the
shipped assets (cached per name and device); it is never written into a snapshot.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.metrics.features import ASSET_DIR, FeatureNet, load_feature_net

_NETS: dict[tuple[str, str], FeatureNet] = {}


def perceptual_net_names() -> list[str]:
    """Names of the shipped feature nets (datasets) a perceptual loss can use."""
    return sorted(p.stem for p in ASSET_DIR.glob("*.safetensors"))


def feature_net(name: str, device: torch.device | str = "cpu") -> FeatureNet:
    """The frozen feature net `name` on `device` (cached)."""
    key = (name, str(device))
    if key not in _NETS:
        net = load_feature_net(name, device=device).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        _NETS[key] = net
    return _NETS[key]


def stage_features(net: FeatureNet, x: Tensor) -> list[Tensor]:
    """Activations after each conv stage (each ends in a 2×2 max-pool) for images x (N, C, H, W) in [-1, 1]."""
    h, out = x.float(), []
    for layer in net.trunk:
        h = layer(h)
        if isinstance(layer, torch.nn.MaxPool2d):
            out.append(h)
    return out


def perceptual_distance(net: FeatureNet, x_hat: Tensor, x: Tensor) -> Tensor:
    """Per-image feature-space squared error (N,) between reconstructions x_hat and targets x, both model space
    [-1, 1] (N, C, H, W); gradients flow into x_hat only."""
    net = net.to(x_hat.device)
    with torch.no_grad():
        target = stage_features(net, x)
    per_stage = [(a - b).pow(2).flatten(1).mean(1) for a, b in zip(stage_features(net, x_hat), target, strict=True)]
    return x[0].numel() * torch.stack(per_stage).sum(0)


def attach_perceptual(model: torch.nn.Module) -> bool:
    """Give `model` its perceptual loss when its config asks for one (``perceptual_weight`` > 0): the feature net
    named by ``perceptual_net``, checked to exist and to take the model's channels. Returns whether it attached."""
    cfg = getattr(model, "cfg", None)
    if cfg is None or getattr(cfg, "perceptual_weight", 0.0) <= 0:
        return False
    family, name = model.family, cfg.perceptual_net
    names = perceptual_net_names()
    if name not in names:
        raise GenlabError(f"{family}: option 'perceptual_net' = {name!r} is not one of {', '.join(names)}")
    net = feature_net(name)
    if net.in_channels != model.image_shape[0]:
        raise GenlabError(f"{family}: perceptual_net {name!r} takes {net.in_channels}-channel images, the data "
                          f"has {model.image_shape[0]}")
    model.attach_perceptual(partial(perceptual_distance, net))
    return True
