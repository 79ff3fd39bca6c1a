"""The document store on PostgreSQL JSONB: one ``documents`` table, a GIN (``jsonb_path_ops``) index over the
documents, and a collection object shaped like pymongo's (see :mod:`gymchain.common.docstore`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa

from gymchain.common.docstore import documents as docs
from gymchain.common.docstore.aggregate import run_pipeline
from gymchain.common.docstore.query import QueryError, compile_filter, sort_spec
from gymchain.common.docstore.table import DOC, documents_table, path_value

MAX_LIMIT = 10_000


class DuplicateKeyError(QueryError):
    """An insert used an ``_id`` the collection already holds."""


@dataclass(frozen=True)
class InsertOneResult:
    inserted_id: str


@dataclass(frozen=True)
class InsertManyResult:
    inserted_ids: list[str]


@dataclass(frozen=True)
class UpdateResult:
    matched_count: int
    modified_count: int
    upserted_id: str | None = None


@dataclass(frozen=True)
class DeleteResult:
    deleted_count: int


def condition(query: dict | None) -> sa.ColumnElement:
    """The SQL condition of a filter whose values may hold datetimes (compared as their stored ISO strings)."""
    return compile_filter(DOC, docs.normalise_value(query or {}, "filter"))


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT:
        raise QueryError(f"{name} {value!r}: expected an integer from 0 to {MAX_LIMIT}")
    return value


@dataclass
class Cursor:
    """The lazy result of ``find``: chain ``sort``, ``skip``, ``limit``; iterate to run the query."""

    collection: PgCollection
    condition: sa.ColumnElement
    projection: dict | None
    _sort: list[tuple[str, int]] = field(default_factory=list)
    _skip: int = 0
    _limit: int = 0

    def sort(self, key_or_list, direction=None) -> Cursor:
        self._sort = sort_spec(key_or_list, direction)
        return self

    def skip(self, count: int) -> Cursor:
        self._skip = _check_count("skip", count)
        return self

    def limit(self, count: int) -> Cursor:
        self._limit = _check_count("limit", count)
        return self

    def statement(self) -> sa.Select:
        stmt = sa.select(DOC).where(documents_table.c.collection == self.collection.name, self.condition)
        order = []
        for name, direction in self._sort:  # MongoDB puts missing/null first when ascending
            value = path_value(name)
            order.append(value.asc().nulls_first() if direction == 1 else value.desc().nulls_last())
        stmt = stmt.order_by(*order, documents_table.c.seq)
        if self._skip:
            stmt = stmt.offset(self._skip)
        return stmt.limit(self._limit) if self._limit else stmt

    def __iter__(self) -> Iterator[dict]:
        with self.collection.begin() as conn:
            rows = conn.execute(self.statement()).scalars().all()
        return iter([docs.project(doc, self.projection) for doc in rows])

    def to_list(self) -> list[dict]:
        return list(self)


class PgCollection:
    """A named collection in the ``documents`` table; ``bind`` is an Engine (each call commits) or a Connection
    (calls join the caller's transaction)."""

    def __init__(self, bind, name: str):
        self.bind = bind
        self.name = name

    @contextlib.contextmanager
    def begin(self):
        if isinstance(self.bind, sa.engine.Connection):
            yield self.bind
        else:
            with self.bind.begin() as conn:
                yield conn

    def _where(self, query: dict | None) -> sa.ColumnElement:
        return sa.and_(documents_table.c.collection == self.name, condition(query))

    def insert_one(self, document: dict) -> InsertOneResult:
        return InsertOneResult(self.insert_many([document]).inserted_ids[0])

    def insert_many(self, documents: list[dict]) -> InsertManyResult:
        if not isinstance(documents, list) or not documents:
            raise QueryError("insert_many: expected a non-empty list of documents")
        rows = [docs.with_id(doc) for doc in documents]
        try:
            with self.begin() as conn:
                conn.execute(documents_table.insert(), [{"collection": self.name, "id": d["_id"], "doc": d}
                                                        for d in rows])
        except sa.exc.IntegrityError:
            raise DuplicateKeyError(f"collection {self.name}: an _id in this insert exists already") from None
        return InsertManyResult([d["_id"] for d in rows])

    def find(self, filter: dict | None = None, projection: dict | None = None) -> Cursor:
        return Cursor(self, condition(filter), projection)

    def find_one(self, filter: dict | None = None, projection: dict | None = None) -> dict | None:
        return next(iter(self.find(filter, projection).limit(1)), None)

    def count_documents(self, filter: dict | None = None) -> int:
        with self.begin() as conn:
            return conn.execute(sa.select(sa.func.count()).where(self._where(filter))).scalar_one()

    def _update(self, query: dict, update: dict, *, many: bool, upsert: bool) -> UpdateResult:
        update = docs.check_update(update)
        stmt = sa.select(documents_table.c.id, DOC).where(self._where(query)).order_by(documents_table.c.seq)
        with self.begin() as conn:
            rows = conn.execute((stmt if many else stmt.limit(1)).with_for_update()).all()
            if not rows and upsert:
                doc = docs.with_id(docs.apply_update(docs.seed_from_filter(query), update))
                conn.execute(documents_table.insert().values(collection=self.name, id=doc["_id"], doc=doc))
                return UpdateResult(0, 0, doc["_id"])
            modified = 0
            for row in rows:
                new = docs.apply_update(row.doc, update)
                if new != row.doc:
                    conn.execute(documents_table.update()
                                 .where(documents_table.c.collection == self.name, documents_table.c.id == row.id)
                                 .values(doc=new, updated_at=sa.func.now()))
                    modified += 1
        return UpdateResult(len(rows), modified)

    def update_one(self, filter: dict, update: dict, upsert: bool = False) -> UpdateResult:
        return self._update(filter, update, many=False, upsert=upsert)

    def update_many(self, filter: dict, update: dict, upsert: bool = False) -> UpdateResult:
        return self._update(filter, update, many=True, upsert=upsert)

    def delete_one(self, filter: dict) -> DeleteResult:
        first = (sa.select(documents_table.c.id).where(self._where(filter))
                 .order_by(documents_table.c.seq).limit(1).scalar_subquery())
        with self.begin() as conn:
            result = conn.execute(documents_table.delete().where(documents_table.c.collection == self.name,
                                                                 documents_table.c.id == first))
        return DeleteResult(result.rowcount)

    def delete_many(self, filter: dict) -> DeleteResult:
        with self.begin() as conn:
            return DeleteResult(conn.execute(documents_table.delete().where(self._where(filter))).rowcount)

    def aggregate(self, pipeline: list[dict]) -> list[dict]:
        """``$match`` stages, then optionally one ``$group`` (run in SQL) or ``$count``; then ``$sort``,
        ``$skip``, ``$limit`` (on the grouped rows, or in SQL when there is no group)."""
        return run_pipeline(self, pipeline)

    def cursor(self, condition: sa.ColumnElement) -> Cursor:
        return Cursor(self, condition, None)
