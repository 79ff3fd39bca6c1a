"""Equipment-misuse rules over pose + zone: unsafe lifting posture, wrong use of a station, dropped weights.

- ``unsafe_lift``: a loaded squat or deadlift rep with the back-rounding fault (spine flexion under load is the
  classic injury mechanism: McGill, *Low Back Disorders*, 2016).
- ``wrong_machine``: the recognised exercise is not one the zone's equipment is meant for (``ALLOWED``), e.g.
  push-ups inside a squat rack, barbell lifts in the studio, lifting in the cardio area.
- ``drop``: the wrists fall from above the shoulders faster than ``DROP_SPEED`` (a controlled lowering is about
  1 m/s; letting go of dumbbells overhead drops the hands at several m/s). Pose cannot see a bar dropped from
  hip height: that needs an impact/audio sensor or object tracking.
Each alert names its rule, time and evidence; the learned classifier (:mod:`.model`) scores the same three
labels and its alerts carry ``source: "model"``.
"""

from __future__ import annotations

import numpy as np

from gymchain.vision import landmarks as L
from gymchain.vision.reps import smooth

MISUSE = ("unsafe_lift", "wrong_machine", "drop")
EQUIPMENT = ("free_weights", "squat_rack", "platform", "studio", "cardio", "functional")
ALLOWED = {"free_weights": {"squat", "pushup", "deadlift", "press"}, "squat_rack": {"squat", "press", "deadlift"},
           "platform": {"deadlift", "squat"}, "studio": {"pushup", "squat"}, "cardio": set(),
           "functional": {"squat", "pushup", "deadlift", "press"}}
AREA_KIND_EQUIPMENT = {"weights": "free_weights", "cardio": "cardio", "studio": "studio", "functional": "functional"}
DROP_SPEED = 3.5  # m/s, downward wrist speed
SEVERITY = {"unsafe_lift": "high", "wrong_machine": "medium", "drop": "high"}
TEXT = {"unsafe_lift": ("Rounded back under load: stop the set and correct the hinge.",
                        "Coluna arredondada com carga: interrompa a série e corrija o movimento."),
        "wrong_machine": ("This station is not meant for this exercise.",
                          "Este equipamento não é destinado a este exercício."),
        "drop": ("Weight dropped from overhead.", "Peso largado acima da cabeça.")}


def alert(rule: str, at_s: float, source: str, evidence: dict) -> dict:
    en, pt = TEXT[rule]
    return {"rule": rule, "at_s": round(float(at_s), 2), "severity": SEVERITY[rule], "source": source,
            "evidence": evidence, "en": en, "pt": pt}


def drop_events(landmarks: np.ndarray, fps: float, speed: float = DROP_SPEED) -> list[float]:
    """Times (s) where the wrists fall faster than ``speed`` m/s starting above the shoulders."""
    height = L.mid(landmarks, "left_wrist", "right_wrist") @ -L.UP  # metres, larger = lower (y down)
    height = smooth(height, fps, 0.07)
    above = smooth(L.wrist_above_shoulder(landmarks), fps, 0.07)
    velocity = np.gradient(height) * fps  # m/s downward
    times, last = [], -1e9
    for t in np.nonzero(velocity > speed)[0]:
        window = above[max(0, t - int(0.3 * fps)):t + 1]
        if window.size and window.max() > 0.05 and t / fps - last > 1.0:
            times.append(t / fps)
            last = t / fps
    return times


def rule_alerts(exercise: str, equipment: str, reps: list, landmarks: np.ndarray, fps: float) -> list[dict]:
    """Alerts from the rules for one analysed set (``reps``: RepFeedback list)."""
    if equipment not in ALLOWED:
        raise ValueError(f"equipment {equipment!r}: expected one of {', '.join(EQUIPMENT)}")
    alerts = []
    if exercise not in ALLOWED[equipment]:
        alerts.append(alert("wrong_machine", reps[0].start_s if reps else 0.0, "rule",
                            {"exercise": exercise, "equipment": equipment}))
    if exercise in ("squat", "deadlift"):
        for rep in reps:
            if "back" in rep.errors:
                alerts.append(alert("unsafe_lift", rep.start_s, "rule",
                                    {"rep": rep.index, "back_flexion_deg": round(rep.measures["back"], 1)}))
    for at in drop_events(landmarks, fps):
        alerts.append(alert("drop", at, "rule", {"min_speed_m_s": DROP_SPEED}))
    return alerts
