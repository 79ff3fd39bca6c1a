"""2-D projections of encoded latents (PCA, t-SNE, UMAP) and a scatter plot coloured by label.

PCA is exact (SVD of the centred codes); t-SNE (van der Maaten & Hinton 2008) comes from scikit-learn; UMAP
(McInnes et al. 2018) only when the optional ``umap-learn`` package is installed.
Codes are (N, D) — latent maps are flattened; points are (N, 2) float64 numpy arrays.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from genlab.errors import GenlabError
from genlab.latent.encoding import encode_means
from genlab.viz import save_figure


def available_methods() -> list[str]:
    """Projection methods usable here ("umap" only when umap-learn is importable)."""
    return ["pca", "tsne"] + (["umap"] if importlib.util.find_spec("umap") is not None else [])


def _as_matrix(codes: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
    return arr.reshape(arr.shape[0], -1).astype(np.float64)


def pca_2d(codes: torch.Tensor | np.ndarray) -> np.ndarray:
    """Scores on the first two principal axes: (X − mean) V[:, :2] with X = U S Vᵀ. Sign fixed so each axis's
    largest-magnitude loading is positive (deterministic output)."""
    x = _as_matrix(codes)
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    axes = vt[:2]
    axes *= np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(1)])[:, None]
    points = x @ axes.T
    return points if points.shape[1] == 2 else np.pad(points, ((0, 0), (0, 2 - points.shape[1])))


def project_2d(codes: torch.Tensor | np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, D) codes → (N, 2) points by `method` ("pca" | "tsne" | "umap")."""
    if method == "pca":
        return pca_2d(codes)
    x = _as_matrix(codes)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (x.shape[0] - 1) / 3)))
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    if method == "umap":
        if "umap" not in available_methods():
            raise GenlabError("projection 'umap' needs the optional package umap-learn (pip install umap-learn)")
        import umap

        return umap.UMAP(n_components=2, random_state=seed).fit_transform(x)
    raise GenlabError(f"projection method '{method}' is not one of pca, tsne, umap")


def plot_projection(points: np.ndarray, labels: Sequence[int] | np.ndarray | None, path: str | os.PathLike[str],
                    title: str = "", class_names: Sequence[str] = ()) -> Path:
    """Scatter of (N, 2) points coloured by label (tab10/tab20), with a legend, saved as a PNG."""
    fig = Figure(figsize=(6.0, 5.0), layout="constrained")
    ax = fig.add_subplot()
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=6, alpha=0.7)
    else:
        labels = np.asarray(labels)
        classes = np.unique(labels)
        cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for i, k in enumerate(classes):
            name = class_names[int(k)] if len(class_names) > int(k) else str(k)
            keep = labels == k
            ax.scatter(points[keep, 0], points[keep, 1], s=6, alpha=0.7, color=cmap(i % cmap.N), label=name)
        ax.legend(markerscale=3, fontsize=8, loc="best")
    ax.set_title(title)
    ax.set_xlabel("axis 1")
    ax.set_ylabel("axis 2")
    return save_figure(fig, path)


def latent_projection(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor | None,
                      path: str | os.PathLike[str], method: str = "pca", seed: int = 0) -> np.ndarray:
    """Encode images x (N, C, H, W), project their means to 2-D and save the labelled scatter; returns points."""
    points = project_2d(encode_means(model, x), method, seed)
    family = getattr(model, "family", type(model).__name__)
    plot_projection(points, None if labels is None else labels.cpu().numpy(), path, f"{family} latent — {method}")
    return points
