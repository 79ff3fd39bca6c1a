"""Linear probe: how linearly readable the class is from a model's frozen codes.

A multinomial logistic regression (scikit-learn, L-BFGS, L2 penalty C) is fitted on the codes of training images
and scored on the codes of test images; features are standardised with the training codes' mean and standard
deviation. The same probe on raw pixels and the majority-class rate ("chance") are the baselines a code should be
read against: a code that keeps less class information than the pixels themselves scores below the pixel probe.
Codes are E[z | x] for a VAE (the posterior mean) and the encoder output for deterministic autoencoders.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genlab.errors import GenlabError


@dataclass
class ProbeResult:
    """Test accuracy of the probe, its binomial standard error, the chance level (majority test class), the code
    size and the numbers of training / test codes."""

    accuracy: float
    stderr: float
    chance: float
    train_accuracy: float
    dim: int
    n_train: int
    n_test: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_2d(a: Tensor | np.ndarray, what: str) -> np.ndarray:
    arr = a.detach().cpu().numpy() if isinstance(a, Tensor) else np.asarray(a)
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise GenlabError(f"linear probe: {what} must be a non-empty (N, D...) array, got shape {arr.shape}")
    return arr.reshape(arr.shape[0], -1).astype(np.float64)


def linear_probe(train_codes: Tensor | np.ndarray, train_labels: Tensor | np.ndarray,
                 test_codes: Tensor | np.ndarray, test_labels: Tensor | np.ndarray, *, c: float = 1.0,
                 max_iter: int = 500) -> ProbeResult:
    """Fit a logistic-regression probe on (train_codes (N, D...), train_labels (N,)) and report its accuracy on
    the test codes. Raises a one-line GenlabError on mismatched shapes or a single training class."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    xtr, xte = _as_2d(train_codes, "train codes"), _as_2d(test_codes, "test codes")
    ytr = np.asarray(train_labels.cpu() if isinstance(train_labels, Tensor) else train_labels).reshape(-1)
    yte = np.asarray(test_labels.cpu() if isinstance(test_labels, Tensor) else test_labels).reshape(-1)
    if xtr.shape[0] != ytr.shape[0] or xte.shape[0] != yte.shape[0]:
        raise GenlabError(f"linear probe: {xtr.shape[0]} train codes vs {ytr.shape[0]} labels, {xte.shape[0]} test "
                          f"codes vs {yte.shape[0]} labels; expected equal counts")
    if xtr.shape[1] != xte.shape[1]:
        raise GenlabError(f"linear probe: train codes have {xtr.shape[1]} features, test codes {xte.shape[1]}")
    if np.unique(ytr).size < 2:
        raise GenlabError("linear probe: the training labels hold a single class; need at least two")
    start = time.perf_counter()
    mean, std = xtr.mean(0), xtr.std(0)
    std[std < 1e-8] = 1.0
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    clf = LogisticRegression(C=c, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(xtr, ytr)
    acc = float((clf.predict(xte) == yte).mean())
    _, counts = np.unique(yte, return_counts=True)
    return ProbeResult(acc, float(np.sqrt(acc * (1 - acc) / yte.size)), float(counts.max() / yte.size),
                       float((clf.predict(xtr) == ytr).mean()), int(xtr.shape[1]), int(xtr.shape[0]),
                       int(yte.size), round(time.perf_counter() - start, 2))


@torch.no_grad()
def frozen_codes(model: torch.nn.Module, x: Tensor, batch_size: int = 256) -> Tensor:
    """Codes (N, D) of images x (N, C, H, W) in model space: the posterior mean for a VAE (encode returns a tuple),
    else the encoder output; flattened, on the CPU. The model is put in eval mode."""
    if not callable(getattr(model, "encode", None)):
        raise GenlabError(f"model family '{getattr(model, 'family', '?')}' has no encoder; a linear probe needs "
                          "codes")
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, x.shape[0], batch_size):
        code = model.encode(x[i:i + batch_size].to(device))
        code = code[0] if isinstance(code, tuple) else code
        out.append(code.detach().flatten(1).float().cpu())
    return torch.cat(out)
