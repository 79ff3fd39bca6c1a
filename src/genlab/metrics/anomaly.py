"""One-class anomaly detection with VAE scores: the protocol of Ruff et al. (2018, "Deep one-class
classification", Deep SVDD) on MNIST and Fashion-MNIST.

Protocol (per data set, for each class c = 0..9): a model is trained on the training images of class c only
(minus a validation split of `val_fraction` of them, seeded); the whole test set is scored, its class-c images
are "normal" and the other nine classes are the anomalies (about 1,000 vs 9,000 images). ROC AUC and PR AUC
(average precision, anomalies as the positive class) use every threshold; F1, precision and recall use one
threshold chosen without looking at any anomaly: the `val_quantile` quantile (default 0.95) of the scores of the
held-out normal validation images, i.e. a target false-alarm rate of 5 %. The table reports the mean over the ten
classes (and each class).

Scores, per image, higher = more anomalous:
- ``elbo``: −ELBO in nats with z = E[z|x] (reconstruction NLL + KL, as `VAE.negative_elbo`; an unconditional
  VAE);
- ``iwae``: −L_k, the importance-weighted bound (genlab.metrics.likelihood) with `k` samples;
- ``recon``: mean squared reconstruction error decode(E[z|x]) vs x, in model space;
- ``latent``: −log density of the code E[z|x] under a full-covariance Gaussian mixture fitted to the training
  codes (`latent_components` components; 1 = a single Gaussian) — density in code space only;
- ``recon+latent``: the sum of ``recon`` and ``latent``, each standardised by the mean and standard deviation of
  its validation (normal) scores — fit and code density together;
- ``pixel_pca`` (baseline, no network): reconstruction error of x from its projection on the top principal
  components of the normal training images.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.latent.anomaly import anomaly_report

SCORES = ("elbo", "iwae", "recon", "latent")
COMBINED = ("recon", "latent")
# The one-class model: a small VAE (~0.1 CPU-s per step of 64 images on a 2-core Zen 3), Bernoulli decoder on grey
# targets (BCE against intensities, as the shipped mnist-vae).
DEFAULT_MODEL = {"base_channels": 16, "latent_dim": 16, "likelihood": "bernoulli", "kl_warmup_steps": 100}  # the "recon+latent" ensemble
REPORTED = (*SCORES, "recon+latent", "pixel_pca")


def threshold_from_validation(val_scores: Tensor | np.ndarray, quantile: float = 0.95) -> float:
    """The `quantile` of the validation (normal-only) scores: flag an image when its score is above it."""
    if not 0.0 < quantile < 1.0:
        raise GenlabError(f"validation quantile {quantile!r}; expected a number in (0, 1)")
    s = np.asarray(val_scores.cpu() if isinstance(val_scores, Tensor) else val_scores, dtype=np.float64)
    if s.size == 0:
        raise GenlabError("threshold: the validation split has no images")
    return float(np.quantile(s, quantile))


def detection_metrics(scores: Tensor | np.ndarray, is_anomaly: np.ndarray, threshold: float) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision, anomalies positive) and precision/recall/F1 at `threshold`, with the
    counts and the PR-AUC baseline (the anomaly fraction: what a random score gets)."""
    rep = anomaly_report(scores, is_anomaly, threshold).to_dict()
    flags = np.asarray(is_anomaly, dtype=bool)
    return {"roc_auc": rep["roc_auc"], "pr_auc": rep["average_precision"], "f1": rep["f1"],
            "precision": rep["precision"], "recall": rep["recall"], "threshold": rep["threshold"],
            "num_normal": rep["num_normal"], "num_anomalous": rep["num_anomalous"],
            "pr_auc_chance": float(flags.mean())}


@torch.no_grad()
def vae_scores(model: torch.nn.Module, x: Tensor, scores: Sequence[str] = SCORES, *, k: int = 10,
               density: Any = None, batch_size: int = 250, seed: int = 0) -> dict[str, Tensor]:
    """Per-image anomaly scores (N,) on the CPU for each name in `scores` (see the module docstring). `density`
    is a fitted genlab.models.autoencoder.density.MixtureFit on training codes (needed for ``latent``)."""
    from genlab.metrics.likelihood import iwae_bound
    from genlab.models.autoencoder.common import output_to_image, reconstruction_nll
    from genlab.models.autoencoder.density import mixture_log_prob
    from genlab.models.vae.losses import kl_to_standard_normal

    unknown = sorted(set(scores) - set(SCORES))
    if unknown:
        raise GenlabError(f"anomaly score(s) {', '.join(unknown)}: expected some of {', '.join(SCORES)}")
    if "latent" in scores and density is None:
        raise GenlabError("anomaly score 'latent' needs a density fitted to the training codes")
    model.eval()
    device = next(model.parameters()).device
    torch.manual_seed(int(seed))
    out: dict[str, list[Tensor]] = {s: [] for s in scores}
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size].to(device)
        mu, logvar = model.encode(xb)
        if "elbo" in scores or "recon" in scores:  # one decoder pass at z = E[z|x] serves both
            raw = model.decoder(mu, None)
            if "elbo" in scores:
                nll = reconstruction_nll(raw, xb, model.cfg.likelihood, model.cfg.gaussian_sigma)
                out["elbo"].append((nll + kl_to_standard_normal(mu, logvar).flatten(1).sum(1)).float().cpu())
            if "recon" in scores:
                recon = output_to_image(raw, model.cfg.likelihood)
                out["recon"].append((recon - xb).pow(2).flatten(1).mean(1).float().cpu())
        if "iwae" in scores:
            out["iwae"].append(-iwae_bound(model, xb, k, chunk=k))
        if "latent" in scores:
            codes = mu.flatten(1).float()
            out["latent"].append(-mixture_log_prob(codes, density.weights.to(device), density.means.to(device),
                                                   density.chol.to(device)).float().cpu())
    return {s: torch.cat(v) for s, v in out.items()}


def pixel_pca_scores(train: Tensor, x: Tensor, components: int = 32) -> Tensor:
    """Baseline: squared error of x (N, C, H, W) from its reconstruction by the top `components` principal
    components of `train` (the normal training images), per image (N,)."""
    a = train.flatten(1).double()
    mean = a.mean(0)
    _, _, v = torch.linalg.svd(a - mean, full_matrices=False)
    basis = v[:components].T  # (D, q)
    b = x.flatten(1).double() - mean
    return (b - (b @ basis) @ basis.T).pow(2).mean(1).float()


def train_one_class(family: str, x: Tensor, *, model_options: dict[str, Any], steps: int, batch_size: int = 64,
                    lr: float = 1e-3, seed: int = 0, progress: Callable[[int, int], None] | None = None
                    ) -> torch.nn.Module:
    """Train a fresh model of `family` (options `model_options`) on the normal images x (N, C, H, W) in model space
    with AdamW for `steps` steps of `batch_size` random images (reshuffled every pass), the family's own loss; a
    small, self-contained loop so ten one-class models per data set stay within a CPU-minute or two each."""
    from genlab.models.registry import get_family

    torch.manual_seed(int(seed))
    model = get_family(family)(tuple(x.shape[1:]), 0, **model_options)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(int(seed))
    order, pos = torch.randperm(x.shape[0], generator=gen), 0
    model.train()
    for step in range(steps):
        if pos + batch_size > x.shape[0]:
            order, pos = torch.randperm(x.shape[0], generator=gen), 0
        xb = x[order[pos:pos + batch_size]]
        pos += batch_size
        for phase in model.phases(step):
            loss, _ = model(phase, xb, None)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if progress is not None and (step + 1) % 50 == 0:
            progress(step + 1, steps)
    model.eval()
    return model


@dataclass
class OneClassResult:
    """Per-class detection metrics {score: {metric: value}} and the means over classes for one data set."""

    dataset: str
    classes: list[int]
    per_class: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)
    mean: dict[str, dict[str, float]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["per_class"] = {str(c): v for c, v in self.per_class.items()}
        return d


def _split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(val_fraction * n))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def one_class_protocol(train_x: Tensor, train_y: Tensor | np.ndarray, test_x: Tensor, test_y: Tensor | np.ndarray,
                       *, dataset: str = "", classes: Sequence[int] = tuple(range(10)), family: str = "vae",
                       model_options: dict[str, Any] | None = None, steps: int = 600, batch_size: int = 64,
                       lr: float = 1e-3, k: int = 10, latent_components: int = 1, pca_components: int = 32,
                       val_fraction: float = 0.1, val_quantile: float = 0.95, seed: int = 0,
                       log: Callable[[str], None] | None = None) -> OneClassResult:
    """Run the one-class protocol (module docstring) on images in model space (N, C, H, W): for each class in
    `classes`, train on that class's training images, score `test_x`, and report every score's metrics plus the
    pixel-PCA baseline; `mean` averages over the classes."""
    from genlab.models.autoencoder.density import fit_gmm

    opts = dict(model_options or {})
    ytr = np.asarray(train_y.cpu() if isinstance(train_y, Tensor) else train_y)
    yte = np.asarray(test_y.cpu() if isinstance(test_y, Tensor) else test_y)
    result = OneClassResult(dataset, [int(c) for c in classes], settings={
        "family": family, "model_options": opts, "steps": steps, "batch_size": batch_size, "lr": lr, "k": k,
        "latent_components": latent_components, "pca_components": pca_components, "val_fraction": val_fraction,
        "val_quantile": val_quantile, "seed": seed, "num_test": int(test_x.shape[0])})
    for c in classes:
        t0, cpu0 = time.perf_counter(), time.process_time()
        idx = np.flatnonzero(ytr == c)
        if idx.size < 10:
            raise GenlabError(f"one-class protocol: class {c} has {idx.size} training images; need at least 10")
        fit_idx, val_idx = _split(idx.size, val_fraction, seed)
        x_fit, x_val = train_x[idx[fit_idx]], train_x[idx[val_idx]]
        model = train_one_class(family, x_fit, model_options=opts, steps=steps, batch_size=batch_size, lr=lr,
                                seed=seed + int(c))
        train_cpu = time.process_time() - cpu0
        with torch.no_grad():
            mu_fit = torch.cat([model.encode(x_fit[i:i + 500])[0].flatten(1) for i in range(0, len(x_fit), 500)])
        density = fit_gmm(mu_fit, latent_components, seed=seed)
        is_anomaly = yte != c
        rows: dict[str, dict[str, float]] = {}
        val = vae_scores(model, x_val, k=k, density=density, seed=seed)
        test = vae_scores(model, test_x, k=k, density=density, seed=seed)
        for name in SCORES:
            rows[name] = detection_metrics(test[name], is_anomaly,
                                           threshold_from_validation(val[name], val_quantile))
        # recon + latent, each standardised by the validation (normal) scores' mean and std: a two-view ensemble
        stats = {s: (float(val[s].mean()), float(val[s].std()) or 1.0) for s in COMBINED}
        combo_val = sum((val[s] - stats[s][0]) / stats[s][1] for s in COMBINED)
        combo_test = sum((test[s] - stats[s][0]) / stats[s][1] for s in COMBINED)
        rows["recon+latent"] = detection_metrics(combo_test, is_anomaly,
                                                 threshold_from_validation(combo_val, val_quantile))
        base_val = pixel_pca_scores(x_fit, x_val, pca_components)
        base_test = pixel_pca_scores(x_fit, test_x, pca_components)
        rows["pixel_pca"] = detection_metrics(base_test, is_anomaly,
                                              threshold_from_validation(base_val, val_quantile))
        rows["_cost"] = {"train_cpu_s": round(train_cpu, 1), "total_cpu_s": round(time.process_time() - cpu0, 1),
                         "wall_s": round(time.perf_counter() - t0, 1), "num_train": int(fit_idx.size),
                         "num_val": int(val_idx.size)}
        result.per_class[int(c)] = rows
        if log is not None:
            log(f"{dataset} class {c}: " + ", ".join(f"{s} AUC {rows[s]['roc_auc']:.3f}" for s in
                                                     REPORTED) + f" ({rows['_cost']})")
    for name in REPORTED:
        keys = ("roc_auc", "pr_auc", "f1", "precision", "recall", "pr_auc_chance")
        result.mean[name] = {m: float(np.mean([result.per_class[c][name][m] for c in result.per_class]))
                             for m in keys}
        result.mean[name]["roc_auc_std_over_classes"] = float(np.std(
            [result.per_class[c][name]["roc_auc"] for c in result.per_class]))
    if not math.isfinite(result.mean["elbo"]["roc_auc"]):
        raise GenlabError("one-class protocol: a score was not finite")
    return result
