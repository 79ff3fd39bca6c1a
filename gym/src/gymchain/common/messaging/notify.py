"""Notifications over Redis pub/sub: booking confirmed, class cancelled, occupancy alerts.

Channels are ``<prefix>notify:<kind>`` with an optional scope (``occupancy.alert`` for the whole chain,
``occupancy.alert:SP1`` for one unit). Pub/sub is fire-and-forget: a subscriber that is not connected misses the
message, so notifications only nudge clients (refresh a page, show a toast); the durable record is the database
and the event stream.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable

import redis

from gymchain.common.messaging.cache import default_client
from gymchain.common.settings import get_settings

KINDS = ("booking.confirmed", "booking.cancelled", "class.cancelled", "occupancy.alert", "sync.compensation")
SCOPE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def channel_name(kind: str, scope: str | None = None, prefix: str | None = None) -> str:
    if kind not in KINDS:
        raise ValueError(f"notification kind {kind!r}: expected one of {', '.join(KINDS)}")
    if scope is not None and not SCOPE_PATTERN.match(scope):
        raise ValueError(f"notification scope {scope!r}: expected 1-64 letters, digits, '_' or '-'")
    prefix = get_settings().redis_prefix if prefix is None else prefix
    return f"{prefix}notify:{kind}" + (f":{scope}" if scope else "")


def publish(kind: str, message: dict, *, scope: str | None = None, client: redis.Redis | None = None,
            prefix: str | None = None) -> int:
    """Publish ``message`` (JSON) on the kind's channel; returns how many subscribers received it."""
    if not isinstance(message, dict):
        raise TypeError(f"notification message: expected a dict, got {type(message).__name__}")
    body = json.dumps({"kind": kind, "scope": scope, "sent_at": dt.datetime.now(dt.UTC).isoformat(),
                       "message": message}, default=str)
    return (client or default_client()).publish(channel_name(kind, scope, prefix), body)


class Subscription:
    """Listen on kinds (each for the whole chain and, with ``scope``, for one unit); ``get`` waits for one."""

    def __init__(self, kinds: Iterable[str], *, scope: str | None = None, client: redis.Redis | None = None,
                 prefix: str | None = None):
        self.pubsub = (client or default_client()).pubsub(ignore_subscribe_messages=True)
        channels = [channel_name(kind, None, prefix) for kind in kinds]
        if scope:
            channels += [channel_name(kind, scope, prefix) for kind in kinds]
        self.pubsub.subscribe(*channels)
        for _ in channels:  # wait for the confirmations so nothing published right after is missed
            self.pubsub.get_message(ignore_subscribe_messages=False, timeout=2.0)

    def get(self, timeout_s: float = 1.0) -> dict | None:
        message = self.pubsub.get_message(timeout=timeout_s)
        return json.loads(message["data"]) if message else None

    def close(self) -> None:
        self.pubsub.close()
