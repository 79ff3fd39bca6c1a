"""``python -m gymchain.vision.worker``: the vision worker. It consumes the RabbitMQ ``video-analysis`` queue and,
per job: checks the source (a file under GYM_VISION_MEDIA_ROOT) and, for posture feedback, the member's camera
consent (again: it may have been withdrawn since the job was queued); analyses the clip; then in ONE database
transaction writes the documents (``vision_events``: a summary, per-rep posture feedback, misuse alerts),
the time series (occupancy samples per area; line counts and area-to-area flows as readings) and the outbox
events (topic ``vision``) - so a crash never leaves half a result. The job's status and result land in the
``jobs`` collection (read through GET /jobs/{id} and /jobs/{id}/report). Runs in gym/.venv-vision.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlparse

import sqlalchemy as sa
from pydantic import ValidationError

from gymchain.common.messaging.rabbit import PermanentJobError
from gymchain.vision.config import get_vision_settings
from gymchain.vision.schemas import VideoJob

log = logging.getLogger(__name__)
TOPIC = "vision"
LANDMARK_SUFFIX = ".npz"


@lru_cache
def classifier():
    """The fine-tuned classifier, or None (rules only) when no model directory is there."""
    from gymchain.vision.model import load

    directory = get_vision_settings().model_dir
    if not (directory / "model.safetensors").is_file():
        log.warning("vision worker: no classifier at %s; rules only", directory)
        return None
    return load(directory)


def resolve_source(uri: str) -> Path:
    """The local path of a ``file://`` source under the media root; PermanentJobError otherwise."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise PermanentJobError(f"source_uri {uri!r}: this worker reads file:// sources under the media root "
                                f"(copy the {parsed.scheme} segment there first)")
    root = get_vision_settings().media_root.resolve()
    path = Path(unquote(parsed.path)).resolve()
    if root != path and root not in path.parents:
        raise PermanentJobError(f"source_uri {uri!r}: outside the media root {root}")
    if not path.is_file():
        raise PermanentJobError(f"source_uri {uri!r}: no such file")
    return path


def member_consents(conn: sa.Connection, member_id: int) -> bool:
    row = conn.execute(sa.text("SELECT camera_consent FROM members WHERE id = :id"), {"id": member_id}).first()
    if row is None:
        raise PermanentJobError(f"member {member_id}: not found")
    return bool(row[0])


def area_info(conn: sa.Connection, unit_id: int, area_ids: set[int]) -> dict[int, dict]:
    rows = conn.execute(sa.text("SELECT id, kind, capacity FROM areas WHERE unit_id = :u AND id = ANY(:ids)"),
                        {"u": unit_id, "ids": list(area_ids)}).all()
    found = {r.id: {"kind": r.kind, "capacity": r.capacity} for r in rows}
    missing = sorted(area_ids - set(found))
    if missing:
        raise PermanentJobError(f"area(s) {missing}: not areas of unit {unit_id}")
    return found


def layout_of(job: VideoJob, areas: dict[int, dict]):
    from gymchain.vision.analysis import CameraLayout
    from gymchain.vision.misuse import AREA_KIND_EQUIPMENT
    from gymchain.vision.zones import Line, Zone

    equipment = job.equipment or AREA_KIND_EQUIPMENT.get(areas[job.area_id]["kind"], "free_weights")
    if not job.zones:
        layout = CameraLayout.whole_frame(job.area_id, equipment)
    else:
        layout = CameraLayout([Zone(z.area_id, tuple(z.polygon), z.name) for z in job.zones], [], equipment)
    layout.lines = [Line(li.name, li.a, li.b, li.left_area_id, li.right_area_id) for li in job.lines or []]
    return layout


def frame_keeper(job_id: str, layout, stored: list[str]):
    """When GYM_VISION_STORE_FRAMES is set: write one annotated JPEG per sample interval under frames_dir."""
    settings = get_vision_settings()
    if not settings.store_frames:
        return None
    import cv2

    from gymchain.vision.annotate import draw

    directory = settings.frames_dir / job_id
    directory.mkdir(parents=True, exist_ok=True)

    def keep(index, frame, tracks, counter) -> None:
        path = directory / f"frame-{index:06d}.jpg"
        cv2.imwrite(str(path), draw(frame, tracks, layout, counter.line_counts()))
        stored.append(str(path))

    return keep


def analyse(job: VideoJob, path: Path, layout, job_id: str = "local", stored: list[str] | None = None) -> dict:
    from gymchain.vision import analysis

    settings = get_vision_settings()
    stored = [] if stored is None else stored
    is_segment = path.suffix == LANDMARK_SUFFIX
    result: dict = {"source": path.name, "tasks": job.tasks, "equipment": layout.equipment}
    people = {"people_count", "people_flow"} & set(job.tasks)
    if people:
        if is_segment:
            raise PermanentJobError("people counting needs a video, not a landmark segment")
        fps = analysis.video_fps(path)
        every = max(1, math.ceil(fps / settings.counting_fps))
        frames = analysis.read_video(path, max_frames=int(settings.max_seconds * fps / every), every=every)
        result["people"] = analysis.count_people(frames, fps / every, layout, detector=settings.detector,
                                                 sample_every_s=settings.sample_every_s,
                                                 on_sample=frame_keeper(job_id, layout, stored))
    if {"posture", "equipment_misuse"} & set(job.tasks):
        if is_segment:
            landmarks, fps = analysis.load_landmark_segment(path)
            landmarks = landmarks[: int(settings.max_seconds * fps)]
        else:
            fps = analysis.video_fps(path)
            landmarks, _found = analysis.landmarks_from_video(
                analysis.read_video(path, max_frames=int(settings.max_seconds * fps)))
        posture = analysis.analyse_posture(landmarks, fps, equipment=layout.equipment, exercise=job.exercise,
                                           model=classifier())
        if "posture" not in job.tasks:  # misuse monitoring only: alerts, no per-rep coaching of a person
            posture = {k: posture.get(k) for k in ("exercise", "alerts", "pose_found_share", "note") if k in posture}
        result["posture"] = posture
    return result


def persist(conn: sa.Connection, job_id: str, job: VideoJob, result: dict, areas: dict[int, dict]) -> dict:
    """Documents, time series and outbox events of one job, in the caller's transaction."""
    from gymchain.common import timeseries
    from gymchain.common.docstore import get_collection
    from gymchain.common.outbox import add_event

    events = get_collection("vision_events", bind=conn)
    now = dt.datetime.now(dt.UTC)
    people = result.get("people")
    duration = (people or result.get("posture") or {}).get("duration_s") or 0.0
    start = job.recorded_at or (now - dt.timedelta(seconds=float(duration)))
    base = {"job_id": job_id, "unit_id": job.unit_id, "area_id": job.area_id, "at": now,
            "recorded_at": start}
    written = {"documents": 0, "occupancy_samples": 0, "readings": 0, "events": 0}
    summary = base | {"_id": f"{job_id}:summary", "kind": "video_summary", "tasks": job.tasks}
    if people:
        summary |= {"lines": people["lines"], "flows": people["flows"], "peak_occupancy": people["peak_occupancy"],
                    "duration_s": people["duration_s"]}
        rows = [(start + dt.timedelta(seconds=s["t_s"]), job.unit_id, int(a), n, areas[int(a)]["capacity"])
                for s in people["occupancy"] for a, n in s["areas"].items()]
        written["occupancy_samples"] = timeseries.write_occupancy(conn, rows)
        readings = []
        for line, counts in people["lines"].items():
            for direction, n in counts.items():
                readings.append((start, job.unit_id, f"camera:{job.area_id}:{line}"[:64], f"people_{direction}", n))
        for flow in people["flows"]:
            if flow["from_area_id"] is not None and flow["to_area_id"] is not None:
                readings.append((start, job.unit_id, f"area:{flow['from_area_id']}"[:64],
                                 f"flow_to_area_{flow['to_area_id']}", flow["people"]))
        written["readings"] = timeseries.write_readings(conn, readings)
    docs = [summary]
    posture = result.get("posture")
    if posture is not None:
        if "posture" in job.tasks:
            docs.append(base | {"_id": f"{job_id}:posture", "kind": "posture_feedback", "member_id": job.member_id,
                                "exercise": posture.get("exercise"), "rep_count": posture.get("rep_count"),
                                "reps": posture.get("reps", [])})
        for i, a in enumerate(posture.get("alerts", [])):
            docs.append(base | {"_id": f"{job_id}:alert:{i}", "kind": "misuse_alert"} | a)
    events.insert_many(docs)
    written["documents"] = len(docs)
    key = str(job.area_id)
    add_event(conn, topic=TOPIC, key=key, payload={"type": "video_analysed", "job_id": job_id,
                                                   "unit_id": job.unit_id, "area_id": job.area_id,
                                                   "lines": (people or {}).get("lines"),
                                                   "flows": (people or {}).get("flows"),
                                                   "rep_count": (posture or {}).get("rep_count"),
                                                   "alerts": len((posture or {}).get("alerts", []))})
    for a in (posture or {}).get("alerts", []):
        add_event(conn, topic=TOPIC, key=key, payload={"type": "misuse_alert", "job_id": job_id,
                                                       "unit_id": job.unit_id, "area_id": job.area_id,
                                                       "rule": a["rule"], "severity": a["severity"],
                                                       "source": a["source"], "at_s": a["at_s"]})
    written["events"] = 1 + len((posture or {}).get("alerts", []))
    return written


def handle(payload: dict, job_message: dict) -> dict:
    """The RabbitMQ handler: payload -> result dict (stored as the job's result)."""
    from gymchain.common.db import get_engine
    from gymchain.common.docstore import get_collection

    job_id = str(job_message["job_id"])
    fields = {k: v for k, v in payload.items() if k not in ("requested_by",)}
    try:
        job = VideoJob.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PermanentJobError(f"payload {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    engine = get_engine()
    existing = get_collection("vision_events", bind=engine).find_one({"_id": f"{job_id}:summary"})
    if existing is not None:  # a redelivery after the commit: the result is already stored
        return {"already_stored": True, "summary_id": existing["_id"]}
    with engine.connect() as conn:
        if "posture" in job.tasks:
            if job.member_id is None:
                raise PermanentJobError("the 'posture' task needs member_id")
            if not member_consents(conn, job.member_id):
                raise PermanentJobError(f"member {job.member_id} has not consented to camera analytics")
        area_ids = {job.area_id} | {z.area_id for z in job.zones or []} | {
            a for li in job.lines or [] for a in (li.left_area_id, li.right_area_id) if a is not None}
        areas = area_info(conn, job.unit_id, area_ids)
    path = resolve_source(job.source_uri)
    layout = layout_of(job, areas)
    stored: list[str] = []
    try:
        result = jsonable(analyse(job, path, layout, job_id, stored))
    except ValueError as exc:
        raise PermanentJobError(str(exc)) from None
    with engine.begin() as conn:
        if "posture" in job.tasks and not member_consents(conn, job.member_id):  # withdrawn during the analysis
            raise PermanentJobError(f"member {job.member_id} withdrew camera consent during the analysis")
        result["stored"] = persist(conn, job_id, job, result, areas)
    result["frames_stored"] = len(stored)
    return result


def jsonable(value):
    """Plain JSON types (numpy scalars become floats/ints)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def main(argv: list[str] | None = None) -> int:
    """Run the vision worker until SIGTERM/SIGINT."""
    import argparse
    import signal
    import threading

    from gymchain.common.docstore import get_collection
    from gymchain.common.messaging.rabbit import QueuePolicy, jobs_collection_status, run_worker

    parser = argparse.ArgumentParser(prog="python -m gymchain.vision.worker", description=main.__doc__)
    parser.add_argument("--max-attempts", type=int, default=3, help="tries per job before the dead-letter queue")
    parser.add_argument("--no-topic", action="store_true", help="do not create the 'vision' stream topic")
    args = parser.parse_args(argv)
    if not 1 <= args.max_attempts <= 20:
        parser.error(f"--max-attempts {args.max_attempts}: expected 1 to 20")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_vision_settings()
    log.info("vision worker: media root %s, detector %s, store frames %s", settings.media_root, settings.detector,
             settings.store_frames)
    if not args.no_topic:
        try:
            from gymchain.common.messaging.stream import ensure_topics, topic_name

            ensure_topics([topic_name(TOPIC)])
        except Exception as exc:  # noqa: BLE001 - the broker may be down; the relay retries later anyway
            log.warning("vision worker: could not create the %s topic (%s)", TOPIC, exc)
    classifier()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_worker("video-analysis", handle, stop=stop, policy=QueuePolicy(args.max_attempts, 2000),
               on_status=jobs_collection_status(get_collection("jobs")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
