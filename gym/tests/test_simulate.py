"""The demo chain generator on a small scale: invariants hold, personal data is encrypted, demo logins work, and
the same seed gives the same chain."""

from __future__ import annotations

import random
import secrets
from datetime import date

import sqlalchemy as sa

from conftest import create_database, drop_database


def test_same_seed_same_people():
    from gymchain.simulate import people

    first = people.make_people(random.Random(7), date(2026, 12, 1), 0.05)
    again = people.make_people(random.Random(7), date(2026, 12, 1), 0.05)
    other = people.make_people(random.Random(8), date(2026, 12, 1), 0.05)
    assert first == again and first != other
    assert all(len(p.cpf) == 11 for p in first)


def test_small_seed_keeps_every_invariant():
    from gymchain.migrations import upgrade
    from gymchain.simulate import people
    from gymchain.simulate.seed import seed

    name = f"gym_seed_{secrets.token_hex(4)}"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    create_database(name)
    try:
        upgrade(url)
        counts = seed(11, url, log=lambda _m: None, days=21, scale=0.02)
        assert counts["units"] == 3 and counts["members"] == 40 and counts["checkins"] > 0
        assert counts["classes"] > 0 and counts["bookings"] > 0 and counts["sensor_readings"] > 0
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            q = lambda sql: conn.execute(sa.text(sql)).scalar()
            assert q("""SELECT count(*) FROM class_sessions c WHERE booked_count <> (SELECT count(*) FROM bookings b
                        WHERE b.class_id = c.id AND b.status = 'confirmed')""") == 0
            assert q("SELECT count(*) FROM class_sessions WHERE booked_count > capacity") == 0
            assert q("SELECT max(n) FROM (SELECT count(*) n FROM checkins WHERE checked_out_at IS NULL "
                     "GROUP BY member_id) t") in (None, 1)
            assert q("SELECT count(*) FROM members WHERE full_name_enc NOT LIKE 'v1.%'") == 0
            assert q("SELECT count(*) FROM users WHERE role = 'member'") == 40
            stored_hash = conn.execute(sa.text("SELECT password_hash FROM users WHERE role = 'admin'")).scalar()
        engine.dispose()
        from gymchain.common.security.passwords import verify_password

        assert verify_password(stored_hash, people.DEMO_PASSWORD)
    finally:
        drop_database(name)
