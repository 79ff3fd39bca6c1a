"""Personalised weekly workout plans, built deterministically from the member's profile, goal and history.

Inputs: the goal and the days per week the member gave (stored in ``assistant_profiles``), their age (birth date
from the members service), and their history (check-ins in the last 28 days, booked classes). The level is
*beginner* with fewer than 8 visits in 28 days, else *intermediate*. Every prescription comes from a fact of the
knowledge base, cited by id: sets/repetitions from ACSM 2009 for the goal, weekly cardio from WHO 2020, more
balance work and lighter loads for members aged 65+, warm-up and cool-down from ACSM's guidelines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .text import fold

GOALS = ("strength", "hypertrophy", "weight_loss", "endurance", "health")
_GOAL_WORDS = {
    "hypertrophy": r"hipertrof\w*|massa\s+muscular|ganhar\s+massa|ganhar\s+musculo|crescer|build\s+muscle|"
                   r"muscle\s+(?:gain|growth|mass)|hypertroph\w*|bulk",
    "weight_loss": r"emagre\w*|perder\s+peso|perder\s+gordura|secar|lose\s+weight|weight\s+loss|fat\s+loss|"
                   r"lose\s+fat|slim",
    "strength": r"\bforca\b|ficar\s+forte|mais\s+forte|strength|stronger|powerlift\w*",
    "endurance": r"resistencia|corrida|maratona|condicionamento|endurance|stamina|running|marathon|cardio\s+fitness",
    "health": r"saude|qualidade\s+de\s+vida|bem[-\s]estar|health\w*|general\s+fitness|stay\s+fit|manter\s+a\s+forma",
}
_NUMBER_WORDS = {"uma": 1, "um": 1, "duas": 2, "dois": 2, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6, "one": 1,
                 "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "once": 1, "twice": 2}


@dataclass
class Profile:
    goal: str = "health"
    days_per_week: int = 3
    minutes_per_session: int = 60
    level: str | None = None


def parse_profile(message: str, current: Profile) -> tuple[Profile, bool]:
    """Goal, days per week and minutes per session mentioned in ``message`` (the rest from ``current``)."""
    folded = fold(message)
    profile, changed = Profile(current.goal, current.days_per_week, current.minutes_per_session, current.level), False
    for goal, pattern in _GOAL_WORDS.items():
        if re.search(pattern, folded):
            profile.goal, changed = goal, True
            break
    m = re.search(r"\b(\d|uma|duas|dois|tres|quatro|cinco|seis|one|two|three|four|five|six|once|twice)\s*"
                  r"(?:x|vezes|dias|days|times)?\s*(?:por|na|a|per|each)?\s*(?:semana|week)\b", folded) \
        or re.search(r"\b(once|twice)\b", folded)
    if m:
        g = m.group(1)
        n = int(g) if g.isdigit() else _NUMBER_WORDS[g]
        if 1 <= n <= 7:
            profile.days_per_week, changed = n, True
    m = re.search(r"\b(\d{2,3})\s*(?:min|minutos|minutes)\b", folded)
    if m and 15 <= int(m.group(1)) <= 180:
        profile.minutes_per_session, changed = int(m.group(1)), True
    return profile, changed


def age_on(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


SCHEMES = {  # goal -> (sets, reps, rest, fact ids)
    "strength": ("3", "8-12", "2-3 min", ["rt-reps-strength", "rt-rest-intervals"]),
    "hypertrophy": ("3", "8-12", "1-2 min", ["rt-hypertrophy", "rt-sets"]),
    "weight_loss": ("2-3", "10-15", "1 min", ["strength-in-weight-loss", "weight-loss-combo"]),
    "endurance": ("2", "15-20", "1 min", ["rt-endurance"]),
    "health": ("2", "10-12", "1-2 min", ["strength-adults", "rt-sets"]),
}
FULL_BODY = {"pt": ["Agachamento", "Supino ou flexão de braço", "Remada", "Levantamento terra romeno", "Prancha"],
             "en": ["Squat", "Bench press or push-up", "Row", "Romanian deadlift", "Plank"]}
SPLIT = {"pt": {"A": ["Agachamento", "Avanço", "Levantamento terra romeno", "Prancha"],
                "B": ["Supino", "Remada", "Desenvolvimento de ombros", "Prancha lateral"]},
         "en": {"A": ["Squat", "Lunge", "Romanian deadlift", "Plank"],
                "B": ["Bench press", "Row", "Shoulder press", "Side plank"]}}
OLDER_EXTRA = {"pt": "Equilíbrio: apoio unipodal e marcha calcanhar-ponta, 10 min",
               "en": "Balance: single-leg stand and heel-to-toe walk, 10 min"}
DAY_NAMES = {"pt": ["Seg", "Ter", "Qua", "Qui", "Sex", "Sáb", "Dom"],
             "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}
SPREAD = {1: [2], 2: [0, 3], 3: [0, 2, 4], 4: [0, 1, 3, 4], 5: [0, 1, 2, 3, 4], 6: [0, 1, 2, 3, 4, 5],
          7: [0, 1, 2, 3, 4, 5, 6]}


def build_plan(profile: Profile, *, visits_28d: int, age: int | None, lang: str,
               class_titles: list[str] | None = None) -> dict:
    """A week: which days, what each day holds, and the facts behind it."""
    level = profile.level or ("beginner" if visits_28d < 8 else "intermediate")
    older = age is not None and age >= 65
    sets, reps, rest, facts = SCHEMES[profile.goal]
    facts = list(facts) + ["warmup", "rt-48h"]
    if older:
        reps, facts = "10-15", facts + ["older-strength", "older-adults-balance"]
    days = SPREAD[profile.days_per_week]
    use_split = level == "intermediate" and profile.days_per_week >= 4 and not older
    facts.append("rt-frequency-novice")
    cardio_total = 300 if profile.goal == "weight_loss" else 150
    cardio_per_day = max(10, min(60, round(cardio_total / len(days) / 5) * 5))
    facts.append("weight-loss-combo" if profile.goal == "weight_loss" else "aerobic-adults")
    schedule = []
    for n, weekday in enumerate(days):
        if use_split:
            label = "AB"[n % 2]
            exercises = SPLIT[lang][label]
        else:
            label = "FB"
            exercises = FULL_BODY[lang]
        items = [f"{e}: {sets} x {reps}" for e in exercises]
        if older:
            items.append(OLDER_EXTRA[lang])
        cardio = ("Cardio moderado" if lang == "pt" else "Moderate cardio") + f": {cardio_per_day} min"
        schedule.append({"day": DAY_NAMES[lang][weekday], "session": label, "strength": items, "cardio": cardio,
                         "rest_between_sets": rest})
    suggestions = [t for t in (class_titles or [])][:3]
    return {"goal": profile.goal, "level": level, "days_per_week": profile.days_per_week,
            "minutes_per_session": profile.minutes_per_session, "older_adult": older, "visits_28d": visits_28d,
            "schedule": schedule, "classes_to_try": suggestions, "fact_ids": list(dict.fromkeys(facts))}


def plan_text(plan: dict, lang: str) -> str:
    goal_names = {"pt": {"strength": "força", "hypertrophy": "hipertrofia", "weight_loss": "emagrecimento",
                         "endurance": "resistência", "health": "saúde"},
                  "en": {"strength": "strength", "hypertrophy": "muscle growth", "weight_loss": "weight loss",
                         "endurance": "endurance", "health": "health"}}[lang]
    level = {"beginner": "iniciante", "intermediate": "intermediário"}.get(plan["level"], plan["level"]) \
        if lang == "pt" else plan["level"]
    if lang == "pt":
        head = (f"Plano de {plan['days_per_week']} dias por semana para {goal_names[plan['goal']]} "
                f"(nível {level}, {plan['visits_28d']} visitas nos últimos 28 dias). Aqueça 5 a 10 minutos antes.")
    else:
        head = (f"A {plan['days_per_week']}-day weekly plan for {goal_names[plan['goal']]} ({level} level, "
                f"{plan['visits_28d']} visits in the last 28 days). Warm up for 5 to 10 minutes first.")
    lines = [head]
    for day in plan["schedule"]:
        lines.append(f"{day['day']}: " + "; ".join(day["strength"]) + f"; {day['cardio']}")
    if plan["classes_to_try"]:
        lines.append(("Aulas da sua unidade que combinam: " if lang == "pt" else "Classes at your unit that fit: ")
                     + ", ".join(plan["classes_to_try"]))
    return "\n".join(lines)
