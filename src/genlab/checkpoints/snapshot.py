"""Snapshots: safetensors weights + a JSON header that rebuilds the model (no pickle, no training flags).

Header (stored in the safetensors metadata under "genlab"): schema version, family, constructor kwargs, the data
codec's state, which weights these are (ema/raw), the package version, the git commit, and run facts (training
step, images seen, config, dataset). This module writes snapshots and reads their raw parts (the header as JSON, the
tensor names and shapes, the tensors); `genlab.inference` validates the header as a whole (`SnapshotHeader`) and
rebuilds the model.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from genlab import __version__
from genlab.errors import GenlabError
from genlab.utils.io import atomic_path

SCHEMA_VERSION = 1  # the header layout this genlab writes; genlab.inference reads 1..SCHEMA_VERSION
HEADER_KEY = "genlab"


def git_commit() -> str | None:
    """The commit of the genlab checkout this runs from, if it is one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def state_dict_for_save(model: nn.Module) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies (safetensors refuses shared or strided storage)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


# header keys save_snapshot writes itself; the rest of a header (run facts such as step or config) comes from `extra`
OWN_HEADER_KEYS = frozenset({"schema_version", "family", "kwargs", "codec", "weights", "genlab_version", "git_commit"})


def save_snapshot(path: str | Path, model: nn.Module, codec_state: dict[str, Any], *, weights: str = "ema",
                  extra: dict[str, Any] | None = None) -> Path:
    """Write `model` (a GenerativeModel) as safetensors with its self-describing header, atomically."""
    header = {
        "schema_version": SCHEMA_VERSION,
        "family": model.family,
        "kwargs": model.constructor_kwargs(),
        "codec": codec_state,
        "weights": weights,
        "genlab_version": __version__,
        "git_commit": git_commit(),
        **(extra or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(state_dict_for_save(model), str(tmp), metadata={HEADER_KEY: json.dumps(header)})
    return path


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:120]


def read_header(path: str | Path) -> Any:
    """The raw JSON header of a snapshot file (file exists, is safetensors, has a genlab header that parses as
    JSON). Its content is validated by `genlab.inference.parse_header`."""
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"{path}: snapshot file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise GenlabError(f"{path}: not a safetensors file ({_first_line(e)})") from None
    if HEADER_KEY not in meta:
        raise GenlabError(f"{path}: safetensors file without a genlab header (not a genlab snapshot)")
    try:
        return json.loads(meta[HEADER_KEY])
    except (json.JSONDecodeError, RecursionError):
        raise GenlabError(f"{path}: genlab header is not valid JSON") from None


def tensor_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Name → shape of every tensor in a snapshot file, read from its index (no tensor data is loaded)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118  (not a dict)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise GenlabError(f"{path}: unreadable tensor index ({_first_line(e)})") from None


def write_with_header(source: str | Path, dest: str | Path, header: dict[str, Any]) -> Path:
    """Copy the snapshot `source` to `dest` with `header` in place of its own (same tensors), atomically."""
    tensors = read_tensors(source)
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        save_file(tensors, str(tmp), metadata={HEADER_KEY: json.dumps(header)})
    return dest


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a snapshot file, on the CPU."""
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise GenlabError(f"{path}: unreadable tensors ({_first_line(e)})") from None
