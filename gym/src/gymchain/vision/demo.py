"""``python -m gymchain.vision.demo --media-root DIR``: write labelled demo clips for trying the vision jobs.

- ``people-flow.avi``: synthetic silhouettes walking between two areas (left/right halves, a passage line in the
  middle), with ``people-flow.truth.json`` (true line crossings, flows and mean occupancy);
- ``<exercise>-set.npz``: landmark segments (the format an edge device would send) of a set with known faults,
  with ``<exercise>-set.truth.json`` (reps and their faults).
Needs OpenCV (gym/.venv-vision) for the video.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from gymchain.vision import kinematics as K
from gymchain.vision import scene


def write_video(path: Path, frames: np.ndarray, fps: float) -> None:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (frames.shape[2], frames.shape[1]))
    if not writer.isOpened():
        raise SystemExit(f"{path}: OpenCV cannot write an MJPG .avi here")
    for frame in frames:
        writer.write(frame)
    writer.release()


def flow_clip(directory: Path, *, people: int, seconds: float, seed: int) -> dict:
    clip = scene.render(people=people, seconds=seconds, fps=15, seed=seed)
    write_video(directory / "people-flow.avi", clip.frames, clip.fps)
    truth = {"lines": clip.truth.line_counts(), "flows": clip.truth.flow_list(),
             "mean_occupancy": {str(z.area_id): float(clip.occupancy()[:, i].mean()) for i, z in enumerate(scene.ZONES)},
             "frames": len(clip.frames), "fps": clip.fps, "zones": [z.__dict__ for z in scene.ZONES],
             "lines_layout": [line.__dict__ for line in scene.LINES]}
    (directory / "people-flow.truth.json").write_text(json.dumps(truth, indent=1))
    return truth


def landmark_set(directory: Path, exercise: str, errors: list[tuple[str, ...]], seed: int,
                 drop: bool = False) -> dict:
    seq = K.generate(exercise, reps=len(errors), rng=np.random.default_rng(seed), errors=errors, drop_at_end=drop)
    np.savez_compressed(directory / f"{exercise}-set.npz", landmarks=seq.landmarks, fps=np.float32(seq.fps))
    truth = {"exercise": exercise, "fps": seq.fps, "reps": [{"start": r.start, "far": r.far, "end": r.end,
                                                           "errors": list(r.errors)} for r in seq.reps],
             "drops_s": [d / seq.fps for d in seq.drop_frames]}
    (directory / f"{exercise}-set.truth.json").write_text(json.dumps(truth, indent=1))
    return truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gymchain.vision.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media-root", type=Path, required=True, help="directory to write into (created)")
    parser.add_argument("--people", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 1 <= args.people <= 40 or not 2 <= args.seconds <= 600:
        parser.error(f"--people {args.people} / --seconds {args.seconds}: expected 1-40 people and 2-600 s")
    args.media_root.mkdir(parents=True, exist_ok=True)
    flow = flow_clip(args.media_root, people=args.people, seconds=args.seconds, seed=args.seed)
    landmark_set(args.media_root, "squat", [(), ("depth",), ("knee_valgus",), ("back", "tempo"), ()], args.seed)
    landmark_set(args.media_root, "deadlift", [(), ("back",), ("lockout",), ()], args.seed + 1)
    landmark_set(args.media_root, "press", [(), ("back",), ()], args.seed + 2, drop=True)
    landmark_set(args.media_root, "pushup", [(), ("back",), ("depth",), ()], args.seed + 3)
    print(json.dumps({"media_root": str(args.media_root.resolve()), "people_flow": flow["lines"],
                      "files": sorted(p.name for p in args.media_root.iterdir())}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
