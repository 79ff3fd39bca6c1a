"""Synthetic camera clips for people counting with exact ground truth: moving silhouettes (a body ellipse and a
head) walking between two areas separated by a counting line, entering and leaving through the frame edges,
stopping for a while, passing each other. Fixed camera, textured static background, sensor noise and a slow
global brightness drift. Only numpy: the frames are BGR uint8 arrays; ground truth is computed from the true
centres with the same zone/line logic the counter uses.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from gymchain.vision.zones import FlowCounter, Line, Zone

WIDTH, HEIGHT = 320, 240
ZONES = (Zone(1, ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)), "left"),
         Zone(2, ((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)), "right"))
LINES = (Line("passage", (0.5, 0.0), (0.5, 1.0), left_area_id=2, right_area_id=1),)


@dataclass
class Walker:
    path: np.ndarray  # (frames, 2) centre in pixels, NaN when not in view
    width: float
    height: float
    shade: int


@dataclass
class Clip:
    frames: np.ndarray  # (T, H, W, 3) uint8 BGR
    centres: np.ndarray  # (T, people, 2) normalised, NaN when absent
    fps: float
    truth: FlowCounter  # the counter fed with the true centres

    def occupancy(self) -> np.ndarray:
        """(T, zones) true people per zone."""
        return np.array([[frame[z.area_id] for z in ZONES] for frame in self.truth.occupancy])


def _walk(rng: np.random.Generator, frames: int, fps: float) -> np.ndarray:
    """A path: enter at an edge, walk to 1-3 waypoints (pausing at some), leave at an edge."""
    def edge_point():
        side = rng.integers(4)
        u = rng.uniform(0.15, 0.85)
        return np.array([[-20, u * HEIGHT], [WIDTH + 20, u * HEIGHT], [u * WIDTH, HEIGHT + 30],
                         [u * WIDTH, -30]][side], dtype=float)

    points = [edge_point()]
    for _ in range(rng.integers(1, 4)):
        points.append(np.array([rng.uniform(0.1, 0.9) * WIDTH, rng.uniform(0.25, 0.85) * HEIGHT]))
    points.append(edge_point())
    speed = rng.uniform(35, 70) / fps  # px per frame
    track = []
    for p, q in itertools.pairwise(points):
        n = max(2, int(np.linalg.norm(q - p) / speed))
        track += list(p + (q - p) * np.linspace(0, 1, n, endpoint=False)[:, None])
        if rng.random() < 0.4:
            track += [q] * int(rng.uniform(0.5, 2.0) * fps)
    track.append(points[-1])
    start = int(rng.integers(0, max(1, frames - len(track) // 2)))
    path = np.full((frames, 2), np.nan)
    stop = min(frames, start + len(track))
    path[start:stop] = np.array(track)[: stop - start]
    return path


def _background(rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = 150 + 40 * np.sin(x / 37.0) * np.cos(y / 23.0) + 0.1 * x
    tiles = ((x // 40 + y // 40) % 2) * 12
    img = np.stack([base + tiles, base * 0.95 + tiles, base * 0.9], axis=-1)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255)


def render(people: int = 8, seconds: float = 20.0, fps: float = 15.0, seed: int = 0, noise: float = 4.0) -> Clip:
    rng = np.random.default_rng(seed)
    frames = int(seconds * fps)
    walkers = [Walker(_walk(rng, frames, fps), rng.uniform(16, 24), rng.uniform(48, 64), int(rng.integers(20, 80)))
               for _ in range(people)]
    background = _background(rng)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    out = np.empty((frames, HEIGHT, WIDTH, 3), dtype=np.uint8)
    truth = FlowCounter(list(ZONES), list(LINES))
    centres = np.full((frames, people, 2), np.nan)
    for t in range(frames):
        img = background * (1 + 0.04 * np.sin(2 * np.pi * t / (fps * 15)))
        visible = {}
        # draw far (higher on screen) people first so nearer ones occlude them
        for i in sorted(range(people), key=lambda i: np.nan_to_num(walkers[i].path[t, 1], nan=-1)):
            w = walkers[i]
            cx, cy = w.path[t]
            if np.isnan(cx):
                continue
            body = ((x - cx) / (w.width / 2)) ** 2 + ((y - cy) / (w.height / 2)) ** 2 <= 1
            head = (x - cx) ** 2 + (y - (cy - w.height / 2 - 5)) ** 2 <= (w.width / 3) ** 2
            mask = body | head
            img[mask] = (w.shade, w.shade + 10, w.shade + 25)
            nx, ny = cx / WIDTH, cy / HEIGHT
            if 0 <= nx <= 1 and 0 <= ny <= 1:
                visible[i] = (nx, ny)
                centres[t, i] = (nx, ny)
        truth.update(t, visible)
        out[t] = np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
    return Clip(out, centres, fps, truth)
