"""What the manager dashboard asks of the class models: forecast vs actual for a unit, a proposed timetable with its
expected gain, and readable segment profiles. Works on the class-schema tables (``classes_data``), whether they
come from the platform's PostgreSQL or a chain's CSV export."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .forecast import fit_forecast, mase, seasonal_naive, with_slots
from .timetable import build_problem, optimise, value_timetable

MIN_SESSIONS = 50


class NotEnoughHistory(ValueError):
    """The chain's class history is too short for the request (one line)."""


def monday(ts: pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(ts).normalize()
    return ts - pd.Timedelta(days=ts.weekday())


def forecast_vs_actual(tables: dict[str, pd.DataFrame], unit_id: int, now: pd.Timestamp, weeks: int = 8) -> dict:
    """Fit on everything before the Monday ``weeks`` weeks ago; compare with what happened since (the unit)."""
    sessions = tables["class_sessions"]
    cutoff = monday(now) - pd.Timedelta(weeks=weeks)
    if (sessions.starts_at < cutoff).sum() < MIN_SESSIONS:
        raise NotEnoughHistory(f"fewer than {MIN_SESSIONS} class sessions before {cutoff.date()}; "
                               "the forecast needs a longer class history")
    model = fit_forecast(sessions, cutoff)
    held = sessions[(sessions.unit_id == unit_id) & (sessions.starts_at >= cutoff) & (sessions.starts_at < now)]
    held = with_slots(held.reset_index(drop=True))
    glm = model.predict(held)
    naive = seasonal_naive(sessions, cutoff, held, 1)
    usable = np.isfinite(glm) & np.isfinite(naive)
    held = held.assign(forecast=glm, seasonal_naive=naive, week_start=held.starts_at.map(monday))
    weekly = (held[usable].groupby("week_start")
              .agg(sessions=("demand", "size"), actual=("demand", "sum"), booked=("booked", "sum"),
                   waitlisted=("waitlisted", "sum"), forecast=("forecast", "sum"),
                   seasonal_naive=("seasonal_naive", "sum")).reset_index())
    by_type = (held[usable].groupby("class_type").agg(sessions=("demand", "size"), actual=("demand", "mean"),
                                                      forecast=("forecast", "mean")).reset_index())
    scores = mase(sessions, cutoff, held, {"glm": glm, "seasonal_naive_week": naive}) if usable.any() else {}
    return {
        "unit_id": unit_id, "cutoff": cutoff.date().isoformat(), "weeks": weeks,
        "train_sessions": model.rows, "held_out_sessions": len(held),
        "compared_sessions": int(usable.sum()),
        "weekly": [{"week_start": r.week_start.date().isoformat(), "sessions": int(r.sessions),
                    "actual": int(r.actual), "booked": int(r.booked), "waitlisted": int(r.waitlisted),
                    "forecast": round(float(r.forecast), 1), "seasonal_naive": round(float(r.seasonal_naive), 1)}
                   for r in weekly.itertuples()],
        "by_type": [{"class_type": r.class_type, "sessions": int(r.sessions), "actual_mean": round(float(r.actual), 2),
                     "forecast_mean": round(float(r.forecast), 2)} for r in by_type.itertuples()],
        "mase": scores, "dispersion_alpha": round(model.alpha, 4),
    }


def propose_timetable(tables: dict[str, pd.DataFrame], unit_id: int, now: pd.Timestamp, weeks: int = 4,
                      time_limit_s: float = 5.0, waitlist_weight: float = 0.25, min_share: float = 0.5,
                      seed: int = 0) -> dict:
    """The unit's current weekly timetable and the optimiser's proposal for the next ``weeks`` weeks, both valued
    by the forecast fitted on everything before ``now`` (an expected gain, not an observed one)."""
    sessions = tables["class_sessions"]
    if (sessions.starts_at < now).sum() < MIN_SESSIONS:
        raise NotEnoughHistory(f"fewer than {MIN_SESSIONS} class sessions before {pd.Timestamp(now).date()}; "
                               "the optimiser needs a longer class history")
    if not (tables["timetable"].unit_id == unit_id).any():
        raise NotEnoughHistory(f"unit {unit_id} has no recurring classes in the last weeks: no current timetable "
                               "to improve on")
    model = fit_forecast(sessions, now)
    first = monday(now) + pd.Timedelta(weeks=1)
    problem = build_problem(tables, unit_id, model, [first + pd.Timedelta(weeks=w) for w in range(weeks)])
    proposal = optimise(problem, time_limit_s=time_limit_s, seed=seed, waitlist_weight=waitlist_weight,
                        min_share=min_share)
    rooms = tables["rooms"].set_index("room_id").name
    current = value_timetable(problem, problem.current[["class_type", "room_id", "weekday", "start_time",
                                                         "instructor_id"]])

    def rows(frame: pd.DataFrame) -> list[dict]:
        return [{"class_type": r.class_type, "room_id": int(r.room_id), "room": str(rooms.get(r.room_id, r.room_id)),
                 "weekday": int(r.weekday), "start_time": r.start_time,
                 "instructor_id": None if pd.isna(r.instructor_id) else int(r.instructor_id),
                 "capacity": None if pd.isna(r.capacity) else int(r.capacity),
                 "expected_demand": None if pd.isna(r.mean) else round(float(r.mean), 1),
                 "expected_attendance": None if pd.isna(r.attendance) else round(float(r.attendance), 1),
                 "expected_waitlist": None if pd.isna(r.waitlist) else round(float(r.waitlist), 1)}
                for r in frame.sort_values(["weekday", "start_time", "room_id"]).itertuples()]

    cur, new = proposal.current_expected, proposal.proposed_expected
    gain = new["attendance"] - cur["attendance"]
    return {
        "unit_id": unit_id, "planned_weeks_from": first.date().isoformat(), "weeks": weeks,
        "status": proposal.status, "solve_seconds": round(proposal.seconds, 2),
        "objective": round(proposal.objective, 2), "bound": round(proposal.bound, 2),
        "current": {"totals": cur, "sessions": rows(current)},
        "proposed": {"totals": new, "sessions": rows(proposal.entries)},
        "expected_gain": {"attendance_per_week": round(gain, 1),
                          "attendance_pct": round(100 * gain / cur["attendance"], 1) if cur["attendance"] else None,
                          "waitlist_per_week": round(new["waitlist"] - cur["waitlist"], 1)},
        "basis": "forecast (Poisson GLM fitted on the chain's class history before now); simulated gains on held-out "
                 "demand are in gym/docs/analytics.md",
    }


def segment_tags(profile: dict) -> list[str]:
    """Short descriptive tags of a segment profile (translated by the web front end)."""
    tags = []
    if profile["days_since_last_visit"] >= 30:
        tags.append("lapsing")
    if profile["visits_per_week"] >= 2.5:
        tags.append("frequent")
    elif profile["visits_per_week"] < 1.0:
        tags.append("occasional")
    if profile["class_share"] >= 0.35:
        tags.append("class_goer")
    hour = profile["mean_hour"]
    tags.append("morning" if hour < 11 else "midday" if hour < 16 else "evening")
    if profile["weekend_share"] >= 0.3:
        tags.append("weekend")
    if profile["tenure_days"] < 120:
        tags.append("new")
    return tags
