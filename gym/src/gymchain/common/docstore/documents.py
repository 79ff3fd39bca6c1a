"""Plain-Python helpers on documents shared by both backends: JSON normalisation, ids, updates, projections."""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import json
import uuid

from bson import ObjectId

from gymchain.common.docstore.query import QueryError, split_path

UPDATE_OPERATORS = ("$set", "$inc", "$push", "$unset")
MAX_DOCUMENT_BYTES = 1_000_000


def _json_default(value: object) -> object:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError(f"naive datetime {value.isoformat()} (give a timezone)")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | ObjectId | decimal.Decimal):
        return str(value)
    raise TypeError(f"value of type {type(value).__name__} is not JSON-serialisable")


def normalise(document: dict, where: str = "document") -> dict:
    """A JSON-only deep copy: both backends store the same thing, so the same queries match the same documents.

    Datetimes (timezone-aware) become UTC ISO-8601 strings, which sort in time order; UUIDs, ObjectIds and
    decimals become strings; keys must be strings without a leading '$' or a '.'.
    """
    if not isinstance(document, dict):
        raise QueryError(f"{where}: expected a dict, got {type(document).__name__}")
    try:
        text = json.dumps(document, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise QueryError(f"{where}: {exc}") from None
    if len(text) > MAX_DOCUMENT_BYTES:
        raise QueryError(f"{where}: {len(text)} bytes of JSON, at most {MAX_DOCUMENT_BYTES} allowed")
    result = json.loads(text)
    _check_keys(result, where)
    return result


def _check_keys(value: object, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("$") or "." in key:
                raise QueryError(f"{where}: key {key!r} may not start with '$' or contain '.'")
            _check_keys(item, where)
    elif isinstance(value, list):
        for item in value:
            _check_keys(item, where)


def with_id(document: dict) -> dict:
    """The document with an ``_id`` (a new ObjectId's 24 hex digits when it has none), normalised."""
    doc = normalise(document)
    if "_id" not in doc:
        doc["_id"] = str(ObjectId())
    if not isinstance(doc["_id"], str) or not 0 < len(doc["_id"]) <= 200:
        raise QueryError(f"document _id {doc['_id']!r}: expected a non-empty string of at most 200 characters")
    return doc


def _parent(doc: dict, field: str, create: bool) -> tuple[dict | None, str]:
    """The dict holding ``field``'s last part (made on the way when ``create``), or None if there is none."""
    parts = split_path(field)
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        if isinstance(child, dict):
            node = child
        elif create and part not in node:
            node[part] = {}
            node = node[part]
        elif create:
            raise QueryError(f"update {field!r}: {part!r} is not an object")
        else:
            return None, parts[-1]
    return node, parts[-1]


def get_path(doc: dict, field: str, default=None):
    node = doc
    for part in split_path(field):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def check_update(update: dict) -> dict:
    if not isinstance(update, dict) or not update:
        raise QueryError("update: expected a non-empty dict of operators")
    for op, fields in update.items():
        if op not in UPDATE_OPERATORS:
            raise QueryError(f"update: operator {op!r} is not supported (use {', '.join(UPDATE_OPERATORS)})")
        if not isinstance(fields, dict) or not fields:
            raise QueryError(f"update {op}: expected a non-empty dict of fields")
        for field in fields:
            if split_path(field)[0] == "_id":
                raise QueryError(f"update {op}: _id cannot be changed")
    return normalise_value(update, "update")


def apply_update(document: dict, update: dict) -> dict:
    """A new document with ``$set``, ``$inc``, ``$push`` (with ``$each``) and ``$unset`` applied."""
    doc = copy.deepcopy(document)
    for op, fields in update.items():
        for field, value in fields.items():
            if op == "$unset":
                parent, leaf = _parent(doc, field, create=False)
                if parent is not None:
                    parent.pop(leaf, None)
                continue
            parent, leaf = _parent(doc, field, create=True)
            if op == "$set":
                parent[leaf] = value
            elif op == "$inc":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise QueryError(f"update $inc {field!r}: expected a number, got {value!r}")
                current = parent.get(leaf, 0)
                if isinstance(current, bool) or not isinstance(current, int | float):
                    raise QueryError(f"update $inc {field!r}: the stored value {current!r} is not a number")
                parent[leaf] = current + value
            else:  # $push
                items = value["$each"] if isinstance(value, dict) and set(value) == {"$each"} else [value]
                current = parent.setdefault(leaf, [])
                if not isinstance(current, list):
                    raise QueryError(f"update $push {field!r}: the stored value is not an array")
                current.extend(items)
    return doc


def seed_from_filter(query: dict) -> dict:
    """The document an upsert starts from: the filter's plain equality fields."""
    doc: dict = {}
    for field, spec in (query or {}).items():
        if field.startswith("$") or (isinstance(spec, dict) and any(str(k).startswith("$") for k in spec)):
            continue
        parent, leaf = _parent(doc, field, create=True)
        parent[leaf] = spec
    return doc


def project(doc: dict, projection: dict | None) -> dict:
    """pymongo projection: {field: 1, ...} keeps those (and _id unless _id: 0); {field: 0, ...} drops them."""
    if not projection:
        return doc
    flags = {field: bool(value) for field, value in projection.items() if field != "_id"}
    if len(set(flags.values())) > 1:
        raise QueryError(f"projection {projection!r}: cannot mix inclusion and exclusion")
    keep_id = bool(projection.get("_id", 1))
    if flags and next(iter(flags.values())):
        result: dict = {}
        for field in flags:
            value = get_path(doc, field, _MISSING)
            if value is not _MISSING:
                parent, leaf = _parent(result, field, create=True)
                parent[leaf] = value
    else:
        result = copy.deepcopy(doc)
        for field in flags:
            parent, leaf = _parent(result, field, create=False)
            if parent is not None:
                parent.pop(leaf, None)
    if keep_id and "_id" in doc:
        result["_id"] = doc["_id"]
    elif not keep_id:
        result.pop("_id", None)
    return result


_MISSING = object()


def normalise_value(value: object, where: str) -> object:
    """Any filter or value as plain JSON (datetimes as UTC ISO strings), keys left as they are."""
    try:
        return json.loads(json.dumps(value, default=_json_default, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise QueryError(f"{where}: {exc}") from None
