"""Autoencoder-course metrics as API calls (issue 20): IWAE log-likelihood of VAE-type models, the one-class
anomaly-detection protocol, and the linear probe on frozen codes.

    import genlab.api as gl
    gl.iwae_likelihood("mnist-vae", k=5000, n=100)          # {"nll_nats": ..., "stderr_nats": ..., "n": 100, ...}
    gl.one_class_anomaly("mnist", classes=[0], steps=450)   # ROC AUC / PR AUC / F1 per score
    gl.probe("mnist-ae")                                    # probe accuracy, pixel-probe and chance baselines
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.data.registry import load_dataset
from genlab.errors import GenlabError
from genlab.inference import LoadedModel, load, snapshot_info
from genlab.metrics.anomaly import one_class_protocol
from genlab.metrics.likelihood import MAX_K, binarize_seeded, check_k, iwae_nll, supports_iwae
from genlab.metrics.probe import frozen_codes, linear_probe
from genlab.models.registry import get_family

__all__ = ["binarize_seeded", "check_importance_samples", "frozen_codes", "gives_importance_weights", "iwae_likelihood",
           "iwae_nll", "linear_probe", "one_class_anomaly", "probe"]  # the lower-level pieces are public for notebooks

PathLike = str | Path
BINARIZE = ("auto", "yes", "no")


def check_importance_samples(k: Any, name: str = "k") -> int:
    """k as an int in [1, MAX_K] (importance samples of the IWAE bound), else a one-line GenlabError."""
    return check_k(k, name)


def gives_importance_weights(source: PathLike) -> bool:
    """True when SOURCE's family gives per-sample importance weights (VAE-type: IWAE applies); reads the header
    only, so the CLI can route `genlab likelihood` without loading the model."""
    return callable(getattr(get_family(snapshot_info(source).family), "log_importance_weights", None))


def _dataset_of(gen: LoadedModel, dataset: str | None = None) -> str:
    name = dataset or gen.info.dataset or gen.info.data_config.get("dataset")
    if not name:
        raise GenlabError("snapshot header has no 'dataset': pass dataset= (e.g. mnist)")
    return str(name)


def _images(name: str, split: str, n: int | None, seed: int, data_dir: PathLike | None, download: bool = False
            ) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """Model-space images (N, C, H, W), labels and the split size: a seeded random subset of n (all when None)."""
    ds = load_dataset(name, split, data_dir=data_dir, download=download)
    total = len(ds)
    if n is not None and n < 1:
        raise GenlabError(f"number of images n = {n}; expected at least 1")
    idx = np.arange(total) if n is None or n >= total else np.sort(
        np.random.default_rng(seed).choice(total, size=n, replace=False))
    x, y = ds.get_batch(idx)
    return x.float() * (2.0 / 255.0) - 1.0, y, total


def iwae_likelihood(source: PathLike, k: int = 5000, n: int | None = None, *, split: str = "test", seed: int = 0,
                    binarize: str = "auto", batch_size: int = 0, chunk: int = 500, dataset: str | None = None,
                    data_dir: PathLike | None = None, device: str = "auto",
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Test NLL in nats per image by the importance-weighted bound −L_k (Burda et al. 2016) for a VAE-type model.

    n: a seeded random subset of `split` (None = all 10,000 MNIST test images). binarize: "auto" binarizes the
    images (seeded stochastic binarization, seed `seed`) when the decoder is Bernoulli, "yes"/"no" force it.
    batch_size 0 picks max(1, 5000 // min(k, chunk)) images per decoder batch. Returns the mean, its standard
    error over images, bits/dim, n, k and seconds per image.
    """
    k = check_k(k)
    if binarize not in BINARIZE:
        raise GenlabError(f"binarize = {binarize!r}; expected one of {', '.join(BINARIZE)}")
    if not 1 <= int(chunk) <= MAX_K:
        raise GenlabError(f"chunk = {chunk!r}; expected an integer in [1, {MAX_K}]")
    gen = load(source, device=device)
    model = gen.model
    if not supports_iwae(model):
        raise GenlabError(f"likelihood --k: family '{model.family}' gives no importance weights; IWAE needs a "
                          "VAE-type model (vae, vae-gan, ladder-vae); diffusion/score-sde use the PF-ODE path")
    if getattr(model, "num_classes", 0) > 0:
        raise GenlabError("IWAE likelihood of a class-conditional VAE is not supported; use an unconditional one")
    name = _dataset_of(gen, dataset)
    x, _, total = _images(name, split, n, seed, data_dir if data_dir is not None
                          else gen.info.data_config.get("data_dir"))
    likelihood = getattr(getattr(model, "cfg", None), "likelihood", "bernoulli")
    do_bin = binarize == "yes" or (binarize == "auto" and likelihood == "bernoulli")
    if do_bin:
        x = binarize_seeded(x, seed)
    bs = int(batch_size) if batch_size and batch_size > 0 else max(1, 5000 // min(k, int(chunk)))
    res = iwae_nll(model, x, k, batch_size=bs, chunk=int(chunk), seed=seed, binarized=do_bin, progress=progress)
    return {**res.to_dict(), "source": str(source), "family": model.family, "dataset": name, "split": split,
            "split_size": total, "decoder_likelihood": likelihood, "seed": seed,
            "binarization": f"seeded stochastic binarization of the test images (seed {seed})" if do_bin
            else "none (grey images)"}


def one_class_anomaly(dataset: str = "mnist", classes: Sequence[int] = tuple(range(10)), *, steps: int = 450,
                      batch_size: int = 64, k: int = 5, test_limit: int | None = None, seed: int = 0,
                      model_options: dict[str, Any] | None = None, data_dir: PathLike | None = None,
                      log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The one-class protocol of genlab.metrics.anomaly on `dataset`: a small VAE per class in `classes`, the other
    classes of the test set (all of it, or a seeded `test_limit` subset) as anomalies."""
    from genlab.metrics.anomaly import DEFAULT_MODEL

    check_k(k)
    bad = [c for c in classes if not (isinstance(c, int) and 0 <= c <= 9)]
    if bad or not classes:
        raise GenlabError(f"classes = {list(classes)!r}; expected class indices in 0..9")
    trx, try_, _ = _images(dataset, "train", None, seed, data_dir)
    tex, tey, _ = _images(dataset, "test", test_limit, seed, data_dir)
    if try_ is None or tey is None:
        raise GenlabError(f"dataset '{dataset}' has no labels; the one-class protocol needs classes")
    res = one_class_protocol(trx, try_, tex, tey, dataset=dataset, classes=list(classes),
                             model_options=dict(model_options or DEFAULT_MODEL), steps=steps,
                             batch_size=batch_size, k=k, seed=seed, log=log)
    return res.to_dict()


def probe(source: PathLike, *, n_train: int = 10_000, n_test: int | None = None, seed: int = 0,
          dataset: str | None = None, data_dir: PathLike | None = None, device: str = "auto",
          pixels: bool = True) -> dict[str, Any]:
    """Linear-probe accuracy of the frozen codes of `source` (train codes of `n_train` seeded random training
    images → all test images, or `n_test` of them), with the chance level and, if `pixels`, the same probe on raw
    pixels of the same images."""
    gen = load(source, device=device)
    name = _dataset_of(gen, dataset)
    ddir = data_dir if data_dir is not None else gen.info.data_config.get("data_dir")
    xtr, ytr, _ = _images(name, "train", n_train, seed, ddir)
    xte, yte, _ = _images(name, "test", n_test, seed, ddir)
    if ytr is None or yte is None:
        raise GenlabError(f"dataset '{name}' has no labels; the linear probe needs classes")
    out = {"source": str(source), "family": gen.model.family, "dataset": name,
           "codes": linear_probe(frozen_codes(gen.model, xtr), ytr, frozen_codes(gen.model, xte), yte).to_dict()}
    if pixels:
        out["pixels"] = linear_probe(xtr, ytr, xte, yte).to_dict()
    return out
