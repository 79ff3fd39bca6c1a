"""Named pretrained snapshots (manifest with sha256, training command and metrics).

A name such as ``mnist-ddpm`` resolves to a file listed in the package's manifest, checked against its sha256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError

MANIFEST = Path(__file__).resolve().parent.parent / "assets" / "pretrained" / "manifest.json"


def manifest() -> dict[str, Any]:
    if not MANIFEST.is_file():
        return {}
    return json.loads(MANIFEST.read_text())


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve(name: str) -> Path:
    """Path of pretrained snapshot `name`, verified; a GenlabError naming the choices otherwise."""
    entries = manifest()
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none shipped yet"
        raise GenlabError(f"'{name}' is not a snapshot file, a run directory or a pretrained name (known: {known})")
    entry = entries[name]
    path = MANIFEST.parent / entry["file"]
    if not path.is_file():
        raise GenlabError(f"pretrained '{name}': file {path} is missing from this installation")
    if sha256(path) != entry["sha256"]:
        raise GenlabError(f"pretrained '{name}': {path} does not match its sha256 in the manifest")
    return path
