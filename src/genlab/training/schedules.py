"""Learning-rate schedules and weight initialisation, for every family (config keys train.lr_schedule, train.init).

Schedules (`LR_SCHEDULES`) are factors on train.lr per optimiser step, after a linear warm-up of train.warmup_steps:

- "constant": 1.
- "cosine": a half cosine from 1 to 0 at the last step (Loshchilov & Hutter 2017, SGDR without restarts).
- "plateau": 1, multiplied by train.plateau_factor each time the mean training loss of a window of
  train.plateau_patience steps fails to improve on the best window mean by train.plateau_threshold (relative) —
  PyTorch's ReduceLROnPlateau, with the training loss averaged over a window instead of a validation metric per
  epoch (genlab's "epochs" can be any number of images; a window of steps means the same thing in every run).

Initialisations (`INITS`) re-draw the weights of every convolution and linear layer before training: "default"
keeps each family's own (PyTorch's layer defaults, and e.g. zero-initialised U-Net output layers); "xavier"
(Glorot & Bengio 2010, uniform, gain 1), "kaiming" (He et al. 2015, normal, fan-in, ReLU gain √2) and "orthogonal"
(Saxe et al. 2014) re-draw all of them, with biases set to zero. Normalisation layers and embeddings keep theirs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from genlab.config.core import INITS, LR_SCHEDULES

__all__ = ["INITS", "LR_SCHEDULES", "Plateau", "init_weights", "lr_factor"]

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def lr_factor(step: int, *, warm: int, total: int, schedule: str = "constant", plateau: Plateau | None = None
              ) -> float:
    """Learning-rate factor at optimiser step `step`: linear warm-up over `warm` steps, then 1 ("constant"), a half
    cosine from 1 to 0 at step `total` ("cosine"), or the plateau's current scale ("plateau")."""
    factor = min(1.0, (step + 1) / warm)
    if schedule == "cosine" and step >= warm:
        progress = min(1.0, (step - warm) / max(1, total - warm))
        factor = 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "plateau" and plateau is not None:
        factor *= plateau.scale
    return factor


@dataclass
class Plateau:
    """Reduce-on-plateau state: call `observe(loss)` once per optimiser step (after the warm-up); every `patience`
    observations the window's mean loss is compared with the best so far. Its fields are the resumable state."""

    patience: int = 500  # steps per window
    factor: float = 0.5  # scale multiplier on a plateau
    threshold: float = 0.01  # relative improvement a window mean needs to count as better
    scale: float = 1.0
    best: float | None = None
    window_sum: float = 0.0
    window_count: int = 0
    reductions: int = 0

    def observe(self, loss: float) -> None:
        if not math.isfinite(loss):
            return
        self.window_sum += loss
        self.window_count += 1
        if self.window_count < self.patience:
            return
        mean = self.window_sum / self.window_count
        self.window_sum, self.window_count = 0.0, 0
        if self.best is None or mean < self.best - self.threshold * abs(self.best):
            self.best = mean
        else:
            self.scale *= self.factor
            self.reductions += 1

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("scale", "best", "window_sum", "window_count", "reductions"):  # not the (resumable) options
            if key in state:
                setattr(self, key, state[key])


def _weight(layer: nn.Module) -> nn.Parameter | None:
    """The trainable weight tensor of a layer, also under spectral norm (old-style `weight_orig` or the
    parametrization's `original`)."""
    parametrizations = getattr(layer, "parametrizations", None)
    if parametrizations is not None and "weight" in parametrizations:
        return parametrizations.weight.original
    weight = getattr(layer, "weight_orig", None)
    if weight is None:
        weight = getattr(layer, "weight", None)
    return weight if isinstance(weight, nn.Parameter) else None


@torch.no_grad()
def init_weights(model: nn.Module, scheme: str) -> int:
    """Re-draw every conv/linear weight of `model` with `scheme` (see the module docstring), biases to zero, from
    torch's global generator (seeded by the engine). Returns the number of layers re-initialised (0 for "default")."""
    if scheme == "default":
        return 0
    count = 0
    for layer in model.modules():
        if not isinstance(layer, _LAYERS) or (weight := _weight(layer)) is None:
            continue
        if scheme == "xavier":
            nn.init.xavier_uniform_(weight)
        elif scheme == "kaiming":
            nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu")
        elif scheme == "orthogonal":
            nn.init.orthogonal_(weight)
        else:
            raise ValueError(f"unknown init scheme {scheme!r}")  # config validation names INITS first
        if getattr(layer, "bias", None) is not None:
            layer.bias.zero_()
        count += 1
    return count
