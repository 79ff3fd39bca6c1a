"""A steady-state single-phase flow proxy on a 2-D facies grid, and the facies-at-wells observation operator.

Incompressible single-phase Darcy flow, ∇·(k ∇p) = 0, discretised with the two-point flux approximation on a
uniform grid of unit cells (Aziz & Settari 1979, ch. 3; Lie 2019, "An Introduction to Reservoir Simulation Using
MATLAB/GNU Octave", §4.4.1): the flux between neighbouring cells a, b is q_ab = T_ab (p_a − p_b) with the harmonic
transmissibility T_ab = 2 k_a k_b / (k_a + k_b) (unit cell size, thickness and viscosity). Outer boundaries are
no-flow; wells are cells with prescribed pressure (injectors high, producers low). Rates are in "mD·bar" per unit
thickness — relative numbers, which is what a proxy for history-matching experiments needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

from genlab.errors import GenlabError

Cell = tuple[int, int]  # (row i, column j)


def permeability(facies: np.ndarray, k_channel_md: float = 1000.0, k_background_md: float = 1.0) -> np.ndarray:
    """Facies {0,1} (or channel probabilities, thresholded at 0.5) → permeability in mD, same shape."""
    return np.where(np.asarray(facies) > 0.5, k_channel_md, k_background_md).astype(np.float64)


def _transmissibilities(perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic-mean face transmissibilities: x-faces (H, W−1), y-faces (H−1, W)."""
    kx0, kx1 = perm[:, :-1], perm[:, 1:]
    ky0, ky1 = perm[:-1, :], perm[1:, :]
    return 2 * kx0 * kx1 / (kx0 + kx1), 2 * ky0 * ky1 / (ky0 + ky1)


def _tpfa_matrix(perm: np.ndarray) -> sparse.csr_matrix:
    """(H·W, H·W) TPFA matrix A with (A p)_a = Σ_b T_ab (p_a − p_b) = net outflow of cell a (row-major cells)."""
    h, w = perm.shape
    idx = np.arange(h * w).reshape(h, w)
    tx, ty = _transmissibilities(perm)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    t = np.concatenate([tx.ravel(), ty.ravel()])
    rows = np.concatenate([a, b, a, b])
    cols = np.concatenate([a, b, b, a])
    vals = np.concatenate([t, t, -t, -t])
    return sparse.coo_matrix((vals, (rows, cols)), shape=(h * w, h * w)).tocsr()


def solve_pressure(perm: np.ndarray, fixed_mask: np.ndarray, fixed_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steady pressure (H, W) with p = fixed_values where fixed_mask, no-flow outer boundary.

    perm: (H, W) permeability (mD), > 0. fixed_mask: (H, W) bool, at least one cell. fixed_values: (H, W) pressures
    (bar) read where fixed_mask. Returns (pressure (H, W), net outflow per cell (H, W): non-zero only at fixed cells,
    positive where fluid leaves the well cell into the reservoir, i.e. injection).
    """
    perm = np.asarray(perm, dtype=np.float64)
    mask = np.asarray(fixed_mask, dtype=bool)
    if perm.ndim != 2 or mask.shape != perm.shape or not mask.any():
        raise GenlabError(
            f"solve_pressure: need a 2-D permeability and a same-shape mask with a fixed cell, got "
            f"{perm.shape} and {mask.shape}"
        )
    if np.any(perm <= 0):
        raise GenlabError("solve_pressure: permeabilities must be > 0")
    a = _tpfa_matrix(perm)
    fixed, free = np.flatnonzero(mask), np.flatnonzero(~mask)
    p = np.zeros(perm.size)
    p[fixed] = np.asarray(fixed_values, dtype=np.float64).ravel()[fixed]
    if len(free):
        rhs = -(a[free][:, fixed] @ p[fixed])
        # minimum-degree ordering on A+Aᵀ suits this symmetric 5-point matrix (≈2× faster than the default COLAMD)
        p[free] = spsolve(a[free][:, free].tocsc(), rhs, permc_spec="MMD_AT_PLUS_A")
    return p.reshape(perm.shape), (a @ p).reshape(perm.shape)


@dataclass(frozen=True)
class WellPattern:
    """Wells on the grid: injectors/producers are prescribed-pressure cells; monitors only observe pressure."""

    injectors: tuple[Cell, ...]
    producers: tuple[Cell, ...]
    monitors: tuple[Cell, ...] = ()
    p_injector_bar: float = 1.0
    p_producer_bar: float = 0.0

    @property
    def all_cells(self) -> tuple[Cell, ...]:
        return self.injectors + self.producers + self.monitors

    def check(self, shape: tuple[int, int]) -> None:
        bad = [c for c in self.all_cells if not (0 <= c[0] < shape[0] and 0 <= c[1] < shape[1])]
        if bad or not self.injectors or not self.producers:
            raise GenlabError(f"well pattern needs >= 1 injector and producer inside the {shape} grid; outside: {bad}")

    @staticmethod
    def line_drive(size: int, n_monitors: int = 3, margin: int | None = None) -> WellPattern:
        """Injector near the top centre, producer near the bottom centre (channels run N–S), monitors across the
        middle row — a small default for the ES-MDA demo."""
        m = max(2, size // 16) if margin is None else margin
        mid = size // 2
        cols = np.linspace(m, size - 1 - m, n_monitors).round().astype(int) if n_monitors else []
        return WellPattern(((m, mid),), ((size - 1 - m, mid),), tuple((mid, int(c)) for c in cols))


def solve_wells(perm: np.ndarray, wells: WellPattern) -> tuple[np.ndarray, np.ndarray]:
    """(pressure (H, W), production rates (n_producers,) ≥ 0) for one permeability field (H, W) in mD."""
    wells.check(perm.shape)
    mask = np.zeros(perm.shape, dtype=bool)
    values = np.zeros(perm.shape)
    for cells, p in ((wells.injectors, wells.p_injector_bar), (wells.producers, wells.p_producer_bar)):
        for i, j in cells:
            mask[i, j], values[i, j] = True, p
    p, outflow = solve_pressure(perm, mask, values)
    return p, np.array([-outflow[i, j] for i, j in wells.producers])


def flow_proxy(
    facies: np.ndarray,
    wells: WellPattern,
    k_channel_md: float = 1000.0,
    k_background_md: float = 1.0,
    log_rates: bool = True,
) -> np.ndarray:
    """Data (N, n_producers + n_monitors) for facies (N, H, W) or (H, W): production rates (log10 if `log_rates`,
    which keeps channel/no-channel cases on one scale for ES-MDA) followed by monitor-well pressures (bar)."""
    f = np.asarray(facies)
    f = f[None] if f.ndim == 2 else f
    out = []
    for img in f:
        p, rates = solve_wells(permeability(img, k_channel_md, k_background_md), wells)
        rates = np.log10(np.maximum(rates, 1e-12)) if log_rates else rates
        out.append(np.concatenate([rates, [p[i, j] for i, j in wells.monitors]]))
    return np.array(out)


def facies_at_wells(images: np.ndarray, well_ij: np.ndarray | list[Cell]) -> np.ndarray:
    """Observation operator: values of images (N, H, W) (or (N, 1, H, W)) at K cells (K, 2) → (N, K) float."""
    a = np.asarray(images, dtype=np.float64)
    a = a[:, 0] if a.ndim == 4 else a
    ij = np.asarray(well_ij, dtype=np.int64).reshape(-1, 2)
    if ij.size and (ij.min() < 0 or np.any(ij.max(0) >= a.shape[1:])):
        raise GenlabError(f"well cells {ij.tolist()} fall outside the {a.shape[1:]} grid")
    return a[:, ij[:, 0], ij[:, 1]]
