"""The score-based view as API calls: exact likelihood by the probability-flow ODE (bits/dim on real data) and the
noise-conditional classifier for classifier guidance, for any model with a noise-level table (diffusion, score-sde).

    import genlab.api as gl
    gl.likelihood("runs/mnist-sde-vp", n=256)                       # {"bits_per_dim": ..., "n": 256, ...}
    gl.train_classifier("runs/mnist-sde-vp", "clf.safetensors")     # then generate(..., classifier="clf.safetensors")
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.data.registry import load_dataset
from genlab.errors import GenlabError
from genlab.inference import LoadedModel, load
from genlab.models.diffusion.classifier_guidance import (
    accuracy_by_noise,
    load_classifier,
    save_classifier,
    train_noisy_classifier,
)
from genlab.models.diffusion.likelihood import bits_per_dim, dequantize, log_sigma_grid, pf_ode_log_likelihood

Progress = Callable[[int, int], None]


def _noise_model(gen: LoadedModel, what: str) -> Any:
    model = gen.model
    if getattr(model, "alphas_cumprod", None) is None or not hasattr(model, "denoiser"):
        raise GenlabError(f"{what}: family '{model.family}' has no noise levels (it needs a diffusion or score-sde "
                          "model)")
    return model


def _real_images(gen: LoadedModel, split: str, n: int | None, seed: int, data_dir: str | Path | None
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """uint8 (n, C, H, W) and labels of a seeded random subset of the model's dataset split (all when n is None)."""
    data_cfg = gen.info.data_config
    dataset = gen.info.dataset or data_cfg.get("dataset")
    if not dataset:
        raise GenlabError("snapshot header has no 'dataset': cannot tell which real data to use")
    ds = load_dataset(dataset, split, data_dir=data_dir if data_dir is not None else data_cfg.get("data_dir"),
                      download=bool(data_cfg.get("download", False)), **(data_cfg.get("options") or {}))
    total = len(ds)
    idx = np.arange(total) if n is None or n >= total else np.sort(
        np.random.default_rng(seed).choice(total, size=n, replace=False))
    return ds.get_batch(idx)


def likelihood(source: str | Path, n: int = 256, *, split: str = "test", steps: int = 100, probes: int = 1,
               batch_size: int = 64, seed: int = 0, device: str = "auto", data_dir: str | Path | None = None,
               progress: Progress | None = None) -> dict[str, Any]:
    """Bits per dimension of `n` random images of the model's dataset `split` by the PF-ODE (Hutchinson, `probes`
    Rademacher vectors, Heun on `steps` levels), with uniform dequantisation. Conditional models are measured
    through their null label (the unconditional model learned by label dropout). Returns the mean, its standard
    error, the per-image values' spread, n and the settings."""
    if not 1 <= int(n) <= 100_000 or not 1 <= int(steps) <= 10_000 or not 1 <= int(probes) <= 64:
        raise GenlabError(f"likelihood: need 1 <= n <= 100000, 1 <= steps <= 10000, 1 <= probes <= 64; got {n}, "
                          f"{steps}, {probes}")
    gen = load(source, device=device)
    model = _noise_model(gen, "likelihood")
    levels = int(getattr(gen.codec, "levels", 256))
    x_u8, _ = _real_images(gen, split, int(n), seed, data_dir)
    rng = torch.Generator().manual_seed(seed)
    denoise = model.denoiser(None, 1.0, clip_x0=False)
    t0, bpd = time.perf_counter(), []
    batches = range(0, x_u8.shape[0], int(batch_size))
    model.eval()
    for b, lo in enumerate(batches):
        x = dequantize(x_u8[lo:lo + int(batch_size)], rng, levels).float().to(gen.device)
        ll = pf_ode_log_likelihood(denoise, x, model.alphas_cumprod, num_steps=steps, probes=probes, generator=rng)
        bpd.append(bits_per_dim(ll.cpu(), x[0].numel(), levels, 2.0))
        if progress is not None:
            progress(b + 1, len(batches))
    values = torch.cat(bpd)
    evals = 2 * len(log_sigma_grid(model.alphas_cumprod, steps)) - 1
    return {"bits_per_dim": float(values.mean()), "std_error": float(values.std() / math.sqrt(len(values))),
            "std": float(values.std()), "n": len(values), "split": split, "dataset": gen.info.dataset,
            "steps": int(steps), "probes": int(probes), "network_evaluations_per_image": evals,
            "seconds": round(time.perf_counter() - t0, 1), "family": model.family}


def train_classifier(source: str | Path, output: str | Path, *, steps: int = 1000, batch_size: int = 128,
                     lr: float = 1e-3, base_channels: int = 32, limit: int | None = None, seed: int = 0,
                     device: str = "auto", data_dir: str | Path | None = None,
                     progress: Callable[[int, dict], None] | None = None) -> dict[str, Any]:
    """Train a noise-conditional classifier for classifier guidance of the model at `source`, on its dataset's
    training split (`limit` random images, all by default) at the model's noise levels; save it to `output`
    (safetensors) and report its test accuracy at a few noise levels (n = 1000 test images)."""
    gen = load(source, device=device)
    model = _noise_model(gen, "train-classifier")
    x_u8, y = _real_images(gen, "train", limit, seed, data_dir)
    if y is None:
        raise GenlabError(f"train-classifier: dataset '{gen.info.dataset}' has no class labels")
    num_classes = int(y.max()) + 1
    x0 = gen.codec.encode(x_u8).to(gen.device)
    t0 = time.perf_counter()
    clf, logs = train_noisy_classifier(x0, y.long(), model.alphas_cumprod, num_classes=num_classes, steps=steps,
                                       batch_size=batch_size, lr=lr, base_channels=base_channels, seed=seed,
                                       progress=progress)
    seconds = round(time.perf_counter() - t0, 1)
    xt_u8, yt = _real_images(gen, "test", 1000, seed, data_dir)
    big_t = len(model.alphas_cumprod)
    ts = [0, big_t // 4, big_t // 2, 3 * big_t // 4, big_t - 1]
    acc = accuracy_by_noise(clf, gen.codec.encode(xt_u8).to(gen.device), yt, ts, seed)
    summary = {"model": str(source), "dataset": gen.info.dataset, "steps": int(steps), "batch_size": int(batch_size),
               "train_images": int(x0.shape[0]), "train_seconds": seconds, "last_loss": logs.get("loss"),
               "test_accuracy_by_t": {str(k): v for k, v in acc.items()}, "test_images": int(xt_u8.shape[0])}
    save_classifier(clf, output, extra=summary)
    return {**summary, "output": str(output)}


def classify(classifier: str | Path, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Class probabilities (N, K) of uint8 grayscale images (N, C, H, W) in 0..255 by a noise-conditional classifier
    (a file from `train_classifier`) at its lowest noise level, t = 0 (e.g. to judge samples with a classifier
    trained independently of the one that guided them)."""
    clf = load_classifier(classifier)
    x = images.float().mul(2.0 / 255.0).sub(1.0)
    out = []
    with torch.no_grad():
        for lo in range(0, x.shape[0], batch_size):
            part = x[lo:lo + batch_size]
            out.append(torch.softmax(clf(part, torch.zeros(part.shape[0], dtype=torch.long)), dim=1))
    return torch.cat(out) if out else torch.empty(0, clf.num_classes)
