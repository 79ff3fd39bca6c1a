"""ES-MDA in a generator's latent space against a synthetic truth: the history-matching demo of issue 5.

The truth is a procedural channel image (not a generator sample, so the model must *approximate* it). Data are
(a) facies logged at `wells` vertical-well cells and (b) a steady single-phase flow proxy between an injector and
a producer (log10 production rate and monitor-well pressures, genlab.geo.flow). The ensemble of latents z ~ N(0, I)
is updated with ES-MDA (Emerick & Reynolds 2013) through g(z) = observe(decode(z)), where the generator output
used for the well data is the channel probability p = (x + 1)/2 (continuous in z, which the ensemble's linear
update needs) and the flow proxy thresholds p at 0.5 as the simulator would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genlab.data.sources.channels import generate_channels
from genlab.errors import GenlabError
from genlab.geo.flow import WellPattern, facies_at_wells, flow_proxy
from genlab.inference import LoadedModel
from genlab.latent.esmda import EsmdaResult, condition_latent, esmda_alphas


@dataclass
class DemoSetup:
    """Everything the update needs besides the generator. Cells are (row, column)."""

    truth: np.ndarray  # (H, W) uint8 {0, 1}
    well_cells: np.ndarray  # (K, 2) facies-logged wells
    pattern: WellPattern  # flow-proxy wells
    d_obs: np.ndarray  # (K + n_flow,) observed data (noisy)
    d_true: np.ndarray  # (K + n_flow,) noise-free data of the truth
    cd: np.ndarray  # (K + n_flow,) observation error variances
    sd: dict[str, float] = field(default_factory=dict)  # error standard deviations by data kind


def well_grid(size: int, wells: int) -> np.ndarray:
    """(wells, 2) cells on a regular ⌈√wells⌉ × ⌈√wells⌉ lattice with a margin, row-major, first `wells` kept."""
    if wells < 1:
        raise GenlabError(f"wells = {wells}; expected at least 1 facies-logged well")
    k = math.ceil(math.sqrt(wells))
    margin = max(2, size // 10)
    pos = np.linspace(margin, size - 1 - margin, k).round().astype(int)
    cells = np.array([(r, c) for r in pos for c in pos])
    return cells[:wells]


def check_truth(truth: np.ndarray, size: int) -> np.ndarray:
    """A given truth image as (size, size) uint8 {0, 1}, or a one-line GenlabError."""
    a = np.asarray(truth)
    a = a.reshape(a.shape[-2:]) if a.ndim > 2 and int(np.prod(a.shape[:-2])) == 1 else a
    if a.shape != (size, size):
        raise GenlabError(f"truth image of shape {np.asarray(truth).shape}: expected ({size}, {size}) like the model's "
                          "images")
    if not np.isin(a, (0, 1)).all():
        raise GenlabError("truth image: expected facies values 0 and 1 only")
    return a.astype(np.uint8)


def make_setup(size: int, truth_seed: int, wells: int, facies_sd: float = 0.1, rate_sd: float = 0.05,
               pressure_sd: float = 0.02, n_monitors: int = 3, truth: np.ndarray | None = None) -> DemoSetup:
    """Synthetic truth, wells, noisy data. The truth is `truth` when given (e.g. a held-out training image,
    (size, size) {0, 1}), else procedural image `truth_seed` of a stream no training set uses.

    facies_sd: error std of facies at wells (probability units); rate_sd: of log10 production rate;
    pressure_sd: of monitor pressures (bar, injector at 1 bar, producer at 0). Noise is drawn with `truth_seed`.
    """
    truth = (generate_channels(1, seed=10_000 + truth_seed, size=size)[0] if truth is None
             else check_truth(truth, size))
    cells, pattern = well_grid(size, wells), WellPattern.line_drive(size, n_monitors=n_monitors)
    d_true = observe(truth[None].astype(np.float64), cells, pattern)[0]
    n_flow = len(pattern.producers) + len(pattern.monitors)
    sd = np.concatenate([np.full(len(cells), facies_sd), np.full(len(pattern.producers), rate_sd),
                         np.full(len(pattern.monitors), pressure_sd)])
    noise = np.random.default_rng(truth_seed).standard_normal(len(cells) + n_flow) * sd
    return DemoSetup(truth, cells, pattern, d_true + noise, d_true, sd**2,
                     {"facies": facies_sd, "log10_rate": rate_sd, "pressure_bar": pressure_sd})


def observe(probs: np.ndarray, cells: np.ndarray, pattern: WellPattern) -> np.ndarray:
    """Data (N, K + n_producers + n_monitors): facies probability at the K wells, then the flow proxy."""
    return np.concatenate([facies_at_wells(probs, cells), flow_proxy(probs, pattern)], axis=1)


def stats(probs: np.ndarray, setup: DemoSetup) -> dict[str, float]:
    """The per-iteration extras of `run_esmda` for any ensemble of channel probabilities (N, H, W) (or binary
    realizations), e.g. inpainted ones: facies match at wells, flow-rate RMSE, field accuracy, pixel spread."""
    return _stats(np.asarray(probs, dtype=np.float64), setup)


def _stats(probs: np.ndarray, setup: DemoSetup) -> dict[str, float]:
    """Per-iteration extras: facies match at wells, flow-data RMSE, field accuracy vs the truth, spread."""
    binary = probs > 0.5
    k = len(setup.well_cells)
    at_wells = facies_at_wells(binary, setup.well_cells)
    truth_wells = facies_at_wells(setup.truth[None], setup.well_cells)
    flow = flow_proxy(probs, setup.pattern)
    return {
        "well_facies_match": float((at_wells == truth_wells).mean()),
        "flow_rmse_log10_rate": float(np.sqrt(np.mean((flow[:, 0] - setup.d_true[k]) ** 2))),
        "field_accuracy_vs_truth": float((binary == setup.truth[None].astype(bool)).mean()),
        "pixel_std_mean": float(binary.std(0).mean()),  # facies spread across members (collapse check)
        "channel_fraction": float(binary.mean()),
    }


def well_mask(size: int, cells: np.ndarray) -> torch.Tensor:
    """(size, size) bool for inpainting, True = generate: every cell except the well cells (which keep the truth)."""
    hole = torch.ones(size, size, dtype=torch.bool)
    hole[torch.as_tensor(cells[:, 0]), torch.as_tensor(cells[:, 1])] = False
    return hole


def wells_honoured(binary: np.ndarray, setup: DemoSetup) -> float:
    """Share of (member, well) pairs of binary realizations (N, H, W) whose facies equals the truth's at that well."""
    r, c = setup.well_cells[:, 0], setup.well_cells[:, 1]
    return float((np.asarray(binary)[:, r, c] == setup.truth[r, c][None]).mean())


def latent_decoder(gen: LoadedModel):
    """z (Ne, *latent_shape) → channel probabilities (Ne, H, W) as a float32 CPU tensor."""
    model = gen.model

    def fn(z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            x = model.decode(z.to(gen.device).float())
        return ((x[:, 0] + 1) / 2).clamp(0, 1).cpu()

    return fn


def run_esmda(gen: LoadedModel, setup: DemoSetup, n_ens: int, n_assim: int, seed: int = 0,
              alphas: Any = None) -> tuple[EsmdaResult, np.ndarray, np.ndarray]:
    """ES-MDA from the prior z_j = sample_latent(seed + j), j < n_ens. Returns (result, prior probabilities
    (Ne, H, W), posterior probabilities (Ne, H, W))."""
    if n_ens < 2 or n_assim < 1:
        raise GenlabError(f"ES-MDA needs n_ens >= 2 and n_assim >= 1, got {n_ens} and {n_assim}")
    z0 = gen.model.sample_latent(list(range(seed, seed + n_ens))).detach().cpu().double()
    decode = latent_decoder(gen)
    prior = decode(z0).numpy()
    a = esmda_alphas(n_assim) if alphas is None else alphas
    res, post = condition_latent(
        decode, z0, lambda p: observe(p, setup.well_cells, setup.pattern), setup.d_obs, setup.cd,
        alphas=a, seed=seed, extras_fn=lambda p, d: _stats(p, setup))
    return res, prior, post


def latent_norm_check(m: np.ndarray) -> dict[str, float]:
    """Is the posterior still a plausible prior draw? mean ‖z‖²/D (≈ 1 under N(0, I)) and mean |z_i| max."""
    sq = (m**2).mean(1)
    return {"mean_sq_norm_per_dim": float(sq.mean()), "max_sq_norm_per_dim": float(sq.max()),
            "max_abs": float(np.abs(m).max())}
