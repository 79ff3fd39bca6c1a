"""The training data of the classifier: labelled windows rendered from the kinematic model.

On-disk format (``.npz``, loaded with ``allow_pickle=False``):

| array | shape | meaning |
|---|---|---|
| ``x`` | (N, 32, F) float32 | window features (:func:`gymchain.vision.features.window_features`) |
| ``exercise`` | (N,) int8 | index into EXERCISES |
| ``errors`` | (N, 5) int8 | faults of the rep (ERRORS order) |
| ``errors_mask`` | (N,) int8 | 1 for rep windows (faults known), 0 for time windows |
| ``misuse`` | (N, 3) int8 | unsafe_lift, wrong_machine, drop |
| ``misuse_mask`` | (N, 3) int8 | which misuse labels are known for the window |
| ``group`` | (N,) int32 | the sequence (person and set) the window came from: train/validation split by group |

Real data would have the same layout with landmarks from MediaPipe on labelled gym video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gymchain.vision import kinematics as K
from gymchain.vision.features import sliding_windows, window_features
from gymchain.vision.misuse import ALLOWED, EQUIPMENT

ARRAYS = ("x", "exercise", "errors", "errors_mask", "misuse", "misuse_mask", "group")


def sequence_windows(seq: K.Sequence, equipment: str, group: int, rng: np.random.Generator) -> dict[str, list]:
    out: dict[str, list] = {k: [] for k in ARRAYS}
    ex = K.EXERCISES.index(seq.exercise)
    wrong = int(seq.exercise not in ALLOWED[equipment])

    def add(a: int, b: int, errors, errors_known: bool, misuse, misuse_known):
        out["x"].append(window_features(seq.landmarks[a:b], seq.fps, equipment))
        out["exercise"].append(ex)
        out["errors"].append(errors)
        out["errors_mask"].append(int(errors_known))
        out["misuse"].append(misuse)
        out["misuse_mask"].append(misuse_known)
        out["group"].append(group)

    n = len(seq.landmarks)
    jitter = int(0.15 * seq.fps)
    for rep in seq.reps:
        a = max(0, rep.start - int(rng.integers(0, jitter + 1)))
        b = min(n, rep.end + int(rng.integers(0, jitter + 1)) + 1)
        errs = [int(e in rep.errors) for e in K.ERRORS]
        unsafe = int("back" in rep.errors and seq.exercise in ("squat", "deadlift"))
        add(a, b, errs, True, [unsafe, wrong, 0], [1, 1, 1])
    for a, b in sliding_windows(n, seq.fps, 2.0, 1.0):
        dropped = int(any(a <= d < b - int(0.1 * seq.fps) for d in seq.drop_frames))
        add(a, b, [0] * len(K.ERRORS), False, [0, wrong, dropped], [0, 1, 1])
    return out


def generate(sequences: int, seed: int, *, drop_share: float = 0.25) -> dict[str, np.ndarray]:
    """Windows of ``sequences`` random sets (exercise, person, camera, faults, zone equipment)."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {k: [] for k in ARRAYS}
    for i in range(sequences):
        exercise = K.EXERCISES[i % len(K.EXERCISES)]
        drop = exercise == "press" and rng.random() < drop_share
        seq = K.generate(exercise, reps=int(rng.integers(2, 7)), rng=rng, drop_at_end=drop)
        # mostly stations meant for the exercise, 30 % a wrong one
        fitting = [e for e in EQUIPMENT if exercise in ALLOWED[e]]
        wrong = [e for e in EQUIPMENT if exercise not in ALLOWED[e]]
        equipment = str(rng.choice(wrong if wrong and rng.random() < 0.3 else fitting))
        for k, v in sequence_windows(seq, equipment, i + seed * 1_000_000, rng).items():
            parts[k].extend(v)
    dtypes = {"x": np.float32, "exercise": np.int8, "errors": np.int8, "errors_mask": np.int8, "misuse": np.int8,
              "misuse_mask": np.int8, "group": np.int32}
    return {k: np.asarray(v, dtype=dtypes[k]) for k, v in parts.items()}


def save(data: dict[str, np.ndarray], path: Path) -> None:
    np.savez_compressed(path, **data)


def load(path: Path) -> dict[str, np.ndarray]:
    """Load and check a dataset file; ValueError naming the file and the problem."""
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable .npz dataset ({exc})") from None
    missing = [k for k in ARRAYS if k not in data]
    if missing:
        raise ValueError(f"{path}: missing arrays {', '.join(missing)} (expected {', '.join(ARRAYS)})")
    n = len(data["x"])
    if any(len(data[k]) != n for k in ARRAYS):
        raise ValueError(f"{path}: arrays have different lengths (expected {n} windows each)")
    return data


def split(data: dict[str, np.ndarray], val_share: float = 0.2, seed: int = 0) -> tuple[dict, dict]:
    """Train/validation split by group (whole sequences), so no person/set is on both sides."""
    groups = np.unique(data["group"])
    rng = np.random.default_rng(seed)
    val_groups = set(rng.choice(groups, size=max(1, int(len(groups) * val_share)), replace=False).tolist())
    is_val = np.array([g in val_groups for g in data["group"]])
    return ({k: v[~is_val] for k, v in data.items()}, {k: v[is_val] for k, v in data.items()})
