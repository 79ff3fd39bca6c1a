"""Snapshots: safetensors weights + a JSON header that rebuilds the model (no pickle, no training flags).

Header (stored in the safetensors metadata under "genlab"): schema version, family, constructor kwargs, the data
codec's state, which weights these are (ema/raw), the package version, the git commit, and free-form extras
(training step, images seen, config). Loading checks the family and the schema version before building anything.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from genlab import __version__
from genlab.errors import GenlabError
from genlab.utils.io import atomic_path

SCHEMA_VERSION = 1
HEADER_KEY = "genlab"


@dataclass
class Snapshot:
    model: nn.Module
    header: dict[str, Any]
    path: Path

    @property
    def family(self) -> str:
        return self.header["family"]


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


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of a snapshot, validated (file exists, is safetensors, has a genlab header we can read)."""
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"{path}: snapshot file not found")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise GenlabError(f"{path}: not a safetensors file ({str(e).splitlines()[0][:120]})") from None
    if HEADER_KEY not in meta:
        raise GenlabError(f"{path}: safetensors file without a genlab header (not a genlab snapshot)")
    try:
        header = json.loads(meta[HEADER_KEY])
    except json.JSONDecodeError:
        raise GenlabError(f"{path}: genlab header is not valid JSON") from None
    version = header.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise GenlabError(f"{path}: snapshot schema version {version} is newer than this genlab supports "
                          f"({SCHEMA_VERSION}); upgrade genlab")
    return header


def load_snapshot(path: str | Path, *, family: str | None = None, device: str | torch.device = "cpu") -> Snapshot:
    """Rebuild the model from a snapshot. `family`, if given, must match the snapshot's."""
    from genlab.models.registry import get_family

    header = read_header(path)
    if family is not None and header["family"] != family:
        raise GenlabError(f"{path}: snapshot is a '{header['family']}' model, expected '{family}'")
    cls = get_family(header["family"])
    try:
        model = cls(**header["kwargs"])
    except TypeError as e:
        raise GenlabError(f"{path}: header kwargs do not fit family '{header['family']}' ({e})") from None
    tensors = load_file(str(path), device="cpu")
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise GenlabError(f"{path}: weights do not match the model (missing {list(missing)[:3]}, "
                          f"unexpected {list(unexpected)[:3]})")
    model.to(device).eval()
    return Snapshot(model=model, header=header, path=Path(path))
