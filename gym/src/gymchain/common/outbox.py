"""Transactional outbox: an event is a row written in the same transaction as the change it describes.

A service that records a check-in calls :func:`add_event` with its own session before committing, so the check-in
and its event commit (or roll back) together. A relay (:func:`relay_once`, :func:`run_relay`) later publishes the
unsent rows to the event stream in id order and marks them sent. Delivery is at-least-once: if the broker accepts
a batch but the mark-as-sent commit is lost, the batch is published again, so every message carries its
``event_id`` and consumers drop ids they have already processed.

Only one relay publishes from a database at a time (a transaction-scoped advisory lock), so two relays started by
mistake neither reorder nor double-send. The same table is used by each unit's local database in
:mod:`gymchain.sync`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from gymchain.common import metrics, tracing
from gymchain.common.db import Base

log = logging.getLogger(__name__)

TOPIC_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,119}$")
RELAY_LOCK_KEY = 0x6F7574626F78  # "outbox": pg advisory locks are per database, so one relay per database

outbox_events = sa.Table(
    "outbox_events",
    Base.metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
    sa.Column("topic", sa.String(120), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Index("ix_outbox_events_unsent", "id", postgresql_where=sa.text("sent_at IS NULL")),
)


class PublishError(RuntimeError):
    """The broker did not confirm every message of a batch; nothing of the batch is marked sent."""


class Publisher(Protocol):
    def publish(self, topic: str, key: str, value: bytes, headers: dict[str, str]) -> None: ...

    def flush(self) -> None:
        """Block until every published message is confirmed; raise PublishError if any was not."""


def create_outbox_table(bind: sa.engine.Connection | sa.engine.Engine) -> None:
    """Create the outbox table where no migration runs (a unit's local database, tests)."""
    outbox_events.create(bind, checkfirst=True)


def _json_default(value: object) -> object:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"payload value of type {type(value).__name__} is not JSON-serialisable")


def normalise_payload(payload: dict) -> dict:
    """The payload as plain JSON (datetimes, UUIDs and decimals as strings); ValueError if it cannot be."""
    if not isinstance(payload, dict):
        raise TypeError(f"outbox payload: expected a dict, got {type(payload).__name__}")
    try:
        return json.loads(json.dumps(payload, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"outbox payload: {exc}") from None


def add_event(session, *, topic: str, key: str, payload: dict, event_id: str | None = None) -> str:
    """Add an event row in the caller's transaction (a SQLAlchemy Session or Connection); returns its event id.

    ``key`` decides the stream partition (e.g. the member id, so one member's events stay in order).
    Passing an existing ``event_id`` again raises an IntegrityError at flush: ids are unique.
    """
    if not isinstance(topic, str) or not TOPIC_PATTERN.match(topic):
        raise ValueError(f"outbox topic {topic!r}: expected lowercase letters, digits, '.', '_' or '-'")
    if not isinstance(key, str) or not 0 < len(key) <= 200:
        raise ValueError(f"outbox key {key!r}: expected a non-empty string of at most 200 characters")
    try:
        event_uuid = uuid.UUID(event_id) if event_id is not None else uuid.uuid4()
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"outbox event_id {event_id!r}: expected a UUID") from None
    stored = normalise_payload(payload)
    trace_context = tracing.outbox_context()
    if trace_context:  # the relay's publish span continues the trace of the request that wrote the event
        stored[tracing.TRACE_KEY] = trace_context
    session.execute(outbox_events.insert().values(event_id=event_uuid, topic=topic, key=key, payload=stored))
    return str(event_uuid)


def encode_message(row) -> bytes:
    """The JSON envelope a consumer receives: event id, topic, key, creation time and payload."""
    payload = {k: v for k, v in row.payload.items() if k != tracing.TRACE_KEY}
    envelope = {"event_id": str(row.event_id), "topic": row.topic, "key": row.key,
                "created_at": row.created_at.isoformat(), "payload": payload}
    return json.dumps(envelope, separators=(",", ":")).encode()


def relay_once(engine: sa.engine.Engine, publisher: Publisher, *, batch_size: int = 500,
               topic_name: Callable[[str], str] = lambda topic: topic) -> int:
    """Publish up to ``batch_size`` unsent events in id order and mark them sent; returns how many were sent.

    Returns 0 without publishing when another relay holds the database's relay lock. ``topic_name`` maps the
    logical topic of a row to the broker's topic (e.g. a per-test suffix).
    """
    with engine.begin() as conn:
        if not conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(RELAY_LOCK_KEY))).scalar():
            return 0
        rows = conn.execute(
            sa.select(outbox_events).where(outbox_events.c.sent_at.is_(None))
            .order_by(outbox_events.c.id).limit(batch_size)
        ).all()
        if not rows:
            return 0
        for row in rows:
            headers = {"event_id": str(row.event_id)}
            parent = row.payload.get(tracing.TRACE_KEY) if isinstance(row.payload, dict) else None
            if parent:  # written inside a traced request: the publish span continues that trace
                with tracing.span(f"{row.topic} publish", kind=tracing.SpanKind.PRODUCER, parent_headers=parent,
                                  attributes={"messaging.system": "kafka", "messaging.destination.name": row.topic,
                                              "messaging.message.id": str(row.event_id)}):
                    tracing.inject(headers)
            publisher.publish(topic_name(row.topic), row.key, encode_message(row), headers)
        publisher.flush()  # raises PublishError: the transaction rolls back and the rows stay unsent
        for row in rows:
            metrics.OUTBOX_PUBLISHED.labels(row.topic).inc()
        conn.execute(outbox_events.update().where(outbox_events.c.id.in_([row.id for row in rows]))
                     .values(sent_at=sa.func.now()))
    return len(rows)


def pending_count(bind) -> int:
    with bind.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(outbox_events.c.sent_at.is_(None))).scalar_one()


def purge_sent(engine: sa.engine.Engine, older_than: dt.timedelta) -> int:
    """Delete rows sent longer ago than ``older_than`` (the stream and the consumers hold them by then)."""
    with engine.begin() as conn:
        result = conn.execute(outbox_events.delete().where(
            outbox_events.c.sent_at < sa.func.now() - older_than))
    return result.rowcount


def run_relay(engine: sa.engine.Engine, publisher: Publisher, *, stop: threading.Event, idle_s: float = 0.5,
              max_backoff_s: float = 30.0, topic_name: Callable[[str], str] = lambda topic: topic,
              keep_sent: dt.timedelta = dt.timedelta(days=7), purge_every_s: float = 3600.0) -> None:
    """Relay until ``stop`` is set: drain while there is work, sleep ``idle_s`` when idle, back off on errors;
    every ``purge_every_s`` drop rows sent longer ago than ``keep_sent`` (kept that long for ``requeue_sent``)."""
    backoff = idle_s
    next_purge = time.monotonic() + purge_every_s
    while not stop.is_set():
        try:
            sent = relay_once(engine, publisher, topic_name=topic_name)
            backoff = idle_s
            if time.monotonic() >= next_purge:
                log.info("outbox relay: purged %d sent row(s)", purge_sent(engine, keep_sent))
                next_purge = time.monotonic() + purge_every_s
        except (PublishError, sa.exc.OperationalError) as exc:
            log.warning("outbox relay: %s; retrying in %.1f s", exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff_s)
            continue
        if not sent:
            stop.wait(idle_s)


def wait_until_drained(bind, timeout_s: float) -> bool:
    """True once no unsent row is left, False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pending_count(bind) == 0:
            return True
        time.sleep(0.1)
    return False


def requeue_sent(engine: sa.engine.Engine, since: dt.datetime | None = None) -> int:
    """Mark rows sent at or after ``since`` (all kept rows if None) unsent again, so the relay re-publishes them.

    Used after the memory-only local broker restarted (it lost every topic) or after a Kafka disaster; the
    consumers drop the event ids they already processed.
    """
    condition = outbox_events.c.sent_at.is_not(None)
    if since is not None:
        condition = condition & (outbox_events.c.sent_at >= since)
    with engine.begin() as conn:
        return conn.execute(outbox_events.update().where(condition).values(sent_at=None)).rowcount
