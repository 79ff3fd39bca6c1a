"""``python -m gymchain.vision.smoke IMAGE...``: run MediaPipe Pose (the shipped full model, offline) on real photos
and print, per image, whether a pose was found and a few plausibility checks, as JSON. Used by the tests with the
photos that ship inside Python packages (scikit-image's astronaut.png, matplotlib's grace_hopper.jpg)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def check(path: Path) -> dict:
    import cv2

    from gymchain.vision import landmarks as L
    from gymchain.vision.analysis import analyse_posture
    from gymchain.vision.pose import MediaPipePose

    image = cv2.imread(str(path))
    if image is None:
        return {"image": path.name, "error": "OpenCV cannot read it"}
    pose = MediaPipePose(video=False)
    started = time.perf_counter()
    world = pose.landmarks(image)
    seconds = time.perf_counter() - started
    image_lm = pose.last_image_landmarks
    pose.close()
    out = {"image": path.name, "size": [int(image.shape[1]), int(image.shape[0])], "found": world is not None,
           "seconds": round(seconds, 3)}
    if world is None:
        return out
    out |= {"nose_above_shoulders": bool(image_lm[L.INDEX["nose"], 1] < min(image_lm[11, 1], image_lm[12, 1])),
            "shoulder_width_px": round(float(abs(image_lm[11, 0] - image_lm[12, 0]) * image.shape[1]), 1),
            "upper_body_visibility": round(float(image_lm[[0, 11, 12, 13, 14], 3].mean()), 3),
            "hips_origin_m": round(float(np.linalg.norm(L.mid(world, "left_hip", "right_hip"))), 3),
            "shoulder_width_m": round(float(np.linalg.norm(world[11] - world[12])), 3)}
    video = MediaPipePose(video=True)
    frames = np.stack([w if (w := video.landmarks(image)) is not None else np.full((33, 3), np.nan)
                       for _ in range(12)])
    video.close()
    still = analyse_posture(frames.astype(np.float32), 12.0, equipment="free_weights", exercise="squat")
    out |= {"still_clip_pose_share": still["pose_found_share"], "still_clip_reps": still["rep_count"]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gymchain.vision.smoke", description=__doc__)
    parser.add_argument("images", nargs="+", type=Path)
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.images if not p.is_file()]
    if missing:
        parser.error(f"no such image: {', '.join(missing)}")
    json.dump([check(p) for p in args.images], sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
