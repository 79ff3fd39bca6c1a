"""One test suite for the document store, run on the JSONB store (real PostgreSQL) and on the MongoDB adapter
(mongomock: no MongoDB server can be installed here). Expected results are written out, so both backends must
agree with MongoDB's semantics, not just with each other."""

from __future__ import annotations

import datetime as dt

import mongomock
import pytest
import sqlalchemy as sa

from data_fixtures import create_database, database_url, drop_database, pg_engine, pg_url  # noqa: F401
from gymchain.common.docstore import QueryError, create_documents_table
from gymchain.common.docstore.mongo import MongoCollection
from gymchain.common.docstore.postgres import DuplicateKeyError, PgCollection

PEOPLE = [
    {"_id": "a", "name": "ana", "age": 31, "unit": "SP1", "tags": ["yoga", "spin"], "plan": {"tier": "gold", "fee": 199.9}},
    {"_id": "b", "name": "bruno", "age": 25, "unit": "SP1", "tags": ["crossfit"], "plan": {"tier": "basic", "fee": 89.9}},
    {"_id": "c", "name": "carla", "age": 42, "unit": "RJ1", "tags": [], "plan": {"tier": "gold", "fee": 179.9}},
    {"_id": "d", "name": "davi", "age": "unknown", "unit": "RJ1", "plan": {"tier": "basic", "fee": 99.9}},
    {"_id": "e", "name": "eva", "age": 19, "unit": "BH1", "tags": ["spin"], "plan": None,
     "sessions": [{"kind": "spin", "minutes": 45}, {"kind": "yoga", "minutes": 60}]},
]


@pytest.fixture(scope="module")
def shared_engine():
    """One database for the module's JSONB cases (emptied before each): creating one per case costs seconds."""
    name = create_database()
    engine = sa.create_engine(database_url(name))
    create_documents_table(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(name)


@pytest.fixture(params=["jsonb", "mongomock"])
def people(request):
    if request.param == "jsonb":
        engine = request.getfixturevalue("shared_engine")
        with engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE documents"))
        collection = PgCollection(engine, "member_notes")
    else:
        collection = MongoCollection(mongomock.MongoClient(tz_aware=True).db.member_notes)
    collection.insert_many([dict(doc) for doc in PEOPLE])
    return collection


def ids(cursor) -> list[str]:
    return [doc["_id"] for doc in cursor]


@pytest.mark.parametrize(("query", "expected"), [
    ({}, "abcde"),
    ({"unit": "SP1"}, "ab"),
    ({"age": {"$gt": 25}}, "ac"),  # "unknown" is a string: a numeric range skips it, as in MongoDB
    ({"age": {"$gte": 25, "$lt": 42}}, "ab"),
    ({"age": {"$lte": 19}}, "e"),
    ({"tags": "spin"}, "ae"),  # equality against an array matches any element
    ({"tags": {"$in": ["crossfit", "yoga"]}}, "ab"),
    ({"unit": {"$nin": ["SP1", "BH1"]}}, "cd"),
    ({"plan.tier": "gold"}, "ac"),  # dot path into an embedded document
    ({"plan.fee": {"$lt": 100}}, "bd"),
    ({"sessions.minutes": {"$gt": 50}}, "e"),  # dot path through an array of documents
    ({"tags": {"$exists": False}}, "d"),
    ({"plan": None}, "e"),
    ({"sessions": None}, "abcd"),  # null matches a missing field too
    ({"unit": {"$ne": "SP1"}}, "cde"),
    ({"$or": [{"unit": "BH1"}, {"age": {"$gt": 40}}]}, "ce"),
    ({"$and": [{"unit": "SP1"}, {"plan.tier": "basic"}]}, "b"),
    ({"tags": []}, "c"),  # a whole-array equality
    ({"plan": {"tier": "basic", "fee": 89.9}}, "b"),  # a whole-document equality
    ({"name": {"$eq": "ana"}, "age": 31}, "a"),
])
def test_find_filters(people, query, expected):
    assert sorted(ids(people.find(query))) == list(expected)
    assert people.count_documents(query) == len(expected)


def test_sort_skip_limit_and_projection(people):
    assert ids(people.find({"age": {"$gte": 0}}).sort("age", -1)) == ["c", "a", "b", "e"]
    assert ids(people.find({}).sort([("unit", 1), ("name", -1)]).skip(1).limit(3)) == ["d", "c", "b"]
    doc = people.find_one({"_id": "a"}, {"plan.tier": 1, "name": 1})
    assert doc == {"_id": "a", "name": "ana", "plan": {"tier": "gold"}}
    assert "plan" not in people.find_one({"_id": "b"}, {"plan": 0, "_id": 0})
    assert people.find_one({"name": "nobody"}) is None


def test_insert_gives_string_ids_and_refuses_duplicates(people):
    new_id = people.insert_one({"name": "fabio", "at": dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC)}).inserted_id
    assert isinstance(new_id, str) and len(new_id) == 24
    stored = people.find_one({"_id": new_id})
    assert stored["at"] == "2026-12-06T10:00:00+00:00"  # datetimes are stored as UTC ISO strings
    assert people.count_documents({"at": {"$gte": dt.datetime(2026, 12, 6, tzinfo=dt.UTC)}}) == 1
    with pytest.raises(DuplicateKeyError):
        people.insert_one({"_id": "a", "name": "again"})
    with pytest.raises(QueryError, match="naive datetime"):
        people.insert_one({"at": dt.datetime(2026, 1, 1)})


def test_update_set_inc_push_and_upsert(people):
    result = people.update_one({"_id": "b"}, {"$set": {"plan.tier": "gold"}, "$inc": {"age": 1, "visits": 2},
                                              "$push": {"tags": "yoga"}})
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert people.find_one({"_id": "b"}, {"_id": 0, "plan.tier": 1, "age": 1, "visits": 1, "tags": 1}) == {
        "plan": {"tier": "gold"}, "age": 26, "visits": 2, "tags": ["crossfit", "yoga"]}
    people.update_one({"_id": "c"}, {"$push": {"tags": {"$each": ["a", "b"]}}})
    assert people.find_one({"_id": "c"})["tags"] == ["a", "b"]
    missing = people.update_one({"_id": "zzz"}, {"$set": {"x": 1}})
    assert (missing.matched_count, missing.modified_count, missing.upserted_id) == (0, 0, None)
    upserted = people.update_one({"name": "gil", "unit": "BH1"}, {"$inc": {"visits": 1}}, upsert=True)
    assert isinstance(upserted.upserted_id, str)
    assert people.find_one({"name": "gil"}, {"_id": 0}) == {"name": "gil", "unit": "BH1", "visits": 1}
    many = people.update_many({"unit": "RJ1"}, {"$set": {"region": "RJ"}})
    assert (many.matched_count, many.modified_count) == (2, 2)
    with pytest.raises(QueryError, match=r"\$inc"):
        people.update_one({"_id": "d"}, {"$inc": {"age": 1}})


def test_delete_and_count(people):
    assert people.delete_one({"unit": "SP1"}).deleted_count == 1
    assert people.count_documents({"unit": "SP1"}) == 1
    assert people.delete_many({"plan.tier": {"$in": ["gold", "basic"]}}).deleted_count == 3
    assert ids(people.find()) == ["e"]


def test_aggregate_group_sort_limit(people):
    rows = people.aggregate([
        {"$match": {"plan.fee": {"$gt": 0}}},
        {"$group": {"_id": "$plan.tier", "members": {"$sum": 1}, "revenue": {"$sum": "$plan.fee"},
                    "mean_age": {"$avg": "$age"}}},
        {"$sort": {"revenue": -1}},
    ])
    assert [row["_id"] for row in rows] == ["gold", "basic"]
    assert [row["members"] for row in rows] == [2, 2]
    assert rows[0]["revenue"] == pytest.approx(379.8)
    assert rows[0]["mean_age"] == pytest.approx(36.5)
    assert rows[1]["mean_age"] == pytest.approx(25.0)  # "unknown" is not a number and is skipped
    by_unit = people.aggregate([{"$group": {"_id": {"unit": "$unit"}, "n": {"$sum": 1}}},
                                {"$sort": {"n": -1, "_id.unit": 1}}, {"$limit": 2}])
    assert by_unit == [{"_id": {"unit": "RJ1"}, "n": 2}, {"_id": {"unit": "SP1"}, "n": 2}]
    assert people.aggregate([{"$match": {"unit": "SP1"}}, {"$count": "n"}]) == [{"n": 2}]
    everyone = people.aggregate([{"$group": {"_id": None, "n": {"$sum": 1}}}])
    assert everyone == [{"_id": None, "n": 5}]


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: c.find({"age": {"$regex": "x"}}), r"\$regex"),
    (lambda c: c.find({"$where": "1"}), r"\$where"),
    (lambda c: c.update_one({}, {"$rename": {"a": "b"}}), r"\$rename"),
    (lambda c: c.update_one({}, {"name": "replacement"}), "name"),
    (lambda c: c.aggregate([{"$lookup": {}}]), r"\$lookup"),
    (lambda c: c.find({"plan..tier": 1}), "plan..tier"),
])
def test_unsupported_queries_are_refused_by_both(people, call, message):
    with pytest.raises(QueryError, match=message):
        list(call(people))


def test_gin_index_serves_the_filters(pg_engine):  # noqa: F811
    create_documents_table(pg_engine)
    collection = PgCollection(pg_engine, "vision_events")
    collection.insert_many([{"camera": f"cam{i % 50}", "count": i} for i in range(2000)])
    with pg_engine.begin() as conn:
        conn.execute(sa.text("ANALYZE documents"))
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        query = collection.find({"camera": "cam7"}).statement().compile(compile_kwargs={"literal_binds": True})
        plan = "\n".join(conn.execute(sa.text(f"EXPLAIN {query}")).scalars())
    assert "ix_documents_doc" in plan
    assert collection.count_documents({"camera": "cam7"}) == 40


def test_connection_bound_collection_joins_the_callers_transaction(pg_engine):  # noqa: F811
    create_documents_table(pg_engine)
    with pg_engine.connect() as conn:
        trans = conn.begin()
        PgCollection(conn, "member_notes").insert_one({"note": "rolled back"})
        trans.rollback()
    assert PgCollection(pg_engine, "member_notes").count_documents({}) == 0
