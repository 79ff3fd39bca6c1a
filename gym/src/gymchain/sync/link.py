"""A unit's link to the centre: push the unit's outbox, pull the unit's feed, whenever the network allows.

    python -m gymchain.sync.link --unit SP1 [--interval 2]

Upstream reuses the outbox relay (:func:`gymchain.common.outbox.relay_once`) with an HTTP publisher: a batch is
marked sent only after the centre answered that it applied it. Downstream applies feed events in sequence order,
each once (``processed_events``), and moves the cursor in the same transaction. When the link is down both sides
simply wait; nothing is lost because both ends keep their events in their databases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import threading
import time
import uuid

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from gymchain.common.outbox import PublishError, purge_sent, relay_once
from gymchain.sync import unit_schema as us

log = logging.getLogger(__name__)
SENT_RETENTION = dt.timedelta(days=7)  # sent outbox rows kept this long (to re-send by hand if the centre lost them)


class LinkDown(RuntimeError):
    """The centre could not be reached (or refused the call); the unit keeps working offline."""


class HttpPublisher:
    """The outbox relay's publisher for a unit: collects a batch, POSTs it on ``flush``."""

    def __init__(self, client: httpx.Client, url: str, token: str):
        self.client, self.url, self.headers = client, url, {"Authorization": f"Bearer {token}"}
        self.batch: list[dict] = []
        self.totals = {"sent": 0, "applied": 0, "rejected": 0, "duplicates": 0}

    def publish(self, topic: str, key: str, value: bytes, headers: dict[str, str]) -> None:
        self.batch.append(json.loads(value))

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        try:
            response = self.client.post(self.url, json={"events": batch}, headers=self.headers)
        except httpx.HTTPError as exc:
            raise PublishError(f"centre unreachable: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise PublishError(f"centre answered {response.status_code}: {response.text[:200]}")
        body = response.json()
        self.totals["sent"] += len(batch)
        for name in ("applied", "rejected", "duplicates"):
            self.totals[name] += body[name]


def _notify(code: str, kind: str, message: dict) -> None:
    from redis.exceptions import RedisError

    from gymchain.common.messaging import notify

    try:
        notify.publish("sync.compensation", {"event": kind, **message}, scope=code)
    except RedisError:  # the desk still sees it in its notifications table
        log.warning("unit %s: could not publish the %s notification", code, kind)


def apply_feed_event(conn: sa.Connection, event: dict) -> str | None:
    """Apply one feed event once; returns its kind if it was new and needs a desk notification, else None."""
    fresh = conn.execute(insert(us.processed_events).values(
        event_id=uuid.UUID(event["event_id"]), seq=event["seq"], kind=event["kind"])
        .on_conflict_do_nothing().returning(us.processed_events.c.event_id)).first()
    us.set_state(conn, "feed_seq", str(event["seq"]))
    if fresh is None:
        return None
    kind, p = event["kind"], event["payload"]
    if kind == "member.upserted":
        row = {"home_unit_id": p["home_unit_id"], "status": p["status"], "contract_ends_on": p["contract_ends_on"],
               "updated_at": sa.func.now()}
        conn.execute(insert(us.roster).values(member_id=p["id"], **row)
                     .on_conflict_do_update(index_elements=["member_id"], set_=row))
    elif kind == "area.upserted":
        row = {"name": p["name"], "kind": p["kind"], "capacity": p["capacity"]}
        conn.execute(insert(us.areas).values(area_id=p["id"], **row)
                     .on_conflict_do_update(index_elements=["area_id"], set_=row))
    elif kind == "class.upserted":
        row = {key: p[key] for key in ("area_id", "title", "starts_at", "ends_at", "capacity", "booked_count",
                                       "status")} | {"updated_at": sa.func.now()}
        conn.execute(insert(us.classes).values(class_id=p["id"], **row)
                     .on_conflict_do_update(index_elements=["class_id"], set_=row))
    elif kind == "booking.confirmed":
        conn.execute(us.bookings.update().where(us.bookings.c.booking_uid == uuid.UUID(p["booking_uid"]))
                     .values(status="confirmed", central_booking_id=p["booking_id"], resolved_at=sa.func.now()))
    elif kind in ("booking.rejected", "checkin.rejected"):
        table, key = (us.bookings, "booking_uid") if kind == "booking.rejected" else (us.checkins, "checkin_uid")
        values = {"status": "rejected", "reason": p["reason"][:200]}
        if kind == "booking.rejected":
            values["resolved_at"] = sa.func.now()
        conn.execute(table.update().where(table.c[key] == uuid.UUID(p[key])).values(**values))
        conn.execute(us.notifications.insert().values(kind=kind, message=p))
        return kind
    else:
        log.warning("feed event %s of unknown kind %r skipped", event["event_id"], kind)
    return None


class UnitLink:
    def __init__(self, code: str, engine: sa.engine.Engine, central_url: str, token: str, *,
                 timeout_s: float = 10.0):
        self.code, self.engine = code, engine
        self.base = f"{central_url.rstrip('/')}/sync/units/{code}/events"
        self.token = token
        self.client = httpx.Client(timeout=timeout_s)
        self.wake = threading.Event()  # set by the desk after a write: push it now rather than at the next tick

    def push(self) -> dict:
        """Send the whole outbox (in batches); returns the centre's counts."""
        publisher = HttpPublisher(self.client, self.base, self.token)
        try:
            while relay_once(self.engine, publisher, batch_size=200):
                pass
        except PublishError as exc:
            raise LinkDown(str(exc)) from None
        return publisher.totals

    def pull(self) -> dict:
        """Apply the feed until it is drained; returns how many events were new and how many notified."""
        applied = notified = 0
        while True:
            with self.engine.connect() as conn:
                after = int(us.get_state(conn, "feed_seq", "0"))
            try:
                response = self.client.get(self.base, params={"after": after, "limit": 500},
                                           headers={"Authorization": f"Bearer {self.token}"})
            except httpx.HTTPError as exc:
                raise LinkDown(f"centre unreachable: {type(exc).__name__}: {exc}") from None
            if response.status_code != 200:
                raise LinkDown(f"centre answered {response.status_code}: {response.text[:200]}")
            body = response.json()
            with self.engine.begin() as conn:
                us.set_state(conn, "unit_id", str(body["unit_id"]))
            for event in body["events"]:
                with self.engine.begin() as conn:
                    kind = apply_feed_event(conn, event)
                applied += 1
                if kind:
                    notified += 1
                    _notify(self.code, kind, event["payload"])
            if not body["events"]:
                return {"feed_events": applied, "notified": notified}

    def sync_once(self) -> dict:
        """Push then pull; records the link's health in the unit's state. Raises LinkDown when offline."""
        now = dt.datetime.now(dt.UTC).isoformat()
        try:
            result = self.push() | self.pull()
        except LinkDown as exc:
            with self.engine.begin() as conn:
                us.set_state(conn, "link_error", f"{now} {exc}"[:500])
            raise
        with self.engine.begin() as conn:
            us.set_state(conn, "link_ok_at", now)
            us.set_state(conn, "link_error", "")
        purge_sent(self.engine, SENT_RETENTION)
        return result

    def run(self, stop: threading.Event, interval_s: float = 2.0, max_idle_s: float = 15.0,
            max_backoff_s: float = 60.0) -> None:
        """Sync until ``stop``: every ``interval_s`` while there is traffic, backing off to ``max_idle_s`` when
        idle and to ``max_backoff_s`` while offline; a desk write (``wake``) triggers a sync at once."""
        wait = interval_s
        while not stop.is_set():
            try:
                result = self.sync_once()
                busy = result["sent"] or result["feed_events"]
                wait = interval_s if busy else min(wait * 2, max_idle_s)
            except LinkDown as exc:
                wait = min(max(wait, interval_s) * 2, max_backoff_s)
                log.info("unit %s offline: %s (retry in %.1f s)", self.code, exc, wait)
            deadline = time.monotonic() + wait
            while not stop.is_set() and not self.wake.is_set() and time.monotonic() < deadline:
                self.wake.wait(min(0.5, max(deadline - time.monotonic(), 0)))
            self.wake.clear()

    def close(self) -> None:
        self.client.close()


def add_link_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--unit", required=True, help="unit code, e.g. SP1")
    parser.add_argument("--database-url", default=None, help="the unit's database (default: gym_unit_<code> on the "
                                                             "server of GYM_DATABASE_URL)")
    parser.add_argument("--central-url", default=None, help="central sync service (default: GYM_CENTRAL_SYNC_URL)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between syncs (0.1-300)")
    parser.add_argument("--max-idle", type=float, default=15.0, help="longest wait when idle (>= interval, <= 600)")
    parser.add_argument("--max-backoff", type=float, default=60.0, help="longest wait while offline (>= interval, "
                                                                        "<= 600)")


def open_unit(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[sa.engine.Engine, UnitLink]:
    """Check the arguments, create/upgrade the unit database, and build its link."""
    import os

    from gymchain.common.settings import get_settings
    from gymchain.sync.tokens import check_unit_code, unit_token

    try:
        check_unit_code(args.unit)
    except ValueError as exc:
        parser.error(f"--unit: {exc}")
    if not 0.1 <= args.interval <= 300:
        parser.error(f"--interval {args.interval}: expected 0.1 to 300 seconds")
    for name in ("max_idle", "max_backoff"):
        if not args.interval <= getattr(args, name) <= 600:
            parser.error(f"--{name.replace('_', '-')} {getattr(args, name)}: expected --interval to 600 seconds")
    settings = get_settings()
    url = args.database_url or us.unit_database_url(args.unit, settings.database_url)
    try:
        us.ensure_database(url)
    except Exception as exc:  # noqa: BLE001 - any connection failure ends here with one line
        raise SystemExit(f"unit database {sa.engine.make_url(url).database}: cannot create or reach it ({exc})") from None
    engine = sa.create_engine(url, pool_pre_ping=True)
    us.init_unit_database(engine)
    token = os.environ.get("GYM_SYNC_TOKEN") or unit_token(args.unit)
    return engine, UnitLink(args.unit, engine, args.central_url or settings.central_sync_url, token)


def main(argv: list[str] | None = None) -> int:
    import signal

    parser = argparse.ArgumentParser(prog="python -m gymchain.sync.link", description=__doc__.splitlines()[0])
    add_link_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
    _, link = open_unit(args, parser)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    link.run(stop, args.interval, args.max_idle, args.max_backoff)
    link.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
