"""Annotated frames (zones, lines, tracked people) for trainers and the docs; written only when asked."""

from __future__ import annotations

import numpy as np

COLOURS = [(66, 135, 245), (245, 158, 66), (80, 200, 120), (200, 80, 200), (240, 220, 60)]


def draw(frame: np.ndarray, tracks, layout, counts: dict | None = None) -> np.ndarray:
    import cv2

    img = frame.copy()
    h, w = img.shape[:2]
    for i, zone in enumerate(layout.zones):
        pts = (np.array(zone.polygon) * [w, h]).astype(np.int32)
        cv2.polylines(img, [pts], True, COLOURS[i % len(COLOURS)], 1)
        cv2.putText(img, f"area {zone.area_id}", tuple(int(v) for v in pts[0] + [4, 12]), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35, COLOURS[i % len(COLOURS)], 1, cv2.LINE_AA)
    for line in layout.lines:
        a = (int(line.a[0] * w), int(line.a[1] * h))
        b = (int(line.b[0] * w), int(line.b[1] * h))
        cv2.line(img, a, b, (0, 0, 255), 2)
        if counts and line.name in counts:
            c = counts[line.name]
            cv2.putText(img, f"{line.name}: in {c['in']} out {c['out']}", (a[0] + 4, max(a[1], 0) + 26),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 255), 1, cv2.LINE_AA)
    for track in tracks:
        x0, y0, x1, y1 = (int(v) for v in track.box)
        cv2.rectangle(img, (x0, y0), (x1, y1), (0, 255, 255), 1)
        cv2.putText(img, str(track.track_id), (x0, max(y0 - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 255, 255), 1,
                    cv2.LINE_AA)
    return img
