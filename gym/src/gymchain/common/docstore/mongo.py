"""The MongoDB adapter of the document store, for deployments that run a MongoDB (pymongo).

It accepts exactly what the JSONB store accepts (same filter/update/pipeline subset, same JSON normalisation,
string ``_id``s), so code written against one runs on the other. Tested with mongomock, since no MongoDB server
can be installed on the development machines.
"""

from __future__ import annotations

import pymongo
import pymongo.errors
import sqlalchemy as sa
from bson import ObjectId
from sqlalchemy.dialects.postgresql import JSONB

from gymchain.common.docstore import documents as docs
from gymchain.common.docstore.postgres import DuplicateKeyError, InsertManyResult, InsertOneResult
from gymchain.common.docstore.query import QueryError, compile_filter, sort_spec

PIPELINE_STAGES = ("$match", "$group", "$count", "$sort", "$skip", "$limit")
_CHECK_COLUMN = sa.column("doc", JSONB)


def check_filter(query: dict | None) -> dict:
    """The filter with JSON-normalised values, after checking it uses only the supported subset."""
    query = docs.normalise_value(query or {}, "filter")
    compile_filter(_CHECK_COLUMN, query)
    return query


class MongoCursor:
    def __init__(self, cursor):
        self.raw = cursor

    def sort(self, key_or_list, direction=None) -> MongoCursor:
        self.raw = self.raw.sort(sort_spec(key_or_list, direction))
        return self

    def skip(self, count: int) -> MongoCursor:
        self.raw = self.raw.skip(count)
        return self

    def limit(self, count: int) -> MongoCursor:
        self.raw = self.raw.limit(count)
        return self

    def __iter__(self):
        return iter(self.raw)

    def to_list(self) -> list[dict]:
        return list(self.raw)


class MongoCollection:
    def __init__(self, collection):
        self.raw = collection
        self.name = collection.name

    def insert_one(self, document: dict) -> InsertOneResult:
        return InsertOneResult(self.insert_many([document]).inserted_ids[0])

    def insert_many(self, documents: list[dict]) -> InsertManyResult:
        if not isinstance(documents, list) or not documents:
            raise QueryError("insert_many: expected a non-empty list of documents")
        rows = [docs.with_id(doc) for doc in documents]
        try:
            self.raw.insert_many(rows)
        except pymongo.errors.BulkWriteError:
            raise DuplicateKeyError(f"collection {self.name}: an _id in this insert exists already") from None
        return InsertManyResult([d["_id"] for d in rows])

    def find(self, filter: dict | None = None, projection: dict | None = None) -> MongoCursor:
        return MongoCursor(self.raw.find(check_filter(filter), projection))

    def find_one(self, filter: dict | None = None, projection: dict | None = None) -> dict | None:
        return self.raw.find_one(check_filter(filter), projection)

    def count_documents(self, filter: dict | None = None) -> int:
        return self.raw.count_documents(check_filter(filter))

    def _update_args(self, query: dict, update: dict, upsert: bool) -> tuple[dict, dict]:
        update = docs.check_update(update)
        if upsert:  # a string _id like every other document, not the server's ObjectId
            update = {**update, "$setOnInsert": {"_id": str(ObjectId())}}
        return check_filter(query), update

    def _update(self, method, query: dict, update: dict, upsert: bool):
        args = self._update_args(query, update, upsert)
        try:
            return method(*args, upsert=upsert)
        except (pymongo.errors.WriteError, TypeError) as exc:  # mongomock raises TypeError where MongoDB refuses
            raise QueryError(f"update {sorted(update)} on {self.name}: a stored value does not fit ({exc})") from None

    def update_one(self, filter: dict, update: dict, upsert: bool = False):
        return self._update(self.raw.update_one, filter, update, upsert)

    def update_many(self, filter: dict, update: dict, upsert: bool = False):
        return self._update(self.raw.update_many, filter, update, upsert)

    def delete_one(self, filter: dict):
        return self.raw.delete_one(check_filter(filter))

    def delete_many(self, filter: dict):
        return self.raw.delete_many(check_filter(filter))

    def aggregate(self, pipeline: list[dict]) -> list[dict]:
        if not isinstance(pipeline, list):
            raise QueryError("aggregate: expected a list of stages")
        checked = []
        for i, stage in enumerate(pipeline):
            if not isinstance(stage, dict) or len(stage) != 1 or next(iter(stage)) not in PIPELINE_STAGES:
                raise QueryError(f"aggregate stage {i}: {stage!r} is not supported (use {', '.join(PIPELINE_STAGES)})")
            checked.append({"$match": check_filter(stage["$match"])} if "$match" in stage else stage)
        return list(self.raw.aggregate(checked))


def connect(url: str, database: str | None = None):
    """The database of a MongoDB URL (``mongodb://host:27017/gymchain``)."""
    client = pymongo.MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000)
    return client.get_database(database) if database else client.get_default_database("gymchain")
