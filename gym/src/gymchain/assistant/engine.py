"""The assistant's turn: route the message, then answer from the knowledge base, build a plan, or act through the
member's own tools. Facts and actions come from retrieval, rules and slot filling; the LLM only phrases answers.

:meth:`Assistant.reply` is pure with respect to storage: it gets the conversation's pending state and the member's
profile, and returns a :class:`Reply` with the new state and any profile change for the caller to store.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from langchain_core.language_models.chat_models import BaseChatModel

from . import knowledge, plans, slots
from .compose import compose
from .router import Router
from .store import Retriever
from .text import detect_language, fold
from .tools import MemberTools, NotYours, ToolError

# a request to act for somebody else is refused before any slot filling (the tools could not do it anyway: they
# act only for the token's member; this rule makes the refusal explicit instead of booking the caller)
_THIRD_PARTY = re.compile(r"""\b(?:para|pra|for|do|da|of)\s+(?:o|a|os|as|my|meu|minha|the|outro|outra|another|other|all|todos|todas|os\s+outros)?\s*
    (?:membro\w*|member\w*|alun\w*|amig\w*|friend|user|usuario|usuaria|esposa|marido|wife|husband|filh\w*|son|daughter|
    cliente|client|colega|mae|pai|mom|mother|dad|father|namorad\w*|girlfriend|boyfriend|partner|irma\w*|brother|
    sister|todos|everyone|everybody)\b | member_?id | user_?id | \bid\s*[:=#]?\s*\d+ | \#\d+ |
    \b(?:admin|administrador|gerente|manager|staff|system)\s+(?:mode|override|modo|access|acesso) |
    \bmodo\s+(?:admin\w*|gerente|sistema|desenvolvedor) | \b(?:as\s+an?|sou\s+o|sou\s+a|i\s+am\s+the|i'?m\s+the|
    voce\s+agora\s+e\s+um)\s+(?:admin\w*|gerente|manager|staff|professor|trainer|developer) | \bsystem\s*: |
    \b(?:reserva|booking|class|aula)\s*(?:n[ou]?\.?\s*|number\s*|numero\s*|\#)?\d{2,} |
    \bignore\s+(?:all\s+|the\s+|previous\s+|your\s+)*(?:instructions|rules) | \bignore\s+as\s+(?:regras|instrucoes) |
    \b(?:todas\s+as|all|every)\s+(?:reservas|bookings?)\s+(?:de|da|do|of)\b | \besquec\w*\s+(?:as\s+)?regras""", re.VERBOSE)
_NAME_TARGET = re.compile(r"\b(?:para|pra|for|do|da|of)\s+([A-ZÁÉÍÓÚÂÊÔÃÕÇ][a-záéíóúâêôãõç]+)")
_NOT_NAMES = {"segunda", "terça", "terca", "quarta", "quinta", "sexta", "sábado", "sabado", "domingo", "monday",
              "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "hoje", "amanhã", "amanha", "today",
              "tomorrow", "mim", "me", "yoga", "pilates", "spinning", "zumba", "funcional", "hiit"}
_YES = re.compile(r"^\s*(sim|pode|pode ser|isso|ok|okay|yes|yep|sure|confirm\w*|claro|por favor|please)\b")
_NO = re.compile(r"^\s*(nao|no|nope|deixa|esquece|never\s*mind|cancel that)\b")
_EXPLICIT_BOOK = re.compile(r"\b(reserv\w*|agend\w*|marca\w*|marque|inscrev\w*|inscreva|book\w*|reserve|sign\s+me"
                            r"|enrol\w*|quero\s+(?:fazer|ir)|i\s+want\s+to\s+(?:do|join|go))\b")

T = {
    "smalltalk_hi": {"pt": "Olá! Sou o assistente da academia: respondo dúvidas de treino e alimentação, monto um "
                           "plano semanal e reservo ou cancelo aulas para você.",
                     "en": "Hi! I'm the gym's assistant: I answer exercise and nutrition questions, build a weekly "
                           "plan and book or cancel classes for you."},
    "smalltalk_thanks": {"pt": "De nada! Bom treino.", "en": "You're welcome! Enjoy your workout."},
    "out_of_scope": {"pt": "Só consigo ajudar com treino, alimentação e suas aulas na academia.",
                     "en": "I can only help with exercise, nutrition and your classes at the gym."},
    "injury": {"pt": "Não posso dar diagnóstico. Interrompa o exercício que causa dor e procure um profissional de "
                     "saúde; se houver dor no peito, falta de ar ou desmaio, procure atendimento médico imediatamente. "
                     "Avisei a equipe da sua unidade para um professor falar com você.",
               "en": "I can't give a diagnosis. Stop the exercise that causes pain and see a health professional; "
                     "for chest pain, shortness of breath or fainting, seek medical care immediately. I have told "
                     "your unit's staff so a trainer can talk to you."},
    "third_party": {"pt": "Só posso reservar, cancelar ou consultar as suas próprias aulas, com o seu login.",
                    "en": "I can only book, cancel or look up your own classes, with your own login."},
    "no_tools": {"pt": "Para reservar ou cancelar, use o chat do portal com o seu login.",
                 "en": "To book or cancel, use the portal chat while logged in."},
    "no_class": {"pt": "Não encontrei aula com esses dados.", "en": "I couldn't find a class matching that."},
    "choose": {"pt": "Encontrei estas opções; responda com o número:", "en": "I found these options; reply with the "
                                                                              "number:"},
    "booked": {"pt": "Pronto: reservei {title} em {when} ({status}).", "en": "Done: booked {title} on {when} "
                                                                             "({status})."},
    "cancelled": {"pt": "Pronto: cancelei sua reserva de {title} em {when}.",
                  "en": "Done: cancelled your booking for {title} on {when}."},
    "no_booking": {"pt": "Não encontrei reserva sua com esses dados.", "en": "I couldn't find a booking of yours "
                                                                             "matching that."},
    "no_bookings": {"pt": "Você não tem reservas futuras.", "en": "You have no upcoming bookings."},
    "your_bookings": {"pt": "Suas próximas reservas:", "en": "Your upcoming bookings:"},
    "failed": {"pt": "Não consegui concluir: {error}", "en": "I couldn't complete that: {error}"},
    "ask_book": {"pt": "Quer que eu reserve? Responda com o número.", "en": "Shall I book one? Reply with the number."},
    "dropped": {"pt": "Tudo bem, não fiz nada.", "en": "All right, I did nothing."},
    "no_facts": {"pt": "Não tenho uma informação confiável sobre isso na minha base. Fale com um professor da unidade.",
                 "en": "I don't have reliable information about that in my knowledge base. Please ask a trainer."},
    "safety_note": {"pt": "Em caso de dor, doença ou gestação, siga a orientação do seu médico.",
                    "en": "If you have pain, an illness or are pregnant, follow your doctor's advice."},
}
STATUS = {"pt": {"confirmed": "confirmada", "waitlisted": "lista de espera", "cancelled": "cancelada"},
          "en": {"confirmed": "confirmed", "waitlisted": "wait-listed", "cancelled": "cancelled"}}
MIN_RETRIEVAL_SCORE = 0.25


@dataclass
class Reply:
    intent: str
    lang: str
    text: str
    route_rule: str = ""
    sources: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    pending: dict | None = None
    escalate: bool = False
    plan: dict | None = None
    profile_update: dict | None = None
    phrased_by: str = "template"
    llm_raw: str | None = None
    llm_faithfulness: float | None = None
    timings_ms: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class Assistant:
    def __init__(self, router: Router, retriever: Retriever, llm: BaseChatModel | None, *, tz: str = "America/Sao_Paulo",
                 top_k: int = 3):
        self.router, self.retriever, self.llm, self.tz, self.top_k = router, retriever, llm, ZoneInfo(tz), top_k

    # ----------------------------------------------------------------------------------------------- entry
    def reply(self, message: str, *, lang: str | None = None, tools: MemberTools | None = None,
              pending: dict | None = None, profile: plans.Profile | None = None,
              now: datetime | None = None) -> Reply:
        started = time.perf_counter()
        now = now or datetime.now(UTC)
        lang = detect_language(message, default=lang or "pt")
        if pending:
            follow = self._follow_up(message, lang, tools, pending, now)
            if follow is not None:
                follow.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 1)
                return follow
        route = self.router.route(message)
        handler = getattr(self, f"_{route.intent}")
        reply = handler(message, lang, route, tools=tools, profile=profile or plans.Profile(), now=now)
        reply.route_rule = route.rule
        reply.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 1)
        return reply

    # ----------------------------------------------------------------------------------------------- talk
    def _smalltalk(self, message, lang, route, **_) -> Reply:
        thanks = re.search(r"\b(obrigad\w*|valeu|thanks|thank you|thx)\b", fold(message))
        return Reply("smalltalk", lang, T["smalltalk_thanks" if thanks else "smalltalk_hi"][lang])

    def _out_of_scope(self, message, lang, route, **_) -> Reply:
        return Reply("out_of_scope", lang, T["out_of_scope"][lang])

    def _injury(self, message, lang, route, **_) -> Reply:
        hits = self.retriever.search(message, k=self.top_k, topics=("safety", "recovery"))
        return Reply("injury", lang, T["injury"][lang], escalate=True,
                     sources=[self._source(h.fact, lang) for h in hits[:2]])

    def _answer(self, intent, message, lang) -> Reply:
        t0 = time.perf_counter()
        hits = self.retriever.search(message, k=self.top_k)
        retrieval_ms = (time.perf_counter() - t0) * 1000
        hits = [h for h in hits if h.score >= MIN_RETRIEVAL_SCORE]
        if not hits:
            return Reply(intent, lang, T["no_facts"][lang], timings_ms={"retrieval": round(retrieval_ms, 1)})
        t1 = time.perf_counter()
        answer = compose(message, [h.fact for h in hits], lang, self.llm)
        text = answer.text
        if any(h.fact.topic == "safety" for h in hits):
            text += " " + T["safety_note"][lang]
        return Reply(intent, lang, text, sources=[self._source(h.fact, lang, h.score) for h in hits],
                     phrased_by=answer.phrased_by, llm_raw=answer.llm_raw, llm_faithfulness=answer.llm_faithfulness,
                     timings_ms={"retrieval": round(retrieval_ms, 1),
                                 "compose": round((time.perf_counter() - t1) * 1000, 1)})

    def _exercise(self, message, lang, route, **_) -> Reply:
        return self._answer("exercise", message, lang)

    def _nutrition(self, message, lang, route, **_) -> Reply:
        return self._answer("nutrition", message, lang)

    @staticmethod
    def _source(fact: knowledge.Fact, lang: str, score: float | None = None) -> dict:
        out = knowledge.citation(fact) | {"text": fact.text(lang)}
        if score is not None:
            out["score"] = round(score, 3)
        return out

    # ----------------------------------------------------------------------------------------------- plan
    def _plan(self, message, lang, route, *, tools, profile, now, **_) -> Reply:
        new_profile, changed = plans.parse_profile(message, profile)
        visits, age, titles = 0, None, []
        if tools is not None:
            try:
                me = tools.me()
                birth = date.fromisoformat(me["birth_date"]) if me.get("birth_date") else None
                age = plans.age_on(birth, now.astimezone(self.tz).date())
                since = now - timedelta(days=28)
                visits = sum(datetime.fromisoformat(v["checked_in_at"]) >= since for v in tools.my_visits())
                titles = sorted({c["title"] for c in tools.classes(now, 7) if c["status"] == "scheduled"})
            except ToolError:
                pass
        plan = plans.build_plan(new_profile, visits_28d=visits, age=age, lang=lang, class_titles=titles)
        facts = [knowledge.by_id()[i] for i in plan["fact_ids"]]
        return Reply("plan", lang, plans.plan_text(plan, lang), plan=plan,
                     sources=[self._source(f, lang) for f in facts],
                     profile_update=asdict(new_profile) if changed else None)

    # ----------------------------------------------------------------------------------------------- actions
    def _refuse_third_party(self, message: str) -> bool:
        if _THIRD_PARTY.search(fold(message)):
            return True
        return any(m.group(1).lower() not in _NOT_NAMES for m in _NAME_TARGET.finditer(message))

    def _when(self, starts_at: str, lang: str) -> str:
        local = datetime.fromisoformat(starts_at).astimezone(self.tz)
        return local.strftime("%d/%m %H:%M") if lang == "pt" else local.strftime("%b %d %H:%M")

    def _book(self, message, lang, route, *, tools, now, **_) -> Reply:
        if self._refuse_third_party(message):
            return Reply("book", lang, T["third_party"][lang])
        if tools is None:
            return Reply("book", lang, T["no_tools"][lang])
        today = now.astimezone(self.tz).date()
        s = slots.parse(message, today)
        try:
            start = now if s.day is None or s.day == today else datetime.combine(s.day, datetime.min.time(), self.tz)
            classes = [c for c in tools.classes(start, 1 if s.day else 7) if c["status"] == "scheduled"
                       and datetime.fromisoformat(c["starts_at"]) > now]
        except ToolError as exc:
            return Reply("book", lang, T["failed"][lang].format(error=exc))
        classes.sort(key=lambda c: c["starts_at"])
        named = [c for c in classes if slots.title_score(c["title"], s.name_stems) > 0]
        by_name = bool(named)  # a class named in the message; without one, options are offered, never booked
        named = named or classes
        candidates = [c for c in named if slots.matches_time(datetime.fromisoformat(c["starts_at"]), s, self.tz)]
        explicit = bool(_EXPLICIT_BOOK.search(fold(message)))
        if not candidates:
            return Reply("book", lang, T["no_class"][lang] + self._options_text(classes[:5], lang, numbered=False))
        if len(candidates) == 1 and explicit and by_name:
            return self._do_book(tools, candidates[0], lang)
        options = candidates[:5]
        head = T["choose"][lang] if explicit else T["ask_book"][lang]
        return Reply("book", lang, head + self._options_text(options, lang),
                     pending={"action": "book", "options": [c["id"] for c in options]})

    def _options_text(self, classes: list[dict], lang: str, numbered: bool = True) -> str:
        if not classes:
            return ""
        lines = [f"{i}. {c['title']} — {self._when(c['starts_at'], lang)}" + (
            f" ({c['seats_left']} " + ("vagas" if lang == "pt" else "seats") + ")" if "seats_left" in c else "")
            if numbered else f"- {c['title']} — {self._when(c['starts_at'], lang)}"
            for i, c in enumerate(classes, 1)]
        return "\n" + "\n".join(lines)

    def _do_book(self, tools: MemberTools, cls: dict, lang: str) -> Reply:
        action = {"tool": "book_class", "args": {"class_id": cls["id"]}}
        try:
            booking = tools.book_class(cls["id"])
        except ToolError as exc:
            return Reply("book", lang, T["failed"][lang].format(error=exc), actions=[action | {"ok": False,
                                                                                             "error": str(exc)}])
        text = T["booked"][lang].format(title=cls["title"], when=self._when(cls["starts_at"], lang),
                                        status=STATUS[lang][booking["status"]])
        return Reply("book", lang, text, actions=[action | {"ok": True, "booking_id": booking["id"],
                                                           "status": booking["status"]}])

    def _own_upcoming(self, tools: MemberTools, now: datetime) -> list[tuple[dict, dict]]:
        out = []
        for b in tools.my_bookings():
            if b["status"] == "cancelled":
                continue
            cls = tools.class_info(b["class_id"])
            if datetime.fromisoformat(cls["starts_at"]) > now and cls["status"] == "scheduled":
                out.append((b, cls))
        return sorted(out, key=lambda bc: bc[1]["starts_at"])

    def _cancel(self, message, lang, route, *, tools, now, **_) -> Reply:
        if self._refuse_third_party(message):
            return Reply("cancel", lang, T["third_party"][lang])
        if tools is None:
            return Reply("cancel", lang, T["no_tools"][lang])
        s = slots.parse(message, now.astimezone(self.tz).date())
        try:
            own = self._own_upcoming(tools, now)
        except ToolError as exc:
            return Reply("cancel", lang, T["failed"][lang].format(error=exc))
        # a class named in the message must match one of the caller's own bookings; nothing is cancelled on a guess
        matching = [(b, c) for b, c in own
                    if (not s.name_stems or slots.title_score(c["title"], s.name_stems) > 0)
                    and slots.matches_time(datetime.fromisoformat(c["starts_at"]), s, self.tz)]
        if not matching:
            return Reply("cancel", lang, T["no_booking"][lang] + self._options_text([c for _, c in own[:5]], lang,
                                                                                   numbered=False))
        if len(matching) == 1:
            return self._do_cancel(tools, *matching[0], lang)
        options = matching[:5]
        return Reply("cancel", lang, T["choose"][lang] + self._options_text([c for _, c in options], lang),
                     pending={"action": "cancel", "options": [b["id"] for b, _ in options]})

    def _do_cancel(self, tools: MemberTools, booking: dict, cls: dict, lang: str) -> Reply:
        action = {"tool": "cancel_booking", "args": {"booking_id": booking["id"]}}
        try:
            tools.cancel_booking(booking["id"])
        except (ToolError, NotYours) as exc:
            return Reply("cancel", lang, T["failed"][lang].format(error=exc),
                         actions=[action | {"ok": False, "error": str(exc)}])
        return Reply("cancel", lang, T["cancelled"][lang].format(title=cls["title"],
                                                                 when=self._when(cls["starts_at"], lang)),
                     actions=[action | {"ok": True, "booking_id": booking["id"]}])

    def _list_bookings(self, message, lang, route, *, tools, now, **_) -> Reply:
        if self._refuse_third_party(message):
            return Reply("list_bookings", lang, T["third_party"][lang])
        if tools is None:
            return Reply("list_bookings", lang, T["no_tools"][lang])
        try:
            own = self._own_upcoming(tools, now)
        except ToolError as exc:
            return Reply("list_bookings", lang, T["failed"][lang].format(error=exc))
        if not own:
            return Reply("list_bookings", lang, T["no_bookings"][lang])
        lines = [f"- {c['title']} — {self._when(c['starts_at'], lang)} ({STATUS[lang][b['status']]})" for b, c in own]
        return Reply("list_bookings", lang, T["your_bookings"][lang] + "\n" + "\n".join(lines),
                     actions=[{"tool": "my_bookings", "args": {}, "ok": True, "count": len(own)}])

    # ----------------------------------------------------------------------------------------------- follow-ups
    def _follow_up(self, message: str, lang: str, tools: MemberTools | None, pending: dict,
                   now: datetime) -> Reply | None:
        """Answer to a pending choice: a number, 'yes' when there was one option, or 'no'. Else None (new turn)."""
        folded = fold(message)
        action, options = pending.get("action"), [int(o) for o in pending.get("options", [])][:5]
        if _NO.search(folded):
            return Reply(action or "smalltalk", lang, T["dropped"][lang], route_rule="follow-up")
        s = slots.parse(message, now.astimezone(self.tz).date())
        choice = s.choice if s.choice and 1 <= s.choice <= len(options) else None
        if choice is None and _YES.search(folded) and len(options) == 1:
            choice = 1
        if choice is None or tools is None or action not in ("book", "cancel"):
            return None
        chosen = options[choice - 1]
        try:
            if action == "book":
                reply = self._do_book(tools, tools.class_info(chosen), lang)
            else:
                own = {b["id"]: (b, c) for b, c in self._own_upcoming(tools, now)}
                if chosen not in own:  # only ids offered from the caller's own bookings are ever cancelled
                    return Reply("cancel", lang, T["no_booking"][lang], route_rule="follow-up")
                reply = self._do_cancel(tools, *own[chosen], lang)
        except ToolError as exc:
            return Reply(action, lang, T["failed"][lang].format(error=exc), route_rule="follow-up")
        reply.route_rule = "follow-up"
        return reply

