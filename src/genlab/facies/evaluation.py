"""Measure one trained channel-facies generator: size, training cost, sampling speed, realism, reconstruction and
latent regularity — the per-model column of the conv+dense vs fully convolutional comparison (issue 5).

Every number is computed from the run's snapshot (safetensors + JSON header) and fresh data; nothing is read from
the training flags. Images are (N, 1, H, W); model space is [-1, 1] and the channel probability of a Bernoulli
decoder (or the tanh output of a GAN) is p = (x + 1) / 2, thresholded at 0.5.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genlab.data.registry import load_dataset
from genlab.data.sources.channels import generate_channels, load_channels_h5
from genlab.errors import GenlabError
from genlab.inference import LoadedModel, find_snapshot, load
from genlab.latent.encoding import reconstruct
from genlab.latent.regularity import regularity_report
from genlab.metrics.facies import (
    ambiguous_fraction,
    compare_facies,
    load_facies_feature_net,
    reconstruction_accuracy,
)
from genlab.metrics.features import FeatureNet

DEFAULT_TRAIN_REF = 2000  # training images scanned for the nearest-neighbour (memorisation) distance


@dataclass
class RunData:
    """Held-out real facies (N, H, W) uint8 {0, 1} and a training subset for the memorisation check."""

    held_out: np.ndarray
    train: np.ndarray | None  # None: no memorisation check (the run's training data is not on this machine)
    description: str


def run_label(source: str | Path, gen: LoadedModel) -> str:
    """A short name for a run: its config name, else the run directory / file stem."""
    name = (gen.info.config or {}).get("name")
    if name:
        return str(name)
    p = Path(source)
    return p.name if p.is_dir() else p.stem


def data_spec(data: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    """(dataset name, loader options, data_dir) the snapshot was trained on, from its run's data config
    (`SnapshotHeader.data_config`)."""
    if not data or "dataset" not in data:
        raise GenlabError("snapshot header has no config.data.dataset; cannot tell which real images to compare with")
    return data["dataset"], dict(data.get("options") or {}), data.get("data_dir")


def _as_nhw(images: Any) -> np.ndarray:
    a = np.asarray(images)
    return a[..., 0] if a.ndim == 4 and a.shape[-1] == 1 else (a[:, 0] if a.ndim == 4 else a)


def load_run_data(data_config: dict[str, Any], n_held_out: int, n_train: int = DEFAULT_TRAIN_REF) -> RunData:
    """Real images the run did not train on, and a slice of those it did.

    channels-procedural: images n..n+n_held_out−1 of the same seed (the generator makes image i from (seed, i) only,
    so they are disjoint from the training images 0..n−1). Other sources: their 'test' split (the LTrace file's
    validation split) and the first `n_train` training images.
    """
    name, options, data_dir = data_spec(data_config)
    if name.replace("_", "-") == "channels-procedural":
        n, size, seed = int(options.get("n", 2000)), int(options.get("size", 128)), int(options.get("seed", 0))
        held = generate_channels(n_held_out, seed, size, start=n)
        train = generate_channels(min(n_train, n), seed, size)
        return RunData(held, train, f"procedural channels {size}x{size}, seed {seed}: held-out images {n}.."
                                    f"{n + n_held_out - 1}, training images 0..{min(n_train, n) - 1}")
    test, train = load_dataset(name, "test", data_dir, **options), load_dataset(name, "train", data_dir, **options)
    held = test.get_batch(np.arange(min(n_held_out, len(test))))[0].numpy()[:, 0]
    tr = train.get_batch(np.arange(min(n_train, len(train))))[0].numpy()[:, 0]
    return RunData(held, tr, f"{name} {options}: {len(held)} held-out (test split), {len(tr)} training images")


LTRACE_EXPECTED = ("an LTrace-format HDF5 file: dataset 'train_images' (or the file's only dataset), shape "
                   "(N, 128, 128, 1) or (N, H, W, 1), uint8 values in {0, 1}")


def load_reference_file(path: str | Path, n_held_out: int, image_hw: tuple[int, int],
                        train: np.ndarray | None = None) -> RunData:
    """Real reference images from a separate LTrace-format file instead of a run's held-out split.

    The first `n_held_out` images of `path` (all of them must be there: the comparison uses half against the samples
    and half for the real-vs-real floor), resized to `image_hw` with `resize_binary` (block majority keeping each
    image's channel fraction) when the file holds another size. `train`: the training images for the memorisation
    check (kept from the run). Any other file is a one-line GenlabError naming it and the expected format.
    """
    p = Path(path)
    if not p.is_file():
        raise GenlabError(f"reference file {p} not found; expected {LTRACE_EXPECTED}")
    try:
        ds = load_channels_h5(p, size=tuple(image_hw))
    except GenlabError as e:
        raise GenlabError(f"reference file {e}; expected {LTRACE_EXPECTED}") from None
    try:
        count = len(ds)
        if count < n_held_out:
            raise GenlabError(f"reference file {p}: {count:,} images, but -n {n_held_out // 2} needs "
                              f"{n_held_out:,} (n against the samples, n for the real-vs-real floor); use a smaller "
                              "-n or a larger file")
        held = ds.get_batch(np.arange(n_held_out))[0].numpy()[:, 0]
        raw_hw = tuple(ds.images.shape[1:3])
    finally:
        ds.close()
    resized = f", resized {raw_hw[0]}x{raw_hw[1]} -> {image_hw[0]}x{image_hw[1]}" if raw_hw != tuple(image_hw) else ""
    memo = f"{len(train)} training images of the first run" if train is not None else "no training images"
    return RunData(held, train, f"reference file {p.name}: its first {len(held)} images{resized}, {memo}")


def count_parameters(module: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def generator_module(model: torch.nn.Module) -> torch.nn.Module:
    """The part that maps a latent to an image: the VAE decoder or the GAN generator."""
    for name in ("decoder", "generator"):
        if hasattr(model, name):
            return getattr(model, name)
    return model


def uses_linear(module: torch.nn.Module) -> bool:
    """True if any nn.Linear sits anywhere in `module` (fully convolutional models must say False)."""
    return any(isinstance(m, torch.nn.Linear) for m in module.modules())


def model_summary(gen: LoadedModel) -> dict[str, Any]:
    """Family, architecture, latent shape, parameter counts and training cost from the snapshot header."""
    model, h = gen.model, gen.info
    seconds = float(h.train_seconds if h.train_seconds is not None else float("nan"))  # wall-clock
    cpu = float(h.train_cpu_seconds if h.train_cpu_seconds is not None else float("nan"))  # process CPU time
    images = int(h.images_seen or 0)
    # a latent model's code; a diffusion model's "latent" is its initial noise, the image's own shape
    latent = getattr(model, "latent_shape", None) or tuple(model.image_shape)
    return {
        "family": h.family, "architecture": model.hparams.get("architecture"),
        "latent_shape": list(latent), "latent_dims": int(np.prod(latent)),
        "params_total": count_parameters(model), "params_generator": count_parameters(generator_module(model)),
        "has_linear": uses_linear(model), "train_seconds": seconds,
        "train_cpu_seconds": cpu, "train_steps": int(h.step or 0),
        "train_images_seen": images, "train_images_per_s": images / seconds if seconds > 0 else float("nan"),
        "image_shape": list(model.image_shape), "has_latent_code": bool(gen.capabilities.has_latent),
    }


def sampler_options(gen: LoadedModel) -> dict[str, Any]:
    """The snapshot's own sampler and step count (its config's `sample` section) for iterative samplers
    (diffusion, score models); {} for one-shot decoders (VAE, GAN)."""
    allowed = gen.capabilities.sampling_options
    settings = gen.info.sample_settings or {}
    return {k: settings[k] for k in ("sampler", "steps") if k in allowed and settings.get(k) is not None}


def sample_probabilities(gen: LoadedModel, n: int, seed: int = 0, batch_size: int | None = None
                         ) -> tuple[Tensor, float]:
    """Channel probabilities (n, 1, H, W) in [0, 1] for seeds seed..seed+n−1, and realizations per second.
    Iterative samplers use the snapshot's sampler and steps and batches of 32 (default 256 for one-shot decoders)."""
    opts = sampler_options(gen)
    batch_size = batch_size or (32 if opts else 256)
    t0 = time.perf_counter()
    x = gen.generate_model_space(list(range(seed, seed + n)), batch_size=batch_size, precision="fp32", **opts)
    dt = time.perf_counter() - t0
    return ((x + 1) / 2).clamp(0, 1), n / max(dt, 1e-9)


def realizations_per_second(gen: LoadedModel, batch_size: int = 64, repeats: int = 3) -> float:
    """Best-of-`repeats` generation throughput (images/s) at `batch_size`, after one warm-up batch."""
    sample_probabilities(gen, batch_size, 0, batch_size)
    return max(sample_probabilities(gen, batch_size, 1000 * (r + 1), batch_size)[1] for r in range(repeats))


@torch.no_grad()
def vae_reconstruction(gen: LoadedModel, real: np.ndarray, batch_size: int = 256) -> dict[str, float]:
    """Pixel accuracy and channel IoU of decode(E[z|x]) thresholded at 0.5 on real images (N, H, W) {0, 1}."""
    x = torch.from_numpy(real.astype(np.float32))[:, None] * 2 - 1
    rec = reconstruct(gen.model, x.to(gen.device), batch_size=batch_size)
    out = reconstruction_accuracy(rec > 0, real)
    out["ambiguous_fraction"] = ambiguous_fraction((rec + 1) / 2)
    out["n"] = len(real)
    return out


def vae_regularity(gen: LoadedModel, real: np.ndarray) -> dict[str, Any]:
    """Per-dimension KL and aggregate posterior vs N(0, I) on real images (N, H, W) (see genlab.latent.regularity)."""
    x = torch.from_numpy(real.astype(np.float32))[:, None] * 2 - 1
    return regularity_report(gen.model, x.to(gen.device))


VAE_FAMILIES = ("vae", "vae-gan")  # families with an encoder q(z|x) and the VAE's KL-regularized latent


def is_vae(gen: LoadedModel) -> bool:
    return gen.info.family in VAE_FAMILIES  # aliases (beta-vae) are resolved when the header is read


def diversity(fake: np.ndarray, real_a: np.ndarray, real_b: np.ndarray, feature_net: FeatureNet | None,
              k: int = 3, max_pairs: int = 200, seed: int = 0) -> dict[str, dict[str, float]]:
    """Mode-collapse checks for `fake` and, as the floor, held-out real images `real_b`, both against real `real_a`
    (all (N, H, W) {0, 1}): mean pairwise normalised Hamming distance within the set (first `max_pairs` images,
    0 = all alike), and with a feature net improved precision / recall (Kynkäänniemi et al. 2019, k-NN manifolds
    in facies-net features): recall is the share of real images inside the set's manifold, i.e. coverage."""
    from genlab.metrics.facies import facies_features
    from genlab.metrics.image import knn_radii, manifold_coverage

    n = min(len(fake), len(real_b))
    rng = np.random.default_rng(seed)
    sets = {"fake": fake[rng.permutation(len(fake))[:n]], "floor": real_b[:n]}
    out: dict[str, dict[str, float]] = {}
    ref = facies_features(feature_net, real_a).float().cpu() if feature_net is not None else None
    for name, x in sets.items():
        flat = torch.from_numpy(x[:max_pairs].reshape(min(len(x), max_pairs), -1).astype(np.float32))
        d = torch.cdist(flat, flat, p=1) / flat.shape[1]
        iu = torch.triu_indices(len(flat), len(flat), 1)
        out[name] = {"pairwise_hamming": float(d[iu[0], iu[1]].mean()), "n": int(n)}
        if ref is not None and n > k and len(ref) > k:
            f = facies_features(feature_net, x).float().cpu()
            out[name]["precision"] = manifold_coverage(f, ref, knn_radii(ref, k))
            out[name]["recall"] = manifold_coverage(ref, f, knn_radii(f, k))
    return out


def evaluate_run(source: str | Path, data: RunData | None = None, n: int = 500, seed: int = 0,
                 device: str = "auto", feature_net: FeatureNet | None = None
                 ) -> tuple[dict[str, Any], LoadedModel, np.ndarray]:
    """Every number of one run's column (JSON-ready), the loaded generator, and its binary samples (n, H, W).

    n: generated samples compared with held-out real images (the real set is split into halves for the floor, so
    2·n held-out images are used when `data` is None). feature_net: the facies classifier for the Fréchet distance
    (default: the shipped one).
    """
    gen = load(find_snapshot(source), device=device)
    feature_net = feature_net if feature_net is not None else load_facies_feature_net()
    if data is None:
        data = load_run_data(gen.info.data_config, 2 * n)
    if data.held_out.shape[1:] != tuple(gen.model.image_shape[1:]):
        raise GenlabError(f"{source}: model makes {tuple(gen.model.image_shape[1:])} images but the real ones are "
                          f"{data.held_out.shape[1:]}; compare runs of one image size")
    probs, rate = sample_probabilities(gen, n, seed)
    binary = (probs[:, 0] > 0.5).numpy()
    out: dict[str, Any] = {"label": run_label(source, gen), "source": str(source), **model_summary(gen)}
    out["sampler"] = sampler_options(gen)
    # one-shot decoders: best of 3 batches of 64 after a warm-up; iterative samplers: the n samples just drawn
    out["realizations_per_s"] = realizations_per_second(gen) if not out["sampler"] else rate
    out["ambiguous_fraction"] = ambiguous_fraction(probs)
    out["metrics"] = compare_facies(binary, data.held_out, train=data.train, seed=seed, feature_net=feature_net)
    half = np.random.default_rng(seed).permutation(len(data.held_out))[: 2 * 1000]  # compare_facies' A / B split
    a, b = data.held_out[half[: len(half) // 2]], data.held_out[half[len(half) // 2:]]
    div = diversity(binary, a, b, feature_net, seed=seed)
    out["metrics"]["fake"]["diversity"], out["metrics"]["floor"]["diversity"] = div["fake"], div["floor"]
    if is_vae(gen):
        out["reconstruction"] = vae_reconstruction(gen, data.held_out[:n])
        out["regularity"] = vae_regularity(gen, data.held_out[:n])
    return out, gen, binary
