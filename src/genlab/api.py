"""genlab's public API: the CLI, the web UI and the notebooks all call these functions.

    import genlab.api as gl
    result = gl.train("mnist-diffusion-quick", ["train.time_limit_min=2"])
    gen = gl.load(result.run_dir)
    images = gen.generate(16, seed=0, labels=3, sampler="dpmpp-2m", steps=20)   # uint8 (16, 1, 28, 28)
    gl.save_grid(images, "grid.png")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genlab.checkpoints.snapshot import Snapshot, load_snapshot
from genlab.checkpoints.state import load_state, state_paths
from genlab.config import RunConfig, preset_names, resolve
from genlab.data.codecs import ImageCodec, codec_from_state
from genlab.data.toy import write_toy_mnist, write_toy_musdb  # tiny stand-in datasets in the real formats
from genlab.diffusion_tools import (  # looking inside diffusion models (notebook 04)
    Trajectory,
    denoising_error,
    forward_chain,
    forward_process,
    interpolate_noise,
    schedule_curves,
    trajectory,
)
from genlab.errors import GenlabError
from genlab.evaluation import evaluate, evaluate_run, fid_vs_steps
from genlab.latent_api import anomaly, arithmetic, fit_density, interpolate, project, regularity  # latent-space tools
from genlab.pretrained_api import pretrained_names, pretrained_or_train
from genlab.report.html import report
from genlab.training.device import pick_device, resolve_precision
from genlab.training.loop import Trainer, TrainResult, generate_kwargs

__all__ = ["Generator", "TrainResult", "Trajectory", "anomaly", "arithmetic", "denoising_error", "evaluate",
           "evaluate_run", "fid_vs_steps", "find_snapshot", "fit_density", "forward_chain", "forward_process", "interpolate",
           "interpolate_noise", "load", "presets", "pretrained_names", "pretrained_or_train", "project", "regularity",
           "report", "resolve_config", "save_grid", "schedule_curves", "train", "trajectory", "write_toy_mnist",
           "write_toy_musdb"]


def resolve_config(spec: str | dict | RunConfig, overrides: Sequence[str] | None = None) -> RunConfig:
    """A preset name, YAML path or dict (plus key=value overrides) → the resolved RunConfig."""
    if isinstance(spec, RunConfig):
        from genlab.config.presets import _apply_overrides

        return _apply_overrides(spec, list(overrides or []))
    return resolve(spec, list(overrides or []))


def presets() -> list[str]:
    return preset_names()


def train(spec: str | dict | RunConfig, overrides: Sequence[str] | None = None, *, progress: bool = True,
          callback: Callable[[dict], None] | None = None) -> TrainResult:
    """Train (or resume, if its run directory holds a training state) and return where the snapshot is."""
    cfg = resolve_config(spec, overrides)
    return Trainer(cfg, progress=progress, callback=callback).run()


def find_snapshot(source: str | Path) -> Path:
    """A snapshot file, or a run directory (its final snapshot, else its newest epoch snapshot)."""
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
    from genlab.checkpoints import pretrained

    return pretrained.resolve(str(source))


@dataclass
class Generator:
    """A loaded model ready for inference."""

    snapshot: Snapshot
    codec: ImageCodec
    device: torch.device

    @property
    def model(self):
        return self.snapshot.model

    @property
    def header(self) -> dict[str, Any]:
        return self.snapshot.header

    @property
    def num_classes(self) -> int:
        return self.model.num_classes

    def generate_model_space(self, seeds: Sequence[int], labels: Tensor | None = None, *,
                             batch_size: int = 256, precision: str = "auto",
                             progress: Callable[[int, int], None] | None = None, **kwargs: Any) -> Tensor:
        """Samples in model space (N, C, H, W), [-1, 1]; sample i depends only on seeds[i] (and labels[i])."""
        out = []
        opts = generate_kwargs(self.model, **kwargs)
        precision = resolve_precision(precision, self.device)
        autocast = (torch.autocast(self.device.type, dtype=torch.bfloat16) if precision == "bf16"
                    else torch.autocast(self.device.type, enabled=False))
        for start in range(0, len(seeds), batch_size):
            chunk = list(seeds[start: start + batch_size])
            lab = labels[start: start + batch_size].to(self.device) if labels is not None else None
            with torch.no_grad(), autocast:
                out.append(self.model.generate(chunk, lab, **opts).float().cpu())
            if progress:
                progress(min(start + batch_size, len(seeds)), len(seeds))
        return torch.cat(out)

    def generate(self, n: int = 64, *, seed: int = 0, seeds: Sequence[int] | None = None,
                 labels: int | Sequence[int] | None = None, display: bool = True, **kwargs: Any) -> Tensor:
        """`n` samples with seeds seed..seed+n-1 (or explicit `seeds`) as uint8 (N, C, H, W).

        labels: one class for all, a list (one per sample), or None (classes cycle 0..K-1 for conditional models).
        kwargs: sampler, steps, guidance, eta, batch_size, precision, progress (ignored where meaningless).
        display: uint8 0..255 for viewing; False gives the stored values (e.g. facies {0, 1}).
        """
        seeds = list(seeds) if seeds is not None else [seed + i for i in range(n)]
        lab = self._labels(labels, len(seeds))
        x = self.generate_model_space(seeds, lab, **kwargs)
        return self.codec.to_display(x) if display else self.codec.decode(x)

    def _labels(self, labels: int | Sequence[int] | None, n: int) -> Tensor | None:
        k = self.num_classes
        if k == 0:
            if labels is not None:
                raise GenlabError("this model is unconditional: it takes no class label")
            return None
        if labels is None:
            return torch.arange(n) % k
        lab = torch.full((n,), int(labels)) if isinstance(labels, int) else torch.as_tensor(list(labels))
        if lab.numel() != n:
            raise GenlabError(f"got {lab.numel()} labels for {n} samples")
        if lab.min() < 0 or lab.max() >= k:
            raise GenlabError(f"class label must be in 0..{k - 1}, got {lab.tolist()[:5]}")
        return lab.long()


def load(source: str | Path, *, device: str = "auto", weights: str = "ema") -> Generator:
    """Load a snapshot (file, run directory or pretrained name) for inference — safetensors + JSON only.

    weights="raw" takes the non-EMA weights from the run directory's newest training state.
    """
    dev = pick_device(device)
    snap = load_snapshot(find_snapshot(source), device=dev)
    if weights == "raw":
        _load_raw_weights(snap, Path(source))
    elif weights != "ema":
        raise GenlabError(f"weights='{weights}': expected ema or raw")
    return Generator(snapshot=snap, codec=codec_from_state(snap.header["codec"]), device=dev)


def _load_raw_weights(snap: Snapshot, source: Path) -> None:
    run_dir = source if source.is_dir() else source.parent
    run_dir = run_dir.parent if run_dir.name == "snapshots" else run_dir
    paths = state_paths(run_dir)
    if not paths:
        raise GenlabError(f"{run_dir}: --weights raw needs the run directory's training state (state-*.safetensors)")
    state = load_state(paths[-1])
    snap.model.load_state_dict(state["model"])
    snap.header["weights"] = "raw"


def save_grid(images: Tensor, path: str | Path, nrow: int | None = None, scale: int = 1) -> Path:
    """Write uint8 images (N, C, H, W) as one PNG grid."""
    from genlab.viz.grid import save_grid as _save

    _save(images, Path(path), nrow=nrow, scale=scale)
    return Path(path)


from genlab.audio.api import evaluate_audio, regenerate  # noqa: F401  (audio: MUSDB stems)
