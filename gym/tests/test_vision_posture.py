"""Posture geometry, rep counting and per-rep rules on the kinematic model (numpy/scipy only: main venv)."""

from __future__ import annotations

import numpy as np
import pytest

from gymchain.vision import exercises as X
from gymchain.vision import kinematics as K
from gymchain.vision import landmarks as L
from gymchain.vision import misuse
from gymchain.vision.reps import find_reps


def test_joint_angles_of_known_points():
    a, b = np.array([1.0, 0, 0]), np.array([0.0, 0, 0])
    assert L.joint_angle(a, b, np.array([0.0, 1, 0])) == pytest.approx(90)
    assert L.joint_angle(a, b, np.array([-2.0, 0, 0])) == pytest.approx(180)
    assert L.joint_angle(a, b, np.array([1.0, 1, 0])) == pytest.approx(45)
    assert L.angle_between(np.zeros(3), a) == 0  # degenerate vector: no NaN


def test_standing_figure_is_straight_and_deep_squat_is_below_parallel():
    body = K.Body.random(np.random.default_rng(0))
    stand = K._to_world(K.squat_pose(body, 0.0, set()), 30.0)
    assert L.knee_angle(stand) > 170 and L.hip_angle(stand) > 170 and L.back_flexion(stand) < 3
    bottom = K._to_world(K.squat_pose(body, 1.0, set()), 30.0)
    assert L.hip_below_knee(bottom) > 0 > L.hip_below_knee(K._to_world(K.squat_pose(body, 1.0, {"depth"}), 30.0))
    caved = K._to_world(K.squat_pose(body, 1.0, {"knee_valgus"}), 30.0)
    assert L.knee_ankle_ratio(caved) < 0.8 < L.knee_ankle_ratio(bottom)


def test_signals_are_view_independent():
    body = K.Body.random(np.random.default_rng(1))
    pose = K.squat_pose(body, 0.7, {"back"})
    views = [L.signals(K._to_world(pose, yaw)[None]) for yaw in (-60.0, 0.0, 45.0)]
    for name in ("knee", "hip", "back_flexion", "knee_ankle_ratio", "hip_below_knee"):
        values = [float(v[name][0]) for v in views]
        assert max(values) - min(values) < 1e-6, name


@pytest.mark.parametrize("exercise", K.EXERCISES)
def test_rep_count_is_exact_on_clean_noisy_sets(exercise):
    rng = np.random.default_rng(11)
    for reps in (1, 4, 7):
        seq = K.generate(exercise, reps=reps, rng=rng, errors=[()] * reps)
        feedback = X.analyse_set(exercise, seq.landmarks, seq.fps)
        assert len(feedback) == reps
        assert all(not f.errors for f in feedback), [f.errors for f in feedback]


@pytest.mark.parametrize("exercise", K.EXERCISES)
def test_each_fault_alone_is_flagged_on_its_rep_only(exercise):
    rng = np.random.default_rng(5)
    for fault in K.APPLICABLE[exercise]:
        seq = K.generate(exercise, reps=3, rng=rng, errors=[(), (fault,), ()])
        feedback = X.analyse_set(exercise, seq.landmarks, seq.fps)
        assert [f.errors for f in feedback] == [[], [fault], []], (fault, [f.measures for f in feedback])
        message = feedback[1].messages[0]
        assert message["error"] == fault and message["en"] and message["pt"]


def test_no_movement_gives_no_reps_and_bad_shapes_are_refused():
    still = np.repeat(K._to_world(K.squat_pose(K.Body.random(np.random.default_rng(2)), 0.0, set()), 0.0)[None],
                      90, axis=0)
    noisy = still + np.random.default_rng(3).normal(0, 0.01, still.shape)
    assert X.analyse_set("squat", noisy, 30.0) == []
    with pytest.raises(ValueError, match=r"landmarks shape \(90, 33\): expected \(frames, 33, 3\)"):
        X.analyse_set("squat", noisy[:, :, 0], 30.0)
    with pytest.raises(ValueError, match="exercise 'curl'"):
        X.analyse_set("curl", noisy, 30.0)
    assert find_reps(np.full(50, 170.0), 30.0, far_is_min=True, min_amplitude=25) == []


def test_misuse_rules_drop_wrong_station_and_unsafe_lift():
    rng = np.random.default_rng(7)
    press = K.generate("press", reps=2, rng=rng, errors=[(), ()], drop_at_end=True)
    reps = X.analyse_set("press", press.landmarks, press.fps)
    alerts = misuse.rule_alerts("press", "studio", reps, press.landmarks, press.fps)
    drops = [a for a in alerts if a["rule"] == "drop"]
    assert len(drops) == 1 and abs(drops[0]["at_s"] - press.drop_frames[0] / press.fps) < 0.3
    assert [a["rule"] for a in alerts if a["rule"] != "drop"] == ["wrong_machine"]  # no barbell press in the studio
    calm = K.generate("press", reps=2, rng=rng, errors=[("tempo",), ()])
    assert misuse.drop_events(calm.landmarks, calm.fps) == []  # a fast lowering is not a drop
    dead = K.generate("deadlift", reps=3, rng=rng, errors=[(), ("back",), ()])
    reps = X.analyse_set("deadlift", dead.landmarks, dead.fps)
    unsafe = misuse.rule_alerts("deadlift", "platform", reps, dead.landmarks, dead.fps)
    assert [(a["rule"], a["evidence"]["rep"]) for a in unsafe] == [("unsafe_lift", 2)]
    with pytest.raises(ValueError, match="equipment 'pool'"):
        misuse.rule_alerts("squat", "pool", reps, dead.landmarks, dead.fps)
    with pytest.raises(ValueError, match="drop_at_end"):
        K.generate("squat", reps=1, rng=rng, drop_at_end=True)
