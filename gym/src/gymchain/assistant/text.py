"""Small text helpers shared by routing, retrieval and the faithfulness check (Portuguese and English)."""

from __future__ import annotations

import re
import unicodedata


def _words_of(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _words_of("""
a o as os um uma uns umas de do da dos das no na nos nas em por para pra com sem que e ou se eu voce vc meu minha
meus minhas seu sua ao aos e é ser estar esta este essa esse isso isto qual quais quanto quantos quantas quanta
como quando onde porque por que mais menos muito muita ja nao sim tem ter ha fazer faco devo posso pode preciso
the an of to in on for with without and or is are be was were i you my your me do does did how what which when
where why much many should can could would it its this that these those at by from as about per than more less
not yes have has get so if any some day days dia dias
""")
_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def fold(text: str) -> str:
    """Lower case without accents (treino, TREÍNO -> treino)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def stem(word: str) -> str:
    """A crude shared stem: the first five letters (treino/treinar/treinos -> trein; squats/squat -> squat)."""
    return word if word[0].isdigit() else word[:5]


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS and (len(w) > 2 or w[0].isdigit())]


def numbers(text: str) -> set[str]:
    """Numbers as written, decimal comma normalised to a point (1,5 -> 1.5)."""
    return {n.replace(",", ".") for n in _NUMBER.findall(text)}


_PT_MARKERS = _words_of("voce qual quais quanto quantos como posso devo treino treinar aula aulas quero meu minha "
                        "agendar reservar cancelar amanha hoje semana proteina emagrecer musculacao agachamento "
                        "nao obrigado oi ola bom boa dia tarde noite dor comer alimentacao preciso fazer e o "
                        "para pra com de do da reserva minhas meus tenho")
_EN_MARKERS = _words_of("you what which how much many should can could my book cancel tomorrow today week protein "
                        "lose weight squat hi hello thanks thank the to for with of is are do does workout "
                        "class classes eat pain need want i bookings")


def detect_language(text: str, default: str = "pt") -> str:
    """'pt' or 'en' by counting marker words; ties go to ``default``; accents or ç/ã/õ tip towards Portuguese."""
    ws = words(text)
    pt = sum(w in _PT_MARKERS for w in ws) + 2 * bool(re.search(r"[ãõçáéíóúâêô]", text.lower()))
    en = sum(w in _EN_MARKERS for w in ws)
    if pt == en:
        return default
    return "pt" if pt > en else "en"
