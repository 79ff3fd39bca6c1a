"""Virtual zones (areas of the gym seen by a camera) and lines (doors, passages) in normalised image
coordinates (0-1), and the counter that turns tracks into line crossings, occupancy per zone over time and
area-to-area flows. numpy only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Zone:
    area_id: int
    polygon: tuple[tuple[float, float], ...]
    name: str = ""

    def contains(self, x: float, y: float) -> bool:
        """Ray casting (points on the boundary may fall either way)."""
        inside = False
        pts = self.polygon
        for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1], strict=True):
            if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
                inside = not inside
        return inside


@dataclass(frozen=True)
class Line:
    """A counting line from ``a`` to ``b``; crossing from its left side to its right side is ``in``.

    Left/right as seen walking from a to b in image coordinates (y down). ``left_area_id``/``right_area_id``
    name the areas on each side (None = outside the camera's areas) so crossings become flows.
    """

    name: str
    a: tuple[float, float]
    b: tuple[float, float]
    left_area_id: int | None = None
    right_area_id: int | None = None

    def side(self, x: float, y: float) -> float:
        (ax, ay), (bx, by) = self.a, self.b
        return (bx - ax) * (y - ay) - (by - ay) * (x - ax)

    def within(self, p: np.ndarray, q: np.ndarray) -> bool:
        """Does segment p-q cross the line segment a-b (not just its infinite extension)?"""
        a, b = np.array(self.a), np.array(self.b)

        def orient(u, v, w):
            return (v[0] - u[0]) * (w[1] - u[1]) - (v[1] - u[1]) * (w[0] - u[0])

        return orient(a, b, p) * orient(a, b, q) <= 0 and orient(p, q, a) * orient(p, q, b) <= 0


@dataclass
class FlowCounter:
    """Feed it, frame by frame, the confirmed tracks' centres (normalised); it keeps crossings, occupancy and
    flows. A track changes zone only after ``settle`` consecutive frames in the new one (no flicker flows)."""

    zones: list[Zone]
    lines: list[Line]
    settle: int = 3
    crossings: list[dict] = field(default_factory=list)
    occupancy: list[dict[int, int]] = field(default_factory=list)  # per frame: area_id -> people
    flows: Counter = field(default_factory=Counter)  # (from_area, to_area) -> count
    _last: dict[int, tuple[float, float]] = field(default_factory=dict)
    _zone: dict[int, int | None] = field(default_factory=dict)
    _candidate: dict[int, tuple[int | None, int]] = field(default_factory=dict)

    def zone_of(self, x: float, y: float) -> int | None:
        for zone in self.zones:
            if zone.contains(x, y):
                return zone.area_id
        return None

    def update(self, frame: int, centres: dict[int, tuple[float, float]]) -> None:
        counts = {z.area_id: 0 for z in self.zones}
        for track_id, (x, y) in centres.items():
            previous = self._last.get(track_id)
            if previous is not None:
                for line in self.lines:
                    s0, s1 = line.side(*previous), line.side(x, y)
                    if s0 == 0 or s0 * s1 >= 0 or not line.within(np.array(previous), np.array([x, y])):
                        continue
                    direction = "in" if s0 < 0 < s1 else "out"
                    self.crossings.append({"frame": frame, "line": line.name, "direction": direction,
                                           "track": track_id})
                    src, dst = ((line.left_area_id, line.right_area_id) if direction == "in"
                                else (line.right_area_id, line.left_area_id))
                    if not self.zones:  # with zones the flows come from zone changes, not lines
                        self.flows[(src, dst)] += 1
            self._last[track_id] = (x, y)
            here = self.zone_of(x, y)
            if here is not None:
                counts[here] += 1
            self._settle_zone(track_id, here)
        self.occupancy.append(counts)

    def _settle_zone(self, track_id: int, here: int | None) -> None:
        if track_id not in self._zone:
            self._zone[track_id] = here
            return
        current = self._zone[track_id]
        if here == current:
            self._candidate.pop(track_id, None)
            return
        candidate, n = self._candidate.get(track_id, (here, 0))
        n = n + 1 if candidate == here else 1
        if n >= self.settle:
            if current is not None and here is not None:
                self.flows[(current, here)] += 1
            self._zone[track_id] = here
            self._candidate.pop(track_id, None)
        else:
            self._candidate[track_id] = (here, n)

    def line_counts(self) -> dict[str, dict[str, int]]:
        out = {line.name: {"in": 0, "out": 0} for line in self.lines}
        for c in self.crossings:
            out[c["line"]][c["direction"]] += 1
        return out

    def flow_list(self) -> list[dict]:
        return [{"from_area_id": a, "to_area_id": b, "people": n} for (a, b), n in sorted(
            self.flows.items(), key=lambda kv: (-kv[1], str(kv[0])))]
