"""Sync between units and the centre: a unit cut off at the TCP level keeps working, both sides write, the link
comes back, and everything converges with no lost or duplicated event and the capacity conflict compensated.
Real PostgreSQL (a central database migrated to heads, one database per unit) and real HTTP."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from data_fixtures import create_database, database_url, drop_database
from gymchain.common.security.tokens import Principal, issue_access_token
from gymchain.sync import unit_schema as us
from gymchain.sync.central import create_central_app
from gymchain.sync.edge import create_edge_app
from gymchain.sync.scenario import run_scenario
from gymchain.sync.tokens import unit_token


def migrated_central() -> str:
    from alembic import command

    from gymchain.migrations import alembic_config

    name = create_database("gym_sync_c")
    command.upgrade(alembic_config(database_url(name)), "heads")
    return name


@pytest.fixture
def central_url():
    name = migrated_central()
    try:
        yield database_url(name)
    finally:
        drop_database(name)


@pytest.fixture
def unit_url():
    name = create_database("gym_unit_sp1")
    try:
        yield database_url(name)
    finally:
        drop_database(name)


@pytest.fixture
def databases(central_url, unit_url):
    rj1 = create_database("gym_unit_rj1")
    try:
        yield {"central": central_url, "SP1": unit_url, "RJ1": database_url(rj1)}
    finally:
        drop_database(rj1)


def test_offline_unit_converges_without_loss_or_duplicates(databases):
    result = run_scenario(databases["central"], {"SP1": databases["SP1"], "RJ1": databases["RJ1"]})
    print("sync scenario:", json.dumps({k: v for k, v in result.items() if k != "unit_status"}, default=str))
    assert result["link"]["sync_while_cut"].startswith("failed")  # the cut was real
    assert result["unit_events_written"] == 15 + 5 + 10 + 1
    assert result["delivered_once"] == result["unit_events_written"]
    assert result["lost"] == 0
    assert result["outbox_pending_after_restore"] == 0
    assert result["redelivered"] == 20  # SP1's whole outbox sent again ...
    assert result["duplicates_dropped"] == 20  # ... and dropped by event id: nothing applied twice
    checks = result["checks"]
    assert checks["central_sync_checkins"] == 25  # 15 + 10, not 40
    assert result["rejected_centrally"] == 1 and result["conflicts_compensated"] == 1
    assert result["sp1_booking_states"] == ["confirmed"] * 4 + ["rejected"]  # one spin seat was left for two
    assert result["rj1_booking_state"] == "confirmed"
    assert checks["spin_seats"] == {"booked_count": 3, "capacity": 3}
    assert checks["spin_confirmed_rows"] == 3  # never overbooked
    assert checks["late_member_open_checkins"] == 1  # the late offline check-in was stored closed
    for code, unit in checks["units"].items():
        assert unit["checkins_at_centre"] == unit["checkins_local"], code
        assert unit["bookings_same_verdict"] == unit["bookings_local"], code
        assert unit["roster"] == 20, code
    assert checks["units"]["SP1"]["spin_booked_as_seen_by_unit"] == 3  # the unit's view caught up
    assert result["unit_status"]["SP1"]["outbox_pending"] == 0
    assert result["unit_status"]["SP1"]["link_error"] is None


def test_central_refuses_bad_tokens_and_unknown_units(central_url):
    engine = sa.create_engine(central_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO units (code, name, city) VALUES ('SP1', 'Gym', 'SP')"))
        client = TestClient(create_central_app(engine))
        assert client.get("/sync/units/SP1/events").status_code == 401
        assert client.get("/sync/units/SP1/events", headers={"Authorization": f"Bearer {unit_token('RJ1')}"}
                          ).status_code == 401  # another unit's token
        assert client.get("/sync/units/XX9/events", headers={"Authorization": f"Bearer {unit_token('XX9')}"}
                          ).status_code == 404
        auth = {"Authorization": f"Bearer {unit_token('SP1')}"}
        bad = client.post("/sync/units/SP1/events", headers=auth, json={"events": [{"event_id": "nope"}]})
        assert bad.status_code == 422 and "event_id" in bad.json()["detail"]
        assert client.get("/sync/units/SP1/events?limit=5000", headers=auth).status_code == 422
        event = {"event_id": str(uuid.uuid4()), "topic": "bookings", "key": "1",
                 "payload": {"type": "booking.requested", "booking_uid": str(uuid.uuid4()), "class_id": 999,
                             "member_id": 1, "requested_at": "2026-12-06T10:00:00+00:00"}}
        first = client.post("/sync/units/SP1/events", headers=auth, json={"events": [event]}).json()
        assert first["rejected"] == 1 and "class 999" in first["results"][0]["reason"]
        again = client.post("/sync/units/SP1/events", headers=auth, json={"events": [event]}).json()
        assert again["duplicates"] == 1
        feed = client.get("/sync/units/SP1/events?after=0", headers=auth).json()
        assert [e["kind"] for e in feed["events"]] == ["booking.rejected"]  # the compensation, once
    finally:
        engine.dispose()


def test_edge_desk_authenticates_and_validates(unit_url):
    engine = sa.create_engine(unit_url)
    try:
        us.init_unit_database(engine)
        desk = TestClient(create_edge_app("SP1", engine))
        assert desk.post("/checkins", json={"member_id": 1, "area_id": 1}).status_code == 401
        token, _ = issue_access_token(Principal(user_id=1, role="manager", unit_id=7, member_id=None))
        desk.headers["Authorization"] = f"Bearer {token}"
        assert desk.get("/status").status_code == 503  # never synced: no roster yet
        with engine.begin() as conn:
            us.set_state(conn, "unit_id", "8")
        assert desk.get("/status").status_code == 403  # a manager of unit 7 at unit 8's desk
        with engine.begin() as conn:
            us.set_state(conn, "unit_id", "7")
        assert desk.get("/status").status_code == 200
        missing = desk.post("/checkins", json={"member_id": 5, "area_id": 1})
        assert missing.status_code == 404 and "roster" in missing.json()["detail"]
        assert desk.post("/bookings", json={"member_id": 0, "class_id": 1}).status_code == 422
        member = issue_access_token(Principal(user_id=2, role="member", unit_id=7, member_id=3))[0]
        assert desk.get("/status", headers={"Authorization": f"Bearer {member}"}).status_code == 403
    finally:
        engine.dispose()


def test_rejected_checkins_are_compensated_and_marked_at_the_unit(central_url, unit_url):
    from gymchain.sync.link import apply_feed_event
    from gymchain.sync.scenario import seed_central

    central, unit = sa.create_engine(central_url), sa.create_engine(unit_url)
    try:
        ids = seed_central(central)
        sp1_member, rj1_area = ids["members"]["SP1"][0], ids["areas"]["RJ1"]["floor"]
        erased = ids["members"]["SP1"][1]
        with central.begin() as conn:
            conn.execute(sa.text("UPDATE members SET status = 'erased' WHERE id = :m"), {"m": erased})
        us.init_unit_database(unit)
        events, uids = [], []
        for member, area in ((sp1_member, rj1_area), (erased, ids["areas"]["SP1"]["floor"])):
            uid = str(uuid.uuid4())
            uids.append(uid)
            with unit.begin() as conn:  # as the desk wrote them while offline
                conn.execute(us.checkins.insert().values(checkin_uid=uid, member_id=member, area_id=area,
                                                         checked_in_at=sa.func.now()))
            events.append({"event_id": uid, "topic": "checkins", "key": str(member), "payload": {
                "type": "checkin.in", "checkin_uid": uid, "member_id": member, "area_id": area,
                "at": "2026-12-06T10:00:00+00:00"}})
        client = TestClient(create_central_app(central))
        auth = {"Authorization": f"Bearer {unit_token('SP1')}"}
        pushed = client.post("/sync/units/SP1/events", headers=auth, json={"events": events}).json()
        reasons = [r["reason"] for r in pushed["results"]]
        assert pushed["rejected"] == 2
        assert "not in unit SP1" in reasons[0] and f"member {erased} not found" in reasons[1]
        feed = client.get("/sync/units/SP1/events?after=0", headers=auth).json()["events"]
        compensations = [e for e in feed if e["kind"] == "checkin.rejected"]
        assert [e["payload"]["checkin_uid"] for e in compensations] == uids
        for event in feed:
            with unit.begin() as conn:
                apply_feed_event(conn, event)
        with unit.connect() as conn:
            assert conn.execute(sa.select(us.checkins.c.status)).scalars().all() == ["rejected", "rejected"]
            assert conn.execute(sa.select(sa.func.count()).select_from(us.notifications)).scalar_one() == 2
        with central.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM checkins")).scalar_one() == 0  # nothing half-applied
    finally:
        central.dispose()
        unit.dispose()


def test_retention_drops_only_acknowledged_old_history(central_url):
    import datetime as dt

    from gymchain.sync import rules
    from gymchain.sync.central_schema import sync_downstream, sync_processed_events

    engine = sa.create_engine(central_url)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    try:
        with engine.begin() as conn:
            seqs = {}
            for code, created in (("SP1", old), ("SP1", old), ("SP1", old), ("RJ1", old), ("SP1", None)):
                seq = conn.execute(sync_downstream.insert().values(
                    unit_code=code, event_id=uuid.uuid4(), kind="class.upserted", payload={},
                    **({"created_at": created} if created else {})).returning(sync_downstream.c.seq)).scalar_one()
                seqs.setdefault(code, []).append(seq)
            for when in (old, old, None):
                conn.execute(sync_processed_events.insert().values(
                    event_id=uuid.uuid4(), unit_code="SP1", event_type="checkin.in", outcome="applied",
                    **({"processed_at": when} if when else {})))
            rules.acknowledge(conn, rules.Unit(1, "SP1"), seqs["SP1"][1])  # SP1 applied its first two rows
        with engine.begin() as conn:
            assert rules.purge_history(conn) == {"feed_rows": 2, "processed_ids": 2}
            left = conn.execute(sa.select(sync_downstream.c.seq).order_by(sync_downstream.c.seq)).scalars().all()
        assert left == [seqs["SP1"][2], seqs["RJ1"][0], seqs["SP1"][3]]  # unacknowledged or recent rows stay
        with engine.begin() as conn, pytest.raises(ValueError, match="at least 8 days"):
            rules.purge_history(conn, dt.timedelta(days=2))
    finally:
        engine.dispose()
