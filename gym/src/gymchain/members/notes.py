"""Staff notes on members, kept in the document store (collection ``member_notes``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from .schemas import NoteOut

COLLECTION = "member_notes"


def get_collection(name: str, bind=None):
    from gymchain.common.docstore import get_collection as docstore_collection  # G2's document store

    return docstore_collection(name, bind=bind)


def add_note(member_id: int, author_user_id: int, text: str) -> NoteOut:
    note = {"_id": uuid.uuid4().hex, "member_id": member_id, "author_user_id": author_user_id, "text": text,
            "created_at": datetime.now(UTC).isoformat()}
    get_collection(COLLECTION).insert_one(note)
    return note_out(note)


def note_out(doc: dict) -> NoteOut:
    return NoteOut(id=str(doc["_id"]), member_id=doc["member_id"], author_user_id=doc["author_user_id"],
                   text=doc["text"], created_at=datetime.fromisoformat(doc["created_at"]))


def list_notes(member_id: int, limit: int) -> list[NoteOut]:
    cursor = get_collection(COLLECTION).find({"member_id": member_id}).sort("created_at", -1).limit(limit)
    return [note_out(doc) for doc in cursor]


def delete_notes(member_id: int, bind=None) -> int:
    """Delete a member's notes; with ``bind`` (a Connection) inside the caller's transaction."""
    return get_collection(COLLECTION, bind=bind).delete_many({"member_id": member_id}).deleted_count
