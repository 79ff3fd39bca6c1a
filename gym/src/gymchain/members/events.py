"""Side effects of writes: outbox events (same transaction), then cache invalidation and notifications.

``add_*_event`` are called before commit; :func:`after_commit` runs the Redis side effects only once the
transaction is durable, and never fails the request (Redis being down degrades notifications, not bookings).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from gymchain.common.messaging import cache
from gymchain.common.messaging import notify as notifications
from gymchain.common.outbox import add_event

log = logging.getLogger("gymchain.members.events")

BOOKINGS_TOPIC = "bookings"
CHECKINS_TOPIC = "checkins"


def booking_event(session: Session, kind: str, booking, cls) -> str:
    return add_event(session, topic=BOOKINGS_TOPIC, key=str(cls.id), payload={
        "type": f"booking.{kind}", "booking_id": booking.id, "class_id": cls.id, "member_id": booking.member_id,
        "unit_id": cls.unit_id, "status": booking.status, "starts_at": cls.starts_at})


def checkin_event(session: Session, kind: str, checkin) -> str:
    return add_event(session, topic=CHECKINS_TOPIC, key=str(checkin.unit_id), payload={
        "type": f"checkin.{kind}", "checkin_id": checkin.id, "member_id": checkin.member_id,
        "unit_id": checkin.unit_id, "area_id": checkin.area_id, "at": checkin.checked_out_at or checkin.checked_in_at})


def classes_key(unit_id: int) -> str:
    return f"classes:unit:{unit_id}"


def occupancy_key(unit_id: int) -> str:
    return f"occupancy:unit:{unit_id}"


def member_scope(member_id: int) -> str:
    return f"member-{member_id}"


def unit_scope(unit_id: int) -> str:
    return f"unit-{unit_id}"


def cached(key: str, ttl_s: float, loader: Callable[[], object]) -> object:
    """Read-through cache (G2's Redis cache); falls back to the loader when Redis is unreachable."""
    try:
        return cache.cached(key, ttl_s, loader)
    except RedisError:
        log.warning("cache unreachable, reading through", exc_info=True)
        return loader()


def invalidate(*keys: str) -> None:
    cache.invalidate(*keys)


def notify(kind: str, scope: str, message: dict) -> None:
    """Publish on Redis pub/sub; kinds: booking.confirmed, booking.cancelled, class.cancelled, occupancy.alert."""
    notifications.publish(kind, message, scope=scope)


def after_commit(*effects: Callable[[], None]) -> None:
    """Run post-commit effects; log (do not raise) when Redis is unreachable."""
    for effect in effects:
        try:
            effect()
        except Exception:
            log.warning("post-commit effect failed", exc_info=True)
