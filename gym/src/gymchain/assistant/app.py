"""The assistant service app (port 8005): ``uvicorn gymchain.assistant.app:app``."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gymchain.common import erasure, jobs
from gymchain.common.db import get_session
from gymchain.common.errors import NotFound, Unavailable
from gymchain.common.http import create_app
from gymchain.common.security.rbac import ADMIN, MANAGER, MEMBER, TRAINER, require_roles, scoped_unit
from gymchain.common.security.tokens import Principal
from gymchain.common.settings import get_settings

from .tools import ToolError

DESCRIPTION = """The fitness assistant (Portuguese and English). A member's conversations live in the document store
(`assistant_conversations`). `POST /conversations/{id}/ask` answers at once: exercise and nutrition questions from a
curated knowledge base with cited sources (retrieval + a local LLM that only phrases the facts), personalised weekly
plans from the member's goal and history, and booking, cancelling and listing classes through the members service
**with the caller's own token** (the assistant cannot act for another member). Injuries and medical questions are
not diagnosed: the member is told to stop and see a professional, and the unit's staff see it in `GET /escalations`.
`POST /conversations/{id}/messages` queues a reply job instead (RabbitMQ `assistant-reply`; the worker answers but
never books). See gym/docs/assistant.md."""

app = create_app("assistant", DESCRIPTION)


def _warm_up() -> None:
    """Load the models in the background so the first member does not wait (GYM_ASSISTANT_WARMUP=0: on demand)."""
    import os
    import threading

    if os.environ.get("GYM_ASSISTANT_WARMUP", "1") == "0":
        return

    def load() -> None:
        import logging

        from gymchain.common.db import get_engine

        from .service import get_assistant

        try:
            assistant = get_assistant(get_engine())
            assistant.retriever.search("warm up", k=1)
            assistant.router.route("warm up")
            if assistant.llm is not None and hasattr(assistant.llm, "load"):
                assistant.llm.load()
        except Exception as exc:  # noqa: BLE001 - a failed warm-up is retried by the first question
            logging.getLogger("gymchain.assistant").warning("warm-up failed: %s", exc)

    threading.Thread(target=load, name="assistant-warm-up", daemon=True).start()


_service_lifespan = app.router.lifespan_context


@asynccontextmanager
async def _lifespan(application):
    _warm_up()
    async with _service_lifespan(application) as state:
        yield state


app.router.lifespan_context = _lifespan
app.include_router(jobs.job_router("assistant"))
DB = Annotated[Session, Depends(get_session)]
Member = Annotated[Principal, Depends(require_roles(MEMBER))]
Staff = Annotated[Principal, Depends(require_roles(TRAINER, MANAGER, ADMIN))]
Anyone = Annotated[Principal, Depends(require_roles(MEMBER, TRAINER, MANAGER, ADMIN))]
ConversationId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
COLLECTION = "assistant_conversations"


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field("Conversa", min_length=1, max_length=120)
    language: str = Field("pt-BR", pattern=r"^(pt-BR|en)$")


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Quero treinar pernas amanhã às 18h, tem aula?"}]})
    text: str = Field(min_length=1, max_length=2000)


def collection(db: Session):
    return conversations(db.connection())


def conversations(conn):
    from gymchain.common.docstore import get_collection

    return get_collection(COLLECTION, bind=conn)


def erase_member(conn, member_id: int) -> dict[str, int]:
    """LGPD erasure: the member's conversations (their escalations with them) and training profile."""
    from .service import delete_profile

    return {COLLECTION: conversations(conn).delete_many({"member_id": member_id}).deleted_count,
            "assistant_profiles": delete_profile(conn, member_id)}


def export_member(conn, member_id: int) -> dict[str, list[dict]]:
    """LGPD access: the member's conversations (messages and escalations included) and training profile."""
    return {COLLECTION: list(conversations(conn).find({"member_id": member_id}).sort("created_at", 1)),
            "assistant_profiles": erasure.rows(conn, "SELECT * FROM assistant_profiles WHERE member_id = :m",
                                               member_id)}


app.include_router(erasure.personal_data_router("assistant", covers="assistant conversations and training profile",
                                                exporter=export_member, eraser=erase_member))


def own_conversation(db: Session, principal: Principal, conversation_id: str) -> dict:
    doc = collection(db).find_one({"_id": conversation_id, "member_id": principal.member_id})
    if doc is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return doc


@app.post("/conversations", status_code=201, tags=["conversations"], summary="Start a conversation (members)")
def start(body: ConversationCreate, principal: Member, db: DB) -> dict:
    doc = {"_id": uuid.uuid4().hex, "member_id": principal.member_id, "unit_id": principal.unit_id,
           "title": body.title, "language": body.language, "created_at": datetime.now(UTC).isoformat(),
           "messages": []}
    collection(db).insert_one(doc)
    db.commit()
    return doc


@app.get("/conversations", tags=["conversations"], summary="Your conversations, newest first (members)")
def list_conversations(principal: Member, db: DB, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[dict]:
    cursor = collection(db).find({"member_id": principal.member_id}).sort("created_at", -1).limit(limit)
    return [{k: v for k, v in doc.items() if k != "messages"} | {"messages": len(doc.get("messages", []))}
            for doc in cursor]


@app.get("/conversations/{conversation_id}", tags=["conversations"], summary="One of your conversations (members)")
def get_conversation(conversation_id: ConversationId, principal: Member, db: DB) -> dict:
    return own_conversation(db, principal, conversation_id)


@app.post("/conversations/{conversation_id}/messages", response_model=jobs.JobOut, status_code=202,
          tags=["conversations"], summary="Send a message; the reply is produced by a queued job (members)")
def send(conversation_id: ConversationId, body: MessageCreate, principal: Member, db: DB) -> jobs.JobOut:
    own_conversation(db, principal, conversation_id)
    message = {"id": uuid.uuid4().hex, "role": "member", "text": body.text, "at": datetime.now(UTC).isoformat()}
    collection(db).update_one({"_id": conversation_id}, {"$push": {"messages": message}})
    return jobs.submit(db, service="assistant", kind="assistant-reply",
                       payload={"conversation_id": conversation_id, "message_id": message["id"]},
                       principal=principal, unit_id=principal.unit_id)


# ------------------------------------------------------------------------------------------------ the assistant

class Ask(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Quanta proteína devo comer por dia?"}, {"text": "Reserva a aula de yoga de amanhã às 19h"}]})
    text: str = Field(min_length=1, max_length=1000)


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    goal: Literal["strength", "hypertrophy", "weight_loss", "endurance", "health"]
    days_per_week: int = Field(ge=1, le=7)
    minutes_per_session: int = Field(60, ge=15, le=180)
    level: Literal["beginner", "intermediate"] | None = None


def append_reply(conn, doc: dict, reply, *, in_reply_to: str) -> dict:
    """Store the assistant's reply (and any escalation) in the conversation; returns the stored message."""
    message = {"id": uuid.uuid4().hex, "role": "assistant", "in_reply_to": in_reply_to, "text": reply.text,
               "intent": reply.intent, "lang": reply.lang, "sources": reply.sources, "actions": reply.actions,
               "escalate": reply.escalate, "phrased_by": reply.phrased_by, "at": datetime.now(UTC).isoformat()}
    if reply.plan is not None:
        message["plan"] = reply.plan
    update: dict = {"$push": {"messages": message}, "$set": {"pending": reply.pending}}
    coll = conversations(conn)
    coll.update_one({"_id": doc["_id"]}, update)
    if reply.escalate:
        coll.update_one({"_id": doc["_id"]}, {"$push": {"escalations": {
            "message_id": in_reply_to, "at": message["at"], "status": "open"}}})
    return message


def _assistant():
    from gymchain.common.db import get_engine

    from .service import get_assistant

    try:
        return get_assistant(get_engine())
    except (RuntimeError, ImportError) as exc:
        raise Unavailable(f"the assistant's models are not available: {exc}") from None


@app.post("/conversations/{conversation_id}/ask", tags=["assistant"],
          summary="Ask the assistant and get the answer now; bookings are made with your own token (members)")
def ask(conversation_id: ConversationId, body: Ask, principal: Member, db: DB, request: Request) -> dict:
    from .service import load_profile, save_profile
    from .tools import MemberTools

    doc = own_conversation(db, principal, conversation_id)
    message = {"id": uuid.uuid4().hex, "role": "member", "text": body.text, "at": datetime.now(UTC).isoformat()}
    collection(db).update_one({"_id": conversation_id}, {"$push": {"messages": message}})
    db.commit()
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    tools = MemberTools(get_settings().members_url, token)
    try:
        if tools.member_id != principal.member_id:  # the token and the principal must be the same member
            raise NotFound(f"conversation {conversation_id} not found")
        profile = load_profile(db.connection(), principal.member_id)
        reply = _assistant().reply(body.text, lang="en" if doc.get("language") == "en" else "pt", tools=tools,
                                   pending=doc.get("pending"), profile=profile)
    except ToolError as exc:
        raise Unavailable(f"the members service could not be reached: {exc}") from None
    finally:
        tools.close()
    if reply.profile_update:
        from .plans import Profile

        save_profile(db.connection(), principal.member_id, Profile(**reply.profile_update))
    stored = append_reply(db.connection(), doc, reply, in_reply_to=message["id"])
    db.commit()
    return {"conversation_id": conversation_id, "message_id": message["id"], "reply": stored,
            "route": reply.route_rule, "timings_ms": reply.timings_ms,
            "llm_faithfulness": reply.llm_faithfulness}


@app.get("/profile", tags=["assistant"], summary="Your training profile for plans (members); 404 until set")
def get_profile(principal: Member, db: DB) -> dict:
    from dataclasses import asdict

    from .service import load_profile

    profile = load_profile(db.connection(), principal.member_id)
    if profile is None:
        raise NotFound("no training profile yet: PUT /profile or tell the assistant your goal")
    return asdict(profile)


@app.put("/profile", tags=["assistant"], summary="Set your goal, days per week and session length (members)")
def put_profile(body: ProfileIn, principal: Member, db: DB) -> dict:
    from .plans import Profile
    from .service import save_profile

    save_profile(db.connection(), principal.member_id, Profile(body.goal, body.days_per_week,
                                                               body.minutes_per_session, body.level))
    db.commit()
    return body.model_dump()


@app.get("/escalations", tags=["assistant"],
         summary="Open injury/medical escalations of your unit (trainer, manager; admin: any unit)")
def escalations(principal: Staff, db: DB, unit_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                limit: Annotated[int, Query(ge=1, le=100)] = 50) -> list[dict]:
    unit = scoped_unit(principal, unit_id)
    query: dict = {"escalations": {"$exists": True}}
    if unit is not None:
        query["unit_id"] = unit
    out = []
    for doc in collection(db).find(query).sort("created_at", -1).limit(limit):
        texts = {m["id"]: m["text"] for m in doc.get("messages", [])}
        for e in doc.get("escalations", []):
            out.append({"conversation_id": doc["_id"], "member_id": doc["member_id"], "unit_id": doc["unit_id"],
                        "at": e["at"], "status": e["status"], "message": texts.get(e["message_id"], "")})
    return sorted(out, key=lambda e: e["at"], reverse=True)[:limit]
