"""The gym-chain simulator's documented ground truth shows in its tables; the CSV loader round-trips them and names
bad values."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from gymchain.ml.loaders import load_csv_dir, validate_all, write_csv_dir
from gymchain.ml.schema import SCHEMA, SchemaError
from gymchain.ml.simulator import SimConfig, holidays, simulate

CONFIG = SimConfig(members=3000, seed=11)


@pytest.fixture(scope="module")
def tables():
    return simulate(CONFIG)


def test_same_seed_same_chain_other_seed_other_chain(tables):
    again = simulate(CONFIG)
    for name in SCHEMA:
        pd.testing.assert_frame_equal(tables[name], again[name])
    other = simulate(SimConfig(members=3000, seed=12))
    assert tables["visits"].shape != other["visits"].shape or not tables["visits"].equals(other["visits"])


def test_tables_follow_the_schema_and_events_respect_membership(tables):
    valid = validate_all(tables)
    visits = valid["visits"].merge(valid["contracts"][["member_id", "starts_on", "cancelled_on"]], on="member_id")
    assert (visits.visited_at >= visits.starts_on).all()
    assert (visits.cancelled_on.isna() | (visits.visited_at < visits.cancelled_on)).all()
    assert set(valid["bookings"].status) == {"booked", "waitlisted"}


def test_segments_churn_as_documented(tables):
    truth = tables["truth"].assign(churned=tables["truth"].churned_on.notna())
    rate = truth.groupby("segment").churned.mean()
    assert rate["resolution"] > rate["casual"] > rate["class_lover"] > rate["regular"]


def test_annual_contracts_churn_less(tables):
    churned = tables["contracts"].cancelled_on.notna()
    by_type = churned.groupby(tables["contracts"].contract_type).mean()
    assert by_type["annual"] < 0.7 * by_type["monthly"]


def test_weekly_pattern_and_holidays(tables):
    visits = tables["visits"].visited_at
    per_weekday = visits.dt.day_of_week.value_counts()
    assert per_weekday[0] > 2 * per_weekday[6]
    days = visits.dt.normalize().value_counts()
    holiday = pd.Timestamp(date(2025, 4, 21))  # Tiradentes, a Monday
    other_mondays = days[[d for d in days.index if d.day_of_week == 0 and d.date() not in holidays(d.year)]]
    assert days.get(holiday, 0) < 0.5 * other_mondays.median()
    assert date(2025, 3, 4) in holidays(2025)  # Carnival Tuesday from Easter (20 April 2025)


def test_price_increase_rows_for_the_units_hit(tables):
    prices = tables["contract_prices"].merge(tables["contracts"], on="contract_id")
    raised = prices[prices.effective_from == pd.Timestamp(CONFIG.price_increases[0][0])]
    assert len(raised) > 50 and set(raised.unit_id % 2) == {1} and set(raised.contract_type) == {"monthly"}


def test_csv_round_trip(tables, tmp_path):
    write_csv_dir(tables, tmp_path)
    loaded = load_csv_dir(tmp_path)
    expected = validate_all(tables)
    for name in SCHEMA:
        pd.testing.assert_frame_equal(loaded[name], expected[name], check_exact=False, atol=1e-6)


@pytest.mark.parametrize(("table", "column", "value", "message"), [
    ("visits", "visited_at", "yesterday", "visits.visited_at: value 'yesterday'"),
    ("contracts", "contract_type", "weekly", "contracts.contract_type: value 'weekly' is not one of"),
    ("members", "member_id", "7.5", "members.member_id: value '7.5'"),
])
def test_bad_csv_value_is_named(tables, tmp_path, table, column, value, message):
    write_csv_dir({k: v.head(50) for k, v in tables.items()}, tmp_path)
    frame = pd.read_csv(tmp_path / f"{table}.csv", dtype=str)
    frame.loc[3, column] = value
    frame.to_csv(tmp_path / f"{table}.csv", index=False)
    with pytest.raises(SchemaError, match=message.replace(".", r"\.")) as err:
        load_csv_dir(tmp_path)
    assert "\n" not in str(err.value) and f"{table}.csv" in str(err.value)


def test_missing_column_is_named(tables, tmp_path):
    write_csv_dir({k: v.head(20) for k, v in tables.items()}, tmp_path)
    tables["bookings"].head(20).drop(columns="status").to_csv(tmp_path / "bookings.csv", index=False)
    with pytest.raises(SchemaError, match="bookings: missing column"):
        load_csv_dir(tmp_path)


def test_scales_vectorised():
    counts = [len(simulate(SimConfig(members=n, weeks=20))["members"]) for n in (500, 2000)]
    assert counts[1] > 3.5 * counts[0]
    assert np.isfinite(counts).all()
