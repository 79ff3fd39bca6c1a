"""Person detectors behind one interface, ``detect(frame_bgr) -> (N, 4) boxes``; DETECTORS is the table.

- ``mog2``: OpenCV's MOG2 background subtraction + morphology + connected blobs. For a fixed gym camera it is
  cheap (hundreds of frames/s at 320x240 on one core) and needs no weights; it merges people who overlap, misses
  people who stand still long enough to become background, and reacts to moving equipment. Default here.
- ``hog``: OpenCV's HOG + linear SVM pedestrian detector (Dalal & Triggs), the only pretrained person detector
  shipped offline; needs upright people at least ~64x128 px and is slow on 2 cores.
A production deployment registers a pretrained CNN detector (e.g. a YOLO/RT-DETR person class) here as one more
entry; the tracker, zones and counters take any detector's boxes.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Detector(Protocol):
    name: str

    def detect(self, frame: np.ndarray) -> np.ndarray: ...


class Mog2Detector:
    name = "mog2"

    def __init__(self, *, history: int = 300, var_threshold: float = 32.0, min_area: float = 250.0,
                 learning_rate: float = -1.0):
        import cv2

        self.cv2 = cv2
        self.subtractor = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=var_threshold,
                                                             detectShadows=False)
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self.min_area = min_area
        self.learning_rate = learning_rate

    def detect(self, frame: np.ndarray) -> np.ndarray:
        cv2 = self.cv2
        mask = self.subtractor.apply(frame, learningRate=self.learning_rate)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self.kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self.kernel, iterations=2)
        count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        boxes = [(x, y, x + w, y + h) for x, y, w, h, area in stats[1:count] if area >= self.min_area]
        return np.array(boxes, dtype=float).reshape(-1, 4)


class HogDetector:
    name = "hog"

    def __init__(self, *, stride: int = 8, scale: float = 1.05, min_score: float = 0.3):
        import cv2

        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.stride, self.scale, self.min_score = stride, scale, min_score

    def detect(self, frame: np.ndarray) -> np.ndarray:
        rects, weights = self.hog.detectMultiScale(frame, winStride=(self.stride, self.stride), padding=(8, 8),
                                                   scale=self.scale)
        keep = [(x, y, x + w, y + h) for (x, y, w, h), s in zip(rects, np.ravel(weights), strict=False)
                if s >= self.min_score]
        return np.array(keep, dtype=float).reshape(-1, 4)


DETECTORS = {"mog2": Mog2Detector, "hog": HogDetector}


def make_detector(name: str, **options) -> Detector:
    if name not in DETECTORS:
        raise ValueError(f"detector {name!r}: expected one of {', '.join(DETECTORS)}")
    return DETECTORS[name](**options)
