"""The central sync service: units push their outbox here and pull their feed from here.

    python -m gymchain.sync.central --port 8110

Endpoints (each authenticated with the unit's token, ``Authorization: Bearer <token>``, see :mod:`.tokens`):

- ``POST /sync/units/{code}/events``: a batch of the unit's outbox events, applied in order, each exactly once
  (:func:`gymchain.sync.rules.apply_unit_event`); the answer lists each event's outcome. The unit marks the
  batch sent only after this answer, so a lost answer means the batch comes again and is dropped as duplicates.
- ``GET /sync/units/{code}/events?after=SEQ``: the unit's feed after ``SEQ`` (reference changes, decisions,
  compensations). ``after=0`` (a new or rebuilt unit database) re-sends all reference data first.
- ``GET /sync/units/{code}/status``: what the centre has processed for the unit.
"""


import argparse
import logging
import threading
import time
import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from gymchain.common.errors import NotFound, Unauthorized, Unavailable
from gymchain.common.http import create_app
from gymchain.common.settings import get_settings
from gymchain.sync import rules
from gymchain.sync.central_schema import sync_downstream, sync_processed_events
from gymchain.sync.tokens import UNIT_CODE, verify_unit_token

log = logging.getLogger(__name__)
MAX_BATCH = 500
UNIT_BEARER = HTTPBearer(auto_error=False, description="the unit's sync token: HMAC-SHA256(GYM_SYNC_SECRET, 'unit:<code>')")


class UnitEventIn(BaseModel):
    event_id: uuid.UUID
    topic: str = Field(max_length=120)
    key: str = Field(max_length=200)
    created_at: str | None = Field(None, max_length=40)
    payload: dict


class PushIn(BaseModel):
    events: list[UnitEventIn] = Field(max_length=MAX_BATCH)


class OutcomeOut(BaseModel):
    event_id: str
    outcome: str
    reason: str | None = None


class PushOut(BaseModel):
    results: list[OutcomeOut]
    applied: int
    rejected: int
    duplicates: int


class FeedEvent(BaseModel):
    seq: int
    event_id: str
    kind: str
    payload: dict


class FeedOut(BaseModel):
    unit_id: int
    events: list[FeedEvent]
    last_seq: int
    reference_changes: int


class UnitStatusOut(BaseModel):
    unit: str
    applied: int
    rejected: int
    feed_last_seq: int


def create_central_app(engine: sa.engine.Engine | None = None) -> FastAPI:
    engine = engine or sa.create_engine(get_settings().database_url, pool_pre_ping=True)
    app = create_app("sync", "Central end of the unit sync: units push their outbox events and pull their feed.",
                     with_health=False)
    app.state.engine = engine

    def authenticated_unit(code: Annotated[str, Path(pattern=UNIT_CODE.pattern)],
                           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(UNIT_BEARER)]
                           ) -> rules.Unit:
        if not verify_unit_token(code, credentials.credentials if credentials else None):
            raise Unauthorized(f"missing or invalid sync token for unit {code}")
        with engine.connect() as conn:
            unit = rules.find_unit(conn, code)
        if unit is None:
            raise NotFound(f"unit {code} not found")
        return unit

    UnitDep = Annotated[rules.Unit, Depends(authenticated_unit)]

    @app.get("/health", tags=["health"], summary="Liveness and database reachability (no authentication)")
    def health() -> dict:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return {"service": "sync", "status": "ok", "database": "ok"}
        except sa.exc.SQLAlchemyError as exc:
            return {"service": "sync", "status": "degraded", "database": type(exc).__name__}

    @app.post("/sync/units/{code}/events", response_model=PushOut, tags=["sync"],
              summary="Apply a batch of the unit's outbox events (in order, each exactly once)")
    def push(unit: UnitDep, body: PushIn) -> PushOut:
        try:
            results = [rules.apply_unit_event(engine, unit, event.model_dump(mode="json")) for event in body.events]
        except sa.exc.DBAPIError as exc:  # a lock timeout or a race with a service: the unit sends the batch again
            log.warning("unit %s: batch stopped by %s; the unit will retry", unit.code, type(exc.orig).__name__)
            raise Unavailable(f"the centre could not apply the batch now ({type(exc.orig).__name__}); "
                              "retry later") from None
        counts = {kind: sum(r.outcome == kind for r in results) for kind in ("applied", "rejected", "duplicate")}
        return PushOut(results=[OutcomeOut(**vars(r)) for r in results], applied=counts["applied"],
                       rejected=counts["rejected"], duplicates=counts["duplicate"])

    @app.get("/sync/units/{code}/events", response_model=FeedOut, tags=["sync"],
             summary="The unit's feed after a sequence number (reference data, decisions, compensations)")
    def feed(unit: UnitDep, after: Annotated[int, Query(ge=0)] = 0,
             limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> FeedOut:
        with engine.begin() as conn:
            rules.acknowledge(conn, unit, after)
            changes = rules.refresh_reference(conn, unit, full=after == 0)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(sync_downstream).where(
                sync_downstream.c.unit_code == unit.code, sync_downstream.c.seq > after)
                .order_by(sync_downstream.c.seq).limit(limit)).all()
        events = [FeedEvent(seq=r.seq, event_id=str(r.event_id), kind=r.kind, payload=r.payload) for r in rows]
        return FeedOut(unit_id=unit.id, events=events, last_seq=events[-1].seq if events else after, reference_changes=changes)

    @app.get("/sync/units/{code}/status", response_model=UnitStatusOut, tags=["sync"],
             summary="What the centre has processed for the unit")
    def status(unit: UnitDep) -> UnitStatusOut:
        with engine.connect() as conn:
            outcomes = dict(conn.execute(sa.select(sync_processed_events.c.outcome, sa.func.count())
                                         .where(sync_processed_events.c.unit_code == unit.code)
                                         .group_by(sync_processed_events.c.outcome)).all())
            last = conn.execute(sa.select(sa.func.coalesce(sa.func.max(sync_downstream.c.seq), 0))
                                .where(sync_downstream.c.unit_code == unit.code)).scalar_one()
        return UnitStatusOut(unit=unit.code, applied=outcomes.get("applied", 0), rejected=outcomes.get("rejected", 0),
                             feed_last_seq=last)

    return app


def purge_daily(engine: sa.engine.Engine) -> None:
    """Background retention of the sync tables (see :func:`rules.purge_history`)."""
    while True:
        try:
            with engine.begin() as conn:
                log.info("sync retention: %s", rules.purge_history(conn))
        except sa.exc.SQLAlchemyError as exc:
            log.warning("sync retention failed: %s", exc)
        time.sleep(24 * 3600)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m gymchain.sync.central", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8110)
    parser.add_argument("--database-url", default=None, help="central database (default: GYM_DATABASE_URL)")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port {args.port}: expected 1 to 65535")
    engine = sa.create_engine(args.database_url or get_settings().database_url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            missing = {"sync_processed_events", "sync_downstream", "units"} - set(sa.inspect(conn).get_table_names())
    except sa.exc.OperationalError as exc:
        raise SystemExit(f"{engine.url.render_as_string(hide_password=True)}: cannot connect ({exc.orig})") from None
    if missing:
        raise SystemExit(f"{engine.url.database}: tables {sorted(missing)} missing; run the migrations first "
                         "(alembic upgrade heads)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    threading.Thread(target=purge_daily, args=(engine,), name="sync-purge", daemon=True).start()
    uvicorn.run(create_central_app(engine), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
