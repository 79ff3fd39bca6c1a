"""Exponential moving average of model weights (sampling uses the EMA copy)."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn


class EMA:
    """EMA of every parameter; buffers are copied. With warm-up, decay = min(decay, (1 + n) / (10 + n)).

    The warm-up keeps early EMA weights from being dominated by the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True):
        self.decay = float(decay)
        self.warmup = warmup
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self, num_updates: int) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1.0 + num_updates) / (10.0 + num_updates))

    @torch.no_grad()
    def update(self, model: nn.Module, num_updates: int) -> None:
        decay = self.current_decay(num_updates)
        ema_params = list(self.model.parameters())
        params = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)
        for eb, b in zip(self.model.buffers(), model.buffers()):
            eb.copy_(b)


def ema_sibling(snapshot: Path, decay: float) -> Path:
    """Where `train.ema_extra`'s average with `decay` is written for `snapshot`: the same name in a folder
    ema-<decay> beside it (a folder, so globs such as snapshots/epoch-*.safetensors keep finding the main ones)."""
    return snapshot.parent / f"ema-{decay:g}" / snapshot.name
