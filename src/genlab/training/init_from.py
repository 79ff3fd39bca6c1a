"""Warm start (``train.init_from=SOURCE``): a new run begins from another run's or snapshot's weights.

SOURCE is what every loader takes (`genlab.checkpoints.pretrained.find_snapshot`): a snapshot file, a run directory
or a pretrained name, read safetensors + JSON only. A run directory that still holds a training state gives the raw
weights to the model and its EMA weights to the EMA; a snapshot file (or a pretrained name) holds one set of weights
(the EMA's, when the run had one), which both start from. Only weights move: the optimiser, the schedules, the step
counter and the RNG start fresh, so the new run's options (loss weights, learning rate, schedule) all apply. The
family and every tensor's name and shape must match; the first difference is one line naming the parameter.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from genlab.checkpoints import pretrained
from genlab.checkpoints.snapshot import read_header, read_tensors
from genlab.checkpoints.state import load_state, state_paths
from genlab.errors import GenlabError

Weights = dict[str, torch.Tensor]


def read_init_weights(source: str) -> tuple[str | None, Weights, Weights | None, str]:
    """(family, model weights, EMA weights or None, where) of `source`; one-line GenlabErrors."""
    p = Path(source)
    if p.is_dir() and state_paths(p):
        path = state_paths(p)[-1]
        state = load_state(path)
        config = state.get("config") if isinstance(state, dict) else None
        family = config.get("family") if isinstance(config, dict) else None
        return family, state["model"], state.get("ema"), str(path)
    try:
        path = pretrained.find_snapshot(source)
    except GenlabError as exc:
        raise GenlabError(f"train.init_from: {exc}") from None
    header = read_header(path)
    family = header.get("family") if isinstance(header, dict) else None
    weights = read_tensors(path)
    return family, weights, weights, str(path)


def check_compatible(model: nn.Module, weights: Weights, where: str) -> None:
    """One line naming the first tensor of `model` that `weights` lacks or holds with another shape, or the first
    tensor of `weights` that `model` has no place for."""
    own = model.state_dict()
    for name, tensor in own.items():
        if name not in weights:
            raise GenlabError(f"train.init_from={where}: the source has no '{name}' (this model: "
                              f"{tuple(tensor.shape)}); the architecture differs")
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise GenlabError(f"train.init_from={where}: '{name}' is {tuple(weights[name].shape)} in the source, "
                              f"{tuple(tensor.shape)} in this model; the architecture/config differs")
    extra = next((k for k in weights if k not in own), None)
    if extra is not None:
        raise GenlabError(f"train.init_from={where}: the source has '{extra}' {tuple(weights[extra].shape)}, "
                          "which this model lacks; the architecture differs")


def init_from(source: str, family: str, model: nn.Module, ema_model: nn.Module | None) -> str:
    """Load `source`'s weights into `model` (and `ema_model`), after checking the family and every shape.
    Returns where they came from (the file read)."""
    src_family, weights, ema_weights, where = read_init_weights(source)
    if src_family != family:
        raise GenlabError(f"train.init_from={where}: holds a '{src_family}' model; this run trains '{family}'")
    check_compatible(model, weights, where)
    model.load_state_dict(weights)
    if ema_model is not None:
        ema_weights = ema_weights if ema_weights is not None else weights
        check_compatible(ema_model, ema_weights, where)
        ema_model.load_state_dict(ema_weights)
    return where
