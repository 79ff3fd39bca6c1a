"""The unit's link cut for real: the link process runs in its own network namespace and reaches the centre over
one veth pair (the WAN) and its database over another (the LAN). Setting the WAN veth down cuts TCP while the
unit keeps its database; setting it up again must bring convergence with nothing lost or doubled."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
import sqlalchemy as sa

from data_fixtures import create_database, database_url, drop_database
from gymchain.common.outbox import pending_count
from gymchain.sync import unit_schema as us
from gymchain.sync.central import create_central_app
from gymchain.sync.linkproxy import LinkProxy
from gymchain.sync.scenario import central_app_booking, desk_client, free_port, seed_central, serve


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def namespace():
    """A namespace with a WAN veth (10.231.N.1 <-> .2) and a LAN veth (10.232.N.1 <-> .2); removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    name, net = f"gymu{tag}", int(tag[:2], 16) % 250 + 1
    try:
        ip("netns", "add", name)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        pytest.fail(f"cannot create a network namespace here ({exc}); this test needs root and iproute2")
    try:
        ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        for prefix, link in (("10.231", "w"), ("10.232", "l")):
            host, unit = f"g{link}{tag}h", f"g{link}{tag}u"
            ip("link", "add", host, "type", "veth", "peer", "name", unit)
            ip("link", "set", unit, "netns", name)
            ip("addr", "add", f"{prefix}.{net}.1/30", "dev", host)
            ip("link", "set", host, "up")
            ip("netns", "exec", name, "ip", "addr", "add", f"{prefix}.{net}.2/30", "dev", unit)
            ip("netns", "exec", name, "ip", "link", "set", unit, "up")
        yield {"name": name, "wan_host": f"10.231.{net}.1", "lan_host": f"10.232.{net}.1", "wan_dev": f"gw{tag}h"}
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
        for link in ("w", "l"):
            subprocess.run(["ip", "link", "del", f"g{link}{tag}h"], check=False, capture_output=True)


@pytest.fixture
def databases():
    from alembic import command

    from gymchain.migrations import alembic_config

    names = {"central": create_database("gym_netns_c"), "SP1": create_database("gym_netns_u")}
    try:
        command.upgrade(alembic_config(database_url(names["central"])), "heads")
        yield {key: database_url(name) for key, name in names.items()}
    finally:
        for name in names.values():
            drop_database(name)


def wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_link_cut_by_a_downed_veth_converges_after_restore(namespace, databases):
    central, unit = sa.create_engine(databases["central"]), sa.create_engine(databases["SP1"])
    ids = seed_central(central)
    us.init_unit_database(unit)
    db_forward = LinkProxy(5432, listen_host=namespace["lan_host"])  # the unit's LAN path to its database
    unit_url_in_ns = sa.engine.make_url(databases["SP1"]).set(host=namespace["lan_host"], port=db_forward.port)
    port = free_port()
    link = None
    try:
        with serve(create_central_app(central), port, host=namespace["wan_host"]) as central_url:
            link = subprocess.Popen(
                ["ip", "netns", "exec", namespace["name"], sys.executable, "-m", "gymchain.sync.link", "--unit", "SP1",
                 "--database-url", unit_url_in_ns.render_as_string(hide_password=False), "--central-url", central_url,
                 "--interval", "0.2", "--max-idle", "0.5", "--max-backoff", "1"], env={**os.environ, "PYTHONUNBUFFERED": "1"},
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

            def roster_size() -> int:
                with unit.connect() as conn:
                    return conn.execute(sa.select(sa.func.count()).select_from(us.roster)).scalar_one()

            assert wait_for(lambda: roster_size() == 20, 60), "the link never bootstrapped the unit"
            ip("link", "set", namespace["wan_dev"], "down")  # the WAN goes dark
            desk = desk_client("SP1", unit, ids["units"]["SP1"])
            members, spin = ids["members"]["SP1"], ids["classes"]["SP1"]["spin"]
            for member in members[:8]:
                assert desk.post("/checkins", json={"member_id": member, "area_id": ids["areas"]["SP1"]["floor"]}
                                 ).status_code == 201
            bookings = [desk.post("/bookings", json={"member_id": m, "class_id": spin}).json()["booking_uid"]
                        for m in members[:2]]
            for member in members[18:20]:
                central_app_booking(central, spin, member)
            def link_error() -> str | None:
                with unit.connect() as conn:
                    return us.get_state(conn, "link_error")

            assert wait_for(link_error, 45), "the link never noticed the cut"  # a connect timeout (10 s)
            print("link error while the WAN is down:", link_error())
            assert pending_count(unit) == 10  # nothing crossed the dark link
            ip("link", "set", namespace["wan_dev"], "up")

            def settled() -> bool:
                states = [desk.get(f"/bookings/{uid}").json()["status"] for uid in bookings]
                return pending_count(unit) == 0 and "pending" not in states

            assert wait_for(settled, 90), "the unit did not converge after the link came back"
            states = sorted(desk.get(f"/bookings/{uid}").json()["status"] for uid in bookings)
    finally:
        if link is not None:
            link.terminate()
            link.wait(10)
        db_forward.close()
        central.dispose()
        unit.dispose()
    assert states == ["confirmed", "rejected"]  # one seat was left of three
    with sa.create_engine(databases["central"]).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM checkins WHERE source = 'sync'")).scalar_one() == 8
        assert conn.execute(sa.text("SELECT count(*) FROM sync_processed_events")).scalar_one() == 10
        assert conn.execute(sa.text("SELECT booked_count FROM class_sessions WHERE id = :c"),
                            {"c": ids["classes"]["SP1"]["spin"]}).scalar_one() == 3
