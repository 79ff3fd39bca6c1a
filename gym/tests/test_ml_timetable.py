"""Class demand forecast and timetable optimiser on small simulated chains (no database).

The forecast must beat seasonal-naive where the simulator planted weekly/yearly seasonality and holidays, recover
those effects, and never read a session at or after its cutoff; the optimiser's timetable is checked against every
rule by code independent of the solver, and evaluated on the simulator's held-out demand (not the forecast)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gymchain.ml.classes_data import load_class_csv_dir, write_class_csv_dir
from gymchain.ml.classes_sim import (
    CLASS_WEEKDAY,
    DISPERSION,
    HOLIDAY_FACTOR,
    ClassSimConfig,
    simulate_classes,
    simulated_outcome,
)
from gymchain.ml.forecast import evaluate_forecast, fit_forecast
from gymchain.ml.schema import SchemaError
from gymchain.ml.timetable import build_problem, minutes, optimise, parse_instructors, parse_rooms

CONFIG = ClassSimConfig(members=7500, seed=4)
HELD_WEEKS = 12


@pytest.fixture(scope="module")
def sim():
    return simulate_classes(CONFIG)


@pytest.fixture(scope="module")
def cutoff(sim):
    return pd.Timestamp(sim.config.start) + pd.Timedelta(weeks=sim.config.weeks - HELD_WEEKS)


@pytest.fixture(scope="module")
def model(sim, cutoff):
    return fit_forecast(sim.tables["class_sessions"], cutoff)


def test_simulator_ground_truth(sim):
    s = sim.tables["class_sessions"]
    assert len(sim.units) == 3 and s.booked.le(s.capacity).all()
    assert ((s.waitlisted > 0) <= (s.booked == s.capacity)).all()  # a wait-list only behind a full class
    again = simulate_classes(CONFIG)
    pd.testing.assert_frame_equal(again.tables["class_sessions"], s)
    bigger = simulate_classes(ClassSimConfig(members=15000, seed=4))
    ratio = bigger.mean.sum() / sim.mean.sum()  # demand scales with members (units' type tastes vary)
    assert len(bigger.units) == 6 and 1.4 < ratio < 2.8
    # the drawn demand is negative binomial around the documented mean
    cells = sim.mean > 5
    ratio = sim.demand[cells].mean() / sim.mean[cells].mean()
    assert abs(ratio - 1) < 0.02
    excess = (sim.demand[cells] - sim.mean[cells]) ** 2 - sim.mean[cells]
    assert excess.sum() / (sim.mean[cells] ** 2).sum() == pytest.approx(1 / DISPERSION, rel=0.15)


def test_forecast_beats_seasonal_naive(sim, cutoff):
    summary, _model, _held, _ = evaluate_forecast(sim.tables["class_sessions"], cutoff, HELD_WEEKS)
    scores = summary["mase_with_yearly_naive"]
    glm, naive, yearly = scores["glm"], scores["seasonal_naive_week"], scores["seasonal_naive_year"]
    assert glm["sessions"] == naive["sessions"] == yearly["sessions"] > 1000 and glm["series"] > 100
    assert glm["mase_mean"] < 0.8 * naive["mase_mean"] and glm["mase_mean"] < 0.8 * yearly["mase_mean"]
    assert summary["alpha"] == pytest.approx(1 / DISPERSION, rel=0.3)


def test_forecast_recovers_the_planted_seasonality(model):
    coef = dict(zip(model.columns, model.params, strict=True))
    assert coef["holiday"] == pytest.approx(math.log(HOLIDAY_FACTOR), abs=0.1)
    for d in (1, 2, 3, 4, 5):
        assert coef[f"wd:{d}"] == pytest.approx(math.log(CLASS_WEEKDAY[d] / CLASS_WEEKDAY[0]), abs=0.06)
    # yearly season 1 + 0.18 cos(2 pi (doy - 20) / 365.25): first harmonic peaks near day 20
    peak = math.degrees(math.atan2(coef["sin1"], coef["cos1"])) / 360 * 365.25
    assert 0 < peak < 45 and 0.1 < math.hypot(coef["sin1"], coef["cos1"]) < 0.26


def test_forecast_never_sees_held_out_weeks(sim, cutoff, model):
    sessions = sim.tables["class_sessions"]
    later = sessions.starts_at >= cutoff
    rng = np.random.default_rng(0)
    scrambled = sessions.copy()
    scrambled.loc[later, "booked"] = rng.integers(0, 40, size=int(later.sum()))
    scrambled.loc[later, "waitlisted"] = rng.integers(0, 40, size=int(later.sum()))
    invented = scrambled[later].head(300).assign(class_type="boxing", unit_id=99)
    scrambled = pd.concat([scrambled, invented], ignore_index=True)
    again = fit_forecast(scrambled, cutoff)
    assert again.columns == model.columns and again.rows == model.rows
    np.testing.assert_array_equal(again.params, model.params)
    held = sessions[later]
    np.testing.assert_array_equal(again.predict(held), model.predict(held))
    moved = fit_forecast(sessions, cutoff + pd.Timedelta(weeks=1))
    assert moved.rows > model.rows and not np.allclose(moved.params, model.params)


def check_timetable(tables: dict, unit_id: int, entries: pd.DataFrame, current: pd.DataFrame, max_type_per_day: int,
                    min_share: float, duration: int = 50) -> None:
    """Every rule of the optimiser, checked without the solver."""
    rooms = parse_rooms(tables["rooms"][tables["rooms"].unit_id == unit_id])
    teachers = parse_instructors(tables["instructors"][tables["instructors"].unit_id == unit_id])
    opening = {int(r.weekday): (minutes(r.opens), minutes(r.closes) - 60)
               for r in tables["opening_hours"][tables["opening_hours"].unit_id == unit_id].itertuples()}
    assert len(entries) <= len(current)  # the budget: no more classes than today
    rows = list(entries.itertuples())
    for e in rows:
        assert e.room_id in rooms and e.class_type in rooms[e.room_id], e  # the room takes this type
        assert e.capacity == rooms[e.room_id][e.class_type]
        first, last = opening[e.weekday]
        assert first <= minutes(e.start_time) <= last, e  # opening hours
        types, _most, available = teachers[e.instructor_id]
        assert e.class_type in types, e  # qualified
        assert available is None or (e.weekday, minutes(e.start_time) // 60) in available, e  # available
    for a_i, a in enumerate(rows):
        for b in rows[a_i + 1:]:
            if a.weekday == b.weekday and abs(minutes(a.start_time) - minutes(b.start_time)) < duration:
                assert a.room_id != b.room_id, (a, b)  # one class per room at a time
                assert a.instructor_id != b.instructor_id, (a, b)  # no double booking
                assert a.class_type != b.class_type or a.start_time != b.start_time, (a, b)
    loads = entries.instructor_id.value_counts()
    for teacher, load in loads.items():
        assert load <= teachers[teacher][1]  # max classes a week
    assert entries.groupby(["class_type", "weekday"]).size().max() <= max_type_per_day
    for kind, count in current.class_type.value_counts().items():
        assert (entries.class_type == kind).sum() >= math.ceil(min_share * count)  # minimum offering


def test_optimiser_solution_satisfies_every_constraint_and_gains_on_held_out_demand(sim, cutoff, model):
    weeks = [cutoff + pd.Timedelta(weeks=w) for w in range(HELD_WEEKS)]
    held = range(sim.config.weeks - HELD_WEEKS, sim.config.weeks)
    gains = []
    for unit in sim.units:
        problem = build_problem(sim.tables, unit, model, weeks)
        proposal = optimise(problem, time_limit_s=5, seed=1)
        assert proposal.status in ("OPTIMAL", "FEASIBLE") and not proposal.relaxed
        check_timetable(sim.tables, unit, proposal.entries, problem.current, max_type_per_day=3, min_share=0.5)
        # the current timetable keeps the rules, so the optimum is at least as good on the forecast
        assert proposal.proposed_expected["attendance"] >= proposal.current_expected["attendance"] - 1e-6
        now = simulated_outcome(sim, unit, problem.current, held)
        new = simulated_outcome(sim, unit, proposal.entries, held)
        gains.append(new["attendance"] / now["attendance"] - 1)
    assert min(gains) > 0.05  # measured on the simulator's own held-out draws, not on the forecast


def test_optimiser_is_deterministic_and_respects_a_tighter_budget(sim, cutoff, model):
    problem = build_problem(sim.tables, 1, model, [cutoff])
    a = optimise(problem, time_limit_s=3, seed=0)
    b = optimise(problem, time_limit_s=3, seed=0)
    pd.testing.assert_frame_equal(a.entries, b.entries)
    small = optimise(problem, time_limit_s=3, max_sessions=10, min_share=0)
    assert len(small.entries) == 10
    check_timetable(sim.tables, 1, small.entries, problem.current, 3, 0)


def test_class_tables_round_trip_through_csv_and_bad_values_are_named(sim, tmp_path):
    write_class_csv_dir(sim.tables, tmp_path)
    loaded = load_class_csv_dir(tmp_path)
    assert len(loaded["class_sessions"]) == len(sim.tables["class_sessions"])
    assert loaded["timetable"].start_time.tolist() == sim.tables["timetable"].start_time.tolist()
    assert fit_forecast(loaded["class_sessions"], pd.Timestamp("2025-09-01")).rows > 0
    frame = pd.read_csv(tmp_path / "timetable.csv", dtype=str)
    frame.loc[3, "start_time"] = "25:00"
    frame.to_csv(tmp_path / "timetable.csv", index=False)
    with pytest.raises(SchemaError) as error:
        load_class_csv_dir(tmp_path)
    message = str(error.value)
    assert "timetable.csv" in message and "start_time" in message and "'25:00'" in message and "\n" not in message
