"""MediaPipe Pose (the full model shipped in mediapipe 0.10.21, offline) on the real photos that ship inside
Python packages; runs in gym/.venv-vision (mediapipe pins numpy<2), created by gym/scripts/setup.sh."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

GYM = Path(__file__).resolve().parents[1]
VISION_PYTHON = GYM / ".venv-vision" / "bin" / "python"


def vision_python() -> str:
    if not VISION_PYTHON.exists():
        pytest.fail(f"{VISION_PYTHON}: missing; run gym/scripts/setup.sh (it creates the vision venv)")
    return str(VISION_PYTHON)


def test_mediapipe_finds_the_people_in_packaged_photos(tmp_path):
    import skimage

    astronaut = Path(skimage.__file__).parent / "data" / "astronaut.png"
    grace = subprocess.run([vision_python(), "-c", ("import matplotlib, os; print(os.path.join("
                            "matplotlib.get_data_path(), 'sample_data', 'grace_hopper.jpg'))")],
                           capture_output=True, text=True, check=True).stdout.strip()
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture")
    run = subprocess.run([vision_python(), "-m", "gymchain.vision.smoke", str(astronaut), grace, str(not_an_image)],
                         check=False, capture_output=True, text=True, timeout=240,
                         env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    found = {r["image"]: r for r in json.loads(run.stdout)}
    for name in ("astronaut.png", "grace_hopper.jpg"):
        r = found[name]
        assert r["found"] and r["nose_above_shoulders"] and r["upper_body_visibility"] > 0.5, r
        assert r["hips_origin_m"] < 0.05  # world landmarks are centred between the hips
        assert 0.2 < r["shoulder_width_m"] < 0.5  # an adult's shoulders, in metres
        assert r["still_clip_pose_share"] == 1.0 and r["still_clip_reps"] == 0  # a still person does no reps
    assert found["notes.png"] == {"image": "notes.png", "error": "OpenCV cannot read it"}
    missing = subprocess.run([vision_python(), "-m", "gymchain.vision.smoke", str(tmp_path / "nope.jpg")],
                             check=False, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no such image" in missing.stderr.strip().splitlines()[-1]
