"""The vision service end to end: jobs through the gateway onto the real RabbitMQ queue, the real vision worker
process (gym/.venv-vision) analysing a synthetic clip with known ground truth and landmark segments with known
faults, results in the document store, the time series and the outbox; camera consent re-checked by the worker;
the trainer's report."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import bearer
from test_vision_mediapipe import vision_python


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    subprocess.run([vision_python(), "-m", "gymchain.vision.demo", "--media-root", str(root), "--people", "6",
                    "--seconds", "14", "--seed", "4"], check=True, capture_output=True, timeout=300)
    import skimage  # a real person for MediaPipe: 2 s of scikit-image's astronaut photo as a video

    photo = Path(skimage.__file__).parent / "data" / "astronaut.png"
    script = ("import sys, pathlib, cv2, numpy as np; from gymchain.vision.demo import write_video; "
              "write_video(pathlib.Path(sys.argv[2]), np.stack([cv2.imread(sys.argv[1])] * 24), 12.0)")
    subprocess.run([vision_python(), "-c", script, str(photo), str(root / "still.avi")], check=True,
                   capture_output=True, timeout=120)
    return root


def start_worker(platform, media: Path, log_dir: Path) -> subprocess.Popen:
    env = platform.env | {"GYM_VISION_MEDIA_ROOT": str(media), "OMP_NUM_THREADS": "1",
                          "GYM_VISION_FRAMES_DIR": str(log_dir / "frames")}
    log = open(log_dir / "vision-worker.log", "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen([vision_python(), "-m", "gymchain.vision.worker", "--max-attempts", "2"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def wait_job(api, token: str, job_id: str, timeout_s: float = 180) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = api.get(f"/api/vision/jobs/{job_id}", headers=bearer(token)).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout_s} s")


def submit(api, token: str, body: dict) -> str:
    answer = api.post("/api/vision/jobs/video-analysis", json=body, headers=bearer(token))
    assert answer.status_code == 202, answer.text
    return answer.json()["job_id"]


@pytest.fixture(scope="module")
def vision(platform, world, tokens, api, media):
    """Queue a posture job, withdraw the member's consent, THEN start the worker: the worker must refuse it."""
    member = world.members["member1"]
    unit, (weights, studio) = world.units[0], world.areas[world.units[0]]
    api.put(f"/api/members/members/{member}/consent", json={"camera_consent": True}, headers=bearer(tokens["admin"]))
    squat = f"file://{media}/squat-set.npz"
    withdrawn = submit(api, tokens["trainer1"], {"unit_id": unit, "area_id": weights, "member_id": member,
                                                 "source_uri": squat, "tasks": ["posture"], "exercise": "squat"})
    api.put(f"/api/members/members/{member}/consent", json={"camera_consent": False},
            headers=bearer(tokens["member1"]))
    worker = start_worker(platform, media, platform.log_dir)
    try:
        yield {"withdrawn": withdrawn, "unit": unit, "weights": weights, "studio": studio, "member": member}
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()


def test_worker_refuses_posture_feedback_after_consent_was_withdrawn(api, tokens, vision):
    job = wait_job(api, tokens["trainer1"], vision["withdrawn"])
    assert job["status"] == "failed" and "has not consented to camera analytics" in job["error"]
    docs = api.get(f"/api/vision/events?area_id={vision['weights']}", headers=bearer(tokens["manager1"])).json()
    assert not [d for d in docs if d["job_id"] == vision["withdrawn"]]  # nothing about the member was stored


def test_people_counting_and_flows_match_the_ground_truth(api, tokens, vision, media, database_url):
    truth = json.loads((media / "people-flow.truth.json").read_text())
    left, right = vision["weights"], vision["studio"]
    body = {"unit_id": vision["unit"], "area_id": left, "source_uri": f"file://{media}/people-flow.avi",
            "tasks": ["people_count", "people_flow"], "recorded_at": "2026-12-01T10:00:00+00:00",
            "zones": [{"area_id": left, "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
                      {"area_id": right, "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}],
            "lines": [{"name": "passage", "a": [0.5, 0], "b": [0.5, 1], "left_area_id": right,
                       "right_area_id": left}]}
    job = wait_job(api, tokens["trainer1"], submit(api, tokens["trainer1"], body))
    assert job["status"] == "done", job["error"]
    people = job["result"]["people"]
    counted = people["lines"]["passage"]
    true = truth["lines"]["passage"]
    assert abs(counted["in"] - true["in"]) <= 2 and abs(counted["out"] - true["out"]) <= 2, (counted, true)
    assert counted["in"] + counted["out"] > 0
    assert people["frames"] == truth["frames"] and job["result"]["frames_stored"] == 0
    stored = job["result"]["stored"]
    assert stored["occupancy_samples"] == 2 * len(people["occupancy"]) > 0 and stored["events"] == 1
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT area_id, people, capacity FROM occupancy_samples WHERE unit_id = :u "
                                    "AND ts >= '2026-12-01T10:00:00+00:00' AND ts < '2026-12-01T10:01:00+00:00'"),
                            {"u": vision["unit"]}).all()
        outbox = conn.execute(sa.text("SELECT payload FROM outbox_events WHERE topic = 'vision' AND "
                                      "payload->>'job_id' = :j"), {"j": job["job_id"]}).scalars().all()
        flows = conn.execute(sa.text("SELECT metric, value FROM sensor_readings WHERE sensor_id = :s"),
                             {"s": f"camera:{left}:passage"}).all()
    engine.dispose()
    assert {r.area_id for r in rows} == {left, right} and len(rows) == stored["occupancy_samples"]
    assert {r.capacity for r in rows if r.area_id == left} == {40}  # the area's capacity from the members tables
    assert outbox[0]["type"] == "video_analysed" and outbox[0]["lines"] == people["lines"]
    assert dict(flows) == {"people_in": counted["in"], "people_out": counted["out"]}
    report = api.get(f"/api/vision/jobs/{job['job_id']}/report", headers=bearer(tokens["manager1"]))
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/markdown")
    assert f"| passage | {counted['in']} | {counted['out']} |" in report.text
    assert api.get(f"/api/vision/jobs/{job['job_id']}/report", headers=bearer(tokens["manager2"])).status_code == 404


def test_posture_feedback_per_rep_for_a_consenting_member(api, tokens, vision, media):
    api.put(f"/api/members/members/{vision['member']}/consent", json={"camera_consent": True},
            headers=bearer(tokens["member1"]))
    truth = json.loads((media / "squat-set.truth.json").read_text())
    body = {"unit_id": vision["unit"], "area_id": vision["weights"], "member_id": vision["member"],
            "source_uri": f"file://{media}/squat-set.npz", "tasks": ["posture", "equipment_misuse"]}
    job = wait_job(api, tokens["trainer1"], submit(api, tokens["trainer1"], body))
    assert job["status"] == "done", job["error"]
    posture = job["result"]["posture"]
    assert posture["exercise"] == "squat" and not posture["exercise_given"]  # recognised by the classifier
    assert posture["rep_count"] == len(truth["reps"])
    assert [sorted(r["errors"]) for r in posture["reps"]] == [sorted(r["errors"]) for r in truth["reps"]]
    assert [a["rule"] for a in posture["alerts"] if a["source"] == "rule"] == ["unsafe_lift"]  # the rounded rep
    docs = api.get(f"/api/vision/events?area_id={vision['weights']}", headers=bearer(tokens["trainer1"])).json()
    kinds = [d["kind"] for d in docs if d["job_id"] == job["job_id"]]
    assert kinds.count("posture_feedback") == kinds.count("video_summary") == 1
    assert kinds.count("misuse_alert") == len(posture["alerts"]) >= 1
    report_pt = api.get(f"/api/vision/jobs/{job['job_id']}/report?lang=pt", headers=bearer(tokens["trainer1"]))
    assert "Desça mais" in report_pt.text and "Rep. 2" in report_pt.text and "agachamento" in report_pt.text
    report = api.get(f"/api/vision/jobs/{job['job_id']}/report", headers=bearer(tokens["trainer1"])).text
    assert "Knees caved in" in report and "✓ good rep" in report
    bad = api.get(f"/api/vision/jobs/{job['job_id']}/report?lang=xx", headers=bearer(tokens["trainer1"]))
    assert bad.status_code == 422 and "lang" in bad.json()["detail"]
    video = body | {"source_uri": f"file://{media}/still.avi", "tasks": ["posture"], "exercise": "squat"}
    job = wait_job(api, tokens["trainer1"], submit(api, tokens["trainer1"], video))  # MediaPipe in the worker
    assert job["status"] == "done", job["error"]
    assert job["result"]["posture"]["pose_found_share"] == 1.0 and job["result"]["posture"]["rep_count"] == 0


def test_misuse_alerts_and_bad_sources(api, tokens, vision, media, tmp_path):
    body = {"unit_id": vision["unit"], "area_id": vision["studio"], "source_uri": f"file://{media}/press-set.npz",
            "tasks": ["equipment_misuse"], "exercise": "press"}
    job = wait_job(api, tokens["trainer1"], submit(api, tokens["trainer1"], body))
    assert job["status"] == "done", job["error"]
    rules = {a["rule"] for a in job["result"]["posture"]["alerts"] if a["source"] == "rule"}
    assert rules == {"wrong_machine", "drop"}  # no barbell press in the studio; the weights were let go overhead
    assert "reps" not in job["result"]["posture"]  # misuse monitoring only: nobody is coached or named
    outside = tmp_path / "clip.npz"
    outside.write_bytes((media / "press-set.npz").read_bytes())
    for uri, message in ((f"file://{outside}", "outside the media root"),
                         (f"file://{media}/missing.avi", "no such file"),
                         (f"rtsp://{media}/cam1", "reads file:// sources")):
        failed = wait_job(api, tokens["trainer1"], submit(api, tokens["trainer1"], body | {"source_uri": uri}))
        assert failed["status"] == "failed" and message in failed["error"], failed["error"]
    counting_a_segment = body | {"tasks": ["people_count"]}
    failed = wait_job(api, tokens["trainer1"], submit(api, tokens["trainer1"], counting_a_segment))
    assert failed["status"] == "failed" and "needs a video" in failed["error"]
    refused = api.post("/api/vision/jobs/video-analysis", headers=bearer(tokens["trainer1"]),
                       json=body | {"zones": [{"area_id": 1, "polygon": [[0, 0], [2, 0], [1, 1]]}]})
    assert refused.status_code == 422 and "between 0 and 1" in refused.json()["detail"]
    assert os.environ.get("GYM_VISION_STORE_FRAMES") is None


def test_frames_are_written_only_when_configured(media, tmp_path, platform):
    assert not (platform.log_dir / "frames").exists()  # the worker above ran with the default: nothing written
    script = ("import json, sys; from pathlib import Path; from gymchain.vision import worker, scene; "
              "from gymchain.vision.analysis import CameraLayout; from gymchain.vision.schemas import VideoJob; "
              "p = Path(sys.argv[1]); job = VideoJob(unit_id=1, area_id=1, source_uri='file://' + str(p), "
              "tasks=['people_count']); stored = []; "
              "r = worker.analyse(job, p, CameraLayout(list(scene.ZONES), list(scene.LINES)), 'job1', stored); "
              "print(json.dumps({'stored': stored, 'samples': len(r['people']['occupancy'])}))")
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "GYM_VISION_MEDIA_ROOT": str(media),
           "GYM_VISION_FRAMES_DIR": str(tmp_path / "frames")}
    clip = str(media / "people-flow.avi")
    off = subprocess.run([vision_python(), "-c", script, clip], env=env, capture_output=True, text=True,
                         timeout=300, check=True)
    assert json.loads(off.stdout.splitlines()[-1])["stored"] == [] and not (tmp_path / "frames").exists()
    on = subprocess.run([vision_python(), "-c", script, clip], env=env | {"GYM_VISION_STORE_FRAMES": "true"},
                        capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(on.stdout.splitlines()[-1])
    files = sorted((tmp_path / "frames" / "job1").glob("frame-*.jpg"))
    assert len(files) == len(result["stored"]) == result["samples"] > 0
    assert files[0].read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG
