"""The central tables of the sync (the services' tables - members, areas, class_sessions, bookings, checkins -
belong to the members service; the sync writes them with SQL in :mod:`.rules`)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from gymchain.common.db import Base

# every unit event ever applied: the idempotency record (a second delivery of an id is dropped)
sync_processed_events = sa.Table(
    "sync_processed_events",
    Base.metadata,
    sa.Column("event_id", sa.Uuid, primary_key=True),
    sa.Column("unit_code", sa.String(32), nullable=False),
    sa.Column("event_type", sa.String(40), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # applied | rejected
    sa.Column("reason", sa.String(200)),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_sync_processed_events_unit", "unit_code", "processed_at"),
)

# the central -> unit feed: a per-unit outbox written in the transaction of the decision it carries
sync_downstream = sa.Table(
    "sync_downstream",
    Base.metadata,
    sa.Column("seq", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("unit_code", sa.String(32), nullable=False),
    sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_sync_downstream_unit_seq", "unit_code", "seq"),
)

# what the feed last said about each reference row (member, area, class) of a unit: changes become events
sync_reference_state = sa.Table(
    "sync_reference_state",
    Base.metadata,
    sa.Column("unit_code", sa.String(32), primary_key=True),
    sa.Column("entity", sa.String(16), primary_key=True),
    sa.Column("entity_id", sa.BigInteger, primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
)

# the highest feed seq each unit has acknowledged (by asking for what comes after it): older feed rows may go
sync_unit_cursor = sa.Table(
    "sync_unit_cursor",
    Base.metadata,
    sa.Column("unit_code", sa.String(32), primary_key=True),
    sa.Column("acked_seq", sa.BigInteger, nullable=False),
    sa.Column("acked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

SYNC_TABLES = (sync_processed_events, sync_downstream, sync_reference_state, sync_unit_cursor)


def create_sync_tables(bind) -> None:
    for table in SYNC_TABLES:
        table.create(bind, checkfirst=True)
