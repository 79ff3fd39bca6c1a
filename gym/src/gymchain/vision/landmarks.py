"""The 33-point body layout of MediaPipe Pose (BlazePose) and joint-angle geometry over landmark arrays.

Landmarks are arrays ``(..., 33, 3)`` in metres, image-like axes (x right, y **down**, z towards the camera), as
MediaPipe's ``pose_world_landmarks`` give them (origin between the hips). Every function works on one frame
``(33, 3)`` or a sequence ``(T, 33, 3)``. Angles are in degrees. Only numpy: these run in the main venv too.
"""

from __future__ import annotations

import numpy as np

NAMES = ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
         "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
         "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
         "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
         "left_heel", "right_heel", "left_foot_index", "right_foot_index")
INDEX = {name: i for i, name in enumerate(NAMES)}
N_LANDMARKS = len(NAMES)
UP = np.array([0.0, -1.0, 0.0])  # y points down


def point(landmarks: np.ndarray, name: str) -> np.ndarray:
    return landmarks[..., INDEX[name], :]


def mid(landmarks: np.ndarray, a: str, b: str) -> np.ndarray:
    return (point(landmarks, a) + point(landmarks, b)) / 2


def angle_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Angle (degrees) between vectors along the last axis; 0 where either vector has no length."""
    nu, nv = np.linalg.norm(u, axis=-1), np.linalg.norm(v, axis=-1)
    denominator = np.where((nu > 1e-9) & (nv > 1e-9), nu * nv, np.inf)
    cos = np.clip(np.sum(u * v, axis=-1) / denominator, -1.0, 1.0)
    return np.where(np.isfinite(denominator), np.degrees(np.arccos(cos)), 0.0)


def joint_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The angle at ``b`` of the chain a-b-c (180 = straight)."""
    return angle_between(a - b, c - b)


def side_angle(landmarks: np.ndarray, a: str, b: str, c: str) -> np.ndarray:
    """Mean of the left and right joint angle of the chain ``a-b-c`` (names without 'left_'/'right_')."""
    left = joint_angle(*(point(landmarks, f"left_{n}") for n in (a, b, c)))
    right = joint_angle(*(point(landmarks, f"right_{n}") for n in (a, b, c)))
    return (left + right) / 2


def knee_angle(lm: np.ndarray) -> np.ndarray:
    return side_angle(lm, "hip", "knee", "ankle")


def _mid_angle(lm: np.ndarray, a: str, b: str, c: str) -> np.ndarray:
    """The angle at ``b`` of the chain through the left-right midpoints (shoulders are wider than hips and
    ankles, so per-side chains bend sideways even in a straight body)."""
    return joint_angle(*(mid(lm, f"left_{n}", f"right_{n}") for n in (a, b, c)))


def hip_angle(lm: np.ndarray) -> np.ndarray:
    return _mid_angle(lm, "shoulder", "hip", "knee")


def elbow_angle(lm: np.ndarray) -> np.ndarray:
    return side_angle(lm, "shoulder", "elbow", "wrist")


def torso_lean(lm: np.ndarray) -> np.ndarray:
    """Angle of the hip→shoulder line from vertical (0 = upright, 90 = horizontal)."""
    return angle_between(mid(lm, "left_shoulder", "right_shoulder") - mid(lm, "left_hip", "right_hip"), UP)


def torso_lean_back(lm: np.ndarray) -> np.ndarray:
    """Signed lean (degrees) of the trunk behind the hips: positive when the shoulders are behind the hip line,
    measured in the body's own forward direction (from the hips towards the toes)."""
    shoulders = mid(lm, "left_shoulder", "right_shoulder")
    hips = mid(lm, "left_hip", "right_hip")
    toes = mid(lm, "left_foot_index", "right_foot_index")
    heels = mid(lm, "left_heel", "right_heel")
    forward = toes - heels
    forward = forward - np.sum(forward * UP, axis=-1, keepdims=True) * UP
    forward /= np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)
    trunk = shoulders - hips
    back = -np.sum(trunk * forward, axis=-1)
    height = np.sum(trunk * UP, axis=-1)
    return np.degrees(np.arctan2(back, np.maximum(height, 1e-9)))


def back_flexion(lm: np.ndarray) -> np.ndarray:
    """Upper-back rounding proxy: how far the ear-shoulder-hip midline bends away from a straight line (0 = in
    line, the plumb-line alignment of posture assessment).

    BlazePose has no spine points; when the thoracic spine rounds, the shoulders and head drop forward of the
    hip→shoulder line. Neck flexion alone also raises it, so it is a proxy, not a spine angle.
    """
    return 180 - _mid_angle(lm, "hip", "shoulder", "ear")


def body_line(lm: np.ndarray) -> np.ndarray:
    """Shoulder-hip-ankle angle (180 = a straight plank; lower = the hips sag or pike)."""
    return _mid_angle(lm, "shoulder", "hip", "ankle")


def _lateral_width(lm: np.ndarray, a: str, b: str) -> np.ndarray:
    """Distance between two landmarks along the hips' left-right axis (view independent)."""
    axis = point(lm, "right_hip") - point(lm, "left_hip")
    axis = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-9)
    return np.abs(np.sum((point(lm, b) - point(lm, a)) * axis, axis=-1))


def knee_ankle_ratio(lm: np.ndarray) -> np.ndarray:
    """Knee width over ankle width along the hip axis: below ~0.8 the knees cave in (dynamic valgus)."""
    ankles = _lateral_width(lm, "left_ankle", "right_ankle")
    return _lateral_width(lm, "left_knee", "right_knee") / np.maximum(ankles, 1e-3)


def hip_below_knee(lm: np.ndarray) -> np.ndarray:
    """Height of the knees above the hips (metres; > 0 means the hip crease is below the knee: squat depth)."""
    hips = mid(lm, "left_hip", "right_hip")
    knees = mid(lm, "left_knee", "right_knee")
    return np.sum((knees - hips) * UP, axis=-1)


def wrist_above_shoulder(lm: np.ndarray) -> np.ndarray:
    """Height of the wrists above the shoulders (metres)."""
    return np.sum((mid(lm, "left_wrist", "right_wrist") - mid(lm, "left_shoulder", "right_shoulder")) * UP, axis=-1)


def wrist_below_knee(lm: np.ndarray) -> np.ndarray:
    """Height of the knees above the wrists (metres; > 0 means the hands went below the knees)."""
    return np.sum((mid(lm, "left_knee", "right_knee") - mid(lm, "left_wrist", "right_wrist")) * UP, axis=-1)


def body_height(lm: np.ndarray) -> np.ndarray:
    """Ankle-to-shoulder segment length sum (a scale for velocities), independent of the pose."""
    lengths = [np.linalg.norm(point(lm, f"{s}_{a}") - point(lm, f"{s}_{b}"), axis=-1)
               for s in ("left", "right") for a, b in (("ankle", "knee"), ("knee", "hip"), ("hip", "shoulder"))]
    return sum(lengths) / 2


SIGNALS = {"knee": knee_angle, "hip": hip_angle, "elbow": elbow_angle, "torso_lean": torso_lean,
           "lean_back": torso_lean_back, "back_flexion": back_flexion, "body_line": body_line,
           "knee_ankle_ratio": knee_ankle_ratio, "hip_below_knee": hip_below_knee,
           "wrist_above_shoulder": wrist_above_shoulder, "wrist_below_knee": wrist_below_knee}


def signals(sequence: np.ndarray) -> dict[str, np.ndarray]:
    """Every named signal over a sequence ``(T, 33, 3)``."""
    if sequence.ndim != 3 or sequence.shape[1:] != (N_LANDMARKS, 3):
        raise ValueError(f"landmarks shape {sequence.shape}: expected (frames, {N_LANDMARKS}, 3)")
    return {name: fn(sequence) for name, fn in SIGNALS.items()}
