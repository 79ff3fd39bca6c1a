"""Per-frame features of a landmark window for the learned classifier, and the window sampler.

A window (a rep, or a fixed stretch of time) is resampled to ``FRAMES`` frames. Per frame: 14 key joints centred
on the hips, rotated about the vertical so the hip axis is the x axis (view independent) and scaled by the body
size; the joint-angle signals of :mod:`.landmarks` (scaled to about 0-1); the wrists' vertical speed; the window's
duration; and the zone's equipment as a one-hot. numpy only.
"""

from __future__ import annotations

import numpy as np

from gymchain.vision import landmarks as L
from gymchain.vision.misuse import EQUIPMENT

FRAMES = 32
JOINTS = tuple(f"{s}_{j}" for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle", "ear")
               for s in ("left", "right"))
SIGNAL_SCALE = {"knee": 180, "hip": 180, "elbow": 180, "torso_lean": 90, "lean_back": 45, "back_flexion": 45,
                "body_line": 180, "knee_ankle_ratio": 1, "hip_below_knee": 0.5, "wrist_above_shoulder": 0.5,
                "wrist_below_knee": 0.5}
N_FEATURES = len(JOINTS) * 3 + len(SIGNAL_SCALE) + 2 + len(EQUIPMENT)


def _canonical(landmarks: np.ndarray) -> np.ndarray:
    """Rotate about the vertical (y) so the median hip axis points along +x; scale by the body size."""
    axis = np.nanmedian(L.point(landmarks, "right_hip") - L.point(landmarks, "left_hip"), axis=0)
    yaw = np.arctan2(axis[2], axis[0])
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    hips = L.mid(landmarks, "left_hip", "right_hip")
    scale = max(float(np.nanmedian(L.body_height(landmarks))), 0.3)
    return ((landmarks - hips[:, None, :]) @ rot.T) / scale


def resample(x: np.ndarray, frames: int = FRAMES) -> np.ndarray:
    """Linear resampling along the first axis to ``frames`` samples."""
    src = np.linspace(0, len(x) - 1, frames)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, len(x) - 1)
    w = (src - lo).reshape(-1, *([1] * (x.ndim - 1)))
    return x[lo] * (1 - w) + x[hi] * w


def window_features(landmarks: np.ndarray, fps: float, equipment: str) -> np.ndarray:
    """(FRAMES, N_FEATURES) float32 features of one window ``(T, 33, 3)``."""
    if landmarks.shape[0] < 2:
        raise ValueError(f"window of {landmarks.shape[0]} frame(s): expected at least 2")
    lm = np.nan_to_num(landmarks.astype(np.float64))
    canon = _canonical(lm)
    joints = canon[:, [L.INDEX[j] for j in JOINTS], :].reshape(len(lm), -1)
    sig = L.signals(lm)
    signals = np.stack([sig[k] / v for k, v in SIGNAL_SCALE.items()], axis=1)
    wrist_y = L.mid(lm, "left_wrist", "right_wrist")[:, 1]
    speed = (np.gradient(wrist_y) * fps / 5.0)[:, None]
    duration = np.full((len(lm), 1), len(lm) / fps / 4.0)
    per_frame = resample(np.concatenate([joints, signals, speed, duration], axis=1))
    zone = np.zeros((FRAMES, len(EQUIPMENT)))
    zone[:, EQUIPMENT.index(equipment)] = 1.0
    return np.clip(np.concatenate([per_frame, zone], axis=1), -10, 10).astype(np.float32)


def sliding_windows(n_frames: int, fps: float, seconds: float = 2.0, step_s: float = 0.5) -> list[tuple[int, int]]:
    """(start, stop) frame ranges covering a clip."""
    size = max(2, int(seconds * fps))
    if n_frames <= size:
        return [(0, n_frames)]
    starts = list(range(0, n_frames - size + 1, max(1, int(step_s * fps))))
    if starts[-1] + size < n_frames:
        starts.append(n_frames - size)
    return [(s, s + size) for s in starts]
