"""Tracker (Hungarian assignment), zones, counting lines and flows, and the synthetic scene's ground truth
(numpy/scipy only: main venv)."""

from __future__ import annotations

import numpy as np
import pytest

from gymchain.vision import scene
from gymchain.vision.tracking import Tracker, iou
from gymchain.vision.zones import FlowCounter, Line, Zone


def test_iou_of_known_boxes():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    assert iou(a, b)[0] == pytest.approx([1 / 3, 0.0, 1.0])


def box(cx, cy, w=10, h=30):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def test_two_people_crossing_keep_their_identities():
    tracker = Tracker(min_hits=2, max_age=3)
    ids = {}
    for t in range(40):
        a, b = box(10 + 4 * t, 50), box(170 - 4 * t, 58)  # walk towards each other and pass
        seen = tracker.update(np.array([a, b]))
        for track in seen:
            x = (track.box[0] + track.box[2]) / 2
            ids.setdefault(track.track_id, []).append((t, x))
    assert len(ids) == 2
    for history in ids.values():  # each identity moves monotonically in one direction (no swap)
        xs = [x for _, x in history]
        assert all(np.diff(xs) > 0) or all(np.diff(xs) < 0)


def test_tracks_survive_a_short_miss_and_end_after_max_age():
    tracker = Tracker(min_hits=2, max_age=3)
    for t in range(5):
        tracker.update(np.array([box(10 + 5 * t, 50)]))
    first = tracker.tracks[0].track_id
    for _ in range(2):
        tracker.update(np.zeros((0, 4)))  # occluded for two frames
    seen = tracker.update(np.array([box(45, 50)]))  # where constant velocity predicts it
    assert [t.track_id for t in seen] == [first]
    for _ in range(5):
        tracker.update(np.zeros((0, 4)))
    assert tracker.tracks == []


def test_zone_line_and_flow_counting():
    left = Zone(1, ((0, 0), (0.5, 0), (0.5, 1), (0, 1)))
    right = Zone(2, ((0.5, 0), (1, 0), (1, 1), (0.5, 1)))
    assert left.contains(0.2, 0.5) and not left.contains(0.7, 0.5)
    line = Line("door", (0.5, 0.0), (0.5, 1.0), left_area_id=2, right_area_id=1)
    counter = FlowCounter([left, right], [line], settle=2)
    path = [0.2, 0.4, 0.6, 0.7, 0.8, 0.6, 0.45, 0.3, 0.2]  # left -> right -> back left
    for t, x in enumerate(path):
        counter.update(t, {7: (x, 0.5)})
    assert counter.line_counts() == {"door": {"in": 1, "out": 1}}
    assert dict(counter.flows) == {(1, 2): 1, (2, 1): 1}
    assert counter.occupancy[0] == {1: 1, 2: 0} and counter.occupancy[3] == {1: 0, 2: 1}
    flicker = FlowCounter([left, right], [], settle=3)
    for t, x in enumerate([0.45, 0.55, 0.45, 0.55, 0.45]):  # jitter on the border is not a flow
        flicker.update(t, {1: (x, 0.5)})
    assert not flicker.flows
    short = Line("short", (0.5, 0.0), (0.5, 0.2))
    only = FlowCounter([], [short])
    only.update(0, {1: (0.4, 0.5)})
    only.update(1, {1: (0.6, 0.5)})  # crosses the extension of the segment, not the segment
    assert only.line_counts() == {"short": {"in": 0, "out": 0}}


def test_scene_ground_truth_matches_its_paths():
    clip = scene.render(people=4, seconds=6, fps=10, seed=3)
    assert clip.frames.shape == (60, scene.HEIGHT, scene.WIDTH, 3) and clip.frames.dtype == np.uint8
    occupancy = clip.occupancy()
    visible = np.isfinite(clip.centres[..., 0])
    assert (occupancy.sum(axis=1) == visible.sum(axis=1)).all()  # everyone in view is in exactly one zone
    crossings = 0
    for person in range(4):
        xs = clip.centres[:, person, 0]
        xs = xs[np.isfinite(xs)]
        crossings += int(np.sum(np.diff(np.sign(xs - 0.5)) != 0))
    counts = clip.truth.line_counts()["passage"]
    assert counts["in"] + counts["out"] == crossings
