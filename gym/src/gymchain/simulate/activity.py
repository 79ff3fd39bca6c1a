"""A year of visits (check-ins per area), the class timetable and its bookings."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .people import Person

LOCAL = ZoneInfo("America/Sao_Paulo")
# hour of day -> relative weight of visits starting then (morning and after-work peaks)
HOUR_WEIGHTS = {6: 6, 7: 9, 8: 6, 9: 4, 10: 3, 11: 3, 12: 5, 13: 3, 14: 2, 15: 2, 16: 3, 17: 6, 18: 10, 19: 9,
                20: 6, 21: 3}
AREA_CHOICE = (("weights", 50), ("cardio", 28), ("functional", 12), ("pool", 10))
# weekday (0 = Monday) -> (local time, title, area kind, capacity)
TIMETABLE = {
    **{d: ((time(7), "Funcional", "functional", 20), (time(12), "Yoga", "studio", 18),
           (time(18), "Spinning", "studio", 25), (time(19), "Funcional", "functional", 25),
           (time(20), "Pilates", "studio", 15)) for d in range(5)},
    5: ((time(9), "Zumba", "studio", 25), (time(10, 30), "Funcional", "functional", 25)),
}
POOL_CLASS = (time(8), "Hidroginástica", "pool", 20)  # weekdays, where there is a pool


@dataclass(frozen=True)
class ClassPlan:
    unit_index: int
    area_kind: str
    title: str
    starts_at: datetime
    capacity: int


def local_dt(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=LOCAL).astimezone(UTC)


def is_member_on(person: Person, day: date) -> bool:
    return person.joined <= day and (person.churned is None or day < person.churned)


def visits_of(rng: random.Random, person: Person, areas: dict[str, int], first: date, now: datetime) -> list[tuple]:
    """Check-in rows (area_id, in, out) of one member; a visit still going on now has out = None."""
    hours, weights = zip(*HOUR_WEIGHTS.items(), strict=True)
    kinds = [(k, w) for k, w in AREA_CHOICE if k in areas]
    rows = []
    day = max(first, person.joined)
    last = min(now.astimezone(LOCAL).date(), person.churned or now.date())
    while day <= last:
        if rng.random() < person.visits_per_week / 7:
            start = local_dt(day, time(rng.choices(hours, weights)[0], rng.randrange(60)))
            end = start + timedelta(minutes=rng.randint(40, 110))
            if start < now:
                kind = rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
                rows.append((areas[kind], start, end if end <= now else None))
        day += timedelta(days=1)
    return rows


def timetable(unit_index: int, has_pool: bool, first: date, last: date) -> list[ClassPlan]:
    plans = []
    day = first
    while day <= last:
        slots = list(TIMETABLE.get(day.weekday(), ()))
        if has_pool and day.weekday() < 5:
            slots.append(POOL_CLASS)
        plans += [ClassPlan(unit_index, kind, title, local_dt(day, at), cap) for at, title, kind, cap in slots]
        day += timedelta(days=1)
    return plans


def bookings_for(rng: random.Random, cls: ClassPlan, candidates: list[tuple[int, Person]],
                 now: datetime) -> list[tuple[int, str, datetime]]:
    """(member_id, status, created_at) of one class: demand drawn around capacity, the first seats confirmed,
    the rest wait-listed, about one in ten cancelled."""
    day = cls.starts_at.astimezone(LOCAL).date()
    active = [(mid, p) for mid, p in candidates if is_member_on(p, day)]
    future = cls.starts_at > now
    demand = int(cls.capacity * rng.uniform(0.15, 0.9) if future else cls.capacity * rng.uniform(0.4, 1.3))
    chosen = rng.sample(active, min(demand, len(active)))
    rows, confirmed = [], 0
    lead_days = 7
    for order, (member_id, _person) in enumerate(chosen):
        created = cls.starts_at - timedelta(days=lead_days) + timedelta(minutes=order * 7)
        created = min(created, now - timedelta(minutes=len(chosen) - order))
        if rng.random() < 0.1:
            rows.append((member_id, "cancelled", created))
        elif confirmed < cls.capacity:
            rows.append((member_id, "confirmed", created))
            confirmed += 1
        else:
            rows.append((member_id, "waitlisted", created))
    return rows
