"""A kinematic stick figure that performs squats, push-ups, deadlifts and shoulder presses with known errors.

It produces BlazePose-layout landmarks (33 points, metres, y down, origin between the hips, like MediaPipe's
world landmarks) for labelled evaluation and training data: no gym video can be downloaded here. Each rep is
driven by a phase p(t) in [0, 1] (0 = the start position, 1 = the far position) with cosine easing and chosen
lowering/raising durations; joint angles are interpolated between the start and far poses, and an error changes
those poses (e.g. ``depth``: the far pose stops short) or the timing (``tempo``: a fast lowering). Body size,
proportions, stance, camera yaw, landmark noise and frame rate are drawn per sequence.

Errors (the same five names for every exercise; what they mean per exercise is in :mod:`.exercises`):
``depth``, ``knee_valgus`` (squat only), ``back`` (rounded upper back in squat/deadlift, sagging hips in
push-ups, leaning back in the press), ``lockout``, ``tempo``. Only numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gymchain.vision.landmarks import INDEX, N_LANDMARKS

EXERCISES = ("squat", "pushup", "deadlift", "press")
ERRORS = ("depth", "knee_valgus", "back", "lockout", "tempo")
APPLICABLE = {"squat": ERRORS, "pushup": ("depth", "back", "lockout", "tempo"),
              "deadlift": ("depth", "back", "lockout", "tempo"), "press": ("depth", "back", "lockout", "tempo")}


@dataclass(frozen=True)
class Body:
    height: float
    shin: float
    thigh: float
    torso: float
    neck: float
    upper_arm: float
    forearm: float
    hip_half: float
    shoulder_half: float
    stance_half: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> Body:
        h = float(rng.uniform(1.50, 1.95))
        j = lambda: float(rng.uniform(0.95, 1.05))
        return cls(h, 0.246 * h * j(), 0.245 * h * j(), 0.30 * h * j(), 0.12 * h * j(), 0.186 * h * j(),
                   0.160 * h * j(), 0.055 * h * j(), 0.115 * h * j(), 0.11 * h * float(rng.uniform(0.9, 1.3)))


@dataclass
class Rep:
    start: int  # frame of the start position
    far: int  # frame of the far position (bottom; top for the press)
    end: int  # frame back at the start position
    errors: tuple[str, ...]


@dataclass
class Sequence:
    exercise: str
    fps: float
    landmarks: np.ndarray  # (T, 33, 3)
    reps: list[Rep]
    drop_frames: list[int] = field(default_factory=list)  # frames where a weight was dropped (misuse)

    def rep_labels(self) -> np.ndarray:
        """(reps, 5) 0/1 matrix in ERRORS order."""
        return np.array([[e in rep.errors for e in ERRORS] for rep in self.reps], dtype=np.int8)


def _dir(angle_deg: float) -> np.ndarray:
    """Unit vector in the sagittal plane (forward, up) at ``angle_deg`` from vertical-up, positive forward."""
    a = np.radians(angle_deg)
    return np.array([np.sin(a), np.cos(a)])


def _frontal(angle_deg: float, side: float) -> np.ndarray:
    """Unit vector in the frontal plane (lateral, up): angle from vertical-up, positive outward on ``side``."""
    a = np.radians(angle_deg)
    return np.array([side * np.sin(a), np.cos(a)])


class _Pose:
    """Points in the body frame (forward F, up U, lateral L to the right) keyed by landmark name."""

    def __init__(self) -> None:
        self.points: dict[str, np.ndarray] = {}

    def set(self, name: str, forward: float, up: float, lateral: float) -> None:
        self.points[name] = np.array([forward, up, lateral], dtype=float)

    def array(self) -> np.ndarray:
        out = np.zeros((N_LANDMARKS, 3))
        for name, value in self.points.items():
            out[INDEX[name]] = value
        return out


def _head_and_hands(pose: _Pose, b: Body, head_dir: np.ndarray) -> None:
    """Face points around the ear line, hand points beyond the wrists."""
    for side, s in (("left", -1.0), ("right", 1.0)):
        sh = pose.points[f"{side}_shoulder"]
        neck_base = sh[:2] + np.array([0.0, 0.0])
        ear = neck_base + b.neck * head_dir
        pose.set(f"{side}_ear", ear[0], ear[1], 0.07 * s * b.height / 1.75)
        face = ear + 0.09 * np.array([head_dir[1], -head_dir[0]]) * b.height / 1.75 * 1.0
        for name, lat in (("eye_inner", 0.015), ("eye", 0.03), ("eye_outer", 0.045)):
            pose.set(f"{side}_{name}", face[0], face[1] + 0.01, s * lat)
        pose.set(f"mouth_{side}", face[0], face[1] - 0.05, s * 0.025)
        wrist = pose.points[f"{side}_wrist"]
        elbow = pose.points[f"{side}_elbow"]
        along = wrist - elbow
        along /= max(np.linalg.norm(along), 1e-9)
        for name, k, lat in (("pinky", 0.08, 0.02), ("index", 0.09, -0.01), ("thumb", 0.05, -0.03)):
            p = wrist + k * along
            pose.set(f"{side}_{name}", p[0], p[1], p[2] + s * lat)
    nose = (pose.points["left_eye"] + pose.points["right_eye"]) / 2
    pose.set("nose", nose[0] + 0.02, nose[1] - 0.03, 0.0)


def _legs_standing(pose: _Pose, b: Body, shin_deg: float, thigh_deg: float, knee_in: float = 0.0) -> np.ndarray:
    """Feet flat at the origin, shins leaning ``shin_deg`` forward, thighs ``thigh_deg`` back (from vertical);
    ``knee_in`` in [0, 1] moves the knees towards the midline (valgus). Returns the hip centre (F, U)."""
    ankle_h = 0.04 * b.height
    for side, s in (("left", -1.0), ("right", 1.0)):
        ankle = np.array([0.0, ankle_h])
        knee = ankle + b.shin * _dir(shin_deg)
        hip = knee + b.thigh * _dir(-thigh_deg)
        tracked = 0.5 * (b.stance_half + b.hip_half) + 0.3 * b.stance_half * min(thigh_deg / 100.0, 1.0)
        knee_lat = s * (tracked * (1 - knee_in) + b.hip_half * knee_in * 0.5)
        pose.set(f"{side}_ankle", ankle[0], ankle[1], s * b.stance_half)
        pose.set(f"{side}_heel", -0.045 * b.height, 0.0, s * b.stance_half)
        pose.set(f"{side}_foot_index", 0.11 * b.height, 0.0, s * b.stance_half * 1.1)
        pose.set(f"{side}_knee", knee[0], knee[1], knee_lat)
        pose.set(f"{side}_hip", hip[0], hip[1], s * b.hip_half)
    return hip


def _trunk(pose: _Pose, b: Body, hip: np.ndarray, lean_deg: float, round_deg: float) -> np.ndarray:
    """Lower half of the trunk at ``lean_deg`` from vertical (forward +), upper half rounded ``round_deg`` more.
    Returns the direction of the head (continuing the upper trunk)."""
    middle = hip + b.torso / 2 * _dir(lean_deg)
    shoulder = middle + b.torso / 2 * _dir(lean_deg + round_deg)
    for side, s in (("left", -1.0), ("right", 1.0)):
        pose.set(f"{side}_shoulder", shoulder[0], shoulder[1], s * b.shoulder_half)
    return _dir(lean_deg + 1.6 * round_deg)


def _arms_hanging(pose: _Pose, b: Body, elbow_deg: float = 175.0, forward_deg: float = 0.0) -> None:
    for side, s in (("left", -1.0), ("right", 1.0)):
        sh = pose.points[f"{side}_shoulder"]
        down = _dir(180.0 - forward_deg)
        elbow = sh[:2] + b.upper_arm * down
        wrist = elbow + b.forearm * _dir(180.0 - forward_deg - (180.0 - elbow_deg))
        pose.set(f"{side}_elbow", elbow[0], elbow[1], sh[2] * 1.05)
        pose.set(f"{side}_wrist", wrist[0], wrist[1], sh[2] * 1.05)


def _arms_on_bar(pose: _Pose, b: Body) -> None:
    """Back squat: hands beside the shoulders on a bar, elbows back and down."""
    for side, s in (("left", -1.0), ("right", 1.0)):
        sh = pose.points[f"{side}_shoulder"]
        pose.set(f"{side}_elbow", sh[0] - 0.12 * b.height, sh[1] - 0.10 * b.height, s * (b.shoulder_half + 0.06))
        pose.set(f"{side}_wrist", sh[0] - 0.04 * b.height, sh[1] + 0.01 * b.height, s * (b.shoulder_half + 0.12))


def squat_pose(b: Body, p: float, err: set[str]) -> np.ndarray:
    top_bend = 14.0 if "lockout" in err else 2.0
    bottom_thigh = 62.0 if "depth" in err else 104.0
    thigh = top_bend + (bottom_thigh - top_bend) * p
    shin = 3.0 + 27.0 * p + (top_bend if "lockout" in err else 0) * (1 - p)
    pose = _Pose()
    hip = _legs_standing(pose, b, shin, thigh, knee_in=(0.55 * p if "knee_valgus" in err else 0.0))
    head = _trunk(pose, b, hip, 4.0 + 38.0 * p, (30.0 if "back" in err else 4.0) * p)
    _arms_on_bar(pose, b)
    _head_and_hands(pose, b, head)
    return pose.array()


def deadlift_pose(b: Body, p: float, err: set[str]) -> np.ndarray:
    top_lean = 20.0 if "lockout" in err else 2.0
    bottom_lean = 34.0 if "depth" in err else 76.0
    lean = top_lean + (bottom_lean - top_lean) * p
    thigh = (12.0 if "lockout" in err else 1.0) * (1 - p) + 38.0 * p
    pose = _Pose()
    hip = _legs_standing(pose, b, 2.0 + 12.0 * p, thigh)
    head = _trunk(pose, b, hip, lean, (34.0 if "back" in err else 4.0) * p)
    _arms_hanging(pose, b)
    _head_and_hands(pose, b, head)
    return pose.array()


def pushup_pose(b: Body, p: float, err: set[str]) -> np.ndarray:
    top_elbow = 128.0 if "lockout" in err else 178.0
    bottom_elbow = 125.0 if "depth" in err else 78.0
    elbow = top_elbow + (bottom_elbow - top_elbow) * p
    reach = np.sqrt(b.upper_arm ** 2 + b.forearm ** 2 - 2 * b.upper_arm * b.forearm * np.cos(np.radians(elbow)))
    wrist_h = 0.03 * b.height
    ankle = np.array([0.04 * b.height, 0.06 * b.height])
    length = b.shin + b.thigh + b.torso
    shoulder_up = wrist_h + reach
    forward = ankle[0] + np.sqrt(max(length ** 2 - (shoulder_up - ankle[1]) ** 2, 1e-6))
    shoulder = np.array([forward, shoulder_up])
    axis = (shoulder - ankle) / length
    normal = np.array([-axis[1], axis[0]])  # "up" out of the plank
    sag = (0.10 * b.height * (0.6 + 0.4 * p)) if "back" in err else 0.0
    hip = ankle + axis * (b.shin + b.thigh) - normal * sag
    knee = ankle + (hip - ankle) * b.shin / (b.shin + b.thigh)
    wrist = np.array([forward, wrist_h])
    # elbow: two-link solution on the feet side of the shoulder-wrist line
    d = shoulder - wrist
    dist = np.linalg.norm(d)
    a = (b.forearm ** 2 - b.upper_arm ** 2 + dist ** 2) / (2 * dist)
    h = np.sqrt(max(b.forearm ** 2 - a ** 2, 0.0))
    base = wrist + a * d / dist
    perp = np.array([-d[1], d[0]]) / dist
    elbow_pt = base + h * perp if (base + h * perp)[0] < base[0] else base - h * perp
    pose = _Pose()
    for side, s in (("left", -1.0), ("right", 1.0)):
        pose.set(f"{side}_ankle", ankle[0], ankle[1], s * 0.6 * b.hip_half * 2)
        pose.set(f"{side}_heel", ankle[0] - 0.02 * b.height, ankle[1] + 0.04 * b.height, s * 0.6 * b.hip_half * 2)
        pose.set(f"{side}_foot_index", ankle[0] + 0.04 * b.height, 0.0, s * 0.6 * b.hip_half * 2)
        pose.set(f"{side}_knee", knee[0], knee[1], s * b.hip_half)
        pose.set(f"{side}_hip", hip[0], hip[1], s * b.hip_half)
        pose.set(f"{side}_shoulder", shoulder[0], shoulder[1], s * b.shoulder_half)
        pose.set(f"{side}_elbow", elbow_pt[0], elbow_pt[1], s * (b.shoulder_half + 0.05))
        pose.set(f"{side}_wrist", wrist[0], wrist[1], s * (b.shoulder_half + 0.04))
    _head_and_hands(pose, b, axis)
    return pose.array()


def press_pose(b: Body, p: float, err: set[str]) -> np.ndarray:
    """Standing press in the frontal plane; p = 0 at the shoulders, 1 locked out overhead."""
    bottom = (125.0, 120.0) if "depth" in err else (92.0, 78.0)  # (upper arm from down-vertical, elbow angle)
    top = (165.0, 140.0) if "lockout" in err else (172.0, 173.0)
    arm = bottom[0] + (top[0] - bottom[0]) * p
    elbow_deg = bottom[1] + (top[1] - bottom[1]) * p
    pose = _Pose()
    hip = _legs_standing(pose, b, 1.0, 1.0)
    head = _trunk(pose, b, hip, -17.0 if "back" in err else -1.0, 0.0)
    for side, s in (("left", -1.0), ("right", 1.0)):
        sh = pose.points[f"{side}_shoulder"]
        upper = _frontal(180.0 - arm, 1.0)
        forearm = _frontal(180.0 - arm - (180.0 - elbow_deg), 1.0)
        elbow = np.array([sh[1], abs(sh[2])]) * 0 + upper * b.upper_arm  # (lateral, up) offsets
        wrist = elbow + forearm * b.forearm
        pose.set(f"{side}_elbow", sh[0] + 0.03, sh[1] + elbow[1], s * (abs(sh[2]) + elbow[0]))
        pose.set(f"{side}_wrist", sh[0] + 0.04, sh[1] + wrist[1], s * (abs(sh[2]) + wrist[0]))
    _head_and_hands(pose, b, head)
    return pose.array()


POSES = {"squat": squat_pose, "pushup": pushup_pose, "deadlift": deadlift_pose, "press": press_pose}


def _ease(x: np.ndarray) -> np.ndarray:
    return (1 - np.cos(np.pi * np.clip(x, 0, 1))) / 2


def _to_world(points: np.ndarray, yaw_deg: float) -> np.ndarray:
    """Body frame (F, U, L) -> camera-like axes (x right, y down, z to the camera), rotated about the vertical,
    origin between the hips."""
    yaw = np.radians(yaw_deg)
    f, u, lat = points[..., 0], points[..., 1], points[..., 2]
    x = np.cos(yaw) * f + np.sin(yaw) * lat
    z = -np.sin(yaw) * f + np.cos(yaw) * lat
    world = np.stack([x, -u, z], axis=-1)
    hips = (world[..., INDEX["left_hip"], :] + world[..., INDEX["right_hip"], :]) / 2
    return world - hips[..., None, :]


def generate(exercise: str, *, reps: int, rng: np.random.Generator, error_rate: float = 0.25,
             fps: float = 30.0, noise_m: float = 0.012, errors: list[tuple[str, ...]] | None = None,
             drop_at_end: bool = False) -> Sequence:
    """One set of ``reps`` reps. Each applicable error is present in a rep with probability ``error_rate``
    unless ``errors`` gives the error tuple of every rep. ``drop_at_end``: after the set the weight is dropped
    from the far position (press: from overhead; others: from the start), a misuse event."""
    if exercise not in POSES:
        raise ValueError(f"exercise {exercise!r}: expected one of {', '.join(POSES)}")
    if drop_at_end and exercise != "press":
        raise ValueError("drop_at_end: only the press ends overhead (a drop from hip height is invisible to pose)")
    body = Body.random(rng)
    if errors is None:  # a rep both short of depth and of lockout would barely move: at most one of the two
        errors = []
        for _ in range(reps):
            drawn = [e for e in APPLICABLE[exercise] if rng.random() < error_rate]
            if "depth" in drawn and "lockout" in drawn:
                drawn.remove(str(rng.choice(["depth", "lockout"])))
            errors.append(tuple(drawn))
    # per frame: phase, the error set of the previous rep and of the next one, and the blend weight. A rep's
    # faults persist through the rest after it (no lockout stays no lockout), and in the last 0.3 s of the rest
    # the body moves to the next rep's start position (which may differ: e.g. locking out before going down).
    frames_spec: list[tuple[float, set, set, float]] = []
    rep_marks: list[Rep] = []
    sets = [set(e) - {"tempo"} for e in errors]
    frames_spec += [(0.0, sets[0] if sets else set(), sets[0] if sets else set(), 1.0)] * int(rng.uniform(0.4, 1.0) * fps)
    blend = int(0.3 * fps)
    for k, rep_errors in enumerate(errors):
        err = sets[k]
        lower = rng.uniform(0.30, 0.50) if "tempo" in rep_errors else rng.uniform(1.3, 2.2)
        raise_ = rng.uniform(0.25, 0.45) if "tempo" in rep_errors else rng.uniform(0.8, 1.4)
        first, second = (raise_, lower) if exercise == "press" else (lower, raise_)
        start = len(frames_spec)
        frames_spec += [(float(_ease(i / (first * fps))), err, err, 1.0) for i in range(int(first * fps))]
        far = len(frames_spec)
        frames_spec += [(1.0, err, err, 1.0)] * int(rng.uniform(0.05, 0.3) * fps)
        frames_spec += [(float(1 - _ease(i / (second * fps))), err, err, 1.0) for i in range(int(second * fps))]
        end = len(frames_spec)
        nxt = sets[k + 1] if k + 1 < len(sets) else err
        rest = int(rng.uniform(0.6, 1.0) * fps)
        frames_spec += [(0.0, err, err, 1.0)] * (rest - blend)
        frames_spec += [(0.0, err, nxt, float(_ease((i + 1) / blend))) for i in range(blend)]
        rep_marks.append(Rep(start, far, end, tuple(rep_errors)))
    pose_fn = POSES[exercise]
    frames = np.stack([pose_fn(body, p, cur) if w >= 1.0 or prev == cur
                       else (1 - w) * pose_fn(body, p, prev) + w * pose_fn(body, p, cur)
                       for p, prev, cur, w in frames_spec])
    drops: list[int] = []
    if drop_at_end:
        frames, drops = _append_drop(exercise, body, frames, fps)
    yaw = float(rng.uniform(-70, 70))
    world = _to_world(frames, yaw)
    world = world + rng.normal(0, noise_m, world.shape)
    return Sequence(exercise, fps, world.astype(np.float32), rep_marks, drops)


def _append_drop(exercise: str, body: Body, frames: np.ndarray, fps: float) -> tuple[np.ndarray, list[int]]:
    """Hold the loaded position, then let the arms fall to the sides in ~0.15 s (the weight is let go)."""
    hold_p = 1.0 if exercise == "press" else 0.0
    hold = POSES[exercise](body, hold_p, set())
    held = [hold] * int(0.5 * fps)
    start = len(frames) + len(held)
    fall = []
    n = max(int(0.15 * fps), 3)
    standing = _Pose()
    hip = _legs_standing(standing, body, 1.0, 1.0)
    head = _trunk(standing, body, hip, 2.0, 0.0)
    _arms_hanging(standing, body)
    _head_and_hands(standing, body, head)
    rest = standing.array()
    for k in range(1, n + 1):
        fall.append(hold + (rest - hold) * (k / n))
    after = [rest] * int(0.8 * fps)
    return np.concatenate([frames, np.stack(held + fall + after)]), [start]
