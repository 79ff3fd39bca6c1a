"""Behavioural segmentation: k-means (k chosen by silhouette, stability across seeds reported) and HDBSCAN.

Features per member with a running contract at a date, from the last 84 days before it (``snapshot`` again, so
nothing later is read): visits per week, class bookings per week, class share, mean visit hour, weekend share,
days since last visit, tenure, monthly price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .features import churn_features, snapshot

SEGMENT_FEATURES = ["visits_per_week", "classes_per_week", "class_share", "mean_hour", "weekend_share",
                    "days_since_last_visit", "tenure_days", "monthly_price"]
WINDOW_DAYS = 84


def segment_features(tables: dict[str, pd.DataFrame], at: pd.Timestamp) -> pd.DataFrame:
    at = pd.Timestamp(at)
    base = churn_features(tables, at)
    snap = snapshot(tables, at)
    visits = snap["visits"][snap["visits"].visited_at >= at - pd.Timedelta(days=WINDOW_DAYS)]
    visits = visits[visits.member_id.isin(base.index)]
    bookings = snap["bookings"][(snap["bookings"].class_starts_at >= at - pd.Timedelta(days=WINDOW_DAYS)) &
                                snap["bookings"].member_id.isin(base.index)]
    weeks = np.clip(base.tenure_days.to_numpy(), 7, WINDOW_DAYS) / 7
    out = pd.DataFrame(index=base.index)
    out["visits_per_week"] = base.visits_84d.to_numpy() / weeks
    out["classes_per_week"] = bookings.groupby("member_id").size().reindex(base.index).fillna(0).to_numpy() / weeks
    out["class_share"] = out.classes_per_week / (out.classes_per_week + out.visits_per_week).clip(lower=1e-9)
    hours = visits.visited_at.dt.hour + visits.visited_at.dt.minute / 60
    out["mean_hour"] = hours.groupby(visits.member_id).mean().reindex(base.index).to_numpy()
    weekend = (visits.visited_at.dt.day_of_week >= 5).groupby(visits.member_id).mean()
    out["weekend_share"] = weekend.reindex(base.index).to_numpy()
    out["days_since_last_visit"] = base.days_since_last_visit
    out["tenure_days"] = base.tenure_days
    out["monthly_price"] = base.monthly_price
    # members without a visit in the window: typical hour and weekend share (they are told apart by frequency)
    out["mean_hour"] = out.mean_hour.fillna(out.mean_hour.median())
    out["weekend_share"] = out.weekend_share.fillna(out.weekend_share.median())
    return out


def scaled(frame: pd.DataFrame) -> np.ndarray:
    x = frame[SEGMENT_FEATURES].to_numpy(float).copy()
    for i, name in enumerate(SEGMENT_FEATURES):
        if name in {"visits_per_week", "classes_per_week", "days_since_last_visit", "tenure_days"}:
            x[:, i] = np.log1p(x[:, i])
    return StandardScaler().fit_transform(x)


@dataclass
class Segmentation:
    k: int
    labels: np.ndarray
    silhouette_by_k: dict[int, float]
    stability_by_k: dict[int, float]
    density_labels: np.ndarray  # HDBSCAN labels (-1 = noise) of the rows in density_rows
    density_rows: np.ndarray
    density_noise_share: float
    profiles: pd.DataFrame


def choose_k(x: np.ndarray, ks: range = range(2, 9), seeds: int = 3,
             sample: int = 4000, seed: int = 0) -> tuple[dict[int, float], dict[int, float]]:
    """Silhouette (on a sample) and stability (mean ARI between fits with different seeds on half-samples)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), size=min(sample, len(x)), replace=False)
    silhouette, stability = {}, {}
    for k in ks:
        labels = KMeans(k, n_init=4, random_state=seed).fit_predict(x)
        silhouette[k] = float(silhouette_score(x[pick], labels[pick]))
        fits = []
        for s in range(seeds):
            half = rng.choice(len(x), size=len(x) // 2, replace=False)
            model = KMeans(k, n_init=2, random_state=100 + s).fit(x[half])
            fits.append(model.predict(x))
        stability[k] = float(np.mean([adjusted_rand_score(a, b) for i, a in enumerate(fits) for b in fits[i + 1:]]))
    return silhouette, stability


def segment(tables: dict[str, pd.DataFrame], at: pd.Timestamp, ks: range = range(2, 9), seed: int = 0,
            density_sample: int = 8000) -> tuple[pd.DataFrame, Segmentation]:
    """k-means on every member (k by silhouette) and HDBSCAN on up to ``density_sample`` of them."""
    frame = segment_features(tables, at)
    x = scaled(frame)
    with threadpool_limits(1):  # OpenMP spinning on a shared 2-core machine costs far more than it gains
        silhouette, stability = choose_k(x, ks, seed=seed)
        k = max(silhouette, key=lambda kk: silhouette[kk])
        labels = KMeans(k, n_init=8, random_state=seed).fit_predict(x)
        rows = np.sort(np.random.default_rng(seed).choice(len(x), size=min(density_sample, len(x)), replace=False))
        density = HDBSCAN(min_cluster_size=max(25, len(rows) // 50), min_samples=10,
                          copy=True).fit_predict(x[rows])
    profiles = frame.assign(segment=labels).groupby("segment")[SEGMENT_FEATURES].mean().round(2)
    profiles.insert(0, "members", np.bincount(labels))
    return frame, Segmentation(k, labels, silhouette, stability, density, rows, float((density < 0).mean()),
                               profiles)


def agreement(truth: pd.DataFrame, frame: pd.DataFrame, labels: np.ndarray, rows: np.ndarray | None = None) -> float:
    """Adjusted Rand index between cluster labels (of ``rows`` of ``frame``, default all) and the simulator's true
    segments; HDBSCAN's noise points count as one more cluster."""
    index = frame.index if rows is None else frame.index[rows]
    true = truth.set_index("member_id").segment.reindex(index).to_numpy()
    return float(adjusted_rand_score(true, labels))
