"""Batch scoring through RabbitMQ: the ``batch-scoring`` job scores every member of a unit with the promoted churn
model and writes the scores (with each member's top reasons) to ``ml_scores``.

Payload: ``{"unit_id": U, "model": "churn", "source": "platform" | "csv", "path": DIR?, "at": ISO date?,
"reasons": bool}``. The job's status lives in the docstore ``jobs`` collection (queued -> running -> done/failed,
readable with ``GET /api/analytics/jobs/{id}``); its result says which model version scored how many members.
A redelivered job replaces its own rows (one row per job and member), so a retry never duplicates scores.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from gymchain.common.messaging.rabbit import PermanentJobError

from .churn import top_reasons
from .features import FEATURES, churn_features
from .registry import MODEL_NAME, active_model
from .sources import load_source

log = logging.getLogger(__name__)
KIND = "batch-scoring"


def engine() -> sa.Engine:
    from gymchain.common.db import get_engine

    return get_engine()


def submit_system_job(kind: str, payload: dict, unit_id: int | None = None, reason: str = "system") -> str:
    """Record (docstore ``jobs``, status queued) and enqueue a job started by the platform itself, not a user."""
    from gymchain.common.docstore import get_collection
    from gymchain.common.messaging.rabbit import enqueue_job

    job_id = uuid.uuid4().hex
    get_collection("jobs").insert_one({
        "_id": job_id, "kind": kind, "service": "analytics", "status": "queued", "unit_id": unit_id,
        "requested_by": 0, "requested_role": "system", "reason": reason,
        "created_at": datetime.now(UTC).isoformat(), "payload": payload})
    enqueue_job(kind, payload | {"unit_id": unit_id, "requested_by": 0}, job_id=job_id)
    return job_id


def score_unit(payload: dict, job: dict) -> dict:
    """The ``batch-scoring`` handler (see the module docstring)."""
    unit_id = payload.get("unit_id")
    if not isinstance(unit_id, int) or unit_id < 1:
        raise PermanentJobError(f"unit_id {unit_id!r}: expected a positive integer")
    if payload.get("model", MODEL_NAME) != MODEL_NAME:
        raise PermanentJobError(f"model {payload.get('model')!r}: only 'churn' is scored in batch")
    db = engine()
    found = active_model(db)
    if found is None:
        raise PermanentJobError("no churn model is promoted; train one with 'gymchain train-churn'")
    booster, metadata = found
    started = time.perf_counter()
    try:
        tables, source = load_source(payload, db, unit_id=unit_id)
    except ValueError as exc:
        raise PermanentJobError(str(exc).splitlines()[0]) from None
    loaded = time.perf_counter()
    at = pd.Timestamp(payload["at"]) if payload.get("at") else pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    frame = churn_features(tables, at)
    frame = frame[frame.unit_id == unit_id]
    featured = time.perf_counter()
    frame["score"] = booster.predict(frame[FEATURES].to_numpy(float)) if len(frame) else []
    predicted = time.perf_counter()
    reasons = top_reasons(booster, frame) if payload.get("reasons", True) and len(frame) else [None] * len(frame)
    scored = time.perf_counter()
    rows = write_scores(db, job["job_id"], unit_id, metadata["version"], frame, reasons)
    done = time.perf_counter()
    log.info("batch-scoring job %s: unit %s, %d members, model v%s", job["job_id"], unit_id, rows,
             metadata["version"])
    return {"model": MODEL_NAME, "model_version": metadata["version"], "unit_id": unit_id, "members_scored": rows,
            "source": source, "at": at.isoformat(), "seconds": {"load": round(loaded - started, 3),
                                                                 "features": round(featured - loaded, 3),
                                                                 "predict": round(predicted - featured, 3),
                                                                 "reasons": round(scored - predicted, 3),
                                                                 "write": round(done - scored, 3)}}


def write_scores(db: sa.Engine, job_id: str, unit_id: int, version: int, frame: pd.DataFrame,
                 reasons: list) -> int:
    """Replace the job's rows in ``ml_scores`` with one row per member (COPY)."""
    buffer = io.StringIO()
    for member_id, score, why in zip(frame.index, frame["score"], reasons, strict=True):
        details = "\\N" if why is None else json.dumps({"reasons": why}).replace("\\", "\\\\")
        buffer.write(f"churn\t{version}\t{job_id}\t{unit_id}\t{int(member_id)}\t{float(score)!r}\t{details}\n")
    raw = db.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute("DELETE FROM ml_scores WHERE job_id = %s", (job_id,))
            with cur.copy("COPY ml_scores (model_name, model_version, job_id, unit_id, member_id, score, details) "
                          "FROM STDIN") as copy:
                copy.write(buffer.getvalue())
        raw.commit()
    finally:
        raw.close()
    return len(frame)


def latest_scores(db: sa.Engine, unit_id: int, limit: int = 50) -> dict | None:
    """The newest batch run of a unit: its job, model version, time and the highest scores first."""
    with db.connect() as conn:
        last = conn.execute(sa.text("""SELECT job_id, model_version, max(scored_at) AS scored_at, count(*) AS n
                                       FROM ml_scores WHERE model_name = 'churn' AND unit_id = :unit
                                       GROUP BY job_id, model_version ORDER BY max(scored_at) DESC LIMIT 1"""),
                            {"unit": unit_id}).first()
        if last is None:
            return None
        rows = conn.execute(sa.text("""SELECT s.member_id, s.score, s.details FROM ml_scores s
                                       JOIN members m ON m.id = s.member_id AND m.erased_at IS NULL
                                       WHERE s.job_id = :job ORDER BY s.score DESC, s.member_id LIMIT :limit"""),
                            {"job": last.job_id, "limit": limit}).all()
    return {"unit_id": unit_id, "job_id": last.job_id, "model_version": last.model_version,
            "scored_at": last.scored_at.isoformat(timespec="seconds"), "members_scored": last.n,
            "members": [{"member_id": r.member_id, "churn_risk": round(r.score, 5),
                         "reasons": (r.details or {}).get("reasons", [])} for r in rows]}
