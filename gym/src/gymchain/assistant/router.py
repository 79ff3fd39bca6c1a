"""Intent routing: deterministic rules first (safety, then actions), then the nearest routing exemplars.

Order matters: an injury or medical symptom is escalated to staff whatever else the message asks; booking,
cancelling and listing bookings are recognised by verbs and nouns (PT/EN); plans by their nouns; everything else
goes to a k-nearest-neighbour vote over ``kb/intents.json`` (embedding cosine plus shared word stems) between the
fitness domain, injury, smalltalk and out of scope; a domain message is then exercise or nutrition by the topics of
its top-3 retrieved facts, or out of scope when even the best fact scores below ``DOMAIN_MIN_SCORE``. The rules decide what the assistant *does*; the LLM never chooses an action.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from importlib import resources

import numpy as np

from .embeddings import Embedder
from .text import content_stems, fold

INTENTS = ("exercise", "nutrition", "plan", "book", "cancel", "list_bookings", "injury", "smalltalk", "out_of_scope")
ACTIONS = {"book", "cancel", "list_bookings"}
LEXICAL_WEIGHT = 0.5
# exemplar labels grouped for the neighbour vote: an action or a plan is only ever chosen by a rule, so their
# exemplars vote for "the fitness domain", and the retrieved facts' topic then says exercise or nutrition
GROUP = {"exercise": "domain", "nutrition": "domain", "plan": "domain", "book": "domain", "cancel": "domain",
         "list_bookings": "domain"}
DOMAIN_MIN_SCORE = 0.55  # hybrid retrieval score below which a "domain" message is treated as out of scope

_INJURY = re.compile(r"""\b(
    machuq\w* | lesion\w* | lesao | lesoes | torci | torcao | entorse | fratur\w* | inchad\w* | inchaco | hernia |
    tendinit\w* | bursit\w* | luxa\w* | distensao | estir\w* | doi | doendo | doeu | dor\s+(?:forte|aguda|no|na|nos|nas|
    nas?\s+costas|de\s+cabeca|lombar|cervical|intensa) | sinto\s+dor | estou\s+com\s+dor | tontura | desmai\w* |
    falta\s+de\s+ar | palpita\w* | diagnost\w* | remedio | medicament\w* | receit\w*\s+(?:remedio|medic)\w* |
    injur\w* | hurt\w* | sprain\w* | swollen | swelling | fractur\w* | torn | tear | herniat\w* | tendonitis |
    (?:sharp|chest|knee|back|shoulder|neck|hip|wrist|ankle|joint)\s+pain | pain\s+(?:in|on)\s+my | dizz\w* |
    faint\w* | short\s+of\s+breath | diagnos\w* | medication | medicine | prescri\w* | painkiller\w* )\b""", re.VERBOSE)
_CANCEL = re.compile(r"\b(cancel\w*|desmarc\w*|desist\w*|tira\w*\s+(?:minha|a)\s+reserva|drop\s+my|unbook)\b")
_LIST = re.compile(r"""(\b(minhas|meus)\s+(reservas|agendamentos|aulas\s+marcadas|aulas\s+reservadas)\b |
    \b(quais|que)\s+aulas\s+(eu\s+)?(reservei|marquei|agendei|tenho\s+marcad\w*|estou\s+inscrit\w*)\b |
    \b(o\s+que|que)\s+(eu\s+)?tenho\s+(marcado|reservado|agendado)\b | \bmy\s+(bookings|reservations|classes)\b |
    \bwhat\s+(have\s+i|did\s+i)\s+(booked|book|reserve|reserved)\b | \bam\s+i\s+(signed\s+up|booked|enrolled)\b )""", re.VERBOSE)
_BOOK = re.compile(r"""\b(reserv\w* | agend\w* | marca\w* | marque | inscrev\w* | inscreva | book | booking | reserve |
    sign\s+(?:me\s+)?up | enrol\w* | enroll\w* | (?:tem|ha|existe)\s+aula\w* | quais\s+aulas | que\s+aulas |
    (?:is|are)\s+there\s+(?:a\s+|any\s+)?\w*\s*class\w* | what\s+classes | which\s+classes | any\s+classes |
    spot\s+in | vaga\s+(?:na|no|para) | quero\s+(?:fazer|ir\s+(?:na|no))\s+(?:a\s+|o\s+)?(?:aula|yoga|pilates|spinning|
    zumba|funcional|hiit|alongamento) | i(?:'d|\s+would)?\s+(?:like|want)\s+to\s+(?:do|join|take)\s+(?:a\s+|the\s+)?\w+\s+
    (?:class|today|tomorrow|tonight) )\b""", re.VERBOSE)
_WHEN = re.compile(r"""\b(hoje|amanha|today|tomorrow|tonight|segunda|terca|quarta|quinta|sexta|sabado|domingo|monday|
    tuesday|wednesday|thursday|friday|saturday|sunday|\d{1,2}\s*h|\d{1,2}\s*(?:am|pm)|\d{1,2}:\d{2}|manha|morning|
    noite|evening)\b""", re.VERBOSE)
_PLAN = re.compile(r"""\b(plano\s+de\s+treino | ficha | rotina\s+de\s+treino | monte\s+(?:um|meu)\s+treino |
    (?:crie|cria|faz|faca|me\s+(?:da|de|passa))\s+(?:um|uma|meu)\s+(?:treino|rotina|plano) | programa\s+de\s+treino |
    treino\s+(?:para|pra)\s+(?:mim|eu) | meu\s+treino\s+da\s+semana | workout\s+plan | training\s+(?:plan|program\w*) |
    (?:make|build|create|give|design)\s+me\s+a\s+(?:workout|routine|plan|program\w*) | routine\s+for |
    (?:qual|que)\s+treino\s+(?:eu\s+)?(?:devo|posso|preciso)\s+fazer | what\s+workout\s+(?:should|do|can)\s+i |
    program\w*\s+(?:to|for)\s+\w+ | treino\s+(?:para|pra)\s+(?:emagrecer|hipertrofia|ganhar|perder|definir|secar) |
    plan\s+my\s+(?:week|training|workouts?) | weekly\s+(?:plan|routine|workout) | exercise\s+plan | my\s+program\w* )\b""",
                   re.VERBOSE)
_SMALLTALK = re.compile(r"""^\W*(?:oi+|ola|opa|hey|hi+|hello|e\s+ai|bom\s+dia|boa\s+tarde|boa\s+noite|good\s+(?:morning|
    afternoon|evening|night)|tudo\s+bem|obrigad\w*|muito\s+obrigad\w*|valeu|thanks?|thank\s+you|thx|tchau|bye|ate\s+mais|
    quem\s+e\s+voce|quem\s+(?:te\s+)?(?:fez|criou)|o\s+que\s+voce\s+(?:faz|sabe\s+fazer)|como\s+voce\s+(?:pode\s+)?
    (?:me\s+)?ajudar|who\s+are\s+you|what\s+can\s+you\s+(?:do|help)|what\s+do\s+you\s+do|how\s+can\s+you\s+help)
    (?:\W+(?:tudo\s+bem|como\s+vai|how\s+are\s+you|a\s+lot|pela\s+ajuda|for\s+(?:the|your)\s+help|
    with(?:\s+\w+)?|me|there|again))*\W*$""", re.VERBOSE)
_BOOKING_NOUN = re.compile(r"""\b(aula\w*|reserva\w*|agendamento\w*|booking\w*|reservation\w*|class\w*|spot|vaga|yoga|
    pilates|spinning|zumba|funcional|functional|hiit|alongamento|stretching|cycling)\b""", re.VERBOSE)


@dataclass(frozen=True)
class Route:
    intent: str
    rule: str  # which rule or "knn"
    confidence: float


class Router:
    def __init__(self, embedder: Embedder, retriever=None, k: int = 5):
        self.embedder, self.retriever, self.k = embedder, retriever, k
        self._lock = threading.Lock()
        self._matrix: np.ndarray | None = None

    @staticmethod
    def exemplars() -> dict[str, list[str]]:
        data = json.loads(resources.files("gymchain.assistant").joinpath("kb", "intents.json").read_text("utf-8"))
        return {k: v for k, v in data.items() if k in INTENTS}

    def _load(self) -> None:
        with self._lock:
            if self._matrix is None:
                pairs = [(intent, text) for intent, texts in self.exemplars().items() for text in texts]
                self._labels = [p[0] for p in pairs]
                self._stems = [set(content_stems(p[1])) for p in pairs]
                self._matrix = self.embedder.encode([p[1] for p in pairs])

    def rules(self, message: str) -> Route | None:
        folded = fold(message)
        if _INJURY.search(folded):
            return Route("injury", "injury-rule", 1.0)
        if _LIST.search(folded):
            return Route("list_bookings", "list-rule", 1.0)
        if _CANCEL.search(folded):
            return Route("cancel", "cancel-rule", 1.0)
        if _SMALLTALK.search(folded):
            return Route("smalltalk", "smalltalk-rule", 1.0)
        if _PLAN.search(folded):
            return Route("plan", "plan-rule", 1.0)
        if _BOOK.search(folded) and (_BOOKING_NOUN.search(folded) or _WHEN.search(folded)):
            return Route("book", "book-rule", 1.0)
        return None

    def route(self, message: str, *, exclude: int | None = None) -> Route:
        """``exclude``: index of one exemplar to leave out (leave-one-out accuracy on the tuning set)."""
        ruled = self.rules(message)
        if ruled is not None:
            return ruled
        self._load()
        sims = self._matrix @ self.embedder.encode([message])[0]
        query = set(content_stems(message))
        if query:  # the packaged embedder is English-only: shared word stems carry Portuguese messages
            sims = sims + LEXICAL_WEIGHT * np.array([len(query & st) / len(query) for st in self._stems])
        if exclude is not None:
            sims[exclude] = -np.inf
        votes = Counter()
        for i in np.argsort(-sims)[: self.k]:
            votes[GROUP.get(self._labels[i], self._labels[i])] += float(sims[i])
        group, weight = votes.most_common(1)[0]
        confidence = weight / max(sum(votes.values()), 1e-9)
        if group != "domain":
            return Route(group, "knn", confidence)
        if self.retriever is None:
            return Route("exercise", "knn", confidence)
        hits = self.retriever.search(message, k=3)
        if not hits or hits[0].score < DOMAIN_MIN_SCORE:
            return Route("out_of_scope", "knn+retrieval", confidence)
        nutrition = sum(h.fact.topic == "nutrition" for h in hits)
        return Route("nutrition" if nutrition >= 2 else "exercise", "knn+retrieval", confidence)
