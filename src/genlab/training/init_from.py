"""Warm start (``train.init_from=SOURCE``): a new run begins from another run's or snapshot's weights.

SOURCE is what every loader takes (`genlab.checkpoints.pretrained.find_snapshot`): a snapshot file, a run directory
or a pretrained name, read safetensors + JSON only. A run directory that still holds a training state gives the raw
weights to the model and its EMA weights to the EMA; a snapshot file (or a pretrained name) holds one set of weights
(the EMA's, when the run had one), which both start from. Only weights move: the optimiser, the schedules, the step
counter and the RNG start fresh, so the new run's options (loss weights, learning rate, schedule) all apply. The
family and every tensor's name and shape must match; the first difference is one line naming the parameter. Model
options that differ from the source's are listed (e.g. a loss weight turned on); those a family names in
``warm_start_fixed`` (options that change what same-shaped weights mean, e.g. the vocoder's phase_mode) are refused.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genlab.checkpoints import pretrained
from genlab.checkpoints.snapshot import read_header, read_tensors
from genlab.checkpoints.state import load_state, state_paths
from genlab.errors import GenlabError

Weights = dict[str, torch.Tensor]


def _dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def read_init_weights(source: str) -> tuple[str | None, dict[str, Any], Weights, Weights | None, str]:
    """(family, model options, model weights, EMA weights or None, where) of `source`; one-line GenlabErrors."""
    p = Path(source)
    states = state_paths(p) if p.is_dir() else []
    if states:
        path = states[-1]
        state = load_state(path)
        config = _dict(state.get("config"))
        return config.get("family"), _dict(config.get("model")), state["model"], state.get("ema"), str(path)
    try:
        path = pretrained.find_snapshot(source)
    except GenlabError as exc:
        raise GenlabError(f"train.init_from: {exc}") from None
    header = _dict(read_header(path))
    weights = read_tensors(path)
    return header.get("family"), _dict(header.get("kwargs")), weights, weights, str(path)


def _plain(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))  # tuples → lists, as stored in a header


def option_changes(model: nn.Module, source_options: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(option, source's value, this model's value) for every model option that differs; an option the source
    predates counts at its default."""
    own = dict(getattr(model, "hparams", {}) or {})
    config_cls = getattr(model, "Config", None)
    defaults = dataclasses.asdict(config_cls()) if dataclasses.is_dataclass(config_cls) else {}
    changes = []
    for key, value in own.items():
        old = source_options.get(key, defaults.get(key, value))
        if _plain(old) != _plain(value):
            changes.append((key, _plain(old), _plain(value)))
    return changes


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


def init_from(source: str, family: str, model: nn.Module, ema_model: nn.Module | None
              ) -> tuple[str, list[tuple[str, Any, Any]]]:
    """Load `source`'s weights into `model` (and `ema_model`), after checking the family, every shape and the
    family's `warm_start_fixed` options. Returns where they came from (the file read) and the model options that
    differ from the source's (`option_changes`)."""
    src_family, options, weights, ema_weights, where = read_init_weights(source)
    if src_family != family:
        raise GenlabError(f"train.init_from={where}: holds a '{src_family}' model; this run trains '{family}'")
    check_compatible(model, weights, where)
    changes = option_changes(model, options)
    fixed = next((c for c in changes if c[0] in getattr(model, "warm_start_fixed", ())), None)
    if fixed is not None:
        key, old, new = fixed
        raise GenlabError(f"train.init_from={where}: model.{key} is {old!r} in the source, {new!r} in this run; "
                          f"a {family} model cannot warm-start across it (the same weights would mean another thing)")
    model.load_state_dict(weights)
    if ema_model is not None:
        ema_weights = ema_weights if ema_weights is not None else weights
        check_compatible(ema_model, ema_weights, where)
        ema_model.load_state_dict(ema_weights)
    return where, changes
