"""Churn: leakage-free features, time-based evaluation against the baseline, explanations that find the
simulator's true drivers, and model save/load without pickle."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gymchain.ml.churn import contributions, driver_of, lime_explanations, shap_global, top_reasons, train_churn
from gymchain.ml.features import FEATURES, churn_features, churn_labels
from gymchain.ml.loaders import validate_all
from gymchain.ml.registry import ModelFileError, load_model, save_model
from gymchain.ml.simulator import SimConfig, simulate

TEST_DATE = "2026-05-04"


@pytest.fixture(scope="module")
def tables():
    return validate_all(simulate(SimConfig(members=4000, seed=5)))


@pytest.fixture(scope="module")
def result(tables):
    return train_churn(tables, TEST_DATE, horizon_days=28)


def scrambled_after(tables: dict[str, pd.DataFrame], at: pd.Timestamp, seed: int) -> dict[str, pd.DataFrame]:
    """The same history before ``at``; everything from ``at`` on removed, rewritten or invented."""
    rng = np.random.default_rng(seed)
    out = {k: v.copy() for k, v in tables.items()}
    visits = out["visits"][out["visits"].visited_at < at]
    fake = pd.DataFrame({"member_id": rng.choice(out["members"].member_id, 5000), "unit_id": 1,
                         "visited_at": at + pd.to_timedelta(rng.integers(0, 86400 * 60, 5000), unit="s")})
    out["visits"] = pd.concat([visits, fake], ignore_index=True)
    bookings = out["bookings"]
    late = bookings.class_starts_at >= at
    out["bookings"].loc[late, "status"] = "waitlisted"
    contracts = out["contracts"]
    later = contracts.cancelled_on >= at
    contracts.loc[later, "cancelled_on"] = at + pd.Timedelta(days=1)
    contracts.loc[contracts.cancelled_on.isna() & (rng.random(len(contracts)) < 0.3), "cancelled_on"] = at
    prices = out["contract_prices"]
    out["contract_prices"] = pd.concat([prices, prices.assign(effective_from=at, monthly_price=999.0)],
                                       ignore_index=True)
    return out


@pytest.mark.parametrize("at", ["2025-11-03", "2026-02-16", TEST_DATE])
def test_no_event_on_or_after_the_prediction_date_leaks_in(tables, at):
    at = pd.Timestamp(at)
    honest = churn_features(tables, at)
    tampered = churn_features(scrambled_after(tables, at, seed=1), at)
    pd.testing.assert_frame_equal(honest, tampered)
    one_day_later = churn_features(tables, at + pd.Timedelta(days=7))
    assert not honest[FEATURES].equals(one_day_later.reindex(honest.index)[FEATURES])  # the date does matter


def test_features_count_only_the_windows_before_the_date(tables):
    at = pd.Timestamp(TEST_DATE)
    frame = churn_features(tables, at)
    member = int(frame.index[frame.visits_28d > 3][0])
    visits = tables["visits"][tables["visits"].member_id == member].visited_at
    assert frame.loc[member, "visits_28d"] == ((visits < at) & (visits >= at - pd.Timedelta(days=28))).sum()
    assert frame.loc[member, "visits_7d"] == ((visits < at) & (visits >= at - pd.Timedelta(days=7))).sum()


def test_labels_are_churn_within_the_horizon(tables):
    at = pd.Timestamp(TEST_DATE)
    ids = churn_features(tables, at).index.to_numpy()
    labels = churn_labels(tables, at, 28, ids)
    stop = tables["contracts"].set_index("member_id").cancelled_on.reindex(ids)
    expected = (stop > at) & (stop <= at + pd.Timedelta(days=28))
    assert (labels == expected.to_numpy()).all() and 0 < labels.sum() < len(labels)


def test_time_split_and_metrics_beside_the_baseline(result):
    assert max(result.train_dates) <= (pd.Timestamp(TEST_DATE) - pd.Timedelta(days=28)).date().isoformat()
    for name in ("lightgbm", "logistic_regression"):
        m = result.metrics[name]
        assert 0.6 < m["roc_auc"] <= 1 and m["pr_auc"] > m["positive_rate"]
        assert m["brier"] < result.metrics["training_base_rate"]["brier"]  # beats the constant training rate
        cal = result.calibration[name]
        assert len(cal["observed"]) == len(cal["predicted"]) >= 5


def test_top_shap_drivers_are_the_simulators_true_drivers(tables, result):
    sample = result.test_frame.sample(1500, random_state=0)
    importance = shap_global(result.booster, sample)
    by_driver: dict[str, float] = {}
    for feature, value in importance.items():
        by_driver[driver_of(feature)] = by_driver.get(driver_of(feature), 0) + value
    ranked = sorted(by_driver, key=lambda d: -by_driver[d])
    assert {"engagement_decline", "annual_contract"} <= set(ranked[:3])
    # the exact TreeSHAP LightGBM returns agrees with the shap library
    ours = np.abs(contributions(result.booster, sample)).mean(axis=0)
    assert np.allclose(ours, [importance[f] for f in FEATURES], atol=1e-3)


def test_a_driver_switched_off_in_the_simulator_loses_its_importance(result):
    without = validate_all(simulate(SimConfig(members=4000, seed=5, effects=(("annual_contract", 0.0),))))
    other = train_churn(without, TEST_DATE, horizon_days=28)
    with_effect = shap_global(result.booster, result.test_frame.head(1500))["contract_annual"]
    without_effect = shap_global(other.booster, other.test_frame.head(1500))["contract_annual"]
    assert without_effect < 0.4 * with_effect


def test_per_member_reasons_and_lime_for_the_same_members(result):
    riskiest = result.test_frame.iloc[np.argsort(-result.test_scores)[:3]]
    reasons = top_reasons(result.booster, riskiest, k=3)
    assert all(len(r) == 3 and r[0]["shap"] >= r[1]["shap"] >= r[2]["shap"] > 0 for r in reasons)
    lime = lime_explanations(result.booster, result.test_frame.head(2000), riskiest, k=5, samples=500)
    assert len(lime) == 3
    for lime_top in lime:
        named = [next(f for f in sorted(FEATURES, key=len, reverse=True) if f in cond) for cond, _ in lime_top]
        assert len(named) == 5 and set(named) <= set(FEATURES)
        assert any(w != 0 for _, w in lime_top)


def test_save_and_load_give_the_same_predictions(result, tmp_path):
    save_model(result, tmp_path / "m")
    booster, metadata = load_model(tmp_path / "m")
    x = result.test_frame[FEATURES].to_numpy(float)
    assert np.allclose(booster.predict(x), result.booster.predict(x))
    assert metadata["metrics"] == json.loads(json.dumps(result.metrics)) and metadata["features"] == FEATURES
    assert not list((tmp_path / "m").glob("*.pkl"))


def test_bad_model_files_are_named(result, tmp_path):
    save_model(result, tmp_path / "m")
    (tmp_path / "m" / "model.txt").write_bytes(b"\x80\x04\x95 pickle bytes")
    with pytest.raises(ModelFileError, match="model.txt"):
        load_model(tmp_path / "m")
    save_model(result, tmp_path / "m")
    (tmp_path / "m" / "metadata.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="metadata.json: not valid JSON"):
        load_model(tmp_path / "m")
    with pytest.raises(ModelFileError, match="missing"):
        load_model(tmp_path / "nothing")
