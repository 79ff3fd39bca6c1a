"""Named pretrained snapshots (manifest with sha256, training command and metrics).

A name such as ``mnist-ddpm`` resolves to a file listed in the package's manifest, checked against its sha256.
Maintainers add entries with ``scripts/publish_pretrained.py`` (which calls `publish`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from genlab.checkpoints.snapshot import read_header
from genlab.errors import GenlabError
from genlab.utils.io import atomic_path, write_json

MANIFEST = Path(__file__).resolve().parent.parent / "assets" / "pretrained" / "manifest.json"
MAX_MB = 20.0  # shipped snapshots stay small: the package must install quickly


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


def publish(name: str, source: str | Path, command: str, metrics: dict[str, Any] | None = None, note: str = "",
            max_mb: float = MAX_MB, cpu_minutes: float | None = None, wall_minutes: float | None = None
            ) -> dict[str, Any]:
    """Copy a finished run's snapshot (`source`: the run directory or a snapshot file) next to the manifest as
    NAME.safetensors and record it (atomic manifest rewrite).

    The entry holds sha256, size, family, dataset, training steps / images / CPU minutes (from the snapshot
    header), the exact training `command` and the measured `metrics` (with their sample counts and floors).
    cpu_minutes / wall_minutes: the training's measured process CPU time and wall time (e.g. from
    benchmarks/diffusion_quality.py train); without them train_cpu_minutes is the header's process CPU time
    (train_cpu_seconds) or, for snapshots older than that field, its training time, which is wall-clock step time
    (inflated on a shared machine).
    """
    if not name or "/" in name or name.endswith(".safetensors"):
        raise GenlabError(f"pretrained name '{name}': expected a short name such as mnist-ddpm")
    snap = Path(source) / "snapshot.safetensors" if Path(source).is_dir() else Path(source)
    if not snap.is_file():
        raise GenlabError(f"{source}: no finished snapshot to publish (expected a snapshot file or a run directory "
                          "with snapshot.safetensors)")
    size_mb = snap.stat().st_size / 2**20
    if size_mb > max_mb:
        raise GenlabError(f"{snap}: {size_mb:.1f} MB is over the {max_mb:g} MB limit for shipped snapshots")
    header = read_header(snap)
    header = header if isinstance(header, dict) else {}
    dest = MANIFEST.parent / f"{name}.safetensors"
    with atomic_path(dest) as tmp:
        shutil.copyfile(snap, tmp)
    entry = {
        "file": dest.name,
        "sha256": sha256(dest),
        "size_mb": round(size_mb, 2),
        "family": header.get("family"),
        "dataset": header.get("dataset"),
        "steps": header.get("step"),
        "images_seen": header.get("images_seen"),
        "train_cpu_minutes": (round(float(cpu_minutes), 1) if cpu_minutes is not None
                              else round(float(header["train_cpu_seconds"]) / 60, 1)
                              if isinstance(header.get("train_cpu_seconds"), (int, float))
                              else round(float(header.get("train_seconds", 0.0)) / 60, 1)),
        "command": command,
        "metrics": metrics or {},
        "note": note,
    }
    if wall_minutes is not None:
        entry["train_wall_minutes"] = round(float(wall_minutes), 1)
    entries = manifest()
    entries[name] = entry
    write_json(MANIFEST, dict(sorted(entries.items())))
    return entry


def headline(entry: dict[str, Any]) -> dict[str, float | int | None]:
    """{fid, floor, n} of a manifest entry in either recorded layout (flat {fid, floor_fid, floor_n | samples} or an
    evaluate result {num_samples, metrics: {fid, floor: {fid, n}}}); None where absent. The floor is the one
    definition of `genlab.metrics.image.real_floor`, whose value depends on n, so n travels with it."""
    metrics = entry.get("metrics") or {}
    inner = metrics.get("metrics") if isinstance(metrics.get("metrics"), dict) else {}
    floor = inner.get("floor") if isinstance(inner.get("floor"), dict) else {}
    values = {"fid": metrics.get("fid", inner.get("fid")), "floor": metrics.get("floor_fid", floor.get("fid")),
              "n": metrics.get("floor_n", floor.get("n", metrics.get("samples", metrics.get("num_samples"))))}
    return {k: (v if isinstance(v, (int, float)) and not isinstance(v, bool) else None) for k, v in values.items()}


def remeasure(name: str, metrics: dict[str, Any], command: str) -> dict[str, Any]:
    """Replace a shipped entry's metrics with a new measurement of the same file (e.g. under the project's one floor
    definition), recording the measuring `command`; the previous metrics move to `metrics_superseded`."""
    entries = manifest()
    if name not in entries:
        raise GenlabError(f"pretrained name '{name}': not in the manifest (known: {', '.join(sorted(entries))})")
    if not isinstance(metrics, dict) or not metrics:
        raise GenlabError(f"{name}: the new metrics are empty (expected the JSON of `genlab evaluate --json`)")
    entry = dict(entries[name])
    entry["metrics_superseded"] = entry.get("metrics") or {}
    entry["metrics"] = metrics
    entry["metrics_command"] = command
    entries[name] = entry
    write_json(MANIFEST, dict(sorted(entries.items())))
    return entry


def find_snapshot(source: str | Path) -> Path:
    """A snapshot file, or a run directory (its final snapshot, else its newest epoch snapshot), or a pretrained
    name (its shipped file, sha256-verified). The one rule for every loader (inference, frozen autoencoders)."""
    p = Path(source)
    if p.is_dir():
        if (p / "snapshot.safetensors").is_file():
            return p / "snapshot.safetensors"
        epochs = sorted((p / "snapshots").glob("epoch-*.safetensors"))
        if epochs:
            return epochs[-1]
        raise GenlabError(f"{p}: run directory has no snapshot yet (snapshot.safetensors or snapshots/epoch-*)")
    if p.is_file():
        return p
    return resolve(str(source))
