"""A pretrained snapshot by name when this installation ships it, else a run trained from a preset.

    import genlab.api as gl
    source = gl.pretrained_or_train("mnist-vae", "mnist-vae", ["run_dir=runs/nb/mnist-vae"])
    gen = gl.load(source)

Notebooks and scripts use this so that they run on a fresh clone (training what is missing, resuming or reusing
a finished run directory) and reuse shipped snapshots (`genlab.checkpoints.pretrained`) where there are some.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from genlab.checkpoints import pretrained
from genlab.errors import GenlabError
from genlab.training_api import train

__all__ = ["pretrained_headline", "pretrained_headline_text", "pretrained_manifest", "pretrained_names",
           "pretrained_or_train", "resolve_pretrained"]


def pretrained_names() -> list[str]:
    """Names in the pretrained manifest of this installation (possibly none)."""
    return sorted(pretrained.manifest())


def pretrained_manifest() -> dict[str, dict]:
    """Name → manifest entry (file, sha256, family, dataset, command, metrics, note) of every shipped snapshot."""
    return pretrained.manifest()


def pretrained_headline(entry: dict) -> dict[str, float | int | None]:
    """{fid, floor, n, floor_draws, floor_q25, floor_q75} of a manifest entry: its headline FID, the real-vs-real
    floor (the median FID of floor_draws random draws, with its quartiles) and the sample count both used."""
    return pretrained.headline(entry)


def pretrained_headline_text(entry: dict) -> str:
    """'  FID 1.7 (floor 0.62, median of 25 draws, n = 2000)' for listings ('(floor 0.41, n = 2000)' for a floor
    of one draw); '' when the entry has no FID."""
    h = pretrained.headline(entry)
    if h["fid"] is None:
        return ""
    draws = f", median of {h['floor_draws']} draws" if (h["floor_draws"] or 1) > 1 else ""
    floor = f"floor {h['floor']:.2f}{draws}" if h["floor"] is not None else ""
    n = f"n = {h['n']}" if h["n"] is not None else ""
    inside = ", ".join(x for x in (floor, n) if x)
    return f"  FID {h['fid']:.1f}" + (f" ({inside})" if inside else "")


def resolve_pretrained(name: str) -> Path:
    """The sha256-verified file of pretrained snapshot `name`."""
    return pretrained.resolve(name)


def pretrained_or_train(name: str | None, preset: str, overrides: Sequence[str] = (), *, progress: bool = True,
                        log: Callable[[str], None] | None = print) -> Path:
    """The verified snapshot file of pretrained `name`, or (name None, not in the manifest, or its file missing or
    corrupt) the run directory of `preset` trained with `overrides` — a finished run is not retrained and an
    interrupted one resumes. `log` gets one line saying which it was."""
    if name is not None and name in pretrained.manifest():
        try:
            path = pretrained.resolve(name)
            if log:
                log(f"pretrained '{name}': {path}")
            return path
        except GenlabError as e:  # listed but unusable: say why, then train
            reason = str(e)
    else:
        reason = "no pretrained name given" if name is None else f"'{name}' is not in the pretrained manifest"
    result = train(preset, list(overrides), progress=progress)
    if log:
        log(f"{reason}: trained preset '{preset}' → {result.run_dir} (step {result.step}, "
            f"{result.train_seconds / 60:.1f} wall-clock min, {result.train_cpu_seconds / 60:.1f} process CPU min)")
    return result.run_dir
