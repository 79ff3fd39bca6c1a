"""Training as API calls: a preset name, YAML path, dict or RunConfig (plus key=value overrides) → a trained run.

    import genlab.api as gl
    cfg = gl.resolve_config("mnist-vae", ["train.max_steps=100"])
    result = gl.train(cfg)          # or gl.train("mnist-vae", ["train.max_steps=100"]); resumes if interrupted
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from genlab.config import RunConfig, apply_overrides, preset_names, resolve
from genlab.training.loop import Trainer, TrainResult

__all__ = ["TrainResult", "presets", "resolve_config", "train"]


def resolve_config(spec: str | dict | RunConfig, overrides: Sequence[str] | None = None) -> RunConfig:
    """A preset name, YAML path or dict (plus key=value overrides) → the resolved RunConfig."""
    if isinstance(spec, RunConfig):
        return apply_overrides(spec, list(overrides or []))
    return resolve(spec, list(overrides or []))


def presets() -> list[str]:
    """Names of the built-in presets."""
    return preset_names()


def train(spec: str | dict | RunConfig, overrides: Sequence[str] | None = None, *, progress: bool = True,
          callback: Callable[[dict], None] | None = None) -> TrainResult:
    """Train (or resume, if its run directory holds a training state) and return where the snapshot is."""
    cfg = resolve_config(spec, overrides)
    return Trainer(cfg, progress=progress, callback=callback).run()
