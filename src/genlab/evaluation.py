"""Evaluate generators: sample from a snapshot, measure the samples against real data, compare epochs and samplers.

    import genlab.api as gl
    result = gl.evaluate("runs/mnist-diffusion-quick", n=2000, sampler="dpmpp-2m", steps=20)
    result["metrics"]["fid"], result["metrics"]["floor"]["fid"]       # ours, and real-vs-real at the same count
    gl.evaluate_run("runs/mnist-diffusion-quick", n=1000)               # one line per epoch in metrics.jsonl

Images (MNIST-like, codec levels=256) are measured with the dataset's shipped domain feature net
(`genlab.metrics.features`) by `genlab.metrics.image.evaluate_features`: FID, KID, IS, precision/recall, class
balance and memorisation against the test split, each with its sample counts and beside the real-vs-real floor
(`genlab.metrics.image.real_floor`: as many random training images against the same test set, for conditional
models too; its FID is the median over `floor_draws` random draws, default 25, with the IQR). Binary facies
snapshots (levels=2) are routed to `genlab.metrics.facies.compare_facies`. Real features are extracted once per
call, so `evaluate_run` costs one extraction plus generation per epoch.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from torch import Tensor

from genlab.data.registry import canonical_name, load_dataset
from genlab.errors import GenlabError
from genlab.inference import LoadedModel, SnapshotHeader, find_snapshot, load
from genlab.metrics.facies import compare_facies
from genlab.metrics.features import ASSET_DIR, FeatureNet, load_feature_net, load_feature_net_file, read_sidecar
from genlab.metrics.image import FLOOR_DRAWS, check_floor_draws, evaluate_features
from genlab.metrics.inception import InceptionV3
from genlab.utils.io import append_jsonl, write_json

__all__ = ["FID_VS_STEPS_FILE", "METRICS_FILE", "MIN_SAMPLES", "check_evaluate_request", "evaluate", "evaluate_run",
           "fid_vs_steps"]

MIN_SAMPLES = 10  # KID needs >= 2 per subset and k-NN precision/recall needs > k=3 per set; below 10 it is noise
FACIES_TRAIN = 2000  # default training images for the facies nearest-Hamming check (O(N_fake * N_train * H * W))
METRICS_FILE = "metrics.jsonl"
FID_VS_STEPS_FILE = "fid_vs_steps.json"
Progress = Callable[[int, int], None]


# ---------------------------------------------------------------------------------------------- the real side

@dataclass
class RealData:
    """What one dataset contributes to every evaluation: the domain, and real features or images, extracted once.

    kind: "image" (feature-net metrics) or "facies" (binary two-point / pattern statistics).
    test, train: (features (N, D), logits (N, K)) for images; uint8 (N, H, W) {0, 1} arrays for facies.
    test_labels, train_labels: (N,) class labels of those images (None for unlabelled data): the floor's label
    accuracy.
    floor_draws: how many random draws the image floor's FID is the median of (`real_floor`).
    """

    kind: str
    dataset: str
    test: Any
    train: Any
    net: Any = None  # FeatureNet for images
    net_info: dict[str, Any] | None = None
    test_labels: Tensor | None = None
    train_labels: Tensor | None = None
    floor_draws: int = FLOOR_DRAWS


def _domain(header: SnapshotHeader, path: Path) -> str:
    """"image" or "facies" from a snapshot header; GenlabError naming the right command for other domains."""
    if header.domain == "audio":
        raise GenlabError(f"{path}: a '{header.codec.get('kind')}' snapshot; `genlab evaluate` covers image and "
                          "facies datasets — measure audio models with `genlab audio evaluate` (SI-SDR, SDR, LSD)")
    levels = header.codec.get("levels", 256)
    if header.domain == "image" and levels != 256:
        raise GenlabError(f"{path}: codec levels={levels}; `genlab evaluate` expects 256 (grayscale) or 2 (facies)")
    return header.domain


def _data_settings(header: SnapshotHeader, data_dir: str | Path | None) -> tuple[str, dict[str, Any]]:
    """(dataset name, load_dataset keyword arguments) from a snapshot header and an optional data_dir override."""
    data = header.data_config
    dataset = header.dataset or data.get("dataset")
    if not dataset:
        raise GenlabError("snapshot header has no 'dataset': it was not written by genlab's trainer; "
                          "cannot tell which real data to compare with")
    kwargs = {"data_dir": data_dir if data_dir is not None else data.get("data_dir"),
              "download": bool(data.get("download", False)), **(data.get("options") or {})}
    return dataset, kwargs


def _random_subset(n_total: int, limit: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded random subset of size min(limit, n_total) (all indices when limit is None)."""
    if limit is None or limit >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed + 7919).choice(n_total, size=limit, replace=False))


def _load_images(dataset: str, split: str, kwargs: dict[str, Any], limit: int | None, seed: int
                 ) -> tuple[Tensor, Tensor | None]:
    """uint8 (N, C, H, W) of a split, or a seeded random subset of it (never a prefix: MNIST is ordered), and the
    labels (N,) (None for unlabelled data)."""
    data = load_dataset(dataset, split, **kwargs)
    return data.get_batch(_random_subset(len(data), limit, seed))


def train_pool(max_train: int | None, n: int, feature_net: Any = None) -> int | None:
    """Training images to load for the floor and memorisation check: all (None), or max_train raised to 2n (the
    floor draws n of them at random, `genlab.metrics.image.real_floor`).
    With Inception features (~0.3 s per image on a CPU core) the default is 2n instead of all."""
    if not max_train and getattr(feature_net, "classifies_domain", True):
        return None
    return max(max_train or 0, 2 * n)


def _feature_net(dataset: str, feature_net: Any, device: torch.device) -> tuple[Any, dict[str, Any]]:
    """A FeatureNet (given, or the shipped one for `dataset`) and what identifies it (dataset, sha256, accuracy)."""
    if isinstance(feature_net, FeatureNet):
        return feature_net.to(device).eval(), {"source": "given"}
    if isinstance(feature_net, InceptionV3):
        return feature_net.to(device).eval(), dict(feature_net.info)
    if feature_net is not None:
        path = Path(feature_net).with_suffix(".safetensors")
        return load_feature_net_file(path, device), {"source": str(path), **_net_info(read_sidecar(path))}
    name = canonical_name(dataset)
    net = load_feature_net(name, device=device)
    return net, {"source": name, **_net_info(read_sidecar(ASSET_DIR / f"{name}.safetensors"))}


def _net_info(sidecar: dict[str, Any]) -> dict[str, Any]:
    return {key: sidecar[key] for key in ("dataset", "sha256", "test_accuracy") if key in sidecar}


def real_data(header: SnapshotHeader, *, path: Path = Path("snapshot"), data_dir: str | Path | None = None,
              feature_net: Any = None, max_train: int | None = None, seed: int = 0, batch_size: int = 500,
              device: torch.device | str = "cpu", floor_draws: int = FLOOR_DRAWS) -> RealData:
    """Load and (for images) featurise the test split and a seeded random training subset of `max_train` images
    (default all) for the dataset a snapshot was trained on; floor_draws: see RealData."""
    check_floor_draws(floor_draws)
    kind = _domain(header, path)
    dataset, kwargs = _data_settings(header, data_dir)
    if kind == "facies":
        test = _load_images(dataset, "test", kwargs, None, seed)[0][:, 0]
        train = _load_images(dataset, "train", kwargs, max_train or FACIES_TRAIN, seed)[0][:, 0]
        return RealData(kind, dataset, test.numpy(), train.numpy())
    net, info = _feature_net(dataset, feature_net, torch.device(device))
    test, test_labels = _load_images(dataset, "test", kwargs, None, seed)
    train, train_labels = _load_images(dataset, "train", kwargs, max_train, seed)
    return RealData(kind, dataset, net.extract(test, batch_size), net.extract(train, batch_size), net, info,
                    test_labels, train_labels, floor_draws)


# ---------------------------------------------------------------------------------------------- one snapshot

def check_evaluate_request(n: int, split: str, floor_draws: int = FLOOR_DRAWS) -> None:
    """One-line GenlabError for a sample count, split or floor draw count `evaluate` cannot measure."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise GenlabError(f"n={n!r}: expected an integer number of samples")
    if n < MIN_SAMPLES:
        raise GenlabError(f"n={n}: too few samples; KID subsets need >= 2 and precision/recall need more than "
                          f"k=3 neighbours per set; use n >= {MIN_SAMPLES} (1000+ for numbers worth reporting)")
    if split not in ("test", "train"):
        raise GenlabError(f"split='{split}': expected test (default) or train")
    check_floor_draws(floor_draws)


def _sample(gen: LoadedModel, n: int, seed: int, options: dict[str, Any], batch_size: int,
            progress: Progress | None, domain: str) -> tuple[Tensor, Tensor | None]:
    """n samples, seeds seed..seed+n-1, classes cycling 0..K-1 for conditional models: uint8 (N, C, H, W) for
    images, (N, H, W) {0, 1} for facies; and the labels (N,) they were generated with (None: unconditional)."""
    labels = torch.arange(n) % gen.num_classes if gen.num_classes else None
    images = gen.generate(n, seed=seed, labels=None if labels is None else labels.tolist(), batch_size=batch_size,
                          progress=progress, display=domain == "image", **options)
    return (images if domain == "image" else images[:, 0]), labels


def _facies_metrics(fake: Tensor, labels: Tensor | None, real: RealData, split: str, seed: int, batch_size: int
                    ) -> dict[str, Any]:
    """Channel proportion, variograms, connectivity, pattern statistics and the real-vs-real floor
    (genlab.metrics.facies.compare_facies) of binary (N, H, W) samples."""
    ref, other = (real.test, real.train) if split == "test" else (real.train, real.test)
    return compare_facies(fake.numpy(), ref, train=other if split == "test" else None, seed=seed)


def _feature_metrics(fake: Tensor, labels: Tensor | None, real: RealData, split: str, seed: int, batch_size: int
                     ) -> dict[str, Any]:
    """FID, KID, IS, precision/recall, class balance, label accuracy and memorisation on the domain feature net,
    with counts and the floor (genlab.metrics.image.evaluate_features).

    The floor is `genlab.metrics.image.real_floor`, the one definition: n training images drawn at random against
    the same reference set as the n fakes (also for conditional generators; `labels` only give label accuracy),
    its FID the median over real.floor_draws draws."""
    fake_fl = real.net.extract(fake, batch_size)
    domain_classes = getattr(real.net, "classifies_domain", True)  # False for Inception: class balance skipped
    if split == "test":
        return evaluate_features(fake_fl, real.test, real.train, seed=seed, fake_labels=labels,
                                 train_labels=real.train_labels, class_balance=domain_classes,
                                 floor_draws=real.floor_draws)
    # Reference = train: the floor becomes a test subset against train; nearest-neighbour memorisation against the
    # reference itself would be meaningless, so it is dropped.
    result = evaluate_features(fake_fl, real.train, real.test, seed=seed, fake_labels=labels,
                               train_labels=real.test_labels, class_balance=domain_classes,
                               floor_draws=real.floor_draws)
    result.pop("memorisation", None)
    return result


Measure = Callable[[Tensor, "Tensor | None", RealData, str, int, int], "dict[str, Any] | float"]
# The table of what `evaluate` measures, per domain: name → fn(fake, labels, real, split, seed, batch_size).
# A dict result is merged into result["metrics"], a number is stored under its name. A new metric is a function in
# genlab/metrics/<domain>.py (display-space samples in, numbers out) plus one line here.
MEASURES: dict[str, dict[str, Measure]] = {
    "image": {"features": _feature_metrics},
    "facies": {"facies": _facies_metrics},
}


def _measure(fake: Tensor, labels: Tensor | None, real: RealData, split: str, seed: int, batch_size: int
             ) -> dict[str, Any]:
    """Every metric of MEASURES[domain] on fake samples against `real` (the test split by default)."""
    out: dict[str, Any] = {}
    for name, fn in MEASURES[real.kind].items():
        value = fn(fake, labels, real, split, seed, batch_size)
        if isinstance(value, dict):
            out.update(value)
        else:
            out[name] = value
    return out


# Sampler settings `evaluate` uses when not given, for families that take them (the README's measured defaults).
EVAL_SAMPLING = {"sampler": "dpmpp-2m", "steps": 20}


def sampling_options(gen: LoadedModel, sampler: str | None = None, steps: int | None = None,
                     guidance: float | None = None, **extra: Any) -> dict[str, Any]:
    """The sampling options an evaluation runs with: the ones given (a one-line GenlabError for one the family does
    not take, e.g. steps for a GAN), else EVAL_SAMPLING, and for guidance (its interval, autoguide) the run's own
    sample settings (what its grids show) or 1; only the options the family takes. `extra`: the family's other
    options (e.g. eta, order,
    grid), used as given; unset (None) ones keep the sampler's defaults."""
    given = gen.sampling_options({"sampler": sampler, "steps": steps, "guidance": guidance, **extra})
    takes = gen.capabilities.sampling_options
    own = gen.info.sample_settings
    defaults = {**EVAL_SAMPLING, "guidance": float(own.get("guidance", 1.0)),
                "guidance_interval": own.get("guidance_interval"), "autoguide": own.get("autoguide")}
    chosen = {k: given.get(k, v) for k, v in defaults.items() if k in takes}
    return chosen | {k: v for k, v in given.items() if k in extra}


def run_guidance(header: SnapshotHeader) -> float:
    """The classifier-free guidance weight the run's own sample grids use (config sample.guidance, else 1)."""
    return float(header.sample_settings.get("guidance", 1.0))


def _nfe(gen: LoadedModel, options: dict[str, Any]) -> int | None:
    """Nominal network evaluations per image: the sampler's steps, doubled by classifier-free guidance (w not in
    {0, 1}); None for one-shot families. What a sampler really spends (Heun and DPM-Solver++ 2S call the network
    twice per step, predictor-corrector and Langevin once per corrector step) is counted by `NetworkCallCounter`."""
    if "steps" not in options:
        return None
    guided = gen.num_classes and options.get("guidance", 1.0) not in (0.0, 1.0)
    return int(options["steps"]) * (2 if guided else 1)


class NetworkCallCounter:
    """Counts the images every sub-network of `model` processes while the block runs: `per_image(n)` is the
    number of network evaluations per generated image (NFE) — every forward call of every direct child module,
    weighted by its batch size, so classifier-free guidance's doubled batch counts twice and a 2nd-order step's two
    calls count as two. A decoder called once at the end (latent models) adds 1."""

    def __init__(self, model: torch.nn.Module, *others: torch.nn.Module | None):
        self.models = [model, *(m for m in others if m is not None)]  # others: e.g. the autoguide model
        self.images = 0
        self._handles: list[Any] = []

    def _hook(self, _module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        first = args[0] if args else None
        self.images += int(first.shape[0]) if isinstance(first, Tensor) and first.dim() > 0 else 1

    def __enter__(self) -> Self:
        self._handles = [child.register_forward_pre_hook(self._hook) for m in self.models for child in m.children()]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()

    def per_image(self, n: int) -> float:
        return round(self.images / max(n, 1), 2)


def _evaluate_loaded(gen: LoadedModel, real: RealData, *, n: int, options: dict[str, Any], split: str, seed: int,
                     batch_size: int, progress: Progress | None) -> dict[str, Any]:
    """Generate with a loaded model and measure against precomputed real data; the result dict of `evaluate`.
    progress(done, total) counts every sampler step, then one last step for the metrics."""
    per_image_steps = int(options.get("steps", 1))
    total = math.ceil(n / batch_size) * per_image_steps + 1
    t0 = time.time()
    weak = options.get("autoguide")
    with NetworkCallCounter(gen.model, weak if isinstance(weak, torch.nn.Module) else None) as calls:
        fake, labels = _sample(gen, n, seed, options, batch_size,
                               (lambda d, _t: progress(d, total)) if progress else None, real.kind)
    t1 = time.time()
    metrics = _measure(fake, labels, real, split, seed, batch_size)
    if progress:
        progress(total, total)
    info = gen.info
    return {
        "family": info.family, "dataset": real.dataset, "domain": real.kind, "split": split,
        "num_samples": n, "seed": seed, "sampler": options.get("sampler"), "steps": options.get("steps"),
        "guidance": options.get("guidance") if gen.num_classes else None,
        "nfe": calls.per_image(n) if "steps" in options else None, "nfe_nominal": _nfe(gen, options),
        "step": info.step, "images_seen": info.images_seen,
        "train_seconds": info.train_seconds, "feature_net": real.net_info,
        "generate_seconds": round(t1 - t0, 2), "metric_seconds": round(time.time() - t1, 2), "metrics": metrics,
    }


def evaluate(source: str | Path, n: int = 1000, *, sampler: str | None = None, steps: int | None = None,
             guidance: float | None = None, split: str = "test", seed: int = 0, batch_size: int = 256,
             progress: Progress | None = None, data_dir: str | Path | None = None, feature_net: Any = None,
             max_train: int | None = None, device: str = "auto", weights: str = "ema",
             floor_draws: int = FLOOR_DRAWS, **extra: Any) -> dict[str, Any]:
    """Generate `n` samples from a snapshot (file, run directory or pretrained name) and measure them.

    sampler/steps/guidance: for families that take them (diffusion; given to any other family they are refused
    in one line); unset, they are dpmpp-2m / 20 steps and the run's own sample.guidance (what its grids show), so
    conditional runs trained with CFG are measured as they are meant to be sampled. extra: the family's other
    sampling options (eta, order, grid, ...), refused in one line when it does not take them.
    progress(done, total): after every sampler step of every batch, and once more when the metrics are done.
    split: the real reference ("test", default; "train" swaps the roles of the two splits).
    data_dir: where the real data lives (default: the run's data.data_dir, else $GENLAB_DATA_DIR / ./data).
    feature_net: a FeatureNet or a .safetensors path (default: the shipped net for the run's dataset), or an
    InceptionV3 (`genlab.metrics.inception.load_inception(path)`) for the standard Inception FID.
    max_train: use a seeded random subset of this many training images (at least 2n) for the floor and memorisation
    (default all).
    floor_draws: the floor FID is the median over this many random draws of n training images (1..1000, default
    25), reported with its IQR (metrics.floor.fid_q25 / fid_q75) and count (metrics.floor.draws).
    Returns a JSON-ready dict: run facts (family, dataset, step, train_seconds, sampler, steps, nfe, timings) and
    "metrics" (FID, KID, IS, precision/recall, class balance, memorisation, each with counts, and "floor").
    """
    check_evaluate_request(n, split, floor_draws)
    path = find_snapshot(source)
    gen = load(path, device=device, weights=weights)
    options = sampling_options(gen, sampler, steps, guidance, **extra)
    real = real_data(gen.info, path=path, data_dir=data_dir, feature_net=feature_net,
                     max_train=train_pool(max_train, n, feature_net), seed=seed, device=gen.device,
                     floor_draws=floor_draws)
    return {"snapshot": str(path), **_evaluate_loaded(gen, real, n=n, options=options, split=split, seed=seed,
                                                      batch_size=batch_size, progress=progress)}


# ---------------------------------------------------------------------------------------------- epochs of a run

def _run_dir(run_dir: str | Path) -> Path:
    path = Path(run_dir)
    if not path.is_dir():
        raise GenlabError(f"{path}: not a run directory (expected a folder with snapshots/epoch-*.safetensors)")
    return path


def _epoch_snapshots(run: Path, every_epoch: bool) -> list[tuple[int | None, Path]]:
    """[(epoch, snapshot path)] in epoch order; the final snapshot only (epoch None) when not every_epoch."""
    epochs = sorted(run.glob("snapshots/epoch-*.safetensors"))
    if every_epoch and epochs:
        return [(int(p.stem.split("-")[1]), p) for p in epochs]
    return [(None, find_snapshot(run))]


def _settings_key(row: dict[str, Any]) -> tuple:
    """What makes two metrics.jsonl lines comparable: epoch, count, seed, split and the requested sampler settings
    (requested, not effective: a GAN row records sampler None but was asked for the same thing)."""
    asked = row.get("requested") or {}
    extra = tuple(sorted((k, v) for k, v in asked.items() if k not in ("sampler", "steps", "guidance")
                         and v is not None))
    return (row.get("epoch"), row.get("num_samples"), row.get("seed"), row.get("split"),
            asked.get("sampler"), asked.get("steps"), asked.get("guidance"), extra)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file (missing file → []); a torn last line (crash mid-append) is skipped."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def metrics_row(result: dict[str, Any], epoch: int | None) -> dict[str, Any]:
    """One flat metrics.jsonl line from an `evaluate` result: run facts, scalar metrics and floor_* values."""
    metrics = result["metrics"]
    scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    floor = {f"floor_{k}": v for k, v in (metrics.get("floor") or {}).items()
             if isinstance(v, (int, float)) and not isinstance(v, bool)}
    memo = {f"memorisation_{k}": v for k, v in (metrics.get("memorisation") or {}).items()}
    facts = {k: result.get(k) for k in ("family", "dataset", "num_samples", "sampler", "steps", "guidance", "nfe",
                                        "seed", "split", "step", "images_seen", "train_seconds", "snapshot")}
    if result.get("domain") == "facies":
        scalars = {k: v for k, v in metrics["fake"].items() if isinstance(v, (int, float))}
        floor = {f"floor_{k}": v for k, v in metrics["floor"].items() if isinstance(v, (int, float))}
    if (metrics.get("floor") or {}).get("sampling"):
        floor["floor_sampling"] = metrics["floor"]["sampling"]
    return {"epoch": epoch, **facts, **scalars, **floor, **memo}


def evaluate_run(run_dir: str | Path, n: int = 1000, every_epoch: bool = True, *, sampler: str | None = None,
                 steps: int | None = None, guidance: float | None = None, split: str = "test", seed: int = 0,
                 batch_size: int = 256,
                 data_dir: str | Path | None = None, feature_net: Any = None, max_train: int | None = None,
                 device: str = "auto", progress: Callable[[str], None] | None = None,
                 floor_draws: int = FLOOR_DRAWS, **extra: Any) -> list[dict[str, Any]]:
    """Measure every snapshots/epoch-*.safetensors of a run (or only its final snapshot) and append one line per
    snapshot to run_dir/metrics.jsonl. Lines already there with the same settings are kept, not recomputed, so an
    interrupted evaluation resumes. Real features are extracted once. Returns all rows for these settings.
    extra: the family's other sampling options (eta, order, grid, ...), as in `evaluate`; floor_draws as there (a
    line measured with another floor draw count, or before the floor was a median, is measured again)."""
    extra = {k: v for k, v in extra.items() if v is not None}
    check_evaluate_request(n, split, floor_draws)
    asked = {**extra, "floor_draws": floor_draws}
    run = _run_dir(run_dir)
    out = run / METRICS_FILE
    done = {_settings_key(r): r for r in read_jsonl(out)}
    real, rows = None, []
    for epoch, path in _epoch_snapshots(run, every_epoch):
        row = done.get((epoch, n, seed, split, sampler, steps, guidance, tuple(sorted(asked.items()))))
        if row is None:
            gen = load(path, device=device)
            options = sampling_options(gen, sampler, steps, guidance, **extra)
            real = real or real_data(gen.info, path=path, data_dir=data_dir, feature_net=feature_net,
                                     max_train=train_pool(max_train, n, feature_net), seed=seed,
                                     device=gen.device, floor_draws=floor_draws)
            result = _evaluate_loaded(gen, real, n=n, options=options, split=split, seed=seed,
                                      batch_size=batch_size, progress=None)
            row = metrics_row({"snapshot": str(path), **result}, epoch)
            row["requested"] = {"sampler": sampler, "steps": steps, "guidance": guidance, **asked}
            append_jsonl(out, row)
            if progress:
                progress(f"epoch {epoch}: " + _summary(row))
        rows.append(row)
    return rows


def _summary(row: dict[str, Any]) -> str:
    keys = ("fid", "floor_fid", "kid_mean", "is_mean", "precision", "recall")
    return " ".join(f"{k}={row[k]:.4g}" for k in keys if isinstance(row.get(k), (int, float)))


# ---------------------------------------------------------------------------------------------- samplers and steps

def fid_vs_steps(source: str | Path, samplers: Sequence[str] = ("ddim", "dpmpp-2m"),
                 steps_list: Sequence[int] = (5, 10, 20, 50), n: int = 1000, *, guidance: float | None = None,
                 seed: int = 0, batch_size: int = 256, data_dir: str | Path | None = None, feature_net: Any = None,
                 max_train: int | None = None, device: str = "auto", output: str | Path | None = None,
                 progress: Callable[[str], None] | None = None, floor_draws: int = FLOOR_DRAWS) -> dict[str, Any]:
    """FID (and KID, precision, recall) of a diffusion snapshot for each sampler × number of steps, same seeds.

    Writes the result as JSON to `output` (default: run_dir/fid_vs_steps.json when `source` is a run directory)
    so `genlab report` can plot it. Returns {"rows": [{sampler, steps, nfe, fid, ...}], "floor": {...}, ...}.
    """
    check_evaluate_request(n, "test", floor_draws)
    path = find_snapshot(source)
    gen = load(path, device=device)
    if "steps" not in gen.capabilities.sampling_options:
        raise GenlabError(f"{path}: fid_vs_steps needs a diffusion snapshot (a family with sampler steps), got "
                          f"family '{gen.info.family}'")
    real = real_data(gen.info, path=path, data_dir=data_dir, feature_net=feature_net,
                     max_train=train_pool(max_train, n, feature_net), seed=seed, device=gen.device,
                     floor_draws=floor_draws)
    rows, floor = [], None
    for sampler in samplers:
        for steps in steps_list:
            options = sampling_options(gen, sampler, steps, guidance)
            result = _evaluate_loaded(gen, real, n=n, options=options, split="test", seed=seed,
                                      batch_size=batch_size, progress=None)
            row = metrics_row(result, None)
            floor = floor or (result["metrics"].get("floor") if real.kind == "image" else None)
            rows.append({k: row.get(k) for k in ("sampler", "steps", "nfe", "num_samples", "generate_seconds")
                         } | _point(row, result))
            if progress:
                progress(f"{sampler} {steps} steps: " + _summary(rows[-1]))
    out = {"snapshot": str(path), "dataset": real.dataset, "num_samples": n,
           "guidance": run_guidance(gen.info) if guidance is None else guidance, "rows": rows,
           "floor": floor, "feature_net": real.net_info}
    target = Path(output) if output else (Path(source) / FID_VS_STEPS_FILE if Path(source).is_dir() else None)
    if target is not None:
        write_json(target, out)
    return out


def _point(row: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    keys = ("fid", "kid_mean", "kid_std", "is_mean", "precision", "recall", "floor_fid")
    return {"generate_seconds": result["generate_seconds"], **{k: row[k] for k in keys if k in row}}
