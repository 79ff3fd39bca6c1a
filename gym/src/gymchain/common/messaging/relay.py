"""``python -m gymchain.common.messaging.relay``: the outbox relay process of a database (central or a unit's).

It publishes unsent ``outbox_events`` rows to the Kafka-protocol stream in order (see :mod:`gymchain.common.outbox`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal
import threading

import sqlalchemy as sa

from gymchain.common import logs, metrics, tracing
from gymchain.common.messaging.stream import KafkaPublisher, topic_name
from gymchain.common.outbox import requeue_sent, run_relay
from gymchain.common.settings import get_settings

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """``python -m gymchain.common.messaging.relay``: relay the database's outbox into the event stream until stopped."""
    parser = argparse.ArgumentParser(prog="python -m gymchain.common.messaging.relay", description=main.__doc__)
    parser.add_argument("--database-url", default=None, help="SQLAlchemy URL (default: GYM_DATABASE_URL)")
    parser.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (default: GYM_KAFKA_BOOTSTRAP)")
    parser.add_argument("--idle", type=float, default=0.5, help="seconds between polls when idle (0.05-60)")
    parser.add_argument("--requeue-since", default=None, metavar="ISO_TIME|all",
                        help="first mark events sent since then unsent again (after the memory-only broker lost them)")
    args = parser.parse_args(argv)
    since = None
    if args.requeue_since not in (None, "all"):
        try:
            since = dt.datetime.fromisoformat(args.requeue_since)
        except ValueError:
            parser.error(f"--requeue-since {args.requeue_since!r}: expected an ISO-8601 time or 'all'")
        if since.tzinfo is None:
            parser.error(f"--requeue-since {args.requeue_since!r}: expected a timezone (e.g. +00:00)")
    if not 0.05 <= args.idle <= 60:
        parser.error(f"--idle {args.idle}: expected 0.05 to 60 seconds")
    logs.configure("outbox-relay")
    tracing.setup("outbox-relay")
    metrics.serve_process_metrics("outbox-relay")
    engine = sa.create_engine(args.database_url or get_settings().database_url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("outbox_events"):
                raise SystemExit(f"{engine.url.database}: no outbox_events table; run the migrations first "
                                 "(alembic upgrade heads)")
    except sa.exc.OperationalError as exc:
        raise SystemExit(f"{engine.url.render_as_string(hide_password=True)}: cannot connect ({exc.orig})") from None
    if args.requeue_since is not None:
        log.info("outbox relay: %d event(s) marked for re-publishing", requeue_sent(engine, since))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("outbox relay: %s -> %s", engine.url.render_as_string(hide_password=True),
             args.bootstrap or get_settings().kafka_bootstrap)
    run_relay(engine, KafkaPublisher(args.bootstrap), stop=stop, idle_s=args.idle, topic_name=topic_name)
    return 0




if __name__ == "__main__":
    raise SystemExit(main())
