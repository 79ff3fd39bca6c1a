"""Redis read-through cache with invalidation on writes, and pub/sub notifications, against the real Redis."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from data_fixtures import pg_engine, pg_url, run_suffix  # noqa: F401
from gymchain.common.messaging import cache, notify


@pytest.fixture
def prefix(run_suffix):  # noqa: F811
    prefix = f"gymtest{run_suffix}:"
    yield prefix
    client = cache.default_client()
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


def test_read_through_loads_once_then_serves_from_redis(prefix):
    calls = []

    def loader():
        calls.append(1)
        return {"occupancy": 17}

    assert cache.cached("unit:SP1:occupancy", 30, loader, prefix=prefix) == {"occupancy": 17}
    assert cache.cached("unit:SP1:occupancy", 30, loader, prefix=prefix) == {"occupancy": 17}
    assert len(calls) == 1


def test_ttl_expires(prefix):
    values = iter([1, 2])
    assert cache.cached("k", 0.2, lambda: next(values), prefix=prefix) == 1
    time.sleep(0.3)
    assert cache.cached("k", 0.2, lambda: next(values), prefix=prefix) == 2


def test_write_then_invalidate_serves_the_new_row(prefix, pg_engine):  # noqa: F811
    with pg_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE plans (id int primary key, fee numeric)"))
        conn.execute(sa.text("INSERT INTO plans VALUES (1, 99.90)"))

    def load_fee():
        with pg_engine.connect() as conn:
            return float(conn.execute(sa.text("SELECT fee FROM plans WHERE id = 1")).scalar_one())

    assert cache.cached("plan:1", 60, load_fee, prefix=prefix) == 99.9
    with pg_engine.begin() as conn:
        conn.execute(sa.text("UPDATE plans SET fee = 109.90 WHERE id = 1"))
    assert cache.cached("plan:1", 60, load_fee, prefix=prefix) == 99.9  # stale until the writer invalidates
    cache.invalidate("plan:1", prefix=prefix)
    assert cache.peek("plan:1", prefix=prefix) is cache.MISSING
    assert cache.cached("plan:1", 60, load_fee, prefix=prefix) == 109.9


def test_invalidation_during_a_load_keeps_the_stale_value_out(prefix):
    def slow_loader_raced_by_a_write():
        value = {"fee": "old"}
        cache.invalidate("plan:2", prefix=prefix)  # a writer commits and invalidates while we load
        return value

    assert cache.cached("plan:2", 60, slow_loader_raced_by_a_write, prefix=prefix) == {"fee": "old"}
    assert cache.peek("plan:2", prefix=prefix) is cache.MISSING
    assert cache.cached("plan:2", 60, lambda: {"fee": "new"}, prefix=prefix) == {"fee": "new"}
    assert cache.peek("plan:2", prefix=prefix) == {"fee": "new"}


def test_bad_ttl_and_key_are_refused(prefix):
    with pytest.raises(ValueError, match="ttl"):
        cache.cached("k", 0, lambda: 1, prefix=prefix)
    with pytest.raises(ValueError, match="cache key"):
        cache.cached("", 5, lambda: 1, prefix=prefix)


def test_notifications_reach_chain_and_unit_subscribers(prefix):
    manager_sp1 = notify.Subscription(["booking.confirmed", "occupancy.alert"], scope="SP1", prefix=prefix)
    manager_rj1 = notify.Subscription(["occupancy.alert"], scope="RJ1", prefix=prefix)
    try:
        assert notify.publish("booking.confirmed", {"booking_id": 7}, prefix=prefix) == 1
        assert notify.publish("occupancy.alert", {"area": "weights", "ratio": 0.95}, scope="SP1", prefix=prefix) == 1
        assert notify.publish("class.cancelled", {"class_id": 3}, prefix=prefix) == 0
        first, second = manager_sp1.get(2.0), manager_sp1.get(2.0)
        assert (first["kind"], first["message"]) == ("booking.confirmed", {"booking_id": 7})
        assert (second["kind"], second["scope"], second["message"]["area"]) == ("occupancy.alert", "SP1", "weights")
        assert manager_rj1.get(0.3) is None  # another unit's alert is not delivered
    finally:
        manager_sp1.close()
        manager_rj1.close()
    with pytest.raises(ValueError, match="notification kind"):
        notify.publish("spam", {}, prefix=prefix)
