"""The ``assistant-reply`` job handler: answers a stored message and appends the reply to its conversation.

    python -m gymchain.common.messaging.rabbit --kind assistant-reply --handler gymchain.assistant.worker:handle

A queued job carries no access token (tokens are short-lived and must not sit in a queue), so the worker answers
questions and builds plans but never books or cancels: for those it tells the member to use the chat, which calls
``POST /conversations/{id}/ask`` with their own token.
"""

from __future__ import annotations

from gymchain.common.db import get_engine
from gymchain.common.messaging.rabbit import PermanentJobError

from .app import append_reply, conversations


def handle(payload: dict, job: dict) -> dict:
    from .service import get_assistant

    engine = get_engine()
    with engine.begin() as conn:
        doc = conversations(conn).find_one({"_id": payload["conversation_id"]})
    if doc is None:
        raise PermanentJobError(f"conversation {payload['conversation_id']} not found")
    message = next((m for m in doc["messages"] if m["id"] == payload["message_id"]), None)
    if message is None:
        raise PermanentJobError(f"message {payload['message_id']} not found")
    lang = "en" if doc.get("language") == "en" else "pt"
    reply = get_assistant(engine).reply(message["text"], lang=lang, tools=None)
    with engine.begin() as conn:
        stored = append_reply(conn, doc, reply, in_reply_to=message["id"])
    return {"message_id": stored["id"], "intent": reply.intent}
