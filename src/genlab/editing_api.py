"""Inpainting, outpainting and SDEdit image-to-image with any diffusion / score-sde snapshot, as API calls.

    import genlab.api as gl
    images, labels = gl.real_images("mnist-ddpm", 8)                     # uint8 (8, 1, 28, 28) test images
    out = gl.inpaint("mnist-ddpm", images, "center", method="repaint")  # out.images: uint8, known pixels kept
    gl.edit("mnist-ddpm", images, strength=0.5).images                   # SDEdit: realistic images near the input

Masks: a preset name (`models.diffusion.editing.MASKS`: center, outpaint, left-half, right-half, top-half,
bottom-half, random-pixels[:FRACTION], wells[:COUNT]), a file (.png: white/nonzero = generate; .npy: 0/1 or bool,
read without pickle), or a bool/0-1 array (H, W) or (N, H, W); True / 1 marks the region to GENERATE.
Images are uint8 as `generate` returns them (0..255 for grayscale, 0/1 or 0/255 for binary facies), or a file:
.png (one image of the model's size) or .npy ((H, W), (N, H, W) or (N, C, H, W) uint8, read without pickle).
The method is `genlab.models.diffusion.editing`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genlab.data.registry import load_dataset
from genlab.errors import GenlabError
from genlab.inference import LoadedModel, check_seeds, load
from genlab.models.diffusion import editing
from genlab.models.diffusion.generation import timestep_grid
from genlab.utils.seeding import sample_generators

METHODS = ("repaint", "replace")
Progress = Callable[[int, int], None]


@dataclass
class EditResult:
    """images: uint8 display (N, C, H, W); values: the codec's stored values (facies {0, 1}); model_space: [-1, 1];
    unpasted: the denoiser's last prediction before the known region is pasted (inpainting; else = model_space);
    hole: float (N, C, H, W), 1 = generated; known_error: errors on the known region (inpainting); nfe: denoiser
    calls per image (x2 for classifier-free guidance with w != 0, 1); seconds: wall time."""

    images: Tensor
    values: Tensor
    model_space: Tensor
    unpasted: Tensor
    hole: Tensor | None
    known_error: dict[str, float]
    nfe: int
    seconds: float
    settings: dict[str, Any]
    inputs: Tensor | None = None  # the input images in model space


def inpaint_display(images: Any, result: EditResult) -> dict[str, Tensor]:
    """uint8 display rows for a figure: "original" (the inputs) and "masked" (the inputs with the generated region
    grey)."""
    x = result.inputs if result.inputs is not None else torch.as_tensor(images).float() / 127.5 - 1
    original = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    masked = original.clone()
    if result.hole is not None:
        masked[result.hole.bool()] = 128
    return {"original": original, "masked": masked}


def _model(gen: LoadedModel, what: str) -> Any:
    model = gen.model
    if getattr(model, "alphas_cumprod", None) is None or not hasattr(model, "denoiser"):
        raise GenlabError(f"{what}: family '{model.family}' has no noise levels (it needs a diffusion or score-sde "
                          "model)")
    return model


def _load_array(path: Path, what: str) -> np.ndarray:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise GenlabError(f"{what} {path}: file not found")
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise GenlabError(f"{what} {path}: not a plain .npy array ({str(e).splitlines()[0][:80]})") from None
    if suffix == ".png":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("L"))
        except (UnidentifiedImageError, OSError) as e:
            raise GenlabError(f"{what} {path}: not a readable PNG ({str(e)[:80]})") from None
    raise GenlabError(f"{what} {path}: unsupported file type '{suffix or '(none)'}'; expected .png or .npy")


def make_mask(spec: str | Path | np.ndarray | Tensor, shape: Sequence[int], seed: int = 0) -> Tensor:
    """The region to generate as bool (H, W) or (N, H, W) for images of `shape` (C, H, W) or (H, W): a preset name,
    a .png / .npy file, or an array (True / nonzero = generate)."""
    h, w = int(shape[-2]), int(shape[-1])
    if isinstance(spec, str) and (spec.partition(":")[0] in editing.MASKS
                                  or Path(spec).suffix.lower() not in (".png", ".npy")):
        return editing.preset_mask(spec, h, w, seed)  # a preset, or one line listing them
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        arr = _load_array(path, "mask")
        if arr.dtype != bool and not np.issubdtype(arr.dtype, np.number):
            raise GenlabError(f"mask {path}: dtype {arr.dtype} is not numeric or bool")
        if path.suffix.lower() == ".npy" and arr.dtype != bool and not np.isin(arr, (0, 1)).all():
            raise GenlabError(f"mask {path}: expected 0/1 or bool values (1 = generate)")
        spec = arr != 0
    mask = torch.as_tensor(np.asarray(spec) if not isinstance(spec, Tensor) else spec).bool()
    if mask.ndim not in (2, 3) or tuple(mask.shape[-2:]) != (h, w):
        raise GenlabError(f"mask of shape {tuple(mask.shape)}: expected ({h}, {w}) or (N, {h}, {w}) for this model")
    if not bool(mask.any()):
        raise GenlabError("mask: no pixel to generate (all known)")
    return mask


def read_images(path: str | Path, shape: Sequence[int]) -> Tensor:
    """uint8 (N, C, H, W) images of a model's `shape` (C, H, W) from a .png (one image) or .npy file."""
    c, h, w = (int(s) for s in shape)
    arr = _load_array(Path(path), "images")
    if arr.ndim == 2:
        arr = arr[None, None]
    elif arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or tuple(arr.shape[1:]) != (c, h, w):
        raise GenlabError(f"images {path}: shape {tuple(arr.shape)}; expected ({h}, {w}), (N, {h}, {w}) or "
                          f"(N, {c}, {h}, {w}) for this model")
    if not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() > 255:
        raise GenlabError(f"images {path}: expected integers 0..255 (uint8 images)")
    return torch.from_numpy(arr.astype(np.uint8))


def real_images(source: str | Path, n: int = 16, *, split: str = "test", seed: int = 0,
                data_dir: str | Path | None = None) -> tuple[Tensor, Tensor | None]:
    """uint8 (n, C, H, W) images and labels of a seeded random subset of the snapshot's dataset `split` (display
    values: 0..255, facies 0/1), to inpaint or edit."""
    from genlab.inference import read_snapshot_header

    info = read_snapshot_header(source)
    data_cfg = info.data_config
    dataset = info.dataset or data_cfg.get("dataset")
    if not dataset:
        raise GenlabError("snapshot header has no 'dataset': cannot tell which real images to use")
    ds = load_dataset(dataset, split, data_dir=data_dir if data_dir is not None else data_cfg.get("data_dir"),
                      download=bool(data_cfg.get("download", False)), **(data_cfg.get("options") or {}))
    if not 1 <= int(n) <= len(ds):
        raise GenlabError(f"n = {n}: expected 1..{len(ds)} (images in the {split} split)")
    idx = np.sort(np.random.default_rng(seed).choice(len(ds), size=int(n), replace=False))
    return ds.get_batch(idx)


def _encode(gen: LoadedModel, images: Tensor | np.ndarray) -> Tensor:
    """uint8 display / stored values -> model space [-1, 1] (facies: 0/1 or 0/255 accepted)."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, Tensor) else images)
    shape = tuple(gen.info.sample_shape)
    if x.ndim == 3 and shape[0] == 1:
        x = x[:, None]
    if x.ndim != 4 or tuple(x.shape[1:]) != shape:
        raise GenlabError(f"images of shape {tuple(x.shape)}: expected (N, {', '.join(map(str, shape))}) for this "
                          "model")
    if x.is_floating_point() or x.min() < 0 or x.max() > 255:
        raise GenlabError("images: expected uint8 values 0..255 (as generate returns them)")
    levels = int(getattr(gen.codec, "levels", 256))
    if levels == 2 and int(x.max()) > 1:
        x = (x > 127).to(torch.uint8)
    return gen.codec.encode(x.to(torch.uint8))


def _labels(gen: LoadedModel, labels: int | Sequence[int] | None, n: int) -> Tensor | None:
    """Class labels for a conditional model, or None: the null class (unconditional; the default, so the known
    pixels alone decide what is completed)."""
    if labels is None or gen.num_classes == 0:
        if labels is not None:
            raise GenlabError("this model is unconditional: it takes no class label")
        return None
    return gen.labels_for(labels, n)


def _seeds(seed: int, n: int) -> list[int]:
    return check_seeds([int(seed) + i for i in range(n)])


def _finish(gen: LoadedModel, x0: Tensor, unpasted: Tensor, x_known: Tensor, hole: Tensor | None, nfe: int,
            seconds: float, settings: dict[str, Any]) -> EditResult:
    x0, unpasted = x0.clamp(-1, 1).float().cpu(), unpasted.clamp(-1, 1).float().cpu()
    err: dict[str, float] = {}
    if hole is not None:
        known = (1 - hole.cpu()).bool()
        if bool(known.any()):
            pasted = (x0 - x_known.cpu()).abs()[known]
            raw = (unpasted - x_known.cpu()).abs()[known]
            # model space [-1, 1] -> intensity [0, 1]: halve
            err = {"known_pixels": int(known.sum()), "pasted_max_abs": float(pasted.max()) / 2,
                   "unpasted_mean_abs": float(raw.mean()) / 2, "unpasted_max_abs": float(raw.max()) / 2}
            if int(getattr(gen.codec, "levels", 256)) == 2:  # facies: share of known cells honoured
                same = gen.codec.decode(unpasted) == gen.codec.decode(x_known.cpu())
                err["unpasted_cells_honoured"] = float(same[known].float().mean())
                err["pasted_cells_honoured"] = float((gen.codec.decode(x0) == gen.codec.decode(x_known.cpu()))[
                    known].float().mean())
    return EditResult(images=gen.codec.to_display(x0), values=gen.codec.decode(x0), model_space=x0,
                      unpasted=unpasted, hole=None if hole is None else hole.cpu(), known_error=err, nfe=nfe,
                      seconds=seconds, settings=settings, inputs=x_known.cpu())


def _guidance(gen: LoadedModel, labels: Tensor | None, guidance: float | None) -> float:
    if labels is None:
        if guidance not in (None, 0.0, 1.0):
            raise GenlabError("guidance needs class labels (--class); without them the model runs unconditionally")
        return 1.0
    return float(gen.info.sample_settings.get("guidance", 1.0) if guidance is None else guidance)


def inpaint(source: str | Path | LoadedModel, images: Any, mask: Any, *, method: str = "repaint", steps: int = 50,
            jump: int = 5, resample: int = 5, eta: float = 1.0, labels: int | Sequence[int] | None = None,
            guidance: float | None = None, seed: int = 0, mask_seed: int | None = None, batch_size: int = 64,
            device: str = "auto", progress: Progress | None = None) -> EditResult:
    """Complete the `mask` region (True = generate) of `images` with a diffusion snapshot; the rest is kept.

    method: "repaint" (resampling, `jump` and `resample`) or "replace" (replacement baseline); steps: levels of
    the trailing sampling grid; eta: stochasticity of each down step (1 = DDPM's); labels: classes for a
    conditional model (default: none, the null class); guidance: classifier-free guidance weight with labels;
    seed: image i uses seed + i; mask_seed: seed of a random preset (default: seed).
    """
    if method not in METHODS:
        raise GenlabError(f"inpainting method '{method}': expected one of {', '.join(METHODS)}")
    gen = source if isinstance(source, LoadedModel) else load(source, device=device)
    model = _model(gen, "inpaint")
    if isinstance(images, (str, Path)):
        images = read_images(images, gen.info.sample_shape)
    x_known = _encode(gen, images)
    n = x_known.shape[0]
    hole_b = make_mask(mask, gen.info.sample_shape, seed if mask_seed is None else mask_seed)
    if hole_b.ndim == 3 and hole_b.shape[0] not in (1, n):
        raise GenlabError(f"mask holds {hole_b.shape[0]} masks for {n} images")
    hole = editing.check_hole(hole_b.float()[:, None] if hole_b.ndim == 3 else hole_b.float(), x_known)
    lab = _labels(gen, labels, n)
    w = _guidance(gen, lab, guidance)
    timesteps = timestep_grid("trailing", steps, model.alphas_cumprod)
    seeds = _seeds(seed, n)
    per = (1, 1) if method == "replace" else (jump, resample)
    total = len(editing.repaint_schedule(len(timesteps), *per)) - 1
    outs, raws, t0, done = [], [], time.perf_counter(), [0]

    def step(_state: dict) -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total * len(range(0, n, batch_size)))

    model.eval()
    nfe = 0
    for lo in range(0, n, int(batch_size)):
        sl = slice(lo, lo + int(batch_size))
        denoise = model.denoiser(None if lab is None else lab[sl].to(gen.device), w)
        res = editing.repaint(denoise, x_known[sl].to(gen.device), hole[sl].to(gen.device), timesteps,
                              model.alphas_cumprod, generators=sample_generators(seeds[sl]), jump=per[0],
                              resample=per[1], eta=eta, callback=step)
        outs.append(res.x0.cpu())
        raws.append(res.x0_unpasted.cpu())
        nfe = res.nfe * (2 if lab is not None and w not in (0.0, 1.0) else 1)
    settings = {"method": method, "steps": int(steps), "jump": per[0], "resample": per[1], "eta": float(eta),
                "guidance": w, "labels": None if lab is None else lab.tolist(), "seed": int(seed)}
    return _finish(gen, torch.cat(outs), torch.cat(raws), x_known, hole.cpu(), nfe, time.perf_counter() - t0,
                   settings)


def edit(source: str | Path | LoadedModel, images: Any, *, strength: float = 0.5, steps: int = 20,
         eta: float = 0.0, labels: int | Sequence[int] | None = None, guidance: float | None = None, seed: int = 0,
         batch_size: int = 64, device: str = "auto", progress: Progress | None = None) -> EditResult:
    """SDEdit image-to-image: noise `images` to the level of `strength` (0 = unchanged, 1 = pure noise) and denoise
    with DDIM (eta) in at most `steps` steps; with labels (conditional models) the result is pulled to that class."""
    gen = source if isinstance(source, LoadedModel) else load(source, device=device)
    model = _model(gen, "edit")
    if isinstance(images, (str, Path)):
        images = read_images(images, gen.info.sample_shape)
    x_in = _encode(gen, images)
    n = x_in.shape[0]
    lab = _labels(gen, labels, n)
    w = _guidance(gen, lab, guidance)
    seeds = _seeds(seed, n)
    ts = editing.sdedit_timesteps(strength, steps, len(model.alphas_cumprod))
    done, t0, outs = [0], time.perf_counter(), []

    def step(_state: dict) -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], len(ts) * len(range(0, n, batch_size)))

    model.eval()
    for lo in range(0, n, int(batch_size)):
        sl = slice(lo, lo + int(batch_size))
        denoise = model.denoiser(None if lab is None else lab[sl].to(gen.device), w)
        outs.append(editing.sdedit(denoise, x_in[sl].to(gen.device), strength, steps, model.alphas_cumprod,
                                   generators=sample_generators(seeds[sl]), eta=eta, callback=step).cpu())
    x0 = torch.cat(outs)
    nfe = len(ts) * (2 if lab is not None and w not in (0.0, 1.0) else 1)
    settings = {"strength": float(strength), "steps": len(ts), "eta": float(eta), "guidance": w,
                "labels": None if lab is None else lab.tolist(), "seed": int(seed)}
    return _finish(gen, x0, x0, x_in, None, nfe, time.perf_counter() - t0, settings)
