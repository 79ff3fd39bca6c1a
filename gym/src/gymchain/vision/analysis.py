"""From a clip to a result: people counting/flow (detector + tracker + zones) and posture/misuse (pose landmarks
+ exercise recognition + rep rules + misuse rules + the learned classifier).

Sources are video files OpenCV can read, or landmark segments (``.npz`` with ``landmarks`` (T, 33, 3) and
``fps``) that an edge device computed next to the camera, so no frame leaves it. Frames are never written
anywhere unless ``keep_frames_dir`` is given (the worker passes it only when GYM_VISION_STORE_FRAMES is set).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gymchain.vision import exercises as X
from gymchain.vision.features import sliding_windows, window_features
from gymchain.vision.kinematics import ERRORS, EXERCISES
from gymchain.vision.misuse import MISUSE, alert, rule_alerts
from gymchain.vision.zones import FlowCounter, Line, Zone

MODEL_THRESHOLD = 0.5


@dataclass
class CameraLayout:
    zones: list[Zone]
    lines: list[Line] = field(default_factory=list)
    equipment: str = "free_weights"

    @classmethod
    def whole_frame(cls, area_id: int, equipment: str = "free_weights") -> CameraLayout:
        return cls([Zone(area_id, ((0, 0), (1, 0), (1, 1), (0, 1)), "camera")], [], equipment)


def read_video(path: Path, *, max_frames: int, every: int = 1):
    """Yield (index, frame) of a video file; ValueError naming the file if OpenCV cannot open it."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: OpenCV cannot open it as a video")
    try:
        index = 0
        while index < max_frames * every:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                yield index // every, frame
            index += 1
    finally:
        capture.release()


def video_fps(path: Path) -> float:
    import cv2

    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    capture.release()
    return float(fps) if 1 <= fps <= 240 else 15.0


def count_people(frames, fps: float, layout: CameraLayout, *, detector: str = "mog2",
                 sample_every_s: float = 5.0, on_sample=None) -> dict:
    """Counts, occupancy over time and flows of a frame iterator. ``on_sample(index, frame, tracks, counter)``
    is called once per sample interval (the worker uses it to keep annotated frames when configured)."""
    from gymchain.vision.detection import make_detector
    from gymchain.vision.tracking import Tracker, centre

    det = make_detector(detector)
    tracker = Tracker()
    counter = FlowCounter(layout.zones, layout.lines)
    n, size, started = 0, None, time.perf_counter()
    step = max(1, round(sample_every_s * fps))
    for index, frame in frames:
        size = frame.shape[1], frame.shape[0]
        seen = tracker.update(det.detect(frame))
        counter.update(index, {t.track_id: (float(centre(t.box)[0] / size[0]), float(centre(t.box)[1] / size[1]))
                               for t in seen})
        if on_sample is not None and n % step == step // 2:
            on_sample(index, frame, seen, counter)
        n += 1
    seconds = time.perf_counter() - started
    occupancy = []
    for a in range(0, n, step):
        chunk = counter.occupancy[a:a + step]
        occupancy.append({"t_s": round(a / fps, 2), "areas": {
            str(z.area_id): round(np.median([c[z.area_id] for c in chunk])) for z in layout.zones}})
    peak = {str(z.area_id): max((c[z.area_id] for c in counter.occupancy), default=0) for z in layout.zones}
    return {"frames": n, "fps": fps, "duration_s": round(n / fps, 2), "detector": detector,
            "lines": counter.line_counts(), "flows": counter.flow_list(), "occupancy": occupancy,
            "peak_occupancy": peak, "tracks": tracker._next_id - 1,
            "processing_fps": round(n / seconds, 1) if seconds > 0 else None}


def landmarks_from_video(frames, *, estimator: str = "mediapipe") -> tuple[np.ndarray, float]:
    """(T, 33, 3) world landmarks (NaN where no person was found) and the share of frames with a pose."""
    from gymchain.vision.pose import make_estimator

    pose = make_estimator(estimator)
    out = []
    try:
        for _index, frame in frames:
            lm = pose.landmarks(frame)
            out.append(lm if lm is not None else np.full((33, 3), np.nan, dtype=np.float32))
    finally:
        pose.close()
    arr = np.stack(out) if out else np.zeros((0, 33, 3), dtype=np.float32)
    found = float(np.isfinite(arr[:, 0, 0]).mean()) if len(arr) else 0.0
    return arr, found


def _fill_gaps(landmarks: np.ndarray) -> np.ndarray:
    """Linear interpolation over frames without a pose (per coordinate)."""
    out = landmarks.astype(np.float64).copy()
    flat = out.reshape(len(out), -1)
    good = np.isfinite(flat[:, 0])
    if good.sum() < 2:
        return out
    idx = np.arange(len(out))
    for j in range(flat.shape[1]):
        flat[~good, j] = np.interp(idx[~good], idx[good], flat[good, j])
    return out


def recognise_exercise(model, landmarks: np.ndarray, fps: float, equipment: str) -> tuple[str | None, dict]:
    """Majority exercise over 2 s windows by the classifier (None without a model)."""
    if model is None:
        return None, {}
    from gymchain.vision.model import predict

    windows = sliding_windows(len(landmarks), fps, 2.0, 0.5)
    probs = predict(model, np.stack([window_features(landmarks[a:b], fps, equipment) for a, b in windows]))
    mean = probs["exercise"].mean(0)
    return EXERCISES[int(mean.argmax())], {e: round(float(p), 3) for e, p in zip(EXERCISES, mean, strict=True)}


def analyse_posture(landmarks: np.ndarray, fps: float, *, equipment: str, exercise: str | None = None,
                    model=None) -> dict:
    """Reps, per-rep feedback and misuse alerts for one person's landmark sequence."""
    found = float(np.isfinite(landmarks[:, 0, 0]).mean()) if len(landmarks) else 0.0
    if len(landmarks) < int(fps) or found < 0.5:
        return {"exercise": exercise, "reps": [], "rep_count": 0, "alerts": [], "pose_found_share": round(found, 3),
                "note": "no person's pose in at least half of the frames (or under 1 s): nothing to assess"}
    lm = _fill_gaps(landmarks)
    recognised, exercise_probs = recognise_exercise(model, lm, fps, equipment)
    chosen = exercise or recognised
    if chosen is None:
        return {"exercise": None, "reps": [], "rep_count": 0, "alerts": [], "pose_found_share": round(found, 3),
                "note": "exercise not given and no classifier loaded"}
    reps = X.analyse_set(chosen, lm, fps)
    alerts = rule_alerts(chosen, equipment, reps, lm, fps)
    model_faults = {}
    if model is not None:
        from gymchain.vision.model import predict

        # faults and unsafe lifts per rep window (what those heads were trained on); wrong station and drops on
        # 2 s windows over the clip (one alert per misuse kind and stretch, at most 3 each)
        if reps:
            rep_probs = predict(model, np.stack([window_features(lm[int(r.start_s * fps):int(r.end_s * fps) + 1],
                                                                 fps, equipment) for r in reps]))
            for rep, p, q in zip(reps, rep_probs["errors"], rep_probs["misuse"], strict=True):
                model_faults[rep.index] = [e for e, v in zip(ERRORS, p, strict=True) if v > MODEL_THRESHOLD]
                if q[MISUSE.index("unsafe_lift")] > MODEL_THRESHOLD:
                    alerts.append(alert("unsafe_lift", rep.start_s, "model",
                                        {"rep": rep.index, "probability": round(float(q[0]), 3)}))
        windows = sliding_windows(len(lm), fps, 2.0, 1.0)
        probs = predict(model, np.stack([window_features(lm[a:b], fps, equipment) for a, b in windows]))
        fired, active = Counter(), set()
        for (a, _b), p in zip(windows, probs["misuse"], strict=True):
            for m in ("wrong_machine", "drop"):
                q = float(p[MISUSE.index(m)])
                if q > MODEL_THRESHOLD and m not in active and fired[m] < 3:
                    alerts.append(alert(m, a / fps, "model", {"probability": round(q, 3)}))
                    fired[m] += 1
                if q > MODEL_THRESHOLD:
                    active.add(m)
                else:
                    active.discard(m)
    return {"exercise": chosen, "exercise_given": exercise is not None, "exercise_probabilities": exercise_probs,
            "rep_count": len(reps), "reps": [r.as_dict() | {"model_faults": model_faults.get(r.index)} for r in reps],
            "alerts": sorted(alerts, key=lambda a: a["at_s"]), "pose_found_share": round(found, 3),
            "duration_s": round(len(lm) / fps, 2), "fps": fps}


def load_landmark_segment(path: Path) -> tuple[np.ndarray, float]:
    """A landmark segment: ``.npz`` with ``landmarks`` (T, 33, 3) float and ``fps`` (scalar); never pickled."""
    try:
        with np.load(path, allow_pickle=False) as f:
            landmarks, fps = f["landmarks"], float(f["fps"])
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not a landmark segment (.npz with 'landmarks' and 'fps': {exc})") from None
    if landmarks.ndim != 3 or landmarks.shape[1:] != (33, 3) or not 1 <= fps <= 240:
        raise ValueError(f"{path}: landmarks {landmarks.shape} at {fps} fps: expected (frames, 33, 3) at 1-240 fps")
    if len(landmarks) > 240 * 600:
        raise ValueError(f"{path}: {len(landmarks)} frames: at most 10 minutes at 240 fps")
    return landmarks.astype(np.float32), fps
