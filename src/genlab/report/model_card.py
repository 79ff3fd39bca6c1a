"""A README-style model card per snapshot: what it was trained on, how, how it measures, and what it is not for.

    from genlab.report.model_card import model_card, write_model_card
    print(model_card("runs/mnist-vae"))            # a run directory, a snapshot file, or a pretrained name
    write_model_card("runs/mnist-vae/snapshot.safetensors")   # → runs/mnist-vae/snapshot.md

Training writes one next to every snapshot it saves (``snapshots/epoch-0003.md``, ``snapshot.md``). The card is
rendered from the snapshot's own header (family, dataset, config, steps, training time), the run's
``metrics.jsonl`` rows for that snapshot (from ``genlab evaluate``) and, for a shipped pretrained snapshot, its
manifest entry (command and measured metrics). Only the header JSON is read, never the weights.

This module sits low in the import graph (it reads headers through `genlab.checkpoints`, nothing above), so the
training loop can write the cards itself.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from genlab.checkpoints import pretrained
from genlab.checkpoints.snapshot import read_header, tensor_shapes
from genlab.errors import GenlabError
from genlab.models.registry import get_family
from genlab.utils.io import atomic_write_text

METRICS_FILE = "metrics.jsonl"  # written by `genlab evaluate` in the run directory
_METRIC_LABELS = (  # key in a metrics row → label in the card
    ("fid", "FID"), ("kid_mean", "KID"), ("kid", "KID ×1000"), ("is_mean", "IS"), ("is", "IS"),
    ("precision", "precision"), ("recall", "recall"), ("class_kl_uniform", "class KL from uniform"),
    ("label_accuracy", "label accuracy"), ("lsd_db", "LSD (dB)"), ("si_sdr_db", "SI-SDR (dB)"),
)
_USES = {
    "image": ("Teaching and research on generative models of small grayscale images (28×28 digits or clothing). "
              "Not for identifying people or documents, not a data-augmentation source for production classifiers."),
    "facies": ("Research on geological priors: binary channel/background facies maps for history-matching "
               "experiments (ES-MDA). Not a calibrated model of any real reservoir."),
    "audio": ("Research on spectrogram models and vocoders for music stems (MUSDB18, 44.1 kHz). MUSDB18 is licensed "
              "for research only; outputs inherit that restriction."),
}
_LIMITS = [
    ("Metrics use genlab's domain feature net (a small classifier trained on the same dataset), not Inception: "
    "compare them with the real-vs-real floor in the same table, not with published FIDs."),
    "Trained on a CPU for minutes: samples are recognisable, not state of the art.",
    "Samples can copy training examples; `genlab evaluate` reports a memorisation check.",
]


def card_path(snapshot: str | os.PathLike[str]) -> Path:
    """Where the card of a snapshot file lives: beside it, same stem, ``.md``."""
    return Path(snapshot).with_suffix(".md")


def _resolve(source: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """(snapshot file, pretrained name or None) for a file, a run directory or a pretrained name."""
    path = Path(source)
    if path.is_dir():
        path = path / "snapshot.safetensors"
    if path.is_file():
        return path, None
    if str(source) in pretrained.manifest():
        return pretrained.resolve(str(source)), str(source)
    raise GenlabError(f"'{source}': not a snapshot file, a run directory with snapshot.safetensors, or a pretrained "
                      f"name ({', '.join(sorted(pretrained.manifest()))})")


def _header(path: Path) -> dict[str, Any]:
    header = read_header(path)
    if not isinstance(header, dict) or "family" not in header:
        raise GenlabError(f"{path}: the snapshot header is not a genlab header (no 'family')")
    return header


def _domain(header: dict[str, Any]) -> str:
    codec = header.get("codec") if isinstance(header.get("codec"), dict) else {}
    if codec.get("kind", "image") != "image":
        return "audio"
    return "facies" if codec.get("levels") == 2 else "image"


def _run_metrics(path: Path) -> list[dict[str, Any]]:
    """The run's metrics.jsonl rows measured on this snapshot file (newest last)."""
    run_dir = path.parent.parent if path.parent.name == "snapshots" else path.parent
    rows_file = run_dir / METRICS_FILE
    if not rows_file.is_file():
        return []
    rows = []
    for line in rows_file.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and Path(str(row.get("snapshot", ""))).name == path.name:
            rows.append(row)
    return rows


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _metrics_lines(row: dict[str, Any], source: str) -> list[str]:
    floor = row.get("floor") if isinstance(row.get("floor"), dict) else {}
    samples = row.get("num_fake", row.get("samples"))
    sampler = f" with the {row['sampler']} sampler" if row.get("sampler") else ""
    lines = [f"Measured by {source} on {samples if samples is not None else '?'} samples{sampler}:", "",
             "| metric | value | real-vs-real floor |", "|---|---|---|"]
    floor_flat = {**{k: v for k, v in floor.items() if not isinstance(v, dict)},
                  **{k[len("floor_"):]: v for k, v in row.items() if k.startswith("floor_")}}
    for key, label in _METRIC_LABELS:
        if isinstance(row.get(key), (int, float)):
            lines.append(f"| {label} | {_number(row[key])} | {_number(floor_flat.get(key, '—'))} |")
    if floor_flat.get("sampling"):
        lines += ["", (f"The floor compares as many real training images with the test set "
                      f"({floor_flat['sampling']} draw): a perfect model would score about the floor.")]
    return lines


def _data_lines(header: dict[str, Any], config: dict[str, Any]) -> list[str]:
    data = config.get("data", {}) if isinstance(config.get("data"), dict) else {}
    kwargs = header.get("kwargs", {}) if isinstance(header.get("kwargs"), dict) else {}
    limit = f", a subset of {data['limit']} images" if data.get("limit") else ""
    lines = [(f"- dataset: `{header.get('dataset') or data.get('dataset', '?')}` (split `{data.get('split', 'train')}`"
             f"{limit})"),
             f"- sample shape (model space): {tuple(kwargs.get('image_shape', ()))}, domain {_domain(header)}"]
    if data.get("classes"):
        lines.append(f"- classes kept: {data['classes']}")
    if kwargs.get("num_classes"):
        lines.append(f"- class-conditional: {kwargs['num_classes']} classes")
    return lines


def _model_lines(header: dict[str, Any], path: Path) -> list[str]:
    """Capabilities of the family (as built: conditional iff trained with classes) and the parameter count."""
    kwargs = header.get("kwargs", {}) if isinstance(header.get("kwargs"), dict) else {}
    caps = get_family(header["family"]).capabilities(int(kwargs.get("num_classes", 0) or 0))
    options = ", ".join(caps.sampling_options) or "none"
    latent = {"code": "a code (encode / decode / interpolate)", "noise": "seeded noise (deterministic sampler)",
              "": "none"}[caps.latent_kind]
    params = sum(math.prod(shape) for shape in tensor_shapes(path).values())
    return [f"- family `{header['family']}`, {params / 1e6:.2f} M parameters (all tensors in the file)",
            f"- sampling options: {options}; latent: {latent}; conditional: {'yes' if caps.conditional else 'no'}"]


def _training_lines(header: dict[str, Any], config: dict[str, Any], command: str | None) -> list[str]:
    train = config.get("train", {}) if isinstance(config.get("train"), dict) else {}
    seconds, cpu = header.get("train_seconds"), header.get("train_cpu_seconds")
    minutes = f", wall-clock training time: {seconds / 60:.1f} min" if isinstance(seconds, (int, float)) else ""
    minutes += f", process CPU time: {cpu / 60:.1f} min" if isinstance(cpu, (int, float)) else ""
    recorded = f"`{command}`" if command else "not recorded (the resolved config is in the run's config.json)"
    lines = [f"- preset / run name: `{config.get('name', '?')}`, family `{header['family']}`",
             f"- command: {recorded}",
             f"- optimiser steps: {header.get('step', '?')}, images seen: {header.get('images_seen', '?')}{minutes}",
             (f"- weights: {header.get('weights', 'ema')}; seed {train.get('seed', '?')}, batch "
             f"{train.get('batch_size', '?')}, lr {train.get('lr', '?')}, precision {train.get('precision', '?')}"),
             f"- genlab {header.get('genlab_version', '?')}, commit {str(header.get('git_commit') or '?')[:12]}"]
    return lines


def render_card(header: dict[str, Any], name: str, *, metrics: dict[str, Any] | None = None,
                metrics_source: str = "genlab evaluate", command: str | None = None,
                model: list[str] | None = None) -> str:
    """The card (Markdown) from a snapshot header, its newest metrics row (or None), the training command and the
    `model` lines (capabilities, parameters)."""
    config = header.get("config") if isinstance(header.get("config"), dict) else {}
    domain = _domain(header)
    dataset = header.get("dataset", "?")
    intro = f"Family `{header['family']}`, trained with genlab on the `{dataset}` data ({domain} domain)."
    lines = [f"# Model card: {name}", "", intro, "", "## Model", *(model or []), "",
             "## Data", *_data_lines(header, config), "",
             "## Training", *_training_lines(header, config, command), "", "## Metrics"]
    lines += _metrics_lines(metrics, metrics_source) if metrics else [
        ("Not measured yet: run `genlab evaluate` on this snapshot (it writes metrics.jsonl and the card picks the "
        "numbers up).")]
    lines += ["", "## Intended use", _USES[domain], "", "## Limits", *[f"- {limit}" for limit in _LIMITS], ""]
    return "\n".join(lines)


def model_card(source: str | os.PathLike[str], command: str | None = None) -> str:
    """The card (Markdown) of a snapshot file, a run directory (its final snapshot) or a pretrained name."""
    path, name = _resolve(source)
    header = _header(path)
    if name is not None:  # a shipped snapshot: the manifest holds the command and the measured metrics
        entry = pretrained.manifest()[name]
        metrics = entry.get("metrics") if isinstance(entry.get("metrics"), dict) else None
        return render_card(header, name, metrics=metrics, metrics_source="the benchmark recorded in the manifest",
                           command=entry.get("command"), model=_model_lines(header, path))
    rows = _run_metrics(path)
    run_name = path.parent.parent.name if path.parent.name == "snapshots" else path.parent.name
    label = run_name if path.stem == "snapshot" else f"{run_name} / {path.stem}"
    return render_card(header, label, metrics=rows[-1] if rows else None, command=command,
                       model=_model_lines(header, path))


def write_model_card(snapshot: str | os.PathLike[str], command: str | None = None) -> Path:
    """Write the card of a snapshot file beside it (`card_path`); returns the card's path."""
    out = card_path(snapshot)
    atomic_write_text(out, model_card(snapshot, command))
    return out
