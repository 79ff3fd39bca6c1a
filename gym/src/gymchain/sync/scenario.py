"""The offline-unit scenario, end to end on real PostgreSQL and real HTTP (used by the test and the benchmark).

Two units (SP1, RJ1), each with its own database and desk (the edge app), linked to a central sync service served
by uvicorn. SP1's link goes through a :class:`LinkProxy` that is cut at the TCP level. While SP1 is cut off:
SP1's desk records check-ins and bookings (two of them for a 3-seat class), the centre fills two seats of that
class through the app and sees a turnstile check-in of a member SP1 also checked in, and RJ1 keeps syncing. After
the link is restored both sides converge; then SP1's whole outbox is delivered a second time (as after a lost
acknowledgement) and must be dropped as duplicates. Returns the counts and the convergence checks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from gymchain.common.outbox import add_event, pending_count, requeue_sent
from gymchain.common.security.tokens import Principal, issue_access_token
from gymchain.sync import unit_schema as us
from gymchain.sync.central import create_central_app
from gymchain.sync.central_schema import sync_processed_events
from gymchain.sync.edge import create_edge_app, unit_status
from gymchain.sync.link import LinkDown, UnitLink
from gymchain.sync.linkproxy import LinkProxy
from gymchain.sync.tokens import unit_token

MEMBERS_PER_UNIT = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(app, port: int, host: str = "127.0.0.1"):
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def seed_central(engine: sa.engine.Engine) -> dict:
    """Two units with a floor and a studio each, members with valid contracts, and classes starting tomorrow."""
    today = dt.datetime.now(dt.UTC).date()
    tomorrow = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    ids: dict = {"units": {}, "members": {}, "areas": {}, "classes": {}}
    with engine.begin() as conn:
        plan = conn.execute(sa.text("INSERT INTO plans (code, name, monthly_price_cents, all_units) "
                                    "VALUES ('basic', 'Basic', 9990, false) RETURNING id")).scalar_one()
        for code, city in (("SP1", "Sao Paulo"), ("RJ1", "Rio de Janeiro")):
            unit = conn.execute(sa.text("INSERT INTO units (code, name, city) VALUES (:c, :n, :city) RETURNING id"),
                                {"c": code, "n": f"Gym {code}", "city": city}).scalar_one()
            ids["units"][code] = unit
            floor = conn.execute(sa.text("INSERT INTO areas (unit_id, name, kind, capacity) "
                                         "VALUES (:u, 'floor', 'weights', 200) RETURNING id"), {"u": unit}).scalar_one()
            studio = conn.execute(sa.text("INSERT INTO areas (unit_id, name, kind, capacity) "
                                          "VALUES (:u, 'studio', 'classes', 30) RETURNING id"), {"u": unit}).scalar_one()
            ids["areas"][code] = {"floor": floor, "studio": studio}
            members = []
            for _ in range(MEMBERS_PER_UNIT):
                member = conn.execute(sa.text("INSERT INTO members (unit_id) VALUES (:u) RETURNING id"),
                                      {"u": unit}).scalar_one()
                conn.execute(sa.text("INSERT INTO contracts (member_id, plan_id, unit_id, starts_on, ends_on, "
                                     "monthly_price_cents) VALUES (:m, :p, :u, :s, :e, 9990)"),
                             {"m": member, "p": plan, "u": unit, "s": today - dt.timedelta(days=30),
                              "e": today + dt.timedelta(days=335)})
                members.append(member)
            ids["members"][code] = members
            classes = {}
            for title, capacity, hours in (("spin", 3, 0), ("yoga", 10, 2)):
                classes[title] = conn.execute(sa.text("""
                    INSERT INTO class_sessions (unit_id, area_id, title, starts_at, ends_at, capacity)
                    VALUES (:u, :a, :t, :s, :e, :c) RETURNING id"""),
                    {"u": unit, "a": studio, "t": title, "s": tomorrow + dt.timedelta(hours=hours),
                     "e": tomorrow + dt.timedelta(hours=hours + 1), "c": capacity}).scalar_one()
            ids["classes"][code] = classes
    return ids


def central_app_booking(engine: sa.engine.Engine, class_id: int, member_id: int) -> None:
    """A booking made through the members service while the unit is offline (the same SQL effect)."""
    with engine.begin() as conn:
        seat = conn.execute(sa.text("UPDATE class_sessions SET booked_count = booked_count + 1 WHERE id = :c "
                                    "AND booked_count < capacity RETURNING unit_id"), {"c": class_id}).first()
        booking = conn.execute(sa.text("INSERT INTO bookings (class_id, member_id, status) VALUES (:c, :m, "
                                       "'confirmed') RETURNING id"), {"c": class_id, "m": member_id}).scalar_one()
        add_event(conn, topic="bookings", key=str(class_id), payload={
            "type": "booking.confirmed", "booking_id": booking, "class_id": class_id, "member_id": member_id,
            "unit_id": seat.unit_id, "status": "confirmed"})


def central_turnstile_checkin(engine: sa.engine.Engine, member_id: int, unit_id: int, area_id: int,
                              at: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE checkins SET checked_out_at = :at WHERE member_id = :m "
                             "AND checked_out_at IS NULL"), {"m": member_id, "at": at})
        conn.execute(sa.text("INSERT INTO checkins (member_id, unit_id, area_id, checked_in_at, source) "
                             "VALUES (:m, :u, :a, :at, 'turnstile')"),
                     {"m": member_id, "u": unit_id, "a": area_id, "at": at})


def desk_client(code: str, engine: sa.engine.Engine, unit_id: int) -> TestClient:
    token, _ = issue_access_token(Principal(user_id=900 + unit_id, role="manager", unit_id=unit_id, member_id=None))
    client = TestClient(create_edge_app(code, engine))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _post(desk: TestClient, path: str, body: dict) -> dict:
    response = desk.post(path, json=body)
    if response.status_code != 201:
        raise RuntimeError(f"desk {path} {body}: {response.status_code} {response.text}")
    return response.json()


def sync_until_quiet(link: UnitLink, rounds: int = 10) -> dict:
    """Sync until nothing is left to push and the feed is drained."""
    totals: dict = {}
    for _ in range(rounds):
        result = link.sync_once()
        for key, value in result.items():
            totals[key] = totals.get(key, 0) + value
        if result["sent"] == 0 and result["feed_events"] == 0:
            break
    return totals


@dataclass
class World:
    """Everything the scenario's phases share."""

    central: sa.engine.Engine
    units: dict[str, sa.engine.Engine]
    ids: dict
    proxy: LinkProxy | None = None
    links: dict[str, UnitLink] = field(default_factory=dict)
    desks: dict[str, TestClient] = field(default_factory=dict)
    booking_uids: dict[str, list[str]] = field(default_factory=dict)


def _connect_units(world: World, base_url: str) -> None:
    """SP1 reaches the centre through a cuttable proxy, RJ1 directly; both bootstrap their reference data."""
    world.proxy = LinkProxy(int(base_url.rsplit(":", 1)[1]))
    world.links = {"SP1": UnitLink("SP1", world.units["SP1"], f"http://127.0.0.1:{world.proxy.port}",
                                   unit_token("SP1")),
                   "RJ1": UnitLink("RJ1", world.units["RJ1"], base_url, unit_token("RJ1"))}
    for code, engine in world.units.items():
        us.init_unit_database(engine)
        sync_until_quiet(world.links[code])  # roster, areas, classes
    world.desks = {code: desk_client(code, engine, world.ids["units"][code]) for code, engine in world.units.items()}


def _write_while_cut(world: World, offline_checkins: int, online_checkins: int) -> dict:
    """SP1 offline, the centre and RJ1 online: everyone writes. Returns what was written and the link results."""
    ids, desks = world.ids, world.desks
    sp1, rj1 = ids["members"]["SP1"], ids["members"]["RJ1"]
    spin, yoga = ids["classes"]["SP1"]["spin"], ids["classes"]["SP1"]["yoga"]
    world.proxy.cut()  # TCP connections refused and reset
    for member in sp1[:offline_checkins]:
        _post(desks["SP1"], "/checkins", {"member_id": member, "area_id": ids["areas"]["SP1"]["floor"]})
    booked = [_post(desks["SP1"], "/bookings", {"member_id": m, "class_id": spin}) for m in sp1[:2]]  # sees 0/3
    booked += [_post(desks["SP1"], "/bookings", {"member_id": m, "class_id": yoga}) for m in sp1[2:5]]
    world.booking_uids["SP1"] = [b["booking_uid"] for b in booked]
    link: dict = {}
    try:
        world.links["SP1"].sync_once()
        link["sync_while_cut"] = "succeeded"
    except LinkDown as exc:
        link["sync_while_cut"] = f"failed: {str(exc)[:80]}"
    for member in sp1[18:20]:  # meanwhile the app fills 2 of the 3 spin seats centrally
        central_app_booking(world.central, spin, member)
    central_turnstile_checkin(world.central, sp1[0], ids["units"]["SP1"], ids["areas"]["SP1"]["floor"],
                              dt.datetime.now(dt.UTC))  # sp1[0] also checked in at the offline desk, earlier
    for member in rj1[:online_checkins]:
        _post(desks["RJ1"], "/checkins", {"member_id": member, "area_id": ids["areas"]["RJ1"]["floor"]})
    world.booking_uids["RJ1"] = [_post(desks["RJ1"], "/bookings", {
        "member_id": rj1[0], "class_id": ids["classes"]["RJ1"]["spin"]})["booking_uid"]]
    link["RJ1_while_SP1_cut"] = sync_until_quiet(world.links["RJ1"])
    written = {"SP1_offline": {"checkins": offline_checkins, "bookings": len(booked)},
               "RJ1_online": {"checkins": online_checkins, "bookings": 1},
               "central_while_cut": {"bookings": 2, "checkins": 1}}
    return {"written": written, "link": link}


def _restore_and_redeliver(world: World) -> dict:
    """Bring SP1 back, then deliver its whole outbox a second time (as after a lost acknowledgement)."""
    world.proxy.restore()
    result: dict = {"SP1_after_restore": sync_until_quiet(world.links["SP1"])}
    result["outbox_pending_after_restore"] = pending_count(world.units["SP1"])
    result["redelivered"] = requeue_sent(world.units["SP1"])
    result["SP1_redelivery"] = sync_until_quiet(world.links["SP1"])
    return result


def _desk_view(world: World) -> dict:
    def states(code: str) -> list[str]:
        return sorted(world.desks[code].get(f"/bookings/{uid}").json()["status"] for uid in world.booking_uids[code])

    notes = world.desks["SP1"].get("/notifications").json()
    return {"sp1_booking_states": states("SP1"), "rj1_booking_state": states("RJ1")[0],
            "conflicts_compensated": sum(n["kind"] == "booking.rejected" for n in notes),
            "unit_status": {code: unit_status(code, engine).model_dump() for code, engine in world.units.items()}}


def run_scenario(central_url: str, unit_urls: dict[str, str], *, offline_checkins: int = 15,
                 online_checkins: int = 10) -> dict:
    """Run the scenario on empty databases (central migrated to heads); returns counts and checks."""
    central = sa.create_engine(central_url)
    world = World(central, {code: sa.create_engine(url) for code, url in unit_urls.items()}, seed_central(central))
    try:
        with serve(create_central_app(central), free_port()) as base_url:
            _connect_units(world, base_url)
            during = _write_while_cut(world, offline_checkins, online_checkins)
            after = _restore_and_redeliver(world)
            view = _desk_view(world)
            for link in world.links.values():
                link.close()
            world.proxy.close()
        checks = _convergence(central, world.units, world.ids, world.ids["members"]["SP1"][0])
    finally:
        for engine in [central, *world.units.values()]:
            engine.dispose()
    unit_events = sum(w["checkins"] + w["bookings"] for k, w in during["written"].items() if k != "central_while_cut")
    link = {**during["link"], "SP1_after_restore": after["SP1_after_restore"], "SP1_redelivery": after["SP1_redelivery"]}
    return {"written": during["written"], "link": link, "unit_events_written": unit_events,
            "delivered_once": checks["processed_events"], "lost": unit_events - checks["processed_events"],
            "applied": checks["applied"], "rejected_centrally": checks["rejected"],
            "redelivered": after["redelivered"], "duplicates_dropped": after["SP1_redelivery"].get("duplicates", 0),
            "outbox_pending_after_restore": after["outbox_pending_after_restore"], **view, "checks": checks}


def _convergence(central: sa.engine.Engine, units: dict, ids: dict, late_member: int) -> dict:
    """Compare the centre with each unit: same check-ins, same booking verdicts, seat counts, no duplicates."""
    checks: dict = {}
    with central.connect() as conn:
        outcomes = dict(conn.execute(sa.select(sync_processed_events.c.outcome, sa.func.count())
                                     .group_by(sync_processed_events.c.outcome)).all())
        checks["processed_events"] = sum(outcomes.values())
        checks["applied"], checks["rejected"] = outcomes.get("applied", 0), outcomes.get("rejected", 0)
        origin_checkins = set(conn.execute(sa.text("SELECT origin_event_id FROM checkins "
                                                   "WHERE source = 'sync'")).scalars())
        checks["central_sync_checkins"] = conn.execute(sa.text(
            "SELECT count(*) FROM checkins WHERE source = 'sync'")).scalar_one()
        booking_origins = dict(conn.execute(sa.text("SELECT origin_event_id, status FROM bookings "
                                                    "WHERE origin_event_id IS NOT NULL")).all())
        checks["spin_seats"] = conn.execute(sa.text("SELECT booked_count, capacity FROM class_sessions WHERE id = :c"),
                                            {"c": ids["classes"]["SP1"]["spin"]}).one()._asdict()
        checks["spin_confirmed_rows"] = conn.execute(sa.text(
            "SELECT count(*) FROM bookings WHERE class_id = :c AND status = 'confirmed'"),
            {"c": ids["classes"]["SP1"]["spin"]}).scalar_one()
        checks["late_member_open_checkins"] = conn.execute(sa.text(
            "SELECT count(*) FROM checkins WHERE member_id = :m AND checked_out_at IS NULL"),
            {"m": late_member}).scalar_one()
        checks["central_outbox_events"] = conn.execute(sa.text("SELECT count(*) FROM outbox_events")).scalar_one()
    checks["units"] = {}
    for code, engine in units.items():
        with engine.connect() as conn:
            local_checkins = {str(u) for u in conn.execute(sa.select(us.checkins.c.checkin_uid)).scalars()}
            local_bookings = {str(r.booking_uid): r.status for r in conn.execute(sa.select(us.bookings))}
            spin_view = conn.execute(sa.select(us.classes.c.booked_count).where(
                us.classes.c.class_id == ids["classes"][code]["spin"])).scalar_one()
            roster = conn.execute(sa.select(sa.func.count()).select_from(us.roster)).scalar_one()
        checks["units"][code] = {
            "checkins_local": len(local_checkins),
            "checkins_at_centre": len(local_checkins & origin_checkins),
            "bookings_local": len(local_bookings),
            "bookings_same_verdict": sum(booking_origins.get(uid, "rejected") == status
                                         for uid, status in local_bookings.items()),
            "spin_booked_as_seen_by_unit": spin_view,
            "roster": roster,
        }
    return checks

