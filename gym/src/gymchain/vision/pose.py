"""Pose estimators behind one interface: ``PoseEstimator.landmarks(frame_bgr) -> (33, 3) world landmarks or
None``. ``mediapipe`` is MediaPipe Pose 0.10.21 (BlazePose GHUM, ``model_complexity=1``: the "full" model, the
only one shipped inside the wheel; 0 and 2 would be downloaded and cannot be here). It runs in gym/.venv-vision
(mediapipe pins numpy<2). A production deployment can register a bigger 3D pose model in ESTIMATORS as long as
it returns the same 33-point layout (metres, y down, origin between the hips).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from gymchain.vision.landmarks import N_LANDMARKS


class PoseEstimator(Protocol):
    name: str

    def landmarks(self, frame: np.ndarray) -> np.ndarray | None: ...

    def close(self) -> None: ...


class MediaPipePose:
    name = "mediapipe"

    def __init__(self, *, video: bool = True, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5):
        import cv2
        import mediapipe as mp

        self.cv2 = cv2
        self.pose = mp.solutions.pose.Pose(static_image_mode=not video, model_complexity=1,
                                           smooth_landmarks=video, enable_segmentation=False,
                                           min_detection_confidence=min_detection_confidence,
                                           min_tracking_confidence=min_tracking_confidence)
        self.last_image_landmarks: np.ndarray | None = None  # (33, 4): x, y (0-1), z, visibility

    def landmarks(self, frame: np.ndarray) -> np.ndarray | None:
        result = self.pose.process(self.cv2.cvtColor(frame, self.cv2.COLOR_BGR2RGB))
        if result.pose_world_landmarks is None:
            self.last_image_landmarks = None
            return None
        self.last_image_landmarks = np.array([(p.x, p.y, p.z, p.visibility)
                                              for p in result.pose_landmarks.landmark], dtype=np.float32)
        world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark], dtype=np.float32)
        assert world.shape == (N_LANDMARKS, 3)
        return world

    def close(self) -> None:
        self.pose.close()


ESTIMATORS = {"mediapipe": MediaPipePose}


def make_estimator(name: str = "mediapipe", **options) -> PoseEstimator:
    if name not in ESTIMATORS:
        raise ValueError(f"pose estimator {name!r}: expected one of {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name](**options)
