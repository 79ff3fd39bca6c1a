"""Churn features at a prediction date, leakage-free by construction.

``snapshot`` cuts every table to what was known strictly before the prediction date (later events removed, a
cancellation on or after the date blanked); ``churn_features`` reads only that snapshot. ``churn_labels`` is the
one place that looks past the date: churned within the next ``horizon_days``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ["tenure_days", "contract_annual", "monthly_price", "price_change_pct", "price_increase_56d",
            "joined_in_campaign", "visits_7d", "visits_28d", "visits_prev_28d", "visits_84d", "visits_baseline_28d", "visit_trend",
            "days_since_last_visit", "bookings_28d", "waitlisted_28d", "waitlist_share_28d"]
DAY = np.timedelta64(1, "D")


def snapshot(tables: dict[str, pd.DataFrame], at: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Everything known strictly before ``at``."""
    at = pd.Timestamp(at)
    contracts = tables["contracts"][tables["contracts"].starts_on < at].copy()
    contracts.loc[contracts.cancelled_on >= at, "cancelled_on"] = pd.NaT
    prices = tables["contract_prices"]
    return {
        "members": tables["members"][tables["members"].joined_on < at],
        "contracts": contracts,
        "contract_prices": prices[(prices.effective_from < at) & prices.contract_id.isin(contracts.contract_id)],
        "visits": tables["visits"][tables["visits"].visited_at < at],
        "bookings": tables["bookings"][tables["bookings"].class_starts_at < at],
    }


def active_members(snap: dict[str, pd.DataFrame]) -> np.ndarray:
    """Members with a contract running at the snapshot date (sorted ids)."""
    contracts = snap["contracts"]
    return np.unique(contracts.member_id[contracts.cancelled_on.isna()].to_numpy())


def churn_features(tables: dict[str, pd.DataFrame], at: pd.Timestamp,
                   member_ids: np.ndarray | None = None) -> pd.DataFrame:
    """One row per member active at ``at`` (or the given members among them), indexed by member_id."""
    at = pd.Timestamp(at)
    snap = snapshot(tables, at)
    ids = active_members(snap)
    if member_ids is not None:
        ids = np.intersect1d(ids, np.asarray(member_ids))
    out = pd.DataFrame(index=pd.Index(ids, name="member_id"))
    contracts = snap["contracts"][snap["contracts"].member_id.isin(ids)].sort_values("starts_on")
    first = contracts.groupby("member_id").first()
    current = contracts[contracts.cancelled_on.isna()].groupby("member_id").last()
    out["unit_id"] = current.unit_id.reindex(ids).to_numpy()
    out["tenure_days"] = ((at - first.starts_on.reindex(ids)) / DAY).to_numpy()
    out["contract_annual"] = (current.contract_type.reindex(ids) == "annual").astype(float).to_numpy()
    out["joined_in_campaign"] = first.campaign.reindex(ids).notna().astype(float).to_numpy()
    _price_features(out, snap["contract_prices"], contracts, at)
    _visit_features(out, snap["visits"], at)
    _booking_features(out, snap["bookings"], at)
    return out


def _price_features(out: pd.DataFrame, prices: pd.DataFrame, contracts: pd.DataFrame, at: pd.Timestamp) -> None:
    rows = prices.merge(contracts[["contract_id", "member_id"]], on="contract_id").sort_values("effective_from")
    last_two = rows.groupby("member_id").tail(2)
    last = last_two.groupby("member_id").last()
    before = last_two.groupby("member_id").first()
    has_previous = last_two.groupby("member_id").size() > 1
    change = np.where(has_previous, last.monthly_price / before.monthly_price - 1, 0.0)
    change = pd.Series(change, index=last.index)
    recent = (at - last.effective_from) / DAY <= 56
    out["monthly_price"] = last.monthly_price.reindex(out.index).to_numpy()
    out["price_change_pct"] = change.reindex(out.index).fillna(0).to_numpy()
    out["price_increase_56d"] = ((change > 0) & recent).reindex(out.index).fillna(False).astype(float).to_numpy()


def _window_counts(ids: np.ndarray, member: np.ndarray, age_days: np.ndarray, low: float, high: float) -> np.ndarray:
    """Events per member with ``low <= age < high`` days before the date."""
    inside = (age_days >= low) & (age_days < high)
    pos = np.searchsorted(ids, member[inside])
    known = (pos < ids.size) & (ids[np.minimum(pos, ids.size - 1)] == member[inside])
    return np.bincount(pos[known], minlength=ids.size).astype(float)


def _visit_features(out: pd.DataFrame, visits: pd.DataFrame, at: pd.Timestamp) -> None:
    ids = out.index.to_numpy()
    recent = visits[visits.visited_at >= at - pd.Timedelta(days=400)]
    member = recent.member_id.to_numpy()
    age = ((at - recent.visited_at) / DAY).to_numpy()
    for name, low, high in (("visits_7d", 0, 7), ("visits_28d", 0, 28), ("visits_prev_28d", 28, 56),
                            ("visits_84d", 0, 84)):
        out[name] = _window_counts(ids, member, age, low, high)
    # the member's own usual level: visits per 28 days between 8 weeks and ~6 months ago (tenure permitting)
    span = np.clip(out.tenure_days.to_numpy() - 56, 0, 112)
    out["visits_baseline_28d"] = np.where(span >= 14, _window_counts(ids, member, age, 56, 168) * 28 /
                                          np.maximum(span, 1), out.visits_prev_28d)
    out["visit_trend"] = (out.visits_28d + 1) / (out.visits_baseline_28d + 1)
    last = pd.Series(age).groupby(member).min().reindex(ids).to_numpy()
    out["days_since_last_visit"] = np.where(np.isnan(last), np.minimum(out.tenure_days, 400), last)


def _booking_features(out: pd.DataFrame, bookings: pd.DataFrame, at: pd.Timestamp) -> None:
    ids = out.index.to_numpy()
    recent = bookings[bookings.class_starts_at >= at - pd.Timedelta(days=28)]
    age = ((at - recent.class_starts_at) / DAY).to_numpy()
    member = recent.member_id.to_numpy()
    out["bookings_28d"] = _window_counts(ids, member, age, 0, 28)
    waited = (recent.status == "waitlisted").to_numpy()
    out["waitlisted_28d"] = _window_counts(ids, member[waited], age[waited], 0, 28)
    out["waitlist_share_28d"] = out.waitlisted_28d / np.maximum(out.bookings_28d, 1)


def churn_labels(tables: dict[str, pd.DataFrame], at: pd.Timestamp, horizon_days: int,
                 member_ids: np.ndarray) -> np.ndarray:
    """1 if the member's last contract stops within ``(at, at + horizon_days]`` (no contract runs after it)."""
    at = pd.Timestamp(at)
    contracts = tables["contracts"][tables["contracts"].member_id.isin(member_ids)]
    open_ended = contracts.cancelled_on.isna().groupby(contracts.member_id).any()
    stop = contracts.groupby("member_id").cancelled_on.max().where(~open_ended)
    stop = stop.reindex(member_ids)
    return ((stop > at) & (stop <= at + pd.Timedelta(days=horizon_days))).astype(int).to_numpy()
