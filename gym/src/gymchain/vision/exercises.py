"""Per-exercise rep rules: what is measured on each rep, the threshold, and the feedback a trainer reads.

Sources of the criteria (operational thresholds are this project's, chosen on the kinematic model and
documented in gym/docs/vision.md with what they can and cannot show):

- squat: thighs at least parallel (hip crease level with or below the knee), knees tracking over the toes (no
  inward collapse), neutral spine, full hip/knee extension at the top - NSCA, *Essentials of Strength Training
  and Conditioning* (4th ed., 2016), ch. 15 exercise technique; Myer et al. 2014, "The back squat", *Strength &
  Conditioning Journal* 36(6):4-27; dynamic knee valgus as an injury-risk sign: Hewett et al. 2005, *Am J
  Sports Med* 33(4):492-501.
- push-up: chest near the floor (elbows to about 90 degrees), body in a straight line (no sagging hips), arms
  extended at the top - ACE exercise library "Push-up"; NSCA *Essentials*.
- deadlift / hip hinge: hands travel below the knees, neutral (not rounded) back, hips and knees fully extended
  at the top - NSCA *Essentials*; McGill, *Low Back Disorders* (3rd ed., 2016) on spine flexion under load.
- shoulder press: bar/dumbbells lowered to shoulder level, full elbow extension overhead, no backward lean of the
  trunk (lumbar hyperextension) - NSCA *Essentials*; ACE "Overhead press".
- tempo: controlled lowering; ACSM position stand "Progression models in resistance training for healthy
  adults", *Med Sci Sports Exerc* 41(3):687-708 (2009) recommends slow-to-moderate velocities (1-2 s
  eccentric) for novices and intermediates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gymchain.vision import landmarks as L
from gymchain.vision.kinematics import ERRORS, EXERCISES
from gymchain.vision.reps import RepWindow, find_reps, phase_time, smooth


@dataclass(frozen=True)
class Spec:
    driver: str  # the signal whose extrema are reps
    far_is_min: bool
    min_amplitude: float
    lowering_is_first: bool  # squat/push-up/deadlift lower first; the press raises first


SPECS = {
    "squat": Spec("knee", True, 25.0, True),
    "pushup": Spec("elbow", True, 25.0, True),
    "deadlift": Spec("hip", True, 25.0, True),
    "press": Spec("elbow", False, 25.0, False),
}

# error -> (signal, statistic over the rep, comparison, threshold, unit)
THRESHOLDS: dict[str, dict[str, tuple[str, str, str, float, str]]] = {
    "squat": {"depth": ("hip_below_knee", "at the bottom", ">=", -0.03, "m"),
              "knee_valgus": ("knee_ankle_ratio", "at the bottom", ">=", 0.80, ""),
              "back": ("back_flexion", "max", "<=", 20.0, "deg"),
              "lockout": ("knee", "max", ">=", 165.0, "deg"),
              "tempo": ("lowering_s", "10-90 % of the lowering", ">=", 0.50, "s")},
    "pushup": {"depth": ("elbow", "at the bottom", "<=", 95.0, "deg"),
               "back": ("body_line", "min", ">=", 160.0, "deg"),
               "lockout": ("elbow", "max", ">=", 155.0, "deg"),
               "tempo": ("lowering_s", "10-90 % of the lowering", ">=", 0.50, "s")},
    "deadlift": {"depth": ("wrist_below_knee", "at the bottom", ">=", 0.0, "m"),
                 "back": ("back_flexion", "max", "<=", 20.0, "deg"),
                 "lockout": ("hip", "max", ">=", 165.0, "deg"),
                 "tempo": ("lowering_s", "10-90 % of the lowering", ">=", 0.50, "s")},
    "press": {"depth": ("elbow", "at the bottom", "<=", 100.0, "deg"),
              "back": ("lean_back", "max", "<=", 10.0, "deg"),
              "lockout": ("elbow", "max", ">=", 160.0, "deg"),
              "tempo": ("lowering_s", "10-90 % of the lowering", ">=", 0.50, "s")},
}

MESSAGES = {
    ("squat", "depth"): ("Go deeper: hip crease to knee height (thighs parallel).",
                         "Desça mais: quadril na altura do joelho (coxas paralelas)."),
    ("squat", "knee_valgus"): ("Knees caved in: push them out over the toes.",
                               "Joelhos para dentro: empurre-os para fora, alinhados com os pés."),
    ("squat", "back"): ("Upper back rounded: chest up, keep the spine neutral.",
                        "Costas arredondadas: peito aberto, coluna neutra."),
    ("squat", "lockout"): ("Stand all the way up between reps (hips and knees extended).",
                           "Estenda totalmente quadril e joelhos entre as repetições."),
    ("pushup", "depth"): ("Lower the chest further: elbows to about 90 degrees.",
                          "Desça mais o peito: cotovelos a cerca de 90 graus."),
    ("pushup", "back"): ("Hips sagging: brace the core, body in one line.",
                         "Quadril caindo: contraia o abdômen, corpo alinhado."),
    ("pushup", "lockout"): ("Straighten the arms fully at the top.", "Estenda totalmente os braços no topo."),
    ("deadlift", "depth"): ("Hinge further: bring the hands below the knees.",
                            "Flexione mais o quadril: leve as mãos abaixo dos joelhos."),
    ("deadlift", "back"): ("Back rounded under load: hinge at the hips with a neutral spine. Risk of injury.",
                           "Coluna arredondada com carga: dobre no quadril com a coluna neutra. Risco de lesão."),
    ("deadlift", "lockout"): ("Finish the rep: hips fully extended, standing tall.",
                              "Termine a repetição: quadril totalmente estendido, em pé."),
    ("press", "depth"): ("Lower the weight to shoulder level.", "Desça o peso até a altura dos ombros."),
    ("press", "back"): ("Leaning back: squeeze glutes and abs, ribs down.",
                        "Inclinando para trás: contraia glúteos e abdômen."),
    ("press", "lockout"): ("Lock the elbows out overhead.", "Estenda totalmente os cotovelos acima da cabeça."),
}
TEMPO_MESSAGE = ("Lowering too fast: control the descent (about 1-2 s).",
                 "Descida rápida demais: controle a fase excêntrica (cerca de 1-2 s).")


@dataclass
class RepFeedback:
    index: int
    start_s: float
    end_s: float
    measures: dict[str, float]
    errors: list[str] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"rep": self.index, "start_s": round(self.start_s, 2), "end_s": round(self.end_s, 2),
                "measures": {k: round(v, 3) for k, v in self.measures.items()}, "errors": self.errors,
                "feedback": self.messages}


def first_plateau(signal: np.ndarray, fps: float, far: int, hi: int, *, rising: bool) -> float:
    """The level where the movement out of ``far`` first stops (a rep's own top or bottom), not the next rep's
    start position that may follow after a short rest: the first turning point of the signal (smoothed over
    0.3 s) once it has covered half of its travel towards ``hi``, averaged over +-0.1 s."""
    s = smooth(signal, fps, 0.3)[far:hi + 1]
    if s.size < 3:
        return float(s[-1]) if s.size else float("nan")
    x = s if rising else -s
    half = x[0] + 0.5 * (x.max() - x[0])
    turning = [i for i in range(1, len(x) - 1) if x[i] >= half and x[i + 1] <= x[i]]
    i = turning[0] if turning else int(np.argmax(x))
    k = max(1, int(0.1 * fps))
    raw = smooth(signal, fps, 0.1)[far:hi + 1]
    return float(np.median(raw[max(0, i - k):i + k + 1]))


def _compare(value: float, op: str, threshold: float) -> bool:
    return value >= threshold if op == ">=" else value <= threshold


def assess_rep(exercise: str, sig: dict[str, np.ndarray], fps: float, rep: RepWindow, index: int,
               lo: int, hi: int) -> RepFeedback:
    """Measure one rep and apply the exercise's thresholds. ``lo``/``hi`` bound the window the rep may look at
    for its top positions (the neighbouring reps' far frames)."""
    spec = SPECS[exercise]
    # the core of the rep (from a quarter of the way out to three quarters of the way back) for max/min
    w0, w1 = rep.start + (rep.far - rep.start) // 4, rep.end - (rep.end - rep.far) // 4
    near = slice(max(0, rep.far - int(0.1 * fps)), rep.far + int(0.1 * fps) + 1)
    measures: dict[str, float] = {}
    for error, (name, stat, _op, _thr, _unit) in THRESHOLDS[exercise].items():
        if name == "lowering_s":
            a, b = (rep.start, rep.far) if spec.lowering_is_first else (rep.far, rep.end)
            measures[error] = phase_time(sig[spec.driver], fps, a, b)
            continue
        series = smooth(sig[name], fps, 0.1)
        if error == "lockout" and spec.lowering_is_first:  # the top where the rep's return first levels off
            measures[error] = first_plateau(sig[name], fps, rep.far, hi, rising=True)
        elif error == "lockout":  # the press: overhead, at the far position
            measures[error] = float(series[rep.start:rep.end + 1].max())
        elif stat == "at the bottom" and spec.lowering_is_first:
            measures[error] = float(np.median(series[near]))
        elif stat == "at the bottom":  # the press: the bottom where the lowering first levels off
            measures[error] = first_plateau(sig[name], fps, rep.far, hi, rising=False)
        elif stat == "max":
            measures[error] = float(series[w0:w1 + 1].max())
        else:
            measures[error] = float(series[w0:w1 + 1].min())
    feedback = RepFeedback(index, rep.start / fps, rep.end / fps, measures)
    for error, (_name, _stat, op, threshold, _unit) in THRESHOLDS[exercise].items():
        if not _compare(measures[error], op, threshold):
            feedback.errors.append(error)
            en, pt = TEMPO_MESSAGE if error == "tempo" else MESSAGES[(exercise, error)]
            feedback.messages.append({"error": error, "en": en, "pt": pt})
    return feedback


def analyse_set(exercise: str, landmarks: np.ndarray, fps: float) -> list[RepFeedback]:
    """Count the reps of one exercise in a landmark sequence ``(T, 33, 3)`` and give feedback per rep."""
    if exercise not in SPECS:
        raise ValueError(f"exercise {exercise!r}: expected one of {', '.join(EXERCISES)}")
    if not 1 <= fps <= 240:
        raise ValueError(f"fps {fps}: expected 1 to 240")
    sig = L.signals(landmarks)
    spec = SPECS[exercise]
    reps = find_reps(sig[spec.driver], fps, far_is_min=spec.far_is_min, min_amplitude=spec.min_amplitude)
    out = []
    for i, rep in enumerate(reps):
        lo = reps[i - 1].far if i > 0 else 0
        hi = reps[i + 1].far if i + 1 < len(reps) else len(landmarks) - 1
        out.append(assess_rep(exercise, sig, fps, rep, i + 1, lo, hi))
    return out


assert all(set(t) <= set(ERRORS) for t in THRESHOLDS.values())
