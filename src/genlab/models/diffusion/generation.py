"""What `generate` of the noise-based families (diffusion, score-sde) shares: the timestep grid and the options a
sampler takes, checked in one place so every sampler of `samplers.SAMPLERS` is reachable with its own options.

- `GRIDS`: name -> (num_steps, alphas_cumprod) -> descending training indices. "trailing" spaces the indices evenly
  (Lin et al. 2024); "karras" takes the indices nearest EDM's rho = 7 noise levels (Karras et al. 2022, eq. 5),
  which spend more steps at low noise (it may hold fewer than num_steps indices after rounding).
- `sampler_options`: eta (stochasticity of DDIM and the ancestral/SDE samplers), order (UniPC), refused with a
  one-line error for a sampler that does not take them.
- `classifier_guided`: classifier guidance (classifier_guidance.py) around a family's denoiser.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.models.diffusion.classifier_guidance import GuidedDenoiser, NoisyClassifier, load_classifier
from genlab.models.diffusion.schedules import karras_timesteps, sampling_timesteps

GRIDS: dict[str, Callable[[int, Tensor], Tensor]] = {
    "trailing": lambda n, ab: sampling_timesteps(n, len(ab)),
    "karras": lambda n, ab: karras_timesteps(max(int(n), 2), ab)[: max(int(n), 1)],
}


def timestep_grid(grid: str, num_steps: int, alphas_cumprod: Tensor) -> Tensor:
    """Descending training indices of `grid` (a key of GRIDS) with `num_steps` steps; GenlabError on a bad name."""
    if grid not in GRIDS:
        raise GenlabError(f"sampling grid '{grid}': expected one of {', '.join(GRIDS)}")
    sampling_timesteps(num_steps, len(alphas_cumprod))  # validates num_steps against T
    return GRIDS[grid](num_steps, alphas_cumprod)


def sampler_options(name: str, sample_fn: Callable, eta: float | None = None, order: int | None = None
                    ) -> dict[str, float | int]:
    """Keyword options for `sample_fn` (registered as `name`): the ones given, if it takes them."""
    takes = inspect.signature(sample_fn).parameters
    opts: dict[str, float | int] = {}
    for key, value in (("eta", eta), ("order", order)):
        if value is None:
            continue
        if key not in takes:
            users = "ddim and the ancestral/SDE samplers" if key == "eta" else "unipc"
            raise GenlabError(f"sampler '{name}' does not take {key} (only {users} do)")
        opts[key] = float(value) if key == "eta" else int(value)
    if "eta" in opts and not 0.0 <= opts["eta"] <= 1.0:
        raise GenlabError(f"eta = {opts['eta']}: expected a number in [0, 1]")
    return opts


def classifier_guided(denoise, classifier: str | None, scale: float | None, target: int | None, seeds: list[int],
                      labels: Tensor | None, alphas_cumprod: Tensor):
    """`denoise` with classifier guidance when `classifier` (a file from `genlab train-classifier`) is given.

    The target class of sample i is labels[i] for a conditional model given labels, else `target` for all, else
    seeds[i] mod K (so a sample's class does not depend on its batch). Without a classifier, `scale` and `target`
    are refused rather than ignored.
    """
    if classifier is None:
        if scale is not None or target is not None:
            raise GenlabError("classifier_scale / classifier_class need a classifier (sampling option classifier=PATH)")
        return denoise
    clf = load_classifier_cached(str(classifier))
    k = clf.num_classes
    if target is not None and not 0 <= int(target) < k:
        raise GenlabError(f"classifier_class = {target}: expected 0..{k - 1} (the classifier's classes)")
    if labels is not None:
        targets = labels.cpu()
    elif target is not None:
        targets = torch.full((len(seeds),), int(target), dtype=torch.long)
    else:
        targets = torch.tensor([s % k for s in seeds], dtype=torch.long)
    device = next(iter(denoise.backbone.parameters())).device if hasattr(denoise, "backbone") else "cpu"
    return GuidedDenoiser(denoise, clf.to(device), targets.to(device), 1.0 if scale is None else float(scale),
                          alphas_cumprod, clip_x0=getattr(denoise, "clip_x0", True))


@functools.lru_cache(maxsize=4)
def load_classifier_cached(path: str) -> NoisyClassifier:
    """`load_classifier` once per path per process (sampling calls generate batch after batch)."""
    return load_classifier(path)
