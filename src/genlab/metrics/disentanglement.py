"""Disentanglement of a latent code against known generative factors: the mutual information gap (MIG).

MIG (Chen et al. 2018, "Isolating sources of disentanglement in VAEs", eq. 5): for every factor v_k, the gap
between the two code dimensions that share the most information with it, normalised by its entropy,

    MIG = 1/K Σ_k ( I(z_{j(k)}; v_k) − max_{j ≠ j(k)} I(z_j; v_k) ) / H(v_k),   j(k) = argmax_j I(z_j; v_k),

so 1 means every factor is captured by one code dimension alone and 0 that none is (or that two dimensions share
it). Chen et al. estimate I with the encoder's distribution; like the widely used disentanglement_lib
implementation (Locatello et al. 2019) we use the encoded means, each discretised into `bins` equal-width bins over
its range, and plug-in (count) estimates of the discrete mutual information, in nats. The plug-in estimate is biased
upwards by about (|Z| − 1)(|V| − 1) / (2N) nats for independent variables, so report n beside the number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genlab.errors import GenlabError


def discretize(codes: np.ndarray, bins: int = 20) -> np.ndarray:
    """Codes (N, D) float → bin indices (N, D) int in 0..bins−1, equal-width bins over each dimension's range."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] < 2:
        raise GenlabError(f"codes: expected an (N, D) array with N >= 2, got shape {codes.shape}")
    if not np.isfinite(codes).all():
        raise GenlabError("codes: contain NaN or infinite values")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise GenlabError(f"bins = {bins!r}: expected an integer >= 2")
    lo, hi = codes.min(0), codes.max(0)
    width = np.where(hi > lo, (hi - lo) / bins, 1.0)
    return np.clip(((codes - lo) / width).astype(np.int64), 0, bins - 1)


def entropy(labels: np.ndarray) -> float:
    """Plug-in entropy (nats) of a discrete variable (N,)."""
    _, counts = np.unique(labels, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in mutual information (nats) between two discrete variables (N,) each."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    joint = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(joint, (ai, bi), 1.0)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def mutual_information_matrix(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """I(z_j; v_k) for every code dimension j and factor k: (D, K), nats."""
    d, k = discrete_codes.shape[1], factors.shape[1]
    return np.array([[mutual_information(discrete_codes[:, j], factors[:, i]) for i in range(k)] for j in range(d)])


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = 20, factor_names: tuple[str, ...] | None = None
        ) -> dict[str, Any]:
    """Mutual information gap of codes (N, D) against discrete factors (N, K) (module docstring).

    Returns {"mig", "per_factor" {name: gap / H}, "best_dim" {name: j(k)}, "mi" (D, K) as lists, "entropy" per
    factor, "n", "bins"}. Needs D >= 2; a factor with a single value (H = 0) is left out of the mean.
    """
    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[0] != codes.shape[0]:
        raise GenlabError(f"factors: expected an (N, K) array with N = {codes.shape[0]}, got shape {factors.shape}")
    if codes.shape[1] < 2:
        raise GenlabError(f"codes have {codes.shape[1]} dimension(s); MIG needs at least 2")
    names = tuple(factor_names or (f"factor{i}" for i in range(factors.shape[1])))
    mi = mutual_information_matrix(discretize(codes, bins), factors)
    ent = np.array([entropy(factors[:, i]) for i in range(factors.shape[1])])
    top2 = np.sort(mi, axis=0)[-2:]  # (2, K): second best, best
    gaps = {}
    for i, name in enumerate(names):
        if ent[i] > 0:
            gaps[name] = float((top2[1, i] - top2[0, i]) / ent[i])
    if not gaps:
        raise GenlabError("factors: every factor has a single value; MIG is undefined")
    return {"mig": float(np.mean(list(gaps.values()))), "per_factor": gaps,
            "best_dim": {name: int(mi[:, i].argmax()) for i, name in enumerate(names)},
            "mi": mi.round(6).tolist(), "entropy": dict(zip(names, ent.round(6).tolist(), strict=True)),
            "n": int(codes.shape[0]), "bins": int(bins)}
