"""A unit's own database (``gym_unit_<code>``): what the front desk needs to work offline.

Reference data copied from the centre (roster, areas, classes with the central booked count), the desk's own
writes (check-ins, bookings with their central verdict), the outbox of those writes, the ids of feed events
already applied, notifications for the desk, and small key/value state (feed cursor, link health).
"""

from __future__ import annotations

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url

from gymchain.common.outbox import outbox_events
from gymchain.sync.tokens import check_unit_code

unit_metadata = sa.MetaData()

unit_state = sa.Table(
    "unit_state", unit_metadata,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
roster = sa.Table(
    "roster", unit_metadata,
    sa.Column("member_id", sa.BigInteger, primary_key=True),
    sa.Column("home_unit_id", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("contract_ends_on", sa.Date),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
areas = sa.Table(
    "areas", unit_metadata,
    sa.Column("area_id", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
)
classes = sa.Table(
    "classes", unit_metadata,
    sa.Column("class_id", sa.BigInteger, primary_key=True),
    sa.Column("area_id", sa.BigInteger, nullable=False),
    sa.Column("title", sa.String(80), nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("booked_count", sa.Integer, nullable=False),  # the centre's count when last heard
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
bookings = sa.Table(
    "bookings", unit_metadata,
    sa.Column("booking_uid", sa.Uuid, primary_key=True),  # also the id of its outbox event
    sa.Column("class_id", sa.BigInteger, nullable=False),
    sa.Column("member_id", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | confirmed | rejected
    sa.Column("central_booking_id", sa.BigInteger),
    sa.Column("reason", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("status IN ('pending', 'confirmed', 'rejected')", name="ck_bookings_status"),
    sa.Index("uq_bookings_live", "class_id", "member_id", unique=True,
             postgresql_where=sa.text("status <> 'rejected'")),
)
checkins = sa.Table(
    "checkins", unit_metadata,
    sa.Column("checkin_uid", sa.Uuid, primary_key=True),  # also the id of its outbox event
    sa.Column("member_id", sa.BigInteger, nullable=False),
    sa.Column("area_id", sa.BigInteger, nullable=False),
    sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="recorded"),  # recorded | rejected
    sa.Column("reason", sa.String(200)),
)
processed_events = sa.Table(
    "processed_events", unit_metadata,
    sa.Column("event_id", sa.Uuid, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
notifications = sa.Table(
    "notifications", unit_metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("message", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)


def unit_database_name(code: str) -> str:
    return f"gym_unit_{check_unit_code(code).lower().replace('-', '_')}"


def unit_database_url(code: str, central_url: str) -> str:
    """The unit's database on the same server as ``central_url`` (production gives each unit its own URL)."""
    return make_url(central_url).set(database=unit_database_name(code)).render_as_string(hide_password=False)


def ensure_database(url: str) -> bool:
    """Create the database of ``url`` if it does not exist; returns True when it was created."""
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{parsed.database}"')
    return True


def init_unit_database(engine: sa.engine.Engine) -> None:
    """Create the unit's tables (idempotent)."""
    unit_metadata.create_all(engine)
    outbox_events.create(engine, checkfirst=True)


def get_state(conn: sa.Connection, key: str, default: str | None = None) -> str | None:
    value = conn.execute(sa.select(unit_state.c.value).where(unit_state.c.key == key)).scalar()
    return default if value is None else value


def set_state(conn: sa.Connection, key: str, value: str) -> None:
    from sqlalchemy.dialects.postgresql import insert

    conn.execute(insert(unit_state).values(key=key, value=value)
                 .on_conflict_do_update(index_elements=["key"], set_={"value": value}))
