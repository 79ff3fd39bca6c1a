"""Class timetables and their demand, simulated with known ground truth (documented in gym/docs/analytics.md).

Per unit: rooms (capacity, allowed class types), instructors (qualifications, weekly availability, maximum classes
per week), opening hours, and the manager's current timetable (type, room, weekday, start, instructor). Demand of a
session of type ``k`` at unit ``u`` on weekday ``d`` at hour ``h`` on date ``t`` is negative binomial with mean

    size_u * popularity_{u,k} * hour_profile_k(h) * weekday_weight(d) * yearly_season(t) * (0.35 on a holiday)

and dispersion ``DISPERSION`` (variance mu + mu^2 / DISPERSION); attendance is ``min(demand, room capacity)`` and the
rest is the wait-list. Demand is drawn once for every cell (unit, type, weekday, hour, week) whether or not a class
is held there - ``ClassSim.demand`` - so any timetable can be evaluated on the same draws; only evaluation code reads
it. The observed tables follow ``gymchain.ml.classes_data.CLASS_SCHEMA``: what a chain's export gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from .simulator import CLASS_TYPES, holidays, yearly_season

DISPERSION = 15.0  # negative binomial size: variance = mu + mu^2 / 15
HOLIDAY_FACTOR = 0.35
CLASS_WEEKDAY = np.array([1.15, 1.1, 1.05, 1.0, 0.85, 0.9, 0.7])  # Monday..Sunday
TYPE_POPULARITY = {"spinning": 1.2, "yoga": 0.9, "functional": 1.1, "pilates": 0.7, "dance": 0.8}
# hour profile per type: floor + sum of Gaussian bumps (centre hour, width in hours, height); maximum about 1
HOUR_BUMPS = {
    "spinning": (0.08, ((7.0, 1.0, 0.55), (18.5, 1.3, 0.95))),
    "yoga": (0.10, ((7.0, 1.2, 0.7), (12.0, 1.0, 0.6), (19.5, 1.2, 0.5))),
    "functional": (0.10, ((6.5, 1.2, 0.8), (18.0, 1.5, 0.9))),
    "pilates": (0.12, ((9.0, 1.5, 0.6), (14.0, 2.0, 0.4), (19.0, 1.0, 0.5))),
    "dance": (0.06, ((10.0, 1.2, 0.4), (20.0, 1.2, 0.95))),
}
ROOM_KINDS = (  # name, capacity range, allowed types
    ("Estúdio", (18, 30), ("yoga", "pilates", "dance", "functional")),
    ("Bike", (20, 36), ("spinning",)),
    ("Funcional", (15, 30), ("functional", "dance")),
)
SHIFTS = {  # instructor availability: weekday -> (first start hour, last start hour)
    "morning": {d: (6, 12) for d in range(6)},
    "evening": {**{d: (12, 21) for d in range(5)}},
    "split": {**{d: (6, 9) for d in range(5)}, **{d: (17, 21) for d in range(5)}},
    "weekdays": {d: (6, 21) for d in range(5)},
    "weekend": {5: (8, 13), 6: (8, 11), **{d: (17, 21) for d in range(2)}},
}
OPENING = {**{d: (6, 21) for d in range(5)}, 5: (8, 13), 6: (8, 11)}  # weekday -> first/last start hour
DURATION_MIN = 50


def hour_profile(class_type: str, hours: np.ndarray) -> np.ndarray:
    floor, bumps = HOUR_BUMPS[class_type]
    hours = np.asarray(hours, dtype=float)
    return floor + sum(height * np.exp(-0.5 * ((hours - centre) / width) ** 2) for centre, width, height in bumps)


@dataclass(frozen=True)
class ClassSimConfig:
    members: int = 10_000
    members_per_unit: int = 2_500  # units = round(members / members_per_unit), at least 1
    start: date = date(2024, 7, 1)  # a Monday
    weeks: int = 104
    seed: int = 11
    demand_per_member: float = 0.0095  # size_u = members_u * this (peak-type, peak-hour demand ~ 24 per 2,500)


@dataclass
class ClassSim:
    config: ClassSimConfig
    tables: dict[str, pd.DataFrame]  # rooms, instructors, opening_hours, timetable, class_sessions
    demand: np.ndarray  # [unit, type, weekday, hour, week] drawn demand of every cell (evaluation only)
    mean: np.ndarray  # its mean, same shape
    units: list[int] = field(default_factory=list)

    def week_start(self, week: int) -> date:
        return self.config.start + timedelta(weeks=week)


def _holiday_mask(start: date, weeks: int) -> np.ndarray:
    hol = set().union(*(holidays(y) for y in range(start.year, start.year + weeks // 52 + 2)))
    return np.array([[start + timedelta(weeks=w, days=d) in hol for d in range(7)] for w in range(weeks)])


def simulate_classes(config: ClassSimConfig = ClassSimConfig()) -> ClassSim:
    rng = np.random.default_rng(config.seed)
    n_units = max(1, round(config.members / config.members_per_unit))
    units = list(range(1, n_units + 1))
    unit_members = rng.multinomial(config.members, rng.dirichlet(np.full(n_units, 8.0)))
    types = list(CLASS_TYPES)
    base_pop = np.array([TYPE_POPULARITY[k] for k in types])
    popularity = base_pop * rng.lognormal(0, 0.35, size=(n_units, len(types)))
    size = np.maximum(unit_members, 200) * config.demand_per_member
    hours = np.arange(24)
    profile = np.stack([hour_profile(k, hours) for k in types])  # [type, hour]
    weeks = np.arange(config.weeks)
    days = np.array([[config.start + timedelta(weeks=int(w), days=d) for d in range(7)] for w in weeks])
    season = yearly_season(days.ravel().astype("datetime64[D]")).reshape(days.shape)  # [week, weekday]
    day_factor = season * np.where(_holiday_mask(config.start, config.weeks), HOLIDAY_FACTOR, 1.0)
    mean = (size[:, None, None, None, None] * popularity[:, :, None, None, None]
            * CLASS_WEEKDAY[None, None, :, None, None] * profile[None, :, None, :, None]
            * day_factor.T[None, None, :, None, :])  # [unit, type, weekday, hour, week]
    open_mask = np.zeros((7, 24), dtype=bool)
    for d, (first, last) in OPENING.items():
        open_mask[d, first:last + 1] = True
    mean = mean * open_mask[None, None, :, :, None]
    gamma = rng.gamma(DISPERSION, mean / DISPERSION)
    demand = rng.poisson(gamma).astype(np.int32)

    rooms, instructors, opening, timetable = [], [], [], []
    for u_index, unit in enumerate(units):
        unit_rooms = _rooms(rng, unit, unit_members[u_index], len(rooms))
        rooms += unit_rooms
        unit_instr = _instructors(rng, unit, types, len(instructors))
        instructors += unit_instr
        opening += [(unit, d, f"{first:02d}:00", f"{last + 1:02d}:00") for d, (first, last) in OPENING.items()]
        timetable += _current_timetable(rng, unit, unit_rooms, unit_instr, types)
    tables = {
        "rooms": pd.DataFrame(rooms, columns=["room_id", "unit_id", "name", "capacity", "class_types"]),
        "instructors": pd.DataFrame(instructors, columns=["instructor_id", "unit_id", "qualifications",
                                                          "max_classes_week", "availability"]),
        "opening_hours": pd.DataFrame(opening, columns=["unit_id", "weekday", "opens", "closes"]),
        "timetable": pd.DataFrame(timetable, columns=["unit_id", "class_type", "room_id", "weekday", "start_time",
                                                      "instructor_id"]),
    }
    tables["class_sessions"] = _sessions(config, tables, demand, types)
    return ClassSim(config, tables, demand, mean, units)


def _rooms(rng, unit: int, members: int, first_id: int) -> list[tuple]:
    kinds = list(ROOM_KINDS) + ([ROOM_KINDS[0]] if members > 3000 else [])
    rows = []
    for i, (name, (low, high), allowed) in enumerate(kinds):
        capacity = int(rng.integers(low, high + 1) * max(1.0, members / 2500) ** 0.5)
        rows.append((first_id + i + 1, unit, f"{name} {i + 1}", capacity, ";".join(allowed)))
    return rows


def _instructors(rng, unit: int, types: list[str], first_id: int) -> list[tuple]:
    count = int(rng.integers(6, 9))
    shift_names = list(SHIFTS)
    rows = []
    for i in range(count):
        quals = list(rng.choice(types, size=int(rng.integers(1, 4)), replace=False))
        if i < len(types):  # every type has at least one qualified instructor
            quals = sorted(set(quals) | {types[i]})
        shift = shift_names[i % len(shift_names)] if i < len(shift_names) else str(rng.choice(shift_names))
        availability = ";".join(f"{d}:{a:02d}-{b:02d}" for d, (a, b) in sorted(SHIFTS[shift].items()))
        rows.append((first_id + i + 1, unit, ";".join(sorted(quals)), int(rng.integers(6, 13)), availability))
    return rows


def _available(availability: str, weekday: int, hour: int) -> bool:
    for part in availability.split(";"):
        d, span = part.split(":")
        a, b = span.split("-")
        if int(d) == weekday and int(a) <= hour <= int(b):
            return True
    return False


def _current_timetable(rng, unit: int, rooms: list[tuple], instructors: list[tuple], types: list[str]) -> list[tuple]:
    """The manager's timetable: a handful of usual hours, types drawn by chain-wide popularity and a rough sense of
    their hours (the square root of the true hour profile; not this unit's own taste), then a room and an instructor that fit; a slot nothing fits is left empty. It keeps the
    optimiser's rules (a type once per start time and at most 3 a day), so it is one of the optimiser's solutions."""
    peak = np.array([1, 3, 4, 2, 1, 1, 2, 1, 1, 1, 1, 3, 4, 4, 3, 1], dtype=float)  # hours 6..21
    weekday_hours = np.sort(rng.choice(np.arange(6, 22), size=int(rng.integers(5, 8)), replace=False,
                                       p=peak / peak.sum()))
    saturday_hours = np.sort(rng.choice(np.arange(8, 14), size=int(rng.integers(1, 3)), replace=False))
    load = {row[0]: 0 for row in instructors}
    busy: set[tuple] = set()
    held: set[tuple] = set()  # (type, weekday, hour): a type once per start time, at most 3 a day
    rows = []
    pop = np.array([TYPE_POPULARITY[k] for k in types])
    for weekday in range(6):
        for hour in (weekday_hours if weekday < 5 else saturday_hours):
            for room_id, _unit, _name, _cap, allowed in rooms:
                if rng.random() < 0.25:
                    continue
                allowed_types = [k for k in types if k in allowed.split(";") and (k, weekday, hour) not in held
                                 and sum(1 for h in held if h[:2] == (k, weekday)) < 3]
                if not allowed_types:
                    continue
                weights = np.array([pop[types.index(k)] * hour_profile(k, hour) ** 0.5 for k in allowed_types])
                kind = str(rng.choice(allowed_types, p=weights / weights.sum()))
                fits = [i for i in instructors if kind in i[2].split(";") and load[i[0]] < i[3]
                        and (i[0], weekday, hour) not in busy and _available(i[4], weekday, int(hour))]
                if not fits:
                    continue
                teacher = fits[int(rng.integers(len(fits)))][0]
                load[teacher] += 1
                busy.add((teacher, weekday, hour))
                held.add((kind, weekday, hour))
                rows.append((unit, kind, room_id, weekday, f"{int(hour):02d}:00", teacher))
    return rows


def _sessions(config: ClassSimConfig, tables: dict[str, pd.DataFrame], demand: np.ndarray,
              types: list[str]) -> pd.DataFrame:
    tt = tables["timetable"].merge(tables["rooms"][["room_id", "capacity"]], on="room_id")
    n_weeks = config.weeks
    unit_index = tt.unit_id.to_numpy() - 1
    kind = np.array([types.index(k) for k in tt.class_type])
    weekday = tt.weekday.to_numpy()
    hour = tt.start_time.str.slice(0, 2).astype(int).to_numpy()
    d = demand[unit_index, kind, weekday, hour, :]  # [entry, week]
    cap = tt.capacity.to_numpy()[:, None]
    start = np.datetime64(config.start) + (np.arange(n_weeks) * 7).astype("timedelta64[D]")
    when = (start[None, :] + weekday[:, None].astype("timedelta64[D]")).astype("datetime64[s]") + \
        (hour[:, None] * 3600).astype("timedelta64[s]")
    frame = pd.DataFrame({
        "unit_id": np.repeat(tt.unit_id.to_numpy(), n_weeks), "class_type": np.repeat(tt.class_type.to_numpy(), n_weeks),
        "room_id": np.repeat(tt.room_id.to_numpy(), n_weeks), "starts_at": when.ravel(),
        "capacity": np.repeat(tt.capacity.to_numpy(), n_weeks),
        "instructor_id": np.repeat(tt.instructor_id.to_numpy(), n_weeks),
        "booked": np.minimum(d, cap).ravel(), "waitlisted": np.maximum(d - cap, 0).ravel()})
    frame = frame.sort_values(["starts_at", "unit_id", "room_id"], kind="stable").reset_index(drop=True)
    frame.insert(0, "session_id", np.arange(1, len(frame) + 1))
    return frame


def simulated_outcome(sim: ClassSim, unit_id: int, timetable: pd.DataFrame, weeks: range) -> dict[str, float]:
    """Attendance and wait-list of ``timetable`` (class_type, room_id, weekday, start_time) at ``unit_id`` on the
    simulator's own demand draws of the given weeks - the ground truth, not a forecast."""
    types = list(CLASS_TYPES)
    rooms = sim.tables["rooms"].set_index("room_id").capacity
    kind = np.array([types.index(k) for k in timetable.class_type], dtype=int)
    hour = np.array([int(s[:2]) for s in timetable.start_time], dtype=int)
    weekday = timetable.weekday.to_numpy(int)
    cap = rooms.reindex(timetable.room_id).to_numpy(int)[:, None]
    d = sim.demand[unit_id - 1][kind[:, None], weekday[:, None], hour[:, None], np.array(list(weeks))[None, :]]
    return {"sessions_per_week": len(timetable), "weeks": len(weeks),
            "attendance": int(np.minimum(d, cap).sum()), "waitlist": int(np.maximum(d - cap, 0).sum()),
            "demand": int(d.sum())}
