"""Sensor readings and occupancy samples derived from the simulated visits."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

import numpy as np

SAMPLE_EVERY = timedelta(minutes=15)
READING_EVERY = timedelta(hours=1)


def people_over_time(visits: list[tuple], start: datetime, end: datetime, step: timedelta) -> tuple[list, np.ndarray]:
    """People present at each sample instant: #(in <= t) - #(out <= t), by binary search on sorted times."""
    t0 = start.timestamp()
    instants = np.arange(t0, end.timestamp(), step.total_seconds())
    ins = np.sort(np.array([v[0].timestamp() for v in visits]))
    outs = np.sort(np.array([(v[1] or end).timestamp() for v in visits]))
    present = np.searchsorted(ins, instants, side="right") - np.searchsorted(outs, instants, side="right")
    stamps = [start + timedelta(seconds=float(s - t0)) for s in instants]
    return stamps, present


def occupancy_rows(unit_id: int, area_id: int, capacity: int, visits: list[tuple], start: datetime,
                   end: datetime) -> list[tuple]:
    stamps, present = people_over_time(visits, start, end, SAMPLE_EVERY)
    return [(ts, unit_id, area_id, int(p), capacity) for ts, p in zip(stamps, present, strict=True)]


def reading_rows(rng: random.Random, unit_id: int, area_id: int, visits: list[tuple], start: datetime,
                 end: datetime) -> list[tuple]:
    """Hourly temperature (°C), relative humidity (%) and CO₂ (ppm) of an area, driven by its occupancy."""
    stamps, present = people_over_time(visits, start, end, READING_EVERY)
    rows = []
    sensor = f"area-{area_id}"
    for ts, people in zip(stamps, present, strict=True):
        daily = math.sin((ts.hour - 9) / 24 * 2 * math.pi)
        rows.append((ts, unit_id, sensor, "temperature_c", round(22 + 2.5 * daily + 0.04 * people
                                                                 + rng.gauss(0, 0.3), 2)))
        rows.append((ts, unit_id, sensor, "humidity_pct", round(55 + 0.1 * people + rng.gauss(0, 2), 2)))
        rows.append((ts, unit_id, sensor, "co2_ppm", round(430 + 11 * people + rng.gauss(0, 15), 1)))
    return rows
