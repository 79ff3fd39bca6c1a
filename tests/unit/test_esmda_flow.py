"""Flow proxy (TPFA steady pressure) and the facies-at-wells observation operator."""

from __future__ import annotations

import numpy as np
import pytest

from genlab.errors import GenlabError
from genlab.geo.flow import WellPattern, facies_at_wells, flow_proxy, permeability, solve_pressure, solve_wells


def test_homogeneous_line_drive_is_linear():
    h, w, k = 6, 11, 50.0
    mask = np.zeros((h, w), bool)
    mask[:, 0] = mask[:, -1] = True
    values = np.zeros((h, w))
    values[:, 0] = 1.0
    p, outflow = solve_pressure(np.full((h, w), k), mask, values)
    assert np.allclose(p, np.tile(1.0 - np.arange(w) / (w - 1), (h, 1)))  # analytic linear drop
    assert np.isclose(outflow[:, 0].sum(), k * h / (w - 1))  # Darcy: q = k·A·Δp/L
    assert np.isclose(outflow.sum(), 0.0) and np.allclose(outflow[:, 1:-1], 0.0)  # mass balance


def test_harmonic_transmissibility_series_layers():
    # two halves in series: effective k = harmonic mean; check the rate against the 1-D series formula
    perm = np.ones((1, 4))
    perm[0, 2:] = 9.0
    mask = np.array([[True, False, False, True]])
    _, out = solve_pressure(perm, mask, np.array([[1.0, 0, 0, 0]]))
    t = np.array([1.0, 2 * 9 / 10, 9.0])
    assert np.isclose(out[0, 0], 1.0 / np.sum(1 / t))


def test_channel_connecting_wells_raises_rate():
    size = 24
    wells = WellPattern.line_drive(size, n_monitors=2)
    background = np.zeros((size, size), np.uint8)
    channel = background.copy()
    channel[:, size // 2 - 2 : size // 2 + 2] = 1  # N–S channel through both wells
    off = background.copy()
    off[:, 2:6] = 1  # a channel that misses the wells
    d = flow_proxy(np.stack([background, channel, off]), wells, log_rates=False)
    assert d.shape == (3, 1 + 2)
    assert d[1, 0] > 100 * d[0, 0] and d[2, 0] < 3 * d[0, 0]
    logd = flow_proxy(channel, wells)
    assert np.isclose(logd[0, 0], np.log10(d[1, 0]))
    assert np.all((d[:, 1:] >= 0) & (d[:, 1:] <= 1))  # monitor pressures between producer and injector


def test_solve_wells_and_errors():
    perm = permeability(np.zeros((8, 8)), 1000.0, 2.0)
    assert np.all(perm == 2.0)
    p, rates = solve_wells(perm, WellPattern(((0, 0),), ((7, 7),)))
    assert p[0, 0] == 1.0 and p[7, 7] == 0.0 and rates[0] > 0
    with pytest.raises(GenlabError, match="outside"):
        solve_wells(perm, WellPattern(((0, 0),), ((9, 9),)))
    with pytest.raises(GenlabError, match="> 0"):
        solve_pressure(np.zeros((3, 3)), np.eye(3, dtype=bool), np.zeros((3, 3)))


def test_facies_at_wells():
    imgs = np.zeros((2, 1, 5, 5))
    imgs[1, 0, 2, 3] = 1
    assert facies_at_wells(imgs, [(2, 3), (0, 0)]).tolist() == [[0, 0], [1, 0]]
    with pytest.raises(GenlabError, match="outside"):
        facies_at_wells(imgs, [(5, 0)])


def test_esmda_on_flow_proxy_reduces_mismatch():
    from genlab.latent.esmda import condition_latent

    size = 16
    wells = WellPattern.line_drive(size, n_monitors=0)
    cols = np.arange(size)

    def gen(z: np.ndarray) -> np.ndarray:  # a N–S channel of width 4 whose column is 8 + 4·z
        centre = 8 + 4 * z[:, 0]
        return (np.abs(cols[None, :] - centre[:, None]) < 2.5)[:, None, :].repeat(size, axis=1).astype(float)

    logs = [(8, c) for c in (2, 5, 8, 11, 14)]  # facies logged at five wells across the field

    def observe(f: np.ndarray) -> np.ndarray:  # log10 production rate + facies at the logged wells
        return np.concatenate([flow_proxy(f, wells), facies_at_wells(f, logs)], axis=1)

    truth = gen(np.array([[0.25]]))
    d_obs = observe(truth)[0]
    z0 = np.random.default_rng(0).normal(size=(40, 1))
    cd = np.array([0.05] + [0.1] * 5) ** 2
    res, _ = condition_latent(gen, z0, observe, d_obs, cd=cd, n_assim=4, seed=1)
    first, last = res.history[0], res.history[-1]
    assert last.mismatch_median < 0.1 * first.mismatch_median and last.m_std > 0  # fits, ensemble not collapsed
    # any z in (0.125, 0.375) draws the same image as the truth: the posterior should sit around that interval
    assert 0.1 < np.median(res.m[:, 0]) < 0.55 and np.mean((res.m[:, 0] > 0) & (res.m[:, 0] < 0.7)) > 0.8
