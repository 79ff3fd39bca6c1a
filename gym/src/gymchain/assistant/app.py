"""The assistant service app (port 8005): ``uvicorn gymchain.assistant.app:app``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gymchain.common import jobs
from gymchain.common.db import get_session
from gymchain.common.errors import NotFound
from gymchain.common.http import create_app
from gymchain.common.security.rbac import MEMBER, require_roles
from gymchain.common.security.tokens import Principal

DESCRIPTION = """A member's conversations with the fitness assistant, kept in the document store
(`assistant_conversations`). Each message is stored and a reply job queued (RabbitMQ `assistant-reply`); the reply
is appended to the conversation by the worker. **The assistant itself (exercise and nutrition answers, workout
recommendations, booking by conversation) arrives with issue "gymchain, part 3"**: until then messages are stored
and their jobs stay `queued`; no reply is invented."""

app = create_app("assistant", DESCRIPTION)
app.include_router(jobs.job_router("assistant"))
DB = Annotated[Session, Depends(get_session)]
Member = Annotated[Principal, Depends(require_roles(MEMBER))]
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
    from gymchain.common.docstore import get_collection

    return get_collection(COLLECTION, bind=db.connection())


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
