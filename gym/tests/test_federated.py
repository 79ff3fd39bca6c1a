"""Federated churn training: units keep their rows, only aggregates travel, and the result matches central training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gymchain.ml.churn import split_dates
from gymchain.ml.features import FEATURES
from gymchain.ml.federated import (
    FedConfig,
    Moments,
    UnitClient,
    Update,
    central,
    compare,
    fedavg,
    scaling,
    split_by_unit,
)
from gymchain.ml.loaders import validate_all
from gymchain.ml.simulator import SimConfig, simulate

TEST_DATE = "2026-03-30"


@pytest.fixture(scope="module")
def tables():
    return validate_all(simulate(SimConfig(members=2400, units=3, weeks=70, seed=11)))


def test_each_store_holds_only_its_own_members_rows(tables):
    stores = split_by_unit(tables)
    assert sorted(stores) == [1, 2, 3]
    seen = set()
    for unit_id, store in stores.items():
        ids = set(store["members"].member_id)
        assert (store["members"].unit_id == unit_id).all() and not ids & seen
        seen |= ids
        for name in ("contracts", "visits", "bookings"):
            assert set(store[name].member_id) <= ids
        assert set(store["contract_prices"].contract_id) <= set(store["contracts"].contract_id)
    assert seen == set(tables["members"].member_id)
    assert sum(len(s["visits"]) for s in stores.values()) == len(tables["visits"])


def test_only_aggregates_leave_a_unit(tables):
    store = split_by_unit(tables)[1]
    config = FedConfig()
    client = UnitClient(1, store, split_dates(pd.Timestamp(TEST_DATE), 28, 4), config)
    moments = client.moments()
    assert isinstance(moments, Moments) and moments.n == client.n > 100
    assert moments.sums.shape == moments.squares.shape == (len(FEATURES),)
    client.set_scaling(*scaling([moments]))
    update = client.local_update(np.zeros(len(FEATURES) + 1))
    assert isinstance(update, Update) and update.weights.shape == (len(FEATURES) + 1,) and update.n == client.n
    assert not np.allclose(update.weights, 0)


def test_scaling_from_moments_equals_the_pooled_statistics():
    rng = np.random.default_rng(0)
    parts = [rng.normal(3, 2, size=(n, 4)) for n in (50, 120, 7)]
    moments = [Moments(len(p), p.sum(axis=0), (p ** 2).sum(axis=0)) for p in parts]
    mean, std = scaling(moments)
    pooled = np.vstack(parts)
    assert np.allclose(mean, pooled.mean(axis=0)) and np.allclose(std, pooled.std(axis=0))


def test_one_unit_fedavg_is_exactly_central_gradient_descent(tables):
    store = split_by_unit(tables)[2]
    config = FedConfig(rounds=6, local_steps=3)
    dates = split_dates(pd.Timestamp(TEST_DATE), 28, 4)
    federated = fedavg([UnitClient(2, store, dates, config)], config)
    pooled = central([UnitClient(2, store, dates, config)], config)
    assert np.allclose(federated.weights, pooled.weights)
    assert federated.history[-1] < federated.history[0]


def test_federated_matches_central_on_the_same_held_out_date(tables):
    result = compare(tables, TEST_DATE, FedConfig(rounds=30))
    metrics = result["metrics"]
    fed, cen, base = (metrics[k]["roc_auc"] for k in ("federated_fedavg", "central_same_model", "training_base_rate"))
    assert result["n_test"] > 1000 and result["n_test_positive"] >= 30
    assert abs(fed - cen) < 0.02, (fed, cen)
    assert fed > base + 0.1
    assert metrics["federated_fedavg"]["pr_auc"] > 1.5 * metrics["training_base_rate"]["pr_auc"]
    assert result["federated_loss_by_round"][-1] < result["federated_loss_by_round"][0]
    assert set(result["per_unit_roc_auc"]) <= {"1", "2", "3"}
    assert sum(u["test_rows"] for u in result["units"].values()) == result["n_test"]


def test_a_unit_without_churners_is_refused_in_one_line(tables):
    few = {name: frame.copy() for name, frame in tables.items()}
    unit3 = set(few["members"].member_id[few["members"].unit_id == 3])
    contracts = few["contracts"]
    few["contracts"] = contracts.assign(cancelled_on=contracts.cancelled_on.where(~contracts.member_id.isin(unit3)))
    with pytest.raises(ValueError, match="fewer than 5 churners"):
        compare(few, TEST_DATE, FedConfig(rounds=2))
