"""Timetable optimiser (OR-Tools CP-SAT): classes to rooms, weekdays, start times and instructors.

For one unit, a candidate session is (type, room, weekday, start). Its value is the forecast's expected attendance
``E[min(D, capacity)]`` averaged over the planning weeks, minus ``waitlist_weight`` x the expected wait-list. Rules:

- a room holds only its allowed types, at most one class at a time (classes last ``duration_min``);
- every class has an instructor qualified for its type and available then, who teaches one class at a time and at
  most ``max_classes_week`` a week;
- classes start within the unit's opening hours, and only at a start time where the chain has held that type
  before (the forecast's support: no data, no forecast);
- at most ``max_sessions`` classes a week (default: as many as the current timetable - a cost-neutral rearrangement),
  at least ``min_share`` x the current number of each type, at most one class of a type at one start time and at
  most ``max_type_per_day`` of a type a day.

CP-SAT with one worker, a fixed seed and a deterministic time limit gives the same answer on every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from ortools.sat.python import cp_model

from .forecast import DemandForecast, expected_attendance


@dataclass
class UnitProblem:
    """One unit's resources, current timetable and forecast-based value of every candidate session."""

    unit_id: int
    rooms: dict[int, dict[str, int]]  # room -> {allowed type: capacity}
    instructors: dict[int, tuple[set[str], int, set[tuple[int, int]] | None]]  # id -> (types, max/week, (wd, hour))
    opening: dict[int, tuple[int, int]]  # weekday -> (first start minute, last start minute)
    current: pd.DataFrame  # class_type, room_id, weekday, start_time, instructor_id
    values: pd.DataFrame  # class_type, room_id, weekday, start_time, attendance, waitlist (per week, forecast)
    duration_min: int = 50


@dataclass
class Proposal:
    unit_id: int
    status: str
    entries: pd.DataFrame  # class_type, room_id, weekday, start_time, instructor_id, capacity, attendance, waitlist
    objective: float
    bound: float
    seconds: float
    current_expected: dict[str, float] = field(default_factory=dict)
    proposed_expected: dict[str, float] = field(default_factory=dict)
    relaxed: list[str] = field(default_factory=list)  # rules dropped because the problem was infeasible with them


def minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def parse_rooms(rooms: pd.DataFrame) -> dict[int, dict[str, int]]:
    out = {}
    for row in rooms.itertuples():
        allowed = {}
        for part in str(row.class_types).split(";"):
            kind, _, cap = part.strip().partition("=")
            allowed[kind] = min(int(cap), int(row.capacity)) if cap else int(row.capacity)
        out[int(row.room_id)] = allowed
    return out


def parse_instructors(instructors: pd.DataFrame) -> dict[int, tuple[set[str], int, set[tuple[int, int]] | None]]:
    out = {}
    for row in instructors.itertuples():
        avail = None
        if isinstance(row.availability, str) and row.availability:
            avail = set()
            for part in row.availability.split(";"):
                d, span = part.split(":")
                a, b = span.split("-")
                avail |= {(int(d), h) for h in range(int(a), int(b) + 1)}
        out[int(row.instructor_id)] = ({q.strip() for q in row.qualifications.split(";")}, int(row.max_classes_week),
                                       avail)
    return out


def build_problem(tables: dict[str, pd.DataFrame], unit_id: int, model: DemandForecast,
                  weeks: list[pd.Timestamp], duration_min: int = 50) -> UnitProblem:
    """Candidates of ``unit_id`` valued by ``model`` over the weeks starting on the given Mondays."""
    rooms = parse_rooms(tables["rooms"][tables["rooms"].unit_id == unit_id])
    instructors = parse_instructors(tables["instructors"][tables["instructors"].unit_id == unit_id])
    hours = tables["opening_hours"][tables["opening_hours"].unit_id == unit_id]
    opening = {int(r.weekday): (minutes(r.opens), minutes(r.closes) - 60) for r in hours.itertuples()}
    current = tables["timetable"][tables["timetable"].unit_id == unit_id].reset_index(drop=True)
    types = sorted({k for allowed in rooms.values() for k in allowed})
    starts = sorted({c.split(":", 2)[2] for c in model.columns if c.startswith("ts:")} | set(model.reference.values())
                    - {model.reference.get("__weekday__")})
    cells = [(k, d, s) for k in types for d, (first, last) in opening.items() for s in starts
             if first <= minutes(s) <= last]
    if not cells:
        return UnitProblem(unit_id, rooms, instructors, opening, current, pd.DataFrame(
            columns=["class_type", "room_id", "weekday", "start_time", "attendance", "waitlist"]), duration_min)
    grid = pd.DataFrame(cells, columns=["class_type", "weekday", "start_time"])
    rows = []
    for monday in weeks:
        when = (pd.Timestamp(monday) + pd.to_timedelta(grid.weekday, unit="D")
                + pd.to_timedelta(grid.start_time.map(minutes), unit="min"))
        rows.append(grid.assign(unit_id=unit_id, starts_at=when.to_numpy(), week=len(rows)))
    frame = pd.concat(rows, ignore_index=True)
    frame["mean"] = model.predict(frame)
    frame = frame[np.isfinite(frame["mean"])]
    values = []
    for room_id, allowed in rooms.items():
        part = frame[frame.class_type.isin(list(allowed))]
        if part.empty:
            continue
        cap = part.class_type.map(allowed).to_numpy()
        served, wait = expected_attendance(part["mean"].to_numpy(), cap, model.alpha)
        values.append(part[["class_type", "weekday", "start_time"]].assign(
            room_id=room_id, capacity=cap, attendance=served, waitlist=wait, mean=part["mean"].to_numpy()))
    if not values:
        return UnitProblem(unit_id, rooms, instructors, opening, current, pd.DataFrame(
            columns=["class_type", "room_id", "weekday", "start_time", "attendance", "waitlist"]), duration_min)
    values = (pd.concat(values).groupby(["class_type", "room_id", "weekday", "start_time"], as_index=False)
              [["capacity", "attendance", "waitlist", "mean"]].mean())
    return UnitProblem(unit_id, rooms, instructors, opening, current, values, duration_min)


def _overlap_windows(starts: list[int], duration: int) -> list[list[int]]:
    """Maximal sets of start minutes whose classes overlap (intervals of ``duration`` beginning at each start)."""
    starts = sorted(set(starts))
    return [[t for t in starts if s <= t < s + duration] for s in starts]


def optimise(problem: UnitProblem, time_limit_s: float = 10.0, seed: int = 0, waitlist_weight: float = 0.25,
             max_sessions: int | None = None, min_share: float = 0.5, max_type_per_day: int = 3) -> Proposal:
    """The best timetable found within the time limit. When the minimum offering or the per-day rule cannot be met
    (a current timetable that breaks them, few instructors), it is solved again without them and ``relaxed`` says
    so."""
    proposal = _optimise(problem, time_limit_s, seed, waitlist_weight, max_sessions, min_share, max_type_per_day)
    if proposal.status == "INFEASIBLE" and (min_share > 0 or max_type_per_day < 7):
        proposal = _optimise(problem, time_limit_s, seed, waitlist_weight, max_sessions, 0.0, 7)
        proposal.relaxed = ["min_share", "max_type_per_day"]
    return proposal


def _optimise(problem: UnitProblem, time_limit_s: float, seed: int, waitlist_weight: float,
              max_sessions: int | None, min_share: float, max_type_per_day: int) -> Proposal:
    import time

    t0 = time.perf_counter()
    cand = problem.values.reset_index(drop=True)
    current = problem.current
    if max_sessions is None:
        max_sessions = len(current)
    m = cp_model.CpModel()
    x = [m.NewBoolVar(f"x{i}") for i in range(len(cand))]
    score = np.round(100 * (cand.attendance - waitlist_weight * cand.waitlist)).astype(int).to_numpy()
    start_min = cand.start_time.map(minutes).to_numpy()
    # rooms: one class at a time
    for (room, weekday), part in cand.groupby(["room_id", "weekday"]).groups.items():
        part = np.asarray(part)
        for window in _overlap_windows(list(start_min[part]), problem.duration_min):
            members = [x[i] for i in part if start_min[i] in window]
            if len(members) > 1:
                m.Add(sum(members) <= 1)
    # the same type at most once per start time and max_type_per_day a day
    for part in cand.groupby(["class_type", "weekday", "start_time"]).groups.values():
        m.Add(sum(x[i] for i in part) <= 1)
    for part in cand.groupby(["class_type", "weekday"]).groups.values():
        m.Add(sum(x[i] for i in part) <= max_type_per_day)
    m.Add(sum(x) <= max_sessions)
    for kind, count in current.class_type.value_counts().items():
        need = math.ceil(min_share * count)
        have = [x[i] for i in np.flatnonzero(cand.class_type.to_numpy() == kind)]
        if need and have:
            m.Add(sum(have) >= min(need, len(have)))
    # instructors: z[i, type, weekday, start]; the classes of a (type, weekday, start) equal its instructors
    z: dict[tuple, cp_model.IntVar] = {}
    if problem.instructors:
        for (kind, weekday, start), part in cand.groupby(["class_type", "weekday", "start_time"]).groups.items():
            hour = minutes(start) // 60
            teachers = [i for i, (types, _mx, avail) in problem.instructors.items()
                        if kind in types and (avail is None or (weekday, hour) in avail)]
            for i in teachers:
                z[i, kind, weekday, start] = m.NewBoolVar(f"z{i}_{kind}_{weekday}_{start}")
            m.Add(sum(x[j] for j in part) == sum(z[i, kind, weekday, start] for i in teachers))
        for i, (_types, max_load, _avail) in problem.instructors.items():
            mine = {key: var for key, var in z.items() if key[0] == i}
            if not mine:
                continue
            m.Add(sum(mine.values()) <= max_load)
            for weekday in range(7):
                day = {key: var for key, var in mine.items() if key[2] == weekday}
                for window in _overlap_windows([minutes(k[3]) for k in day], problem.duration_min):
                    members = [var for key, var in day.items() if minutes(key[3]) in window]
                    if len(members) > 1:
                        m.Add(sum(members) <= 1)
    m.Maximize(sum(int(s) * v for s, v in zip(score, x, strict=True)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_deterministic_time = time_limit_s
    solver.parameters.max_time_in_seconds = 4 * time_limit_s  # a safety net on a loaded machine
    status = solver.Solve(m)
    name = solver.StatusName(status)
    chosen = []
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        picked = cand[[solver.Value(v) == 1 for v in x]].copy()
        teacher = []
        for row in picked.itertuples():
            free = sorted(i for (i, k, d, s), var in z.items()
                          if k == row.class_type and d == row.weekday and s == row.start_time and solver.Value(var))
            used = sum(1 for t in teacher if t[1:] == (row.class_type, row.weekday, row.start_time))
            teacher.append((free[used] if used < len(free) else None, row.class_type, row.weekday, row.start_time))
        picked["instructor_id"] = [t[0] for t in teacher]
        chosen = picked
    entries = (chosen if len(chosen) else cand.head(0).assign(instructor_id=[]))
    entries = entries.sort_values(["weekday", "start_time", "room_id"]).reset_index(drop=True)
    proposal = Proposal(problem.unit_id, name, entries[["class_type", "room_id", "weekday", "start_time",
                                                        "instructor_id", "capacity", "mean", "attendance",
                                                        "waitlist"]],
                        solver.ObjectiveValue() / 100 if len(chosen) else 0.0,
                        solver.BestObjectiveBound() / 100, time.perf_counter() - t0)
    proposal.proposed_expected = _totals(entries)
    proposal.current_expected = _totals(value_timetable(problem, current))
    return proposal


def value_timetable(problem: UnitProblem, timetable: pd.DataFrame) -> pd.DataFrame:
    """The forecast's weekly values of the sessions of ``timetable`` (rows without a forecast get NaN)."""
    keys = ["class_type", "room_id", "weekday", "start_time"]
    return timetable.merge(problem.values, on=keys, how="left")


def _totals(frame: pd.DataFrame) -> dict[str, float]:
    return {"sessions": len(frame), "attendance": round(float(frame.attendance.sum()), 2),
            "waitlist": round(float(frame.waitlist.sum()), 2),
            "unvalued_sessions": int(frame.attendance.isna().sum()) if len(frame) else 0}
