"""Training curves and side-by-side comparison figures as PNGs.

Uses matplotlib's object API with the Agg canvas directly (``Figure`` + ``FigureCanvasAgg``) rather than pyplot:
no global backend switch, no figure registry to leak, safe to call from a web server thread or a headless job.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from genlab.utils.io import atomic_path

__all__ = ["plot_curves", "save_figure", "side_by_side"]

_DPI = 100


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Render `fig` with Agg and write it as a PNG atomically; returns the path."""
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)
    return Path(path)


def plot_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike[str],
    xlabel: str = "step",
    ylabel: str = "value",
    title: str = "",
    logy: bool = False,
) -> Path:
    """One line per entry of `curves` (name → (xs, ys)) on shared axes, saved as a PNG; returns the path.

    Non-finite points (a NaN loss) are dropped from each line rather than breaking it. With `logy`, points
    with y <= 0 are dropped too, since they have no place on a log axis.
    """
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for name, (xs, ys) in curves.items():
        x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        if x.shape != y.shape:
            raise ValueError(f"curve '{name}': {x.size} x values but {y.size} y values")
        keep = np.isfinite(x) & np.isfinite(y) & ((y > 0) if logy else True)
        ax.plot(x[keep], y[keep], label=name, linewidth=1.2)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if len(curves) > 1:
        ax.legend(frameon=False)
    return save_figure(fig, path)


def side_by_side(
    panels: Sequence[tuple[str, np.ndarray]],
    path: str | os.PathLike[str],
    title: str = "",
    max_cols: int = 4,
) -> Path:
    """Titled image panels (e.g. one sample grid per epoch or per model) in rows of `max_cols`, as a PNG.

    panels: (title, uint8 grid (H, W) or (H, W, 3)) pairs, as returned by `make_grid`. Pixels are drawn
    unsmoothed at about one screen pixel per image pixel. Returns the path.
    """
    if not panels:
        raise ValueError("side_by_side needs at least one panel")
    ncols = min(max_cols, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    cell_h = max(p.shape[0] for _, p in panels) / _DPI
    cell_w = max(p.shape[1] for _, p in panels) / _DPI
    fig = Figure(figsize=(max(ncols * cell_w, 2.0), max(nrows * (cell_h + 0.35) + (0.4 if title else 0), 1.5)))
    fig.set_layout_engine("constrained")
    for i, (name, grid) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        gray = grid.ndim == 2
        ax.imshow(grid, cmap="gray" if gray else None, vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
