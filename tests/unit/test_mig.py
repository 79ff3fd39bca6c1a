"""MIG (genlab.metrics.disentanglement): 1 for a code that copies the factors, ~0 for random or entangled codes."""

import numpy as np
import pytest

from genlab.data.sources.sprites import FACTOR_NAMES, sample_factors
from genlab.errors import GenlabError
from genlab.metrics.disentanglement import discretize, entropy, mig, mutual_information


def test_mutual_information_of_a_variable_with_itself_is_its_entropy():
    a = np.random.default_rng(0).integers(0, 7, 5000)
    assert mutual_information(a, a) == pytest.approx(entropy(a))
    assert entropy(np.arange(8)) == pytest.approx(np.log(8))
    assert mutual_information(a, np.zeros_like(a)) == pytest.approx(0.0, abs=1e-12)


def test_a_code_that_copies_the_factors_has_mig_one():
    factors = sample_factors(20000, seed=0)
    codes = factors.astype(float) * 0.37 - 2.0  # any affine copy, one dimension per factor
    extra = np.zeros((len(codes), 3))  # unused dimensions do not change the gap
    res = mig(np.hstack([codes[:, ::-1], extra]), factors, bins=40, factor_names=FACTOR_NAMES)
    assert res["mig"] > 0.97
    assert res["best_dim"] == {"shape": 4, "scale": 3, "orientation": 2, "pos_x": 1, "pos_y": 0}
    assert min(res["per_factor"].values()) > 0.96 and res["n"] == 20000


def test_random_and_duplicated_codes_score_near_zero():
    factors = sample_factors(20000, seed=1)
    noise = np.random.default_rng(2).normal(size=(20000, 10))
    assert mig(noise, factors)["mig"] < 0.02
    # every factor in two dimensions at once: each has full information but no gap
    twice = np.hstack([factors, factors]).astype(float)
    assert mig(twice, factors, bins=40)["mig"] == pytest.approx(0.0, abs=1e-9)


def test_a_mixed_code_scores_between():
    factors = sample_factors(20000, seed=3)
    rng = np.random.default_rng(4)
    copy = factors.astype(float) / np.array([2, 5, 39, 31, 31])
    mixed = copy @ (np.eye(5) + 0.5 * rng.normal(size=(5, 5)))
    score = mig(mixed, factors)["mig"]
    assert 0.0 < score < mig(copy, factors)["mig"]


def test_discretize_bins_and_bad_input():
    d = discretize(np.array([[0.0, 5.0], [0.5, 5.0], [1.0, 5.0]]), bins=2)
    assert d[:, 0].tolist() == [0, 1, 1] and d[:, 1].tolist() == [0, 0, 0]  # a constant dimension: one bin
    with pytest.raises(GenlabError, match="bins"):
        discretize(np.zeros((4, 2)), bins=1)
    with pytest.raises(GenlabError, match="NaN"):
        discretize(np.array([[np.nan, 1.0], [0.0, 1.0]]))
    with pytest.raises(GenlabError, match="at least 2"):
        mig(np.zeros((10, 1)), np.zeros((10, 1)))
    with pytest.raises(GenlabError, match="factors"):
        mig(np.zeros((10, 3)), np.zeros((9, 2)))
