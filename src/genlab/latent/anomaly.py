"""Anomaly detection: a model trained on "normal" classes explains them well and held-out classes badly
(Sakurada & Yairi 2014 for reconstruction error; An & Cho 2015 for VAE likelihood scores).

Scores are per image, shape (N,), higher = more anomalous:
- ``mse``: mean squared reconstruction error in model space (every model with an encoder);
- ``elbo``: the VAE's −ELBO in nats (reconstruction NLL under the decoder's likelihood + KL of the code);
- ``latent``: ½‖E[z|x]‖², the negative log prior density of the code up to a constant (VAE: how far the image's
  code sits from where the normal data was pushed by the KL term).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.latent.encoding import encode_posterior, model_device, reconstruct


def reconstruction_errors(model: torch.nn.Module, x: Tensor, y: Tensor | None = None, batch_size: int = 256
                          ) -> Tensor:
    """Mean squared error between x (N, C, H, W) and decode(E[z|x]), per image, (N,) on the CPU."""
    recon = reconstruct(model, x, y, batch_size)
    return (recon - x.cpu()).pow(2).flatten(1).mean(1)


SCORES = ("mse", "elbo", "latent")


@torch.no_grad()
def anomaly_scores(model: torch.nn.Module, x: Tensor, y: Tensor | None = None, score: str = "mse",
                   batch_size: int = 256) -> Tensor:
    """Per-image anomaly scores (N,) on the CPU; `score` is one of SCORES (see the module docstring)."""
    if score not in SCORES:
        raise GenlabError(f"anomaly score '{score}': expected one of {', '.join(SCORES)}")
    if score == "mse":
        return reconstruction_errors(model, x, y, batch_size)
    if score == "elbo" and not hasattr(model, "negative_elbo"):
        raise GenlabError(f"anomaly score 'elbo' needs a VAE; this model is a {getattr(model, 'family', '?')}")
    if score == "latent":
        mu, logvar = encode_posterior(model, x, y, batch_size)
        if logvar is None:
            raise GenlabError("anomaly score 'latent' needs a VAE (a prior on the code); use mse for autoencoders")
        return 0.5 * mu.flatten(1).pow(2).sum(1)
    device, out = model_device(model), []
    for i in range(0, x.shape[0], batch_size):
        yb = None if y is None else y[i:i + batch_size].to(device)
        out.append(model.negative_elbo(x[i:i + batch_size].to(device), yb).float().cpu())
    return torch.cat(out)


def anomaly_labels(labels: Tensor | np.ndarray, normal_classes: Sequence[int]) -> np.ndarray:
    """(N,) bool: True where the label is NOT one of the normal classes."""
    return ~np.isin(np.asarray(labels), np.asarray(list(normal_classes)))


@dataclass
class AnomalyReport:
    """Detection quality of scores against the true anomaly flags, at one threshold (score > threshold)."""

    roc_auc: float
    average_precision: float
    threshold: float
    precision: float
    recall: float
    f1: float
    num_normal: int
    num_anomalous: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def anomaly_report(scores: Tensor | np.ndarray, is_anomaly: np.ndarray, threshold: float | None = None,
                   normal_quantile: float = 0.95) -> AnomalyReport:
    """ROC AUC and average precision over all thresholds, and precision/recall/F1 at `threshold`.

    When `threshold` is None it is the `normal_quantile` quantile of the normal images' scores, i.e. about
    (1 − q) of normal images are flagged. Prefer a threshold taken from a validation set of normal images.
    """
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

    s = np.asarray(scores.cpu() if isinstance(scores, Tensor) else scores, dtype=np.float64)
    flags = np.asarray(is_anomaly, dtype=bool)
    if flags.all() or not flags.any():
        raise GenlabError("anomaly scoring needs both normal and anomalous images in the evaluation set")
    if threshold is None:
        threshold = float(np.quantile(s[~flags], normal_quantile))
    p, r, f, _ = precision_recall_fscore_support(flags, s > threshold, average="binary", zero_division=0)
    return AnomalyReport(float(roc_auc_score(flags, s)), float(average_precision_score(flags, s)), float(threshold),
                         float(p), float(r), float(f), int((~flags).sum()), int(flags.sum()))


def score_held_out_classes(model: torch.nn.Module, x: Tensor, labels: Tensor, normal_classes: Sequence[int],
                           threshold: float | None = None, score: str = "mse") -> AnomalyReport:
    """Anomaly report on a labelled set where `normal_classes` are the trained-on classes."""
    scores = anomaly_scores(model, x, score=score)
    return anomaly_report(scores, anomaly_labels(labels.cpu(), normal_classes), threshold)
