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

from genlab.checkpoints.snapshot import read_header, write_with_header
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
            max_mb: float = MAX_MB, cpu_minutes: float | None = None, wall_minutes: float | None = None,
            sample: dict[str, Any] | None = None) -> dict[str, Any]:
    """Copy a finished run's snapshot (`source`: the run directory or a snapshot file) next to the manifest as
    NAME.safetensors and record it (atomic manifest rewrite).

    The entry holds sha256, size, family, dataset, training steps / images / CPU minutes (from the snapshot
    header), the exact training `command` and the measured `metrics` (with their sample counts and floors).
    cpu_minutes / wall_minutes: the training's measured process CPU time and wall time (e.g. from
    benchmarks/diffusion_quality.py train); without them train_cpu_minutes is the header's process CPU time
    (train_cpu_seconds) or, for snapshots older than that field, its training time, which is wall-clock step time
    (inflated on a shared machine).
    sample: sampling defaults measured after training (e.g. {"sampler": "unipc", "steps": 5, "guidance": 1.5}),
    written into the shipped copy's header (config.sample, which `genlab sample` and the web UI use when no option
    is given); the run's own settings are kept under config.sample_as_trained. The tensors are unchanged.
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
    config = header.get("config") if isinstance(header.get("config"), dict) else {}
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    if sample or data.get("data_dir"):
        # the trainer's data folder is a path on its machine: a shipped snapshot finds its data the user's way
        # (--data-dir, GENLAB_DATA_DIR), never in a folder that exists only where it was trained
        trained = config.get("sample") if isinstance(config.get("sample"), dict) else {}
        config = {**config, "data": {**data, "data_dir": None}}
        if sample:
            config = {**config, "sample": {**trained, **sample}, "sample_as_trained": trained}
        header = {**header, "config": config}
        write_with_header(snap, dest, header)
    else:
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
    """{fid, floor, n, floor_draws, floor_q25, floor_q75} of a manifest entry in either recorded layout (flat
    {fid, floor_fid, floor_n | samples, floor_draws, floor_fid_q25, floor_fid_q75} or an evaluate result
    {num_samples, metrics: {fid, floor: {fid, n, draws, fid_q25, fid_q75}}}); None where absent. The floor is the
    one definition of `genlab.metrics.image.real_floor`, whose value depends on n, so n travels with it; its FID
    is the median of floor_draws random draws with quartiles floor_q25/floor_q75 (a floor recorded before the
    median, without a draw count, was one draw: floor_draws 1, no quartiles)."""
    metrics = entry.get("metrics") or {}
    inner = metrics.get("metrics") if isinstance(metrics.get("metrics"), dict) else {}
    floor = inner.get("floor") if isinstance(inner.get("floor"), dict) else {}
    values = {"fid": metrics.get("fid", inner.get("fid")), "floor": metrics.get("floor_fid", floor.get("fid")),
              "n": metrics.get("floor_n", floor.get("n", metrics.get("samples", metrics.get("num_samples")))),
              "floor_draws": metrics.get("floor_draws", floor.get("draws")),
              "floor_q25": metrics.get("floor_fid_q25", floor.get("fid_q25")),
              "floor_q75": metrics.get("floor_fid_q75", floor.get("fid_q75"))}
    out = {k: (v if isinstance(v, (int, float)) and not isinstance(v, bool) else None) for k, v in values.items()}
    if out["floor"] is not None and out["floor_draws"] is None:
        out["floor_draws"] = 1
    return out


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


def floor_holders(entry: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Where an image entry's metrics record a real-vs-real FID floor: [(keys from entry["metrics"] down to the
    dict holding it, layout)], layout "nested" (a `genlab evaluate` result: holder["floor"]["fid"]) or "flat"
    (holder["floor_fid"], e.g. a benchmark row or a guidance_sweep point). Facies floors (no FID) are skipped."""
    found: list[tuple[tuple[str | int, ...], str]] = []

    def walk(node: Any, keys: tuple[str | int, ...]) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("floor"), dict) and isinstance(node["floor"].get("fid"), (int, float)):
                found.append((keys, "nested"))
            if isinstance(node.get("floor_fid"), (int, float)):
                found.append((keys, "flat"))
            for key, value in node.items():
                if key not in ("floor", "metrics_superseded"):
                    walk(value, (*keys, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*keys, i))

    walk(entry.get("metrics") or {}, ())
    return found


def remeasure_floor(name: str, keys: tuple[str | int, ...], floor: dict[str, Any], command: str) -> dict[str, Any]:
    """Replace one floor of a shipped entry (`keys`: a holder from `floor_holders`) with a re-measurement of the
    same setting (same n, training pool and reference) under the current definition (`real_floor`: the median FID
    of `floor["draws"]` draws), recording `command`. Only floor fields change: the FID becomes the median, the
    quartiles, draw count and draws' FIDs are added, the replaced value is kept as superseded_fid (nested) /
    floor_superseded_fid (flat), and a flat holder's fid_over_floor is re-derived. The weights file is untouched."""
    entries = manifest()
    if name not in entries:
        raise GenlabError(f"pretrained name '{name}': not in the manifest (known: {', '.join(sorted(entries))})")
    missing = [k for k in ("fid", "fid_q25", "fid_q75", "draws", "fid_draws", "n") if k not in floor]
    if missing:
        raise GenlabError(f"{name}: the new floor lacks {', '.join(missing)} (expected a `real_floor` result)")
    entry = json.loads(json.dumps(entries[name]))
    holder: Any = entry.get("metrics")
    try:
        for key in keys:
            holder = holder[key]
    except (KeyError, IndexError, TypeError):
        raise GenlabError(f"{name}: no floor at metrics{''.join(f'[{k!r}]' for k in keys)}") from None
    new = {"fid": floor["fid"], "fid_q25": floor["fid_q25"], "fid_q75": floor["fid_q75"], "draws": floor["draws"],
           "fid_draws": floor["fid_draws"]}
    if isinstance(holder, dict) and isinstance(holder.get("floor"), dict):
        old = holder["floor"]
        if old.get("n") not in (None, floor["n"]):
            raise GenlabError(f"{name}: the floor at {keys} has n = {old['n']}, the new one n = {floor['n']}")
        holder["floor"] = {**old, **new, "superseded_fid": old.get("superseded_fid", old["fid"]), "command": command}
    elif isinstance(holder, dict) and "floor_fid" in holder:
        if holder.get("floor_n") not in (None, floor["n"]):
            raise GenlabError(f"{name}: the floor at {keys} has n = {holder['floor_n']}, the new one n = {floor['n']}")
        holder["floor_superseded_fid"] = holder.get("floor_superseded_fid", holder["floor_fid"])
        holder.update({"floor_fid": new["fid"], "floor_fid_q25": new["fid_q25"], "floor_fid_q75": new["fid_q75"],
                       "floor_draws": new["draws"], "floor_fid_draws": new["fid_draws"], "floor_command": command})
        if isinstance(holder.get("fid_over_floor"), (int, float)) and isinstance(holder.get("fid"), (int, float)):
            holder["fid_over_floor"] = holder["fid"] / floor["fid"]
    else:
        raise GenlabError(f"{name}: no floor at metrics{''.join(f'[{k!r}]' for k in keys)}")
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
