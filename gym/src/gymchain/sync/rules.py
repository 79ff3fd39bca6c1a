"""Central rules for unit events, and the reference data the centre sends down to each unit.

Every unit event is applied once, in its own transaction: its id goes into ``sync_processed_events`` first
(``ON CONFLICT DO NOTHING``), so a second delivery changes nothing. The rules, the same as the members service's:

- ``checkin.in``: the member must be active with a contract valid in the unit on that day, the area must be the
  unit's. An open check-in of the member is closed at the new check-in's time (the member moved); if that open
  check-in is *later* (events arrive late from an offline unit), the late one is stored already closed at the
  later one's start. Otherwise rejected, with a ``checkin.rejected`` compensation to the unit.
- ``booking.requested``: capacity is decided here. The class row is locked; a seat is taken only while
  ``booked_count < capacity``. A booking that arrives after the class is full (the app and other desks filled it
  while the unit was offline), or for a cancelled/started class, or without a valid contract, is rejected and a
  ``booking.rejected`` compensation goes back; a member already holding a live booking keeps it
  (``booking.confirmed`` with that booking).

Accepted events also enter the central outbox (topics ``checkins`` / ``bookings``), as the services' own writes do.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from gymchain.common.outbox import add_event
from gymchain.sync.central_schema import (
    sync_downstream,
    sync_processed_events,
    sync_reference_state,
    sync_unit_cursor,
)

CLASS_WINDOW = dt.timedelta(days=1)  # classes that ended more than this ago are no longer sent to units


class RejectedEvent(Exception):
    """The event breaks a rule; the message is the reason sent back to the unit with ``compensation``."""

    compensation: tuple[str, dict] | None = None


def _compensate(exc: RejectedEvent, kind: str, payload: dict) -> RejectedEvent:
    exc.compensation = (kind, {**payload, "reason": str(exc)})
    return exc


@dataclass(frozen=True)
class Unit:
    id: int
    code: str


@dataclass(frozen=True)
class Outcome:
    event_id: str
    outcome: str  # applied | rejected | duplicate
    reason: str | None = None


def find_unit(conn: sa.Connection, code: str) -> Unit | None:
    row = conn.execute(sa.text("SELECT id, code FROM units WHERE code = :code"), {"code": code}).first()
    return Unit(row.id, row.code) if row else None


def downstream(conn: sa.Connection, unit: Unit, kind: str, payload: dict) -> None:
    conn.execute(sync_downstream.insert().values(unit_code=unit.code, event_id=uuid.uuid4(), kind=kind,
                                                 payload=json.loads(json.dumps(payload, default=str))))


def _int(payload: dict, name: str) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62:
        raise RejectedEvent(f"{name} {value!r}: expected a positive integer below 2**62")
    return value


def _time(payload: dict, name: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(payload[name])
    except (KeyError, TypeError, ValueError):
        raise RejectedEvent(f"{name} {payload.get(name)!r}: expected an ISO-8601 time") from None
    if value.tzinfo is None:
        raise RejectedEvent(f"{name} {payload[name]!r}: expected a timezone")
    return value


def _uid(payload: dict, name: str) -> str:
    try:
        return str(uuid.UUID(str(payload[name])))
    except (KeyError, ValueError):
        raise RejectedEvent(f"{name} {payload.get(name)!r}: expected a UUID") from None


def ensure_member_may_use(conn: sa.Connection, member_id: int, unit: Unit, day: dt.date) -> None:
    """Active member with a contract valid on ``day`` in ``unit`` (home unit or an all-units plan)."""
    member = conn.execute(sa.text("SELECT unit_id, status FROM members WHERE id = :m"), {"m": member_id}).first()
    if member is None or member.status != "active":
        raise RejectedEvent(f"member {member_id} not found")
    contract = conn.execute(sa.text("""
        SELECT p.all_units FROM contracts c JOIN plans p ON p.id = c.plan_id
        WHERE c.member_id = :m AND c.status = 'active' AND c.starts_on <= :day AND c.ends_on > :day
        LIMIT 1"""), {"m": member_id, "day": day}).first()
    if contract is None:
        raise RejectedEvent(f"member {member_id} has no active contract on {day.isoformat()}")
    if member.unit_id != unit.id and not contract.all_units:
        raise RejectedEvent(f"member {member_id}'s plan is valid only in their home unit")


def apply_checkin(conn: sa.Connection, unit: Unit, event_id: str, payload: dict) -> None:
    checkin_uid = _uid(payload, "checkin_uid")
    try:
        member_id, area_id, at = _int(payload, "member_id"), _int(payload, "area_id"), _time(payload, "at")
        area_unit = conn.execute(sa.text("SELECT unit_id FROM areas WHERE id = :a"), {"a": area_id}).scalar()
        if area_unit != unit.id:
            raise RejectedEvent(f"area {area_id} is not in unit {unit.code}")
        ensure_member_may_use(conn, member_id, unit, at.date())
    except RejectedEvent as exc:
        raise _compensate(exc, "checkin.rejected", {"checkin_uid": checkin_uid}) from None
    open_row = conn.execute(sa.text("SELECT id, checked_in_at FROM checkins WHERE member_id = :m "
                                    "AND checked_out_at IS NULL FOR UPDATE"), {"m": member_id}).first()
    closed_at = None
    if open_row is not None and open_row.checked_in_at <= at:
        conn.execute(sa.text("UPDATE checkins SET checked_out_at = :at WHERE id = :id"), {"at": at, "id": open_row.id})
    elif open_row is not None:
        closed_at = open_row.checked_in_at  # arrived late: stored closed, the newer visit stays open
    checkin_id = conn.execute(sa.text("""
        INSERT INTO checkins (member_id, unit_id, area_id, checked_in_at, checked_out_at, source, origin_event_id)
        VALUES (:m, :u, :a, :at, :closed, 'sync', :origin) RETURNING id"""),
        {"m": member_id, "u": unit.id, "a": area_id, "at": at, "closed": closed_at, "origin": event_id}).scalar_one()
    add_event(conn, topic="checkins", key=str(unit.id), payload={
        "type": "checkin.in", "checkin_id": checkin_id, "member_id": member_id, "unit_id": unit.id,
        "area_id": area_id, "at": at, "source": "sync", "unit_event_id": event_id})


def apply_booking(conn: sa.Connection, unit: Unit, event_id: str, payload: dict) -> None:
    booking_uid = _uid(payload, "booking_uid")
    try:
        member_id, class_id = _int(payload, "member_id"), _int(payload, "class_id")
        requested_at = _time(payload, "requested_at")
        cls = conn.execute(sa.text("SELECT id, unit_id, starts_at, status FROM class_sessions WHERE id = :c "
                                   "FOR UPDATE"), {"c": class_id}).first()
        if cls is None or cls.unit_id != unit.id:
            raise RejectedEvent(f"class {class_id} is not a class of unit {unit.code}")
        if cls.status != "scheduled":
            raise RejectedEvent(f"class {class_id} was cancelled")
        if cls.starts_at <= requested_at:
            raise RejectedEvent(f"class {class_id} had already started")
        ensure_member_may_use(conn, member_id, unit, cls.starts_at.date())
        live = conn.execute(sa.text("SELECT id, status FROM bookings WHERE class_id = :c AND member_id = :m "
                                    "AND status <> 'cancelled'"), {"c": class_id, "m": member_id}).first()
        if live is not None and live.status == "confirmed":
            downstream(conn, unit, "booking.confirmed", {"booking_uid": booking_uid, "booking_id": live.id,
                                                         "class_id": class_id, "note": "already booked"})
            return
        if live is not None:
            raise RejectedEvent(f"member {member_id} is on the wait-list of class {class_id} already")
        seat = conn.execute(sa.text("UPDATE class_sessions SET booked_count = booked_count + 1 WHERE id = :c "
                                    "AND booked_count < capacity RETURNING booked_count"), {"c": class_id}).first()
        if seat is None:
            raise RejectedEvent(f"class {class_id} is full")
    except RejectedEvent as exc:
        raise _compensate(exc, "booking.rejected", {"booking_uid": booking_uid}) from None
    try:
        booking_id = conn.execute(sa.text("""
            INSERT INTO bookings (class_id, member_id, status, origin_event_id)
            VALUES (:c, :m, 'confirmed', :origin) RETURNING id"""),
            {"c": class_id, "m": member_id, "origin": event_id}).scalar_one()
    except sa.exc.IntegrityError:  # the member booked the class through the app in the same instant
        raise _compensate(RejectedEvent(f"member {member_id} already has a booking for class {class_id}"),
                          "booking.rejected", {"booking_uid": booking_uid}) from None
    add_event(conn, topic="bookings", key=str(class_id), payload={
        "type": "booking.confirmed", "booking_id": booking_id, "class_id": class_id, "member_id": member_id,
        "unit_id": unit.id, "status": "confirmed", "starts_at": cls.starts_at, "source": "sync",
        "unit_event_id": event_id})
    downstream(conn, unit, "booking.confirmed", {"booking_uid": booking_uid, "booking_id": booking_id,
                                                 "class_id": class_id})


APPLIERS = {"checkin.in": apply_checkin, "booking.requested": apply_booking}


def apply_unit_event(engine: sa.engine.Engine, unit: Unit, envelope: dict) -> Outcome:
    """Apply one unit event exactly once (own transaction); a rejection is recorded and compensated, not raised."""
    event_id = str(uuid.UUID(str(envelope["event_id"])))
    payload = envelope.get("payload") if isinstance(envelope.get("payload"), dict) else {}
    event_type = str(payload.get("type", ""))[:40]
    with engine.begin() as conn:
        fresh = conn.execute(pg_insert(sync_processed_events).values(
            event_id=event_id, unit_code=unit.code, event_type=event_type or "?", outcome="applied")
            .on_conflict_do_nothing().returning(sync_processed_events.c.event_id)).first()
        if fresh is None:
            return Outcome(event_id, "duplicate")
        applier = APPLIERS.get(event_type)
        try:
            if applier is None:
                raise RejectedEvent(f"event type {event_type!r}: expected one of {', '.join(APPLIERS)}")
            with conn.begin_nested():  # a rejection undoes the event's own writes, keeps the compensation
                applier(conn, unit, event_id, payload)
        except RejectedEvent as exc:  # the savepoint undid the event's writes; record and compensate
            if exc.compensation is not None:
                downstream(conn, unit, *exc.compensation)
            conn.execute(sync_processed_events.update().where(sync_processed_events.c.event_id == event_id)
                         .values(outcome="rejected", reason=str(exc)[:200]))
            return Outcome(event_id, "rejected", str(exc))
    return Outcome(event_id, "applied")


# What a unit needs offline, one query per entity (``:u`` unit id, ``:today``, ``:since``): its members with the
# last day of a contract valid there (home unit, or an all-units plan), its areas, and its current classes.
REFERENCE_QUERIES = {
    "member": """
        SELECT m.id, m.unit_id AS home_unit_id, m.status,
               (SELECT max(c.ends_on) FROM contracts c JOIN plans p ON p.id = c.plan_id
                WHERE c.member_id = m.id AND c.status = 'active' AND c.ends_on > :today
                  AND (m.unit_id = :u OR p.all_units)) AS contract_ends_on
        FROM members m
        WHERE m.unit_id = :u OR EXISTS (
            SELECT 1 FROM contracts c JOIN plans p ON p.id = c.plan_id
            WHERE c.member_id = m.id AND c.status = 'active' AND p.all_units AND c.ends_on > :today)""",
    "area": "SELECT id, name, kind, capacity FROM areas WHERE unit_id = :u",
    "class": """
        SELECT id, area_id, title, starts_at, ends_at, capacity, booked_count, status FROM class_sessions
        WHERE unit_id = :u AND ends_at > :since""",
}


def changed_reference(conn: sa.Connection, unit: Unit, entity: str) -> list:
    """Rows of ``entity`` whose JSON digest differs from what the feed last said (computed in SQL)."""
    return conn.execute(sa.text(f"""
        WITH cur AS (SELECT t.id, to_jsonb(t) AS row FROM ({REFERENCE_QUERIES[entity]}) t)
        SELECT cur.id, cur.row, md5(cur.row::text) AS digest FROM cur
        LEFT JOIN sync_reference_state s
          ON s.unit_code = :code AND s.entity = :entity AND s.entity_id = cur.id
        WHERE s.digest IS DISTINCT FROM md5(cur.row::text) ORDER BY cur.id"""),
        {"u": unit.id, "code": unit.code, "entity": entity, "today": dt.datetime.now(dt.UTC).date(),
         "since": dt.datetime.now(dt.UTC) - CLASS_WINDOW}).all()


def refresh_reference(conn: sa.Connection, unit: Unit, *, full: bool = False) -> int:
    """Put an ``<entity>.upserted`` event in the unit's feed for every reference row that changed since the feed
    last described it (all of them when ``full``); returns how many. Serialised per unit (advisory lock)."""
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"sync-ref:{unit.code}"))))
    if full:
        conn.execute(sync_reference_state.delete().where(sync_reference_state.c.unit_code == unit.code))
    changed = 0
    for entity in REFERENCE_QUERIES:
        rows = changed_reference(conn, unit, entity)
        if not rows:
            continue
        conn.execute(sync_downstream.insert(), [{"unit_code": unit.code, "event_id": uuid.uuid4(),
                                                 "kind": f"{entity}.upserted", "payload": row.row} for row in rows])
        upsert = pg_insert(sync_reference_state)
        conn.execute(upsert.on_conflict_do_update(index_elements=["unit_code", "entity", "entity_id"],
                                                  set_={"digest": upsert.excluded.digest}),
                     [{"unit_code": unit.code, "entity": entity, "entity_id": row.id, "digest": row.digest}
                      for row in rows])
        changed += len(rows)
    return changed


def acknowledge(conn: sa.Connection, unit: Unit, acked_seq: int) -> None:
    """A unit asking for the feed after ``acked_seq`` has applied everything up to it."""
    conn.execute(pg_insert(sync_unit_cursor).values(unit_code=unit.code, acked_seq=acked_seq)
                 .on_conflict_do_update(index_elements=["unit_code"],
                                        set_={"acked_seq": acked_seq, "acked_at": sa.func.now()}))


def purge_history(conn: sa.Connection, keep: dt.timedelta = dt.timedelta(days=30)) -> dict:
    """Drop feed rows that their unit acknowledged and processed-event ids, both older than ``keep``.

    ``keep`` must exceed how long a unit may re-send an event (it keeps sent outbox rows 7 days), or a late
    duplicate would be applied again.
    """
    if keep < dt.timedelta(days=8):
        raise ValueError(f"keep {keep}: expected at least 8 days (units may re-send for 7)")
    cutoff = dt.datetime.now(dt.UTC) - keep
    feed = conn.execute(sa.text("""
        DELETE FROM sync_downstream d USING sync_unit_cursor c
        WHERE d.unit_code = c.unit_code AND d.seq <= c.acked_seq AND d.created_at < :cutoff"""),
        {"cutoff": cutoff}).rowcount
    processed = conn.execute(sync_processed_events.delete().where(
        sync_processed_events.c.processed_at < cutoff)).rowcount
    return {"feed_rows": feed, "processed_ids": processed}
