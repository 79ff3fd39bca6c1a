"""Federated training of the churn model across units: member rows never leave their unit's store.

Each unit is a :class:`UnitClient` holding its own tables (its members, their contracts, visits and bookings). It
computes the churn features and labels locally (:mod:`gymchain.ml.features`, the same training dates as central
training) and answers the coordinator with aggregates only:

1. ``moments()``: row count, per-feature sums and sums of squares (the coordinator derives one standardisation
   for everybody: no unit reveals a row);
2. ``local_update(w)``: FedAvg (McMahan et al., 2017) - start from the global logistic-regression weights, take
   ``local_steps`` gradient steps on the unit's own rows, return the new weights and the row count.

The coordinator averages the weights by row count each round. The model is an L2-regularised logistic
regression on the standardised features (log-transformed counts), the same family as the central
``logistic_regression`` baseline of :func:`gymchain.ml.churn.train_churn`. :func:`compare` trains it federated,
centrally on pooled rows (same optimiser and step count), and per unit alone, and scores all three on the same
held-out date. Not included: secure aggregation or differential privacy of the updates (the weights of a unit
with very few members can leak about them; production would add both).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .churn import dataset, scores, split_dates
from .features import FEATURES

MEMBER_TABLES = ("members", "contracts", "visits", "bookings", "service_purchases", "truth")
SHARED_TABLES = ("units", "plans", "campaigns")


@dataclass(frozen=True)
class Moments:
    n: int
    sums: np.ndarray
    squares: np.ndarray


@dataclass(frozen=True)
class Update:
    """What a unit sends back after a round: weights and its row count (nothing per member)."""
    weights: np.ndarray
    n: int


@dataclass
class FedConfig:
    rounds: int = 40
    local_steps: int = 5
    learning_rate: float = 0.5
    l2: float = 1e-3
    horizon_days: int = 28
    n_train: int = 4


def split_by_unit(tables: dict[str, pd.DataFrame]) -> dict[int, dict[str, pd.DataFrame]]:
    """Each unit's own store: the rows of the members whose home unit it is (plus the shared catalogues)."""
    home = tables["members"].set_index("member_id").unit_id
    stores = {}
    for unit_id in sorted(home.unique()):
        ids = home.index[home == unit_id]
        store = {name: tables[name] for name in SHARED_TABLES if name in tables}
        for name in MEMBER_TABLES:
            if name in tables:
                store[name] = tables[name][tables[name].member_id.isin(ids)].reset_index(drop=True)
        contract_ids = store["contracts"].contract_id
        store["contract_prices"] = tables["contract_prices"][tables["contract_prices"].contract_id.isin(contract_ids)]
        stores[int(unit_id)] = store
    return stores


def transform(x: np.ndarray) -> np.ndarray:
    """Signed log1p: counts and days spread over orders of magnitude; logistic regression prefers them compressed."""
    return np.sign(x) * np.log1p(np.abs(x))


class UnitClient:
    """One unit's side: holds its rows, answers with aggregates and weight updates only."""

    def __init__(self, unit_id: int, tables: dict[str, pd.DataFrame], train_dates: list, config: FedConfig):
        self.unit_id = unit_id
        parts = [dataset(tables, d, config.horizon_days) for d in train_dates]
        x = pd.concat([f[FEATURES] for f, _ in parts], ignore_index=True).to_numpy(float)
        self._x = transform(np.nan_to_num(x))
        self._y = np.concatenate([y for _, y in parts]).astype(float)
        self._config = config
        self._z: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self._y)

    def moments(self) -> Moments:
        return Moments(self.n, self._x.sum(axis=0), (self._x ** 2).sum(axis=0))

    def set_scaling(self, mean: np.ndarray, std: np.ndarray) -> None:
        self._z = np.hstack([(self._x - mean) / std, np.ones((self.n, 1))])

    def local_update(self, weights: np.ndarray) -> Update:
        w = weights.copy()
        for _ in range(self._config.local_steps):
            w -= self._config.learning_rate * gradient(w, self._z, self._y, self._config.l2)
        return Update(w, self.n)


def gradient(w: np.ndarray, z: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    p = 1 / (1 + np.exp(-np.clip(z @ w, -30, 30)))
    reg = l2 * np.r_[w[:-1], 0.0]  # the intercept is not shrunk
    return z.T @ (p - y) / len(y) + reg


def scaling(moments: list[Moments]) -> tuple[np.ndarray, np.ndarray]:
    """The pooled mean and standard deviation from the units' moments (the coordinator never sees rows)."""
    n = sum(m.n for m in moments)
    mean = sum(m.sums for m in moments) / n
    var = sum(m.squares for m in moments) / n - mean ** 2
    return mean, np.sqrt(np.maximum(var, 1e-12))


@dataclass
class FedModel:
    weights: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    history: list[float] = field(default_factory=list)  # weighted training log-loss per round

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        z = (transform(np.nan_to_num(frame[FEATURES].to_numpy(float))) - self.mean) / self.std
        return 1 / (1 + np.exp(-np.clip(z @ self.weights[:-1] + self.weights[-1], -30, 30)))


def fedavg(clients: list[UnitClient], config: FedConfig) -> FedModel:
    """FedAvg over the units: each round every unit updates the global weights locally; average by rows."""
    mean, std = scaling([c.moments() for c in clients])
    for client in clients:
        client.set_scaling(mean, std)
    weights = np.zeros(len(FEATURES) + 1)
    model = FedModel(weights, mean, std)
    total = sum(c.n for c in clients)
    for _ in range(config.rounds):
        updates = [c.local_update(model.weights) for c in clients]
        model.weights = sum(u.weights * u.n for u in updates) / total
        model.history.append(sum(_log_loss(model.weights, c._z, c._y) * c.n for c in clients) / total)
    return model


def _log_loss(w: np.ndarray, z: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(1 / (1 + np.exp(-np.clip(z @ w, -30, 30))), 1e-12, 1 - 1e-12)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def central(clients: list[UnitClient], config: FedConfig) -> FedModel:
    """The same model and optimiser on the pooled rows (what federation avoids), the same number of steps."""
    pooled = UnitClient.__new__(UnitClient)
    pooled._x = np.vstack([c._x for c in clients])
    pooled._y = np.concatenate([c._y for c in clients])
    pooled._config = FedConfig(**{**config.__dict__, "local_steps": config.rounds * config.local_steps})
    pooled.unit_id = 0
    mean, std = scaling([pooled.moments()])
    pooled.set_scaling(mean, std)
    model = FedModel(pooled.local_update(np.zeros(len(FEATURES) + 1)).weights, mean, std)
    model.history.append(_log_loss(model.weights, pooled._z, pooled._y))
    return model


def compare(tables: dict[str, pd.DataFrame], test_date: str | pd.Timestamp,
            config: FedConfig | None = None) -> dict:
    """Federated vs central vs each unit alone, all scored on the same held-out date (ROC AUC, PR AUC, n)."""
    config = config or FedConfig()
    test_date = pd.Timestamp(test_date)
    train_dates = split_dates(test_date, config.horizon_days, config.n_train)
    stores = split_by_unit(tables)
    clients = [UnitClient(u, store, train_dates, config) for u, store in stores.items()]
    if any(c._y.sum() < 5 for c in clients):
        raise ValueError("a unit has fewer than 5 churners in its training rows; use more members or history")
    federated, pooled = fedavg(clients, config), central(clients, config)
    test_parts = {u: dataset(store, test_date, config.horizon_days) for u, store in stores.items()}
    frame = pd.concat([f for f, _ in test_parts.values()])
    y = np.concatenate([y for _, y in test_parts.values()])
    local_scores = np.concatenate([central([c], config).predict(test_parts[c.unit_id][0]) for c in clients])
    result = {
        "test_date": test_date.date().isoformat(), "train_dates": [d.date().isoformat() for d in train_dates],
        "units": {str(c.unit_id): {"train_rows": c.n, "train_positive": int(c._y.sum()),
                                   "test_rows": len(test_parts[c.unit_id][1]),
                                   "test_positive": int(test_parts[c.unit_id][1].sum())} for c in clients},
        "n_test": len(y), "n_test_positive": int(y.sum()),
        "n_train": int(sum(c.n for c in clients)),
        "config": dict(config.__dict__),
        "metrics": {"federated_fedavg": scores(y, federated.predict(frame)),
                    "central_same_model": scores(y, pooled.predict(frame)),
                    "each_unit_alone": scores(y, local_scores),
                    "training_base_rate": scores(y, np.full(len(y), sum(c._y.sum() for c in clients)
                                                            / sum(c.n for c in clients)))},
        "per_unit_roc_auc": {}, "federated_loss_by_round": [round(v, 5) for v in federated.history],
        "bytes_per_round": int(2 * len(clients) * (len(FEATURES) + 1) * 8),
    }
    offset = 0
    p_fed, p_central = federated.predict(frame), pooled.predict(frame)
    for client in clients:
        n = len(test_parts[client.unit_id][1])
        yu = y[offset:offset + n]
        if 0 < yu.sum() < n:
            result["per_unit_roc_auc"][str(client.unit_id)] = {
                "federated": scores(yu, p_fed[offset:offset + n])["roc_auc"],
                "central": scores(yu, p_central[offset:offset + n])["roc_auc"],
                "alone": scores(yu, local_scores[offset:offset + n])["roc_auc"], "n": int(n),
                "positive": int(yu.sum())}
        offset += n
    return result
