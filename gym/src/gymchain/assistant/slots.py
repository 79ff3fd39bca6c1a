"""Deterministic slot filling for bookings (Portuguese and English): day, time of day, class name, a choice.

Nothing here reads a member id from the text: who is booked is always the caller (see ``tools``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .text import fold, stem, words

WEEKDAYS = {  # Monday = 0
    "segunda": 0, "terca": 1, "quarta": 2, "quinta": 3, "sexta": 4, "sabado": 5, "domingo": 6,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
    "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
}
_TIME = re.compile(r"""\b(?P<h>\d{1,2})(?:\s*(?:h|:)\s*(?P<m>\d{2})?)?\s*(?P<ap>am|pm|horas?|hrs?)?\b""", re.VERBOSE)
_TIME_CUE = re.compile(r"\b(?:as|at|a\s+partir\s+das|das|the)\s+$")
SYNONYMS = {"functional": "funcional", "stretching": "alongamento", "stretch": "alongamento", "cycling": "spinning",
            "spin": "spinning", "dance": "zumba"}
_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b")
_ORDINALS = {"primeira": 1, "primeiro": 1, "first": 1, "segunda opcao": 2, "second": 2, "terceira": 3, "third": 3,
             "quarta opcao": 4, "fourth": 4}
_PERIODS = {"manha": (5, 12), "morning": (5, 12), "tarde": (12, 18), "afternoon": (12, 18), "noite": (18, 23),
            "evening": (18, 23), "night": (18, 23)}
# words of booking requests that are not class names (compared as stems)
_GENERIC_WORDS = """aula aulas class classes classe reserva reservar reserve reservation booking book agendar agenda marcar
marque inscreve inscrever quero want would like please favor por pode could can you voce me my minha meu minhas meus
the this that essa esse esta este amanha hoje today tomorrow tonight semana week proxima next cancel cancela cancelar
desmarca desmarcar spot vaga sign signup enrol enroll there tem existe dia day horas hora noite tarde manha morning
evening afternoon night fazer faca ir para pra with com sim yes segunda terca quarta quinta sexta sabado domingo monday
tuesday wednesday thursday friday saturday sunday need preciso posso vou nao can't cannot make it consigo conseguir
drop remove tira tirar agendamento reservation reservations bookings quais qual what which any alguma algum uma um
sessao session treino workout"""
GENERIC = frozenset(stem(w) for w in _GENERIC_WORDS.split())


@dataclass
class Slots:
    day: date | None = None
    hour: int | None = None
    minute: int | None = None
    period: tuple[int, int] | None = None
    name_stems: tuple[str, ...] = ()
    choice: int | None = None


def parse(message: str, today: date) -> Slots:
    folded = fold(message)
    slots = Slots()
    if re.search(r"\b(hoje|today|tonight|hoje a noite)\b", folded):
        slots.day = today
    elif re.search(r"\b(depois de amanha|day after tomorrow)\b", folded):
        slots.day = today + timedelta(days=2)
    elif re.search(r"\b(amanha|tomorrow)\b", folded):
        slots.day = today + timedelta(days=1)
    else:
        for word in words(folded):
            if word in WEEKDAYS and not (word == "segunda" and "segunda opcao" in folded):
                ahead = (WEEKDAYS[word] - today.weekday()) % 7
                slots.day = today + timedelta(days=ahead)
                break
        m = _DATE.search(folded)
        if m and slots.day is None:
            day, month = int(m.group(1)), int(m.group(2))
            year = int(m.group(3)) if m.group(3) else today.year
            year += 2000 if year < 100 else 0
            try:
                slots.day = date(year, month, day)
                if slots.day < today and not m.group(3):
                    slots.day = date(year + 1, month, day)
            except ValueError:
                pass
    cleaned = re.sub(_DATE, " ", folded)
    for m in _TIME.finditer(cleaned):
        explicit = m.group("m") is not None or m.group("ap") is not None or re.search(r"\d\s*h", m.group(0))
        if not explicit and not _TIME_CUE.search(cleaned[:m.start()]):
            continue
        hour, minute = int(m.group("h")), int(m.group("m") or 0)
        if m.group("ap") == "pm" and hour < 12:
            hour += 12
        if m.group("ap") == "am" and hour == 12:
            hour = 0
        if 0 <= hour <= 23 and 0 <= minute <= 59:
            slots.hour, slots.minute = hour, minute
            break
    for name, span in _PERIODS.items():
        if re.search(rf"\b{name}\b", folded):
            slots.period = span
    m = re.fullmatch(r"\s*(?:a\s+|o\s+|the\s+|opcao\s+|option\s+|numero\s+|number\s+)?(\d{1,2})\s*[.!]?\s*", folded)
    if m:
        slots.choice = int(m.group(1))
    for word, n in _ORDINALS.items():
        if re.search(rf"\b{word}\b", folded):
            slots.choice = n
    slots.name_stems = tuple(s for s in dict.fromkeys(stem(SYNONYMS.get(w, w)) for w in words(folded)
                                                      if len(w) > 2 and not w.isdigit()) if s not in GENERIC)
    return slots


def title_score(title: str, name_stems: tuple[str, ...]) -> int:
    """How many of the message's name stems appear in the class title."""
    title_stems = {stem(w) for w in words(title)}
    return sum(s in title_stems for s in name_stems)


def matches_time(starts_at: datetime, slots: Slots, tz) -> bool:
    local = starts_at.astimezone(tz)
    if slots.day is not None and local.date() != slots.day:
        return False
    if slots.hour is not None and (local.hour, local.minute) != (slots.hour, slots.minute or 0):
        return False
    return not (slots.period is not None and not slots.period[0] <= local.hour < slots.period[1])

