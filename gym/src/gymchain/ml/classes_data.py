"""The class-timetable tables (schema, CSV loader, PostgreSQL loader), documented in gym/docs/analytics.md.

| table | columns |
|---|---|
| rooms | room_id, unit_id, name, capacity, class_types (``yoga;pilates=15``: allowed types, optional own capacity) |
| instructors | instructor_id, unit_id, qualifications (``yoga;dance``), max_classes_week, availability (``0:06-12;5:08-13``
  = weekday 0-6 (Monday 0): first-last start hour; empty = all opening hours) |
| opening_hours | unit_id, weekday, opens ``HH:MM``, closes ``HH:MM`` (last class starts an hour before closing) |
| timetable | unit_id, class_type, room_id, weekday, start_time ``HH:MM``, instructor_id (may be empty) |
| class_sessions | session_id, unit_id, class_type, room_id, starts_at (local time), capacity, instructor_id (may be
  empty), booked, waitlisted |

Times are the unit's local wall-clock time. A bad value stops the load with one line naming file, column and value.
"""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa

from .schema import SchemaError, _convert

CLASS_SCHEMA: dict[str, dict[str, str]] = {
    "rooms": {"room_id": "int", "unit_id": "int", "name": "str", "capacity": "int", "class_types": "str"},
    "instructors": {"instructor_id": "int", "unit_id": "int", "qualifications": "str", "max_classes_week": "int",
                    "availability": "str?"},
    "opening_hours": {"unit_id": "int", "weekday": "int", "opens": "str", "closes": "str"},
    "timetable": {"unit_id": "int", "class_type": "str", "room_id": "int", "weekday": "int", "start_time": "str",
                  "instructor_id": "int?"},
    "class_sessions": {"session_id": "int", "unit_id": "int", "class_type": "str", "room_id": "int",
                       "starts_at": "datetime", "capacity": "int", "instructor_id": "int?", "booked": "int",
                       "waitlisted": "int"},
}
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
AVAILABILITY = re.compile(r"^[0-6]:([01]\d|2[0-3])-([01]\d|2[0-3])$")
ROOM_TYPE = re.compile(r"^[^;=]+(=\d+)?$")


def validate_class_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    columns = CLASS_SCHEMA[name]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"{name}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}")
    out = pd.DataFrame(index=frame.index)
    for column, kind in columns.items():
        if kind == "int?":  # nullable integer
            values = pd.to_numeric(frame[column], errors="coerce")
            bad = values.isna() & frame[column].notna() & (frame[column].astype(str) != "")
            if bad.any():
                raise SchemaError(f"{name}.{column}: value {frame[column][bad].iloc[0]!r} is not an int or empty")
            out[column] = values.astype("Int64")
        else:
            out[column] = _convert(name, column, kind, frame[column])
    _check(name, out)
    return out.reset_index(drop=True)


def _bad(name: str, column: str, values: pd.Series, ok: pd.Series, expected: str) -> None:
    if not ok.all():
        raise SchemaError(f"{name}.{column}: value {values[~ok].iloc[0]!r} (row {int((~ok).to_numpy().argmax())}) "
                          f"is not {expected}")


def _check(name: str, out: pd.DataFrame) -> None:
    if "weekday" in out:
        _bad(name, "weekday", out.weekday, out.weekday.between(0, 6), "a weekday 0 (Monday) .. 6")
    for column in ("opens", "closes", "start_time"):
        if column in out:
            _bad(name, column, out[column], out[column].astype(str).str.match(HHMM), "a time HH:MM")
    for column in ("capacity", "max_classes_week"):
        if column in out:
            _bad(name, column, out[column], out[column].between(1, 500), "an integer 1..500")
    for column in ("booked", "waitlisted"):
        if column in out:
            _bad(name, column, out[column], out[column].between(0, 100_000), "a count >= 0")
    if name == "rooms":
        ok = out.class_types.map(lambda s: all(ROOM_TYPE.match(p.strip()) for p in str(s).split(";")))
        _bad(name, "class_types", out.class_types, ok, "a list like 'yoga;pilates=15'")
    if name == "instructors":
        ok = out.availability.map(lambda s: s is None or s == "" or all(
            AVAILABILITY.match(p.strip()) for p in str(s).split(";")))
        _bad(name, "availability", out.availability, ok, "a list like '0:06-12;5:08-13' (weekday:first-last hour)")


def load_class_csv_dir(folder: str | Path) -> dict[str, pd.DataFrame]:
    folder = Path(folder)
    if not folder.is_dir():
        raise SchemaError(f"{folder}: not a folder; expected one CSV per table ({', '.join(CLASS_SCHEMA)})")
    tables = {}
    for name, columns in CLASS_SCHEMA.items():
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise SchemaError(f"{path}: missing; expected a CSV with columns {', '.join(columns)}")
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise SchemaError(f"{path}: not readable as CSV ({str(exc).splitlines()[0]})") from None
        try:
            tables[name] = validate_class_table(name, frame)
        except SchemaError as exc:
            raise SchemaError(f"{path}: {exc}") from None
    return tables


def write_class_csv_dir(tables: dict[str, pd.DataFrame], folder: str | Path) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in CLASS_SCHEMA:
        tables[name].to_csv(folder / f"{name}.csv", index=False, date_format="%Y-%m-%dT%H:%M:%S")


# --- the platform's PostgreSQL (part 1 tables: areas, class_sessions, bookings, checkins, users) ---
SESSIONS_SQL = """
    SELECT s.id AS session_id, s.unit_id, s.title AS class_type, s.area_id AS room_id, s.starts_at,
           s.capacity, s.trainer_user_id AS instructor_id,
           count(b.id) FILTER (WHERE b.status = 'confirmed') AS booked,
           count(b.id) FILTER (WHERE b.status = 'waitlisted') AS waitlisted
    FROM class_sessions s LEFT JOIN bookings b ON b.class_id = s.id
    WHERE s.status = 'scheduled' AND s.starts_at >= :since AND s.starts_at < :until
    GROUP BY s.id"""
ROOMS_SQL = """
    SELECT a.id AS room_id, a.unit_id, a.name, a.capacity, s.title AS class_type, max(s.capacity) AS type_capacity
    FROM areas a JOIN class_sessions s ON s.area_id = a.id WHERE s.starts_at >= :since
    GROUP BY a.id, s.title ORDER BY a.id, s.title"""
TRAINERS_SQL = """
    SELECT u.id AS instructor_id, u.unit_id, string_agg(DISTINCT s.title, ';') AS qualifications
    FROM users u LEFT JOIN class_sessions s ON s.trainer_user_id = u.id AND s.starts_at >= :since
    WHERE u.role = 'trainer' AND u.is_active AND u.unit_id IS NOT NULL GROUP BY u.id ORDER BY u.id"""
HOURS_SQL = """
    SELECT k.unit_id, extract(isodow FROM k.checked_in_at AT TIME ZONE :tz)::int - 1 AS weekday,
           min(extract(hour FROM k.checked_in_at AT TIME ZONE :tz))::int AS first_hour,
           max(extract(hour FROM k.checked_in_at AT TIME ZONE :tz))::int AS last_hour
    FROM checkins k WHERE k.checked_in_at >= :recent AND k.checked_in_at < :until GROUP BY 1, 2"""


def load_class_postgres(engine: sa.Engine, until: pd.Timestamp, history_days: int = 730,
                        timezone: str = "America/Sao_Paulo", max_classes_week: int = 20,
                        recent_weeks: int = 4) -> dict[str, pd.DataFrame]:
    """The chain's class history (sessions that started before ``until``) in the class schema.

    Mapping (part 1 has no rooms/instructor tables of its own): a room is an area where classes were held, allowed
    the types held there at the largest capacity used for each; instructors are the unit's trainers, qualified for
    the types they taught (every type of the unit if none is recorded), available in all opening hours, at most
    ``max_classes_week``; opening hours are the first and last check-in hour per weekday over the last 8 weeks;
    the current timetable is every (type, room, weekday, start) held at least twice in the last ``recent_weeks``.
    Demand = confirmed + wait-listed bookings (cancelled ones left out).
    """
    until = pd.Timestamp(until)
    until_utc = until.tz_localize("UTC") if until.tzinfo is None else until.tz_convert("UTC")
    params = {"since": until_utc - pd.Timedelta(days=history_days), "until": until_utc, "tz": timezone,
              "recent": until_utc - pd.Timedelta(weeks=8)}
    with engine.connect() as conn:
        sessions = pd.DataFrame(conn.execute(sa.text(SESSIONS_SQL), params).mappings().all(),
                                columns=list(CLASS_SCHEMA["class_sessions"]))
        room_rows = pd.DataFrame(conn.execute(sa.text(ROOMS_SQL), params).mappings().all(),
                                 columns=["room_id", "unit_id", "name", "capacity", "class_type", "type_capacity"])
        trainers = pd.DataFrame(conn.execute(sa.text(TRAINERS_SQL), params).mappings().all(),
                                columns=["instructor_id", "unit_id", "qualifications"])
        hours = pd.DataFrame(conn.execute(sa.text(HOURS_SQL), params).mappings().all(),
                             columns=["unit_id", "weekday", "first_hour", "last_hour"])
    zone = ZoneInfo(timezone)
    if not sessions.empty:
        sessions["starts_at"] = pd.to_datetime(sessions.starts_at, utc=True).dt.tz_convert(zone).dt.tz_localize(None)
    rooms = (room_rows.assign(spec=room_rows.class_type + "=" + room_rows.type_capacity.astype(str))
             .groupby(["room_id", "unit_id", "name", "capacity"], as_index=False).spec.agg(";".join)
             .rename(columns={"spec": "class_types"}))
    unit_types = sessions.groupby("unit_id").class_type.agg(lambda s: ";".join(sorted(set(s))))
    trainers["qualifications"] = [q if q else unit_types.get(u, "") for q, u in
                                  zip(trainers.qualifications.fillna(""), trainers.unit_id, strict=True)]
    trainers = trainers[trainers.qualifications != ""].assign(max_classes_week=max_classes_week, availability=None)
    opening = hours.assign(opens=hours.first_hour.map(lambda h: f"{int(h):02d}:00"),
                           closes=hours.last_hour.map(lambda h: f"{min(int(h) + 1, 23):02d}:00"))
    tables = {"rooms": rooms, "instructors": trainers, "opening_hours": opening[list(CLASS_SCHEMA["opening_hours"])],
              "class_sessions": sessions, "timetable": current_timetable(sessions, until, recent_weeks)}
    return {name: validate_class_table(name, tables[name]) for name in CLASS_SCHEMA}


def current_timetable(sessions: pd.DataFrame, until: pd.Timestamp, recent_weeks: int = 4) -> pd.DataFrame:
    """The weekly pattern held at least twice in the last ``recent_weeks`` weeks before ``until``."""
    columns = list(CLASS_SCHEMA["timetable"])
    recent = sessions[sessions.starts_at >= pd.Timestamp(until).tz_localize(None) - pd.Timedelta(weeks=recent_weeks)]
    if recent.empty:
        return pd.DataFrame(columns=columns)
    recent = recent.assign(weekday=recent.starts_at.dt.day_of_week, start_time=recent.starts_at.dt.strftime("%H:%M"))
    keys = ["unit_id", "class_type", "room_id", "weekday", "start_time"]
    held = recent.groupby(keys).agg(n=("session_id", "size"),
                                    instructor_id=("instructor_id", lambda s: s.mode().iloc[0] if s.notna().any()
                                                   else None)).reset_index()
    return held[held.n >= 2][columns].reset_index(drop=True)
