"""Pickle-free serialisation of nested training state into (tensors, JSON skeleton).

Optimiser state dicts, RNG states and counters are nested dicts/lists/tuples of tensors, arrays and scalars. `pack`
moves every tensor into a flat name → tensor dict (for safetensors) and leaves a JSON skeleton that refers to
them by name, so a training state can be written and read without pickle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


def pack(obj: Any, tensors: dict[str, Tensor]) -> Any:
    """JSON-able skeleton of `obj`; tensors and arrays are added to `tensors` under fresh names."""
    if isinstance(obj, Tensor):
        name = f"t{len(tensors):06d}"
        tensors[name] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": name}
    if isinstance(obj, np.ndarray):
        name = f"t{len(tensors):06d}"
        tensors[name] = torch.from_numpy(np.ascontiguousarray(obj).copy())
        return {"__ndarray__": name}
    if isinstance(obj, dict):
        return {"__dict__": [[pack(k, tensors), pack(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [pack(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [pack(v, tensors) for v in obj]
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot pack {type(obj).__name__} without pickle")


def unpack(skeleton: Any, tensors: dict[str, Tensor]) -> Any:
    """Inverse of `pack`."""
    if isinstance(skeleton, list):
        return [unpack(v, tensors) for v in skeleton]
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__ndarray__" in skeleton:
            return tensors[skeleton["__ndarray__"]].numpy()
        if "__tuple__" in skeleton:
            return tuple(unpack(v, tensors) for v in skeleton["__tuple__"])
        if "__dict__" in skeleton:
            return {unpack(k, tensors): unpack(v, tensors) for k, v in skeleton["__dict__"]}
        raise ValueError(f"unknown packed node with keys {sorted(skeleton)}")
    return skeleton
