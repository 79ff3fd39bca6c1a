"""``python -m gymchain.vision.figures OUT_DIR``: the pictures of gym/docs/vision.md (run in gym/.venv-vision).

- ``vision-counting.jpg``: frames of a synthetic clip as the counter sees them (zones, the passage line with its
  running counts, tracked boxes with ids);
- ``vision-posture.png``: a squat set from the kinematic model: the knee angle over time with the counted reps
  and each rep's feedback, and stick figures of a good bottom position beside a knees-caving one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gymchain.vision import exercises as X
from gymchain.vision import kinematics as K
from gymchain.vision import landmarks as L
from gymchain.vision import scene
from gymchain.vision.analysis import CameraLayout

BONES = [("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")] + [
    (f"{s}_{a}", f"{s}_{b}") for s in ("left", "right") for a, b in (
        ("shoulder", "elbow"), ("elbow", "wrist"), ("shoulder", "hip"), ("hip", "knee"), ("knee", "ankle"),
        ("ankle", "heel"), ("heel", "foot_index"), ("ankle", "foot_index"), ("shoulder", "ear"))]


def counting_figure(path: Path) -> None:
    import cv2

    from gymchain.vision.annotate import draw
    from gymchain.vision.detection import make_detector
    from gymchain.vision.tracking import Tracker, centre
    from gymchain.vision.zones import FlowCounter

    clip = scene.render(people=8, seconds=20, fps=15, seed=0)
    layout = CameraLayout(list(scene.ZONES), list(scene.LINES))
    det, tracker, counter = make_detector("mog2"), Tracker(), FlowCounter(layout.zones, layout.lines)
    picks, shots = {60, 150, 260}, []
    for t, frame in enumerate(clip.frames):
        seen = tracker.update(det.detect(frame))
        counter.update(t, {s.track_id: tuple(centre(s.box) / [scene.WIDTH, scene.HEIGHT]) for s in seen})
        if t in picks:
            img = draw(frame, seen, layout, counter.line_counts())
            cv2.putText(img, f"t={t / clip.fps:.0f}s", (250, 232), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
            shots.append(cv2.resize(img, (480, 360), interpolation=cv2.INTER_NEAREST))
    cv2.imwrite(str(path), np.concatenate(shots, axis=1), [cv2.IMWRITE_JPEG_QUALITY, 85])


def _stick(ax, lm: np.ndarray, colour: str, title: str, front: bool) -> None:
    # x right, y down in the landmarks; front view uses the hip axis, side view the forward axis
    axis = lm[L.INDEX["right_hip"]] - lm[L.INDEX["left_hip"]]
    axis /= np.linalg.norm(axis)
    fwd = np.cross(axis, [0, -1, 0])
    horizontal = axis if front else fwd
    for a, b in BONES:
        pa, pb = lm[L.INDEX[a]], lm[L.INDEX[b]]
        ax.plot([pa @ horizontal, pb @ horizontal], [-pa[1], -pb[1]], colour, lw=2)
    ax.set_title(title, fontsize=8)
    ax.set_aspect("equal")
    ax.axis("off")


def posture_figure(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(3)
    errors = [(), ("depth",), ("knee_valgus",), ("back", "tempo"), ()]
    seq = K.generate("squat", reps=len(errors), rng=rng, errors=errors)
    feedback = X.analyse_set("squat", seq.landmarks, seq.fps)
    knee = L.knee_angle(seq.landmarks)
    t = np.arange(len(knee)) / seq.fps
    fig = plt.figure(figsize=(12, 4.2))
    ax = fig.add_axes([0.05, 0.14, 0.55, 0.76])
    ax.plot(t, knee, color="#333", lw=1)
    for f in feedback:
        good = not f.errors
        ax.axvspan(f.start_s, f.end_s, color="#7c7" if good else "#f99", alpha=0.35)
        label = "good" if good else "\n".join(f.errors)
        ax.text((f.start_s + f.end_s) / 2, 182, f"rep {f.index}\n{label}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(30, 215)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("knee angle (degrees)")
    ax.set_title(f"Squat set, kinematic model + noise: {len(feedback)} reps counted "
                 f"(true {len(seq.reps)}), faults per rep from the rules", fontsize=9)
    body = K.Body.random(np.random.default_rng(0))
    good = K._to_world(K.squat_pose(body, 1.0, set()), 0.0)
    caved = K._to_world(K.squat_pose(body, 1.0, {"knee_valgus"}), 0.0)
    rounded = K._to_world(K.squat_pose(body, 1.0, {"back"}), 0.0)
    for i, (lm, colour, title, front) in enumerate((
            (good, "#2a7", f"good depth (side)\nhip {L.hip_below_knee(good) * 100:.0f} cm below knee", False),
            (rounded, "#c33", f"rounded back (side)\nflexion proxy {L.back_flexion(rounded):.0f}°", False),
            (caved, "#c33", f"knees caving (front)\nknee/ankle width {L.knee_ankle_ratio(caved):.2f}", True))):
        _stick(fig.add_axes([0.63 + 0.125 * i, 0.08, 0.11, 0.72]), lm, colour, title, front)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gymchain.vision.figures", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    counting_figure(args.out / "vision-counting.jpg")
    posture_figure(args.out / "vision-posture.png")
    print(f"wrote {args.out}/vision-counting.jpg and vision-posture.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
