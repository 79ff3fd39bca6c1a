"""Resumable training state: model, EMA, optimisers, schedulers, RNG states and counters, without pickle.

Files are `state-<step>.safetensors` in the run directory, written atomically (temp file + rename); the newest K are
kept. The nested state is flattened by `genlab.checkpoints.pack` into tensors + a JSON skeleton in the metadata.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from genlab.checkpoints.pack import pack, unpack
from genlab.errors import GenlabError
from genlab.utils.io import atomic_path

_STATE_RE = re.compile(r"^state-(\d{9})\.safetensors$")


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) global generator states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def state_paths(run_dir: Path) -> list[Path]:
    """Training-state files in `run_dir`, oldest first."""
    if not run_dir.is_dir():
        return []
    return sorted(p for p in run_dir.iterdir() if _STATE_RE.match(p.name))


def save_state(run_dir: Path, step: int, state: dict[str, Any], keep_last: int = 2) -> Path:
    """Write `state` as state-<step>.safetensors atomically, then drop all but the newest `keep_last`."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = pack(state, tensors)
    path = run_dir / f"state-{step:09d}.safetensors"
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"genlab_state": json.dumps(skeleton)})
    for old in state_paths(run_dir)[: -max(1, keep_last)]:
        old.unlink(missing_ok=True)
    return path


def load_state(path: Path) -> dict[str, Any]:
    """Read a training state written by `save_state`."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise GenlabError(f"{path}: unreadable training state ({str(e).splitlines()[0][:120]})") from None
    if "genlab_state" not in meta:
        raise GenlabError(f"{path}: not a genlab training state")
    return unpack(json.loads(meta["genlab_state"]), tensors)
