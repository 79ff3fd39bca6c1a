"""Multi-object tracking by detection: constant-velocity prediction, Hungarian assignment on 1 - IoU (with a
centroid-distance fallback for small or fast boxes), tentative tracks confirmed after ``min_hits`` matches and
dropped after ``max_age`` missed frames. Boxes are ``(x0, y0, x1, y1)`` in pixels. numpy + scipy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes a (N, 4) and b (M, 4)."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


@dataclass
class Track:
    track_id: int
    box: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1
    missed: int = 0
    confirmed: bool = False
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (frame, cx, cy)

    def predict(self) -> np.ndarray:
        return self.box + self.velocity


class Tracker:
    def __init__(self, *, min_iou: float = 0.1, max_centre_dist: float = 40.0, min_hits: int = 3,
                 max_age: int = 10, smoothing: float = 0.6):
        self.min_iou, self.max_centre_dist = min_iou, max_centre_dist
        self.min_hits, self.max_age, self.smoothing = min_hits, max_age, smoothing
        self.tracks: list[Track] = []
        self._next_id = 1
        self.frame = -1

    def _cost(self, predicted: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        overlap = iou(predicted, boxes)
        pc = (predicted[:, None, :2] + predicted[:, None, 2:]) / 2
        bc = (boxes[None, :, :2] + boxes[None, :, 2:]) / 2
        dist = np.linalg.norm(pc - bc, axis=-1)
        cost = 1.0 - overlap
        # no overlap: still allow a match by distance (cost between 1 and 2), gated by max_centre_dist
        far = overlap < self.min_iou
        cost = np.where(far, 1.0 + dist / self.max_centre_dist, cost)
        return np.where(far & (dist > self.max_centre_dist), 1e6, cost)

    def update(self, boxes: np.ndarray) -> list[Track]:
        """Feed one frame's detections; returns the confirmed tracks seen in this frame."""
        self.frame += 1
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        matched_tracks, matched_boxes = set(), set()
        if self.tracks and len(boxes):
            predicted = np.stack([t.predict() for t in self.tracks])
            cost = self._cost(predicted, boxes)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                if cost[r, c] >= 1e6:
                    continue
                track = self.tracks[r]
                new_velocity = boxes[c] - track.box
                track.velocity = self.smoothing * track.velocity + (1 - self.smoothing) * new_velocity
                track.box = boxes[c]
                track.hits += 1
                track.missed = 0
                track.confirmed = track.confirmed or track.hits >= self.min_hits
                matched_tracks.add(r)
                matched_boxes.add(c)
        for i, track in enumerate(self.tracks):
            if i not in matched_tracks:
                track.missed += 1
                track.box = track.predict()
                track.velocity *= 0.8
        self.tracks = [t for t in self.tracks if t.missed <= self.max_age and (t.confirmed or t.missed == 0)]
        for c in range(len(boxes)):
            if c not in matched_boxes:
                self.tracks.append(Track(self._next_id, boxes[c]))
                self._next_id += 1
        seen = [t for t in self.tracks if t.confirmed and t.missed == 0]
        for track in seen:
            cx, cy = centre(track.box)
            track.history.append((self.frame, float(cx), float(cy)))
        return seen
