"""Anomaly detection by reconstruction error: a model trained on "normal" classes reconstructs them well and
held-out classes badly (Sakurada & Yairi 2014; An & Cho 2015 for VAEs).

Scores are per-image mean squared errors in model space (higher = more anomalous), shape (N,).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genlab.errors import GenlabError
from genlab.latent.encoding import reconstruct


def reconstruction_errors(model: torch.nn.Module, x: Tensor, y: Tensor | None = None, batch_size: int = 256
                          ) -> Tensor:
    """Mean squared error between x (N, C, H, W) and decode(E[z|x]), per image, (N,) on the CPU."""
    recon = reconstruct(model, x, y, batch_size)
    return (recon - x.cpu()).pow(2).flatten(1).mean(1)


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
                           threshold: float | None = None) -> AnomalyReport:
    """Reconstruction-error anomaly report on a labelled set where `normal_classes` are the trained-on classes."""
    scores = reconstruction_errors(model, x)
    return anomaly_report(scores, anomaly_labels(labels.cpu(), normal_classes), threshold)
