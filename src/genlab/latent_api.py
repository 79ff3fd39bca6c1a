"""The latent-space tools as API calls on a saved model: what `genlab latent …`, the web UI and notebooks call.

Every function takes a `source` (snapshot file, run directory or pretrained name), loads it with
`genlab.inference.load` and, where real images are needed, reads them with `genlab.data.registry.load_dataset` using the dataset recorded
in the snapshot header's run config (override with `dataset=` / `data_dir=`). Images go through the snapshot's
codec, so the tools see model space (N, C, H, W) in [-1, 1] like the model did in training.

    import genlab.api as gl
    gl.interpolate("runs/mnist-vae", seed_a=0, seed_b=7, steps=10, out="strip.png")
    gl.project("runs/mnist-vae", method="tsne", n=2000, out="tsne.png")
    gl.anomaly("runs/mnist-vae-no9", out_json="anomaly.json")       # normal classes = the run's data.classes
    gl.regularity("runs/mnist-vae", n=5000, out_json="regularity.json")
    gl.fit_density("runs/mnist-sparse-ae", out="runs/mnist-sparse-ae/snapshot-gmm.safetensors")
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genlab.checkpoints.snapshot import OWN_HEADER_KEYS, save_snapshot
from genlab.data.registry import load_dataset
from genlab.diffusion_tools import interpolate_noise
from genlab.errors import GenlabError
from genlab.inference import LoadedModel, load
from genlab.latent import (
    anomaly_report,
    anomaly_scores,
    apply_vector,
    attribute_vector,
    class_means,
    encode_means,
    interpolate_images,
    interpolate_seeds,
    plot_projection,
    project_2d,
    regularity_report,
    save_interpolation_strip,
)
from genlab.latent.anomaly import AnomalyReport, anomaly_labels
from genlab.latent.encoding import require_latent
from genlab.viz.grid import save_grid

__all__ = [
    "AnomalyResult",
    "LatentImages",
    "Projection",
    "anomaly",
    "arithmetic",
    "fit_density",
    "interpolate",
    "latent_data",
    "project",
    "regularity",
]

PathLike = str | os.PathLike[str]


@dataclass
class LatentImages:
    """Decoded images as uint8 display values: a strip (S, C, H, W) or a table (R, S, C, H, W); the PNG path."""

    images: Tensor
    path: Path | None = None


@dataclass
class Projection:
    """2-D points (N, 2) of encoded means, their labels (N,) (or None) and the scatter PNG."""

    points: np.ndarray
    labels: np.ndarray | None
    method: str
    path: Path | None = None


@dataclass
class AnomalyResult:
    """Reconstruction-error anomaly detection of held-out classes (see genlab.latent.anomaly)."""

    report: AnomalyReport
    normal_classes: list[int]
    mean_score_per_class: dict[int, float] = field(default_factory=dict)
    auc_per_held_out_class: dict[int, float] = field(default_factory=dict)  # normal images vs that class only
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "normal_classes": self.normal_classes,
                "mean_score_per_class": {str(k): v for k, v in self.mean_score_per_class.items()},
                "auc_per_held_out_class": {str(k): v for k, v in self.auc_per_held_out_class.items()}}


# ---------------------------------------------------------------------------------------------------- loading


def _load(source: PathLike, device: str, allow_noise: bool = False) -> tuple[LoadedModel, Any]:
    """(loaded model, model) after checking that the model has a latent space (one-line GenlabError otherwise);
    `allow_noise` also accepts a family whose seeded starting noise acts as the latent (diffusion with DDIM)."""
    gen = load(source, device=device)
    if not (allow_noise and gen.capabilities.latent_kind == "noise"):
        require_latent(gen.model)
    return gen, gen.model


def _data_config(gen, dataset: str | None, data_dir: PathLike | None) -> dict[str, Any]:
    """dataset name, data_dir and source options: explicit arguments win over the snapshot's run config."""
    data = dict(gen.info.data_config)
    name = dataset or data.get("dataset") or gen.info.dataset
    if not name:
        raise GenlabError("the snapshot header records no dataset; pass dataset= (e.g. mnist)")
    same = dataset is None or dataset == data.get("dataset")
    return {"dataset": name, "data_dir": data_dir if data_dir is not None else data.get("data_dir"),
            "download": bool(data.get("download", False)), "options": dict(data.get("options") or {}) if same else {}}


def _pick(labels: np.ndarray | None, total: int, n: int, classes: Sequence[int] | None, seed: int) -> np.ndarray:
    """Sorted indices of at most `n` images (only of `classes` when given), drawn without replacement."""
    keep = np.arange(total)
    if classes:
        if labels is None:
            raise GenlabError("classes were given but the dataset has no labels")
        keep = keep[np.isin(labels, list(classes))]
        if keep.size == 0:
            raise GenlabError(f"no images of classes {list(classes)} in the dataset")
    if n <= 0:
        raise GenlabError(f"number of images n = {n}; expected at least 1")
    if n < keep.size:
        keep = np.sort(np.random.default_rng(seed).choice(keep, size=n, replace=False))
    return keep


def _dataset(gen, split: str, dataset: str | None, data_dir: PathLike | None):
    """The ImageDataset of `split` that the snapshot was trained on (or `dataset`)."""
    cfg = _data_config(gen, dataset, data_dir)
    ds = load_dataset(cfg["dataset"], split=split, data_dir=cfg["data_dir"], download=cfg["download"],
                      **cfg["options"])
    if tuple(ds.image_shape) != tuple(gen.model.image_shape):
        raise GenlabError(f"dataset '{cfg['dataset']}' has images {tuple(ds.image_shape)}, the model expects "
                          f"{tuple(gen.model.image_shape)}")
    return ds


def latent_data(gen, n: int = 2000, *, split: str = "test", classes: Sequence[int] | None = None, seed: int = 0,
                dataset: str | None = None, data_dir: PathLike | None = None, ds=None
                ) -> tuple[Tensor, Tensor | None]:
    """Up to `n` real images (a seeded random subset, in dataset order) of the snapshot's dataset, in model space
    (N, C, H, W), and their labels (N,) or None. `ds` skips loading when the dataset is already open."""
    ds = ds if ds is not None else _dataset(gen, split, dataset, data_dir)
    x, y = ds.get_batch(_pick(ds.labels, len(ds), n, classes, seed))
    return gen.codec.encode(x), y


def _cond(model: torch.nn.Module, y: Tensor | None) -> Tensor | None:
    """Labels for the model only when it is class-conditional."""
    return y if getattr(model, "num_classes", 0) > 0 else None


def _write_json(data: dict[str, Any], path: PathLike | None) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=2) + "\n")
    return p


# ---------------------------------------------------------------------------------------------------- tools


def interpolate(source: PathLike, seed_a: int = 0, seed_b: int = 1, *, images: Sequence[int] | None = None,
                steps: int = 8, method: str = "slerp", label: int | None = None, out: PathLike | None = None,
                split: str = "test", dataset: str | None = None, data_dir: PathLike | None = None,
                device: str = "auto") -> LatentImages:
    """A strip of `steps` decoded latents between the samples of two seeds, or between the encoded means of two
    dataset images (`images=(i, j)`: indices into `split`). Returns uint8 (steps, C, H, W); writes `out` (PNG).

    Diffusion models interpolate between the two seeds' starting noises and decode each with deterministic DDIM
    (20 steps): DDIM is a fixed map from noise to image, so its x_T acts as a latent code (Song et al. 2021).
    A conditional model keeps one class for the whole strip: `label`, else seed_a's class (seed_a mod K, the class
    a latent model gives seed_a alone), so the strip goes between the two seeds' images of that class."""
    gen, model = _load(source, device, allow_noise=True)
    if label is not None and model.num_classes == 0:
        raise GenlabError("this model is unconditional: interpolate takes no label")
    if label is None and model.num_classes > 0:
        label = int(seed_a) % model.num_classes
    if gen.capabilities.latent_kind == "noise":
        if images is not None:
            raise GenlabError("a diffusion model interpolates between seeds only (it has no image encoder)")
        strip = interpolate_noise(gen, seed_a, seed_b, steps, label, method=method)
    elif images is None:
        strip = interpolate_seeds(model, seed_a, seed_b, steps, method, label)
    else:
        strip = _interpolate_dataset(gen, list(images), steps, method, label, split, dataset, data_dir)
    display = gen.codec.to_display(strip)
    return LatentImages(display, save_interpolation_strip(display, out) if out else None)


def _interpolate_dataset(gen, idx: list[int], steps: int, method: str, label: int | None, split: str,
                         dataset: str | None, data_dir: PathLike | None) -> Tensor:
    """Model-space strip (steps, C, H, W) between dataset images idx[0] and idx[1]."""
    if len(idx) != 2:
        raise GenlabError(f"images= takes two dataset indices, got {idx}")
    ds = _dataset(gen, split, dataset, data_dir)
    if min(idx) < 0 or max(idx) >= len(ds):
        raise GenlabError(f"images={idx}: indices must be in 0..{len(ds) - 1} of the {split} split")
    x, _ = ds.get_batch(idx)
    x = gen.codec.encode(x)
    return interpolate_images(gen.model, x[0], x[1], steps, method, label)


def arithmetic(source: PathLike, from_class: int, to_class: int, *, n: int = 1000, rows: int = 8,
               scales: Sequence[float] = (0.0, 0.5, 1.0, 1.5), out: PathLike | None = None, split: str = "test",
               seed: int = 0, dataset: str | None = None, data_dir: PathLike | None = None,
               device: str = "auto") -> LatentImages:
    """Class-mean vector arithmetic: encode `n` labelled images, take mean(to_class) − mean(from_class) and add
    s × that vector to `rows` images of `from_class`. Returns uint8 (rows, len(scales), C, H, W); column s = 0
    is the plain reconstruction. Writes a grid (one row per image) to `out`."""
    gen, model = _load(source, device)
    x, y = latent_data(gen, n, split=split, seed=seed, dataset=dataset, data_dir=data_dir)
    if y is None:
        raise GenlabError("vector arithmetic between classes needs a labelled dataset")
    codes = encode_means(model, x, _cond(model, y))
    vector = attribute_vector(class_means(codes, y), from_class, to_class)
    chosen = (y == from_class).nonzero().flatten()[:rows]
    table = apply_vector(model, codes[chosen], vector, list(scales), _cond(model, y[chosen]))
    display = gen.codec.to_display(table.flatten(0, 1)).view(*table.shape[:2], *table.shape[2:])
    return LatentImages(display, _save_table(display, out) if out else None)


def _save_table(table: Tensor, out: PathLike) -> Path:
    """(R, S, C, H, W) uint8 → one PNG grid with S images per row."""
    save_grid(table.flatten(0, 1), Path(out), nrow=table.shape[1], scale=2)
    return Path(out)


def project(source: PathLike, method: str = "pca", n: int = 2000, *, out: PathLike | None = None,
            split: str = "test", seed: int = 0, dataset: str | None = None, data_dir: PathLike | None = None,
            device: str = "auto") -> Projection:
    """Encode `n` real images, project their latent means to 2-D (pca | tsne | umap) and plot them coloured by
    label to `out` (PNG). GANs encode by optimisation (inversion), which is slow: keep `n` small for them."""
    gen, model = _load(source, device)
    ds = _dataset(gen, split, dataset, data_dir)
    x, y = latent_data(gen, n, seed=seed, ds=ds)
    points = project_2d(encode_means(model, x, _cond(model, y)), method, seed)
    labels = None if y is None else y.numpy()
    path = None
    if out:
        title = f"{gen.info.family} latent, {method}, {len(points)} {split} images"
        path = plot_projection(points, labels, out, title, tuple(ds.class_names or ()))
    return Projection(points, labels, method, path)


def anomaly(source: PathLike, normal_classes: Sequence[int] | None = None, *, n: int = 2000,
            threshold: float | None = None, normal_quantile: float = 0.95, score: str = "mse",
            out_json: PathLike | None = None, split: str = "test", seed: int = 0,
            dataset: str | None = None, data_dir: PathLike | None = None, device: str = "auto") -> AnomalyResult:
    """Score `n` images of `split`; the classes outside `normal_classes` are the anomalies.

    score: "mse" (reconstruction error, any model with an encoder), "elbo" (VAE −ELBO) or "latent" (VAE code norm);
    see genlab.latent.anomaly.

    source: a snapshot file, run directory or pretrained name, as everywhere (normal_classes default to its run's
    `data.classes`); to hold classes out, train first: ``gl.train(preset, ["data.classes=[0,1,2]"])``.
    Reports ROC AUC, average precision and precision/recall/F1 at `threshold` (default: the `normal_quantile`
    quantile of the normal images' scores), plus the mean score per class; writes `out_json`.
    """
    gen, model = _load(source, device)
    normal = _normal_classes(gen, normal_classes)
    x, y = latent_data(gen, n, split=split, seed=seed, dataset=dataset, data_dir=data_dir)
    if y is None:
        raise GenlabError("anomaly detection of held-out classes needs a labelled dataset")
    scores = anomaly_scores(model, x, _cond(model, y), score)
    report = anomaly_report(scores, anomaly_labels(y, normal), threshold, normal_quantile)
    per_class = {int(k): float(scores[y == k].mean()) for k in y.unique()}
    result = AnomalyResult(report, normal, per_class, _auc_per_held_out_class(scores, y, normal))
    result.path = _write_json({"source": str(source), "split": split, "score": score, **result.to_dict()}, out_json)
    return result


def _auc_per_held_out_class(scores: Tensor, y: Tensor, normal: list[int]) -> dict[int, float]:
    """ROC AUC of the normal images against each held-out class alone (which anomalies the score can see)."""
    from sklearn.metrics import roc_auc_score

    s, labels = scores.numpy(), y.cpu().numpy()
    is_normal = np.isin(labels, normal)
    out = {}
    for k in sorted(set(labels.tolist()) - set(normal)):
        pick = is_normal | (labels == k)
        out[int(k)] = float(roc_auc_score(labels[pick] == k, s[pick]))
    return out


def _normal_classes(gen, normal_classes: Sequence[int] | None) -> list[int]:
    """Explicit classes, else the `data.classes` the snapshot was trained on."""
    if normal_classes:
        return sorted(int(k) for k in normal_classes)
    trained = gen.info.data_config.get("classes") or []
    if not trained:
        raise GenlabError("this model was trained on every class (its data.classes is empty): name the normal "
                          "classes, or train with data.classes=[...] holding some classes out")
    return sorted(int(k) for k in trained)


def _require_posterior(gen, x: Tensor, y: Tensor | None) -> None:
    """One-line error unless encoding one image (1, C, H, W) gives a Gaussian posterior (mu, logvar)."""
    require_latent(gen.model, need_encoder=True)
    if not isinstance(gen.model.encode(x, y), tuple):
        raise GenlabError(f"model family '{gen.info.family}' has no posterior q(z|x); regularity needs a VAE")


def regularity(source: PathLike, n: int = 2000, *, out_json: PathLike | None = None,
               prior_out: PathLike | None = None, num_prior: int = 64, split: str = "test", seed: int = 0,
               dataset: str | None = None, data_dir: PathLike | None = None, device: str = "auto") -> dict[str, Any]:
    """VAE latent regularity on `n` real images: per-dimension KL (nats), active units, aggregate posterior mean and
    covariance against N(0, I) (genlab.latent.regularity); optionally a grid of `num_prior` prior samples
    (`prior_out`, PNG, seeds 0..num_prior-1). Writes the numbers to `out_json` and returns them."""
    gen, model = _load(source, device)
    x, y = latent_data(gen, n, split=split, seed=seed, dataset=dataset, data_dir=data_dir)
    _require_posterior(gen, x[:1], _cond(model, None if y is None else y[:1]))
    stats = {"source": str(source), "split": split, "num_images": int(x.shape[0]),
             **regularity_report(model, x, _cond(model, y))}
    if prior_out:
        save_grid(gen.generate(num_prior, seed=0), prior_out, scale=2)
        stats["prior_samples"] = str(prior_out)
    path = _write_json(stats, out_json)
    if path is not None:
        stats["path"] = str(path)
    return stats


def fit_density(source: PathLike, out: PathLike, n: int = 5000, *, split: str = "train", seed: int = 0,
                dataset: str | None = None, data_dir: PathLike | None = None, device: str = "auto"
                ) -> dict[str, Any]:
    """Autoencoders: fit the code mixture that `generate` samples from (genlab.models.autoencoder.density) to the
    codes of `n` real images of `split`, and write the model with it as a new snapshot `out` (atomic; the rest of
    the header is kept, plus a "density" entry). Training does this itself; this is for snapshots written
    before it did, or to refit on more images. Returns the fit's statistics and the path."""
    gen, model = _load(source, device)
    if not gen.capabilities.fits_density:
        raise GenlabError(f"model family '{model.family}' samples from its own prior; fit-density is for the "
                          "autoencoder families (ae, dae, sparse-ae)")
    if model.cfg.code_density != "gmm":
        raise GenlabError(f"{source}: the model's code_density is '{model.cfg.code_density}'; the mixture is "
                          "fitted only when it is 'gmm'")
    x, y = latent_data(gen, n, split=split, seed=seed, dataset=dataset, data_dir=data_dir)
    labels = _cond(model, y)
    stats = model.fit_density(x.to(gen.device), None if labels is None else labels.to(gen.device), seed=seed)
    stats = {"source": str(source), "split": split, "num_images": int(x.shape[0]),
             "components": int(model.cfg.density_components), **stats}
    extra = {k: v for k, v in gen.header.items() if k not in OWN_HEADER_KEYS}
    path = save_snapshot(out, model, gen.codec.state(), weights=gen.info.weights,
                         extra={**extra, "density": stats})
    return {**stats, "path": str(path)}
