"""Checks every command runs BEFORE any long work: a mistake in an option costs one line and no waiting.

Each check raises `GenlabError` naming the option, the value and what was expected (the entry point prints it as one
line and exits non-zero).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # what `-o` of the image-writing commands can encode


def output_file(path: Path, option: str = "-o", suffixes: tuple[str, ...] | None = None) -> Path:
    """`path` can be written: not a directory, its folder exists and is writable, and (if `suffixes`) its suffix is one
    the command can encode. Checked before generating anything."""
    if path.is_dir():
        example = path / ("out" + (suffixes or (".png",))[0])
        raise GenlabError(f"{option} {path}: is a directory; give a file name such as {example}")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise GenlabError(f"{option} {path}: unsupported file type '{path.suffix or '(none)'}'; expected "
                          f"{', '.join(suffixes)}")
    return _writable_parent(path, option)


def output_dir(path: Path, option: str = "-o") -> Path:
    """A directory a command will create (or fill): not an existing file, and its nearest existing ancestor is a
    writable directory."""
    if path.exists() and not path.is_dir():
        raise GenlabError(f"{option} {path}: exists and is not a directory")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise GenlabError(f"{option} {path}: cannot create or write it ({probe} is not a writable directory)")
    return path


def _writable_parent(path: Path, option: str) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise GenlabError(f"{option} {path}: directory {parent} does not exist (create it first)")
    if not parent.is_dir():
        raise GenlabError(f"{option} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GenlabError(f"{option} {path}: directory {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise GenlabError(f"{option} {path}: the file exists and is not writable")
    return path


def seed_range(seed: int, n: int, max_seed: int, option: str = "--seed") -> None:
    """Seeds seed..seed+n-1 all lie in 0..max_seed (the range the web UI and the API accept)."""
    if seed < 0 or seed > max_seed:
        raise GenlabError(f"{option} {seed}: expected 0..{max_seed}")
    if seed + n - 1 > max_seed:
        raise GenlabError(f"{option} {seed} with -n {n}: the last seed {seed + n - 1} exceeds {max_seed}")


def sampling_options(given: dict[str, object], takes: tuple[str, ...], family: str) -> dict[str, object]:
    """The sampling options the user set (not None); a one-line error for one the family does not take — refused,
    never dropped silently (a GAN has no --steps)."""
    set_here = {k: v for k, v in given.items() if v is not None}
    for name in set_here:
        if name not in takes:
            accepted = ", ".join(f"--{t}" for t in takes if t in given) or "none of this command's sampling options"
            raise GenlabError(f"--{name.replace('_', '-')}: the {family} family does not take it (it takes {accepted})")
    return set_here


GUIDANCE_INTERVAL_HELP = ("Guide only at noise levels sigma/alpha in (LO, HI], e.g. 0.3,5: one network call per step "
                          "elsewhere (Kynkäänniemi et al. 2024) [default: the snapshot's sample settings, else all].")

AUTOGUIDE_HELP = ("Autoguidance (Karras et al. 2024): a weaker snapshot of the same model (an earlier one of its run) "
                  "that guidance pulls away from instead of the unconditional output; none = off [default: the "
                  "snapshot's sample settings].")


def guidance_interval(value: str | None) -> tuple[float, float] | None:
    """--guidance-interval LO,HI checked before anything loads (the model checks it the same way)."""
    from genlab import api
    try:
        return api.check_guidance_interval(value)
    except GenlabError as err:
        raise GenlabError(f"--{err}".replace("--guidance_interval", "--guidance-interval", 1)) from None


def resolve_sampling(info: Any, **given: Any) -> dict[str, Any]:
    """The sampling options to use: those given (refused when the family does not take them), else the snapshot's own
    sample settings — the ones its training grids used, so `sample`, `evaluate` and the web share one default."""
    takes = tuple(info.capabilities.sampling_options)
    options = sampling_options(given, takes, info.family)
    defaults = {k: v for k, v in (info.sample_settings or {}).items() if k in takes and v is not None}
    return {**defaults, **options}


def known_sampler(sampler: str | None, samplers: tuple[str, ...]) -> None:
    """--sampler names one of genlab's samplers (checked before loading anything)."""
    if sampler is not None and sampler not in samplers:
        raise GenlabError(f"--sampler {sampler}: expected one of {', '.join(samplers)}")
