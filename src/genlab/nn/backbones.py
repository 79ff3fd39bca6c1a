"""The table of denoiser backbones a diffusion config chooses by name (option `backbone`).

Every backbone is called the same way, ``net(x, noise_cond, class_labels) -> out`` with out shaped like x, and
has a class table whose last row is the classifier-free-guidance null class. A new backbone is its module in
genlab.nn plus one line here: (check of its config options, builder from config).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from genlab.errors import GenlabError
from genlab.nn.dit import check_dit_options, dit_from_config
from genlab.nn.unet import check_unet_options, unet_from_config

BACKBONES: dict[str, tuple[Callable[[Any, str], None], Callable[[Any, Sequence[int], int], nn.Module]]] = {
    "unet": (check_unet_options, unet_from_config),  # genlab.nn.unet.UNet (ADM-style, AdaGN)
    "dit": (check_dit_options, dit_from_config),  # genlab.nn.dit.DiT (patchify, adaLN-Zero)
}


def check_backbone_options(cfg: Any, family: str) -> None:
    """One-line GenlabError for an unknown `backbone` or an out-of-range option of the chosen one."""
    if cfg.backbone not in BACKBONES:
        raise GenlabError(f"{family}: option 'backbone' = {cfg.backbone!r:.40} is not one of {', '.join(BACKBONES)}")
    BACKBONES[cfg.backbone][0](cfg, family)


def backbone_from_config(cfg: Any, shape: Sequence[int], num_classes: int) -> nn.Module:
    """The denoiser network `cfg.backbone` names, for inputs of `shape` (C, H, W)."""
    return BACKBONES[cfg.backbone][1](cfg, shape, num_classes)
