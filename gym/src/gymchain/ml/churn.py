"""Churn model: LightGBM against a logistic-regression baseline on a time-based split, with SHAP and LIME.

Training rows are members active at several prediction dates whose label windows all end on or before the test
date; the test rows are members active at the test date, labelled from the window after it. Nothing of the test
window is ever seen in training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .features import FEATURES, churn_features, churn_labels

LGB_PARAMS = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 100,
              "feature_fraction": 0.9, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
              "verbose": -1, "num_threads": 1, "seed": 7, "deterministic": True}


@dataclass
class ChurnResult:
    booster: lgb.Booster
    baseline: object
    metrics: dict[str, dict[str, float]]
    calibration: dict[str, dict[str, list[float]]]
    train_dates: list[str]
    test_date: str
    horizon_days: int
    rows: dict[str, int] = field(default_factory=dict)
    test_frame: pd.DataFrame | None = None
    test_scores: np.ndarray | None = None


def dataset(tables: dict[str, pd.DataFrame], at: pd.Timestamp, horizon_days: int) -> tuple[pd.DataFrame, np.ndarray]:
    frame = churn_features(tables, at)
    return frame, churn_labels(tables, at, horizon_days, frame.index.to_numpy())


def split_dates(test_date: pd.Timestamp, horizon_days: int, n_train: int = 4, step_days: int = 28) -> list:
    """Training dates whose label windows end on or before ``test_date``."""
    last = pd.Timestamp(test_date) - pd.Timedelta(days=horizon_days)
    return [last - pd.Timedelta(days=step_days * k) for k in reversed(range(n_train))]


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p)),
            "brier": float(brier_score_loss(y, p)), "positive_rate": float(y.mean())}


def train_churn(tables: dict[str, pd.DataFrame], test_date: str | pd.Timestamp, horizon_days: int = 28,
                n_train: int = 4, rounds: int = 200) -> ChurnResult:
    test_date = pd.Timestamp(test_date)
    train_dates = split_dates(test_date, horizon_days, n_train)
    parts = [dataset(tables, d, horizon_days) for d in train_dates]
    x_train = pd.concat([f[FEATURES] for f, _ in parts], ignore_index=True)
    y_train = np.concatenate([y for _, y in parts])
    test_frame, y_test = dataset(tables, test_date, horizon_days)
    if y_train.sum() < 10 or y_test.sum() < 5 or (1 - y_train).sum() < 10:
        raise ValueError(f"too few churners to train ({int(y_train.sum())} train, {int(y_test.sum())} test); "
                         "use more members or a longer history")
    booster = lgb.train(LGB_PARAMS, lgb.Dataset(x_train.to_numpy(float), y_train, feature_name=FEATURES),
                        num_boost_round=rounds)
    baseline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    baseline.fit(x_train.to_numpy(float), y_train)
    x_test = test_frame[FEATURES].to_numpy(float)
    p_model = booster.predict(x_test)
    p_base = baseline.predict_proba(x_test)[:, 1]
    metrics = {"lightgbm": scores(y_test, p_model), "logistic_regression": scores(y_test, p_base),
               "training_base_rate": scores(y_test, np.full(len(y_test), y_train.mean()))}
    calibration = {name: dict(zip(("observed", "predicted"), (a.tolist() for a in
                                                                 calibration_curve(y_test, p, n_bins=10,
                                                                                   strategy="quantile")),
                                  strict=True))
                   for name, p in (("lightgbm", p_model), ("logistic_regression", p_base))}
    test_frame = test_frame.assign(churned=y_test)
    return ChurnResult(booster, baseline, metrics, calibration, [d.date().isoformat() for d in train_dates],
                       test_date.date().isoformat(), horizon_days,
                       {"train": len(y_train), "test": len(y_test), "train_positive": int(y_train.sum()),
                        "test_positive": int(y_test.sum())}, test_frame, p_model)


def contributions(booster: lgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    """Exact TreeSHAP values (log-odds) from LightGBM itself, one column per feature (bias dropped)."""
    return booster.predict(frame[FEATURES].to_numpy(float), pred_contrib=True)[:, :-1]


def top_reasons(booster: lgb.Booster, frame: pd.DataFrame, k: int = 3) -> list[list[dict]]:
    """Per row, the ``k`` features pushing the risk up the most (SHAP value, log-odds), with their values."""
    contrib = contributions(booster, frame)
    reasons = []
    for row, values in zip(frame[FEATURES].itertuples(index=False), contrib, strict=True):
        order = np.argsort(-values)[:k]
        reasons.append([{"feature": FEATURES[i], "value": float(row[i]), "shap": round(float(values[i]), 4)}
                        for i in order])
    return reasons


def shap_global(booster: lgb.Booster, frame: pd.DataFrame) -> dict[str, float]:
    """Mean |SHAP| per feature with the shap library's TreeExplainer, highest first."""
    import warnings

    import shap

    with warnings.catch_warnings():  # shap notes its LightGBM output format changed; we handle both below
        warnings.simplefilter("ignore", UserWarning)
        values = shap.TreeExplainer(booster).shap_values(frame[FEATURES].to_numpy(float))
    values = values[1] if isinstance(values, list) else values
    importance = np.abs(values).mean(axis=0)
    return dict(sorted(zip(FEATURES, importance.round(5).tolist(), strict=True), key=lambda kv: -kv[1]))


def lime_explanations(booster: lgb.Booster, train: pd.DataFrame, rows: pd.DataFrame, k: int = 5,
                      samples: int = 1000, seed: int = 7) -> list[list[tuple[str, float]]]:
    """LIME's local linear weights for the same rows (feature condition, weight)."""
    from lime.lime_tabular import LimeTabularExplainer

    def predict(x: np.ndarray) -> np.ndarray:
        p = booster.predict(x)
        return np.column_stack([1 - p, p])

    explainer = LimeTabularExplainer(train[FEATURES].to_numpy(float), feature_names=FEATURES,
                                     class_names=["stays", "churns"], discretize_continuous=True, random_state=seed)
    return [explainer.explain_instance(r, predict, num_features=k, num_samples=samples).as_list()
            for r in rows[FEATURES].to_numpy(float)]


def driver_of(feature: str) -> str | None:
    from .simulator import TRUE_DRIVERS

    return next((d for d, feats in TRUE_DRIVERS.items() if feature in feats), None)
