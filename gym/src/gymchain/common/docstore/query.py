"""Translate the supported subset of MongoDB filters into PostgreSQL conditions over a JSONB column.

Supported: field equality, ``$eq $ne $gt $gte $lt $lte $in $nin $exists``, ``$and $or``, nested fields by dot
path. Comparisons are SQL/JSON path predicates (``doc @? '$.a.b ? (@ > 5)'``), which the GIN index
(``jsonb_path_ops``) serves; in lax mode a path through an array looks at every element, as MongoDB does, and a
range only matches values of the same JSON type (``{"n": {"$gt": 5}}`` skips ``"n": "9"``), also like MongoDB.
Equality against an object or array compares the whole value. Values are embedded in the path as JSON literals
(escaped with ``json.dumps``) and the path is a bound parameter, so nothing reaches the SQL text.
"""

from __future__ import annotations

import json
import math
import re

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, JSONPATH

COMPARISONS = {"$eq": "==", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
FIELD_OPERATORS = {*COMPARISONS, "$in", "$nin", "$exists"}
MAX_DEPTH = 8
MAX_IN = 1000
FIELD_PATTERN = re.compile(r"^[^$.\x00][^.\x00]*$")


class QueryError(ValueError):
    """A filter, sort or update uses something this store does not support; the message names it."""


def split_path(field: str) -> list[str]:
    if not isinstance(field, str) or not field:
        raise QueryError(f"field {field!r}: expected a non-empty string")
    parts = field.split(".")
    if len(parts) > MAX_DEPTH or not all(FIELD_PATTERN.match(part) for part in parts):
        raise QueryError(f"field {field!r}: expected dot-separated names (no '$', at most {MAX_DEPTH} levels)")
    return parts


def json_path(field: str) -> str:
    return "$" + "".join("." + json.dumps(part) for part in split_path(field))


def scalar_literal(value: object, where: str) -> str:
    if value is None or isinstance(value, bool | str):
        return json.dumps(value)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise QueryError(f"{where}: {value!r} is not a JSON number")
        return json.dumps(value)
    raise QueryError(f"{where}: expected a string, number, boolean or null, got {type(value).__name__}")


def path_exists(doc: sa.ColumnElement, path: str) -> sa.ColumnElement:
    """``doc @? path``: true when the SQL/JSON path yields an item (served by the GIN index)."""
    return doc.op("@?", return_type=sa.Boolean)(sa.cast(path, JSONPATH))


def path_value(doc: sa.ColumnElement, field: str) -> sa.ColumnElement:
    """``doc #> '{a,b}'``: the JSONB value at a dot path (SQL NULL when missing)."""
    return doc.op("#>", return_type=JSONB)(sa.cast(sa.literal(split_path(field), ARRAY(sa.Text)), ARRAY(sa.Text)))


def compare(doc: sa.ColumnElement, field: str, op: str, value: object) -> sa.ColumnElement:
    where = f"filter {field!r} {op}"
    symbol = COMPARISONS[op]
    if op in ("$eq", "$ne") and isinstance(value, dict | list):
        equal = path_value(doc, field) == sa.literal(value, JSONB)
        return equal if op == "$eq" else sa.or_(sa.not_(equal), path_value(doc, field).is_(None))
    literal = scalar_literal(value, where)
    if op == "$eq":
        matched = path_exists(doc, f"{json_path(field)} ? (@ == {literal})")
        return sa.or_(matched, sa.not_(path_exists(doc, json_path(field)))) if value is None else matched
    if op == "$ne":  # MongoDB: no element equals the value (missing fields match)
        return sa.not_(compare(doc, field, "$eq", value))
    if value is None:
        raise QueryError(f"{where}: cannot order against null")
    return path_exists(doc, f"{json_path(field)} ? (@ {symbol} {literal})")


def field_condition(doc: sa.ColumnElement, field: str, spec: object) -> sa.ColumnElement:
    if not (isinstance(spec, dict) and spec and all(str(k).startswith("$") for k in spec)):
        return compare(doc, field, "$eq", spec)
    parts = []
    for op, value in spec.items():
        if op not in FIELD_OPERATORS:
            raise QueryError(f"filter {field!r}: operator {op!r} is not supported (use one of "
                             f"{', '.join(sorted(FIELD_OPERATORS))})")
        if op in COMPARISONS:
            parts.append(compare(doc, field, op, value))
        elif op in ("$in", "$nin"):
            if not isinstance(value, list | tuple) or len(value) > MAX_IN:
                raise QueryError(f"filter {field!r} {op}: expected a list of at most {MAX_IN} values")
            any_equal = sa.or_(sa.false(), *(compare(doc, field, "$eq", item) for item in value))
            parts.append(any_equal if op == "$in" else sa.not_(any_equal))
        else:  # $exists
            if not isinstance(value, bool):
                raise QueryError(f"filter {field!r} $exists: expected true or false, got {value!r}")
            exists = path_exists(doc, json_path(field))
            parts.append(exists if value else sa.not_(exists))
    return sa.and_(*parts)


def compile_filter(doc: sa.ColumnElement, query: dict | None) -> sa.ColumnElement:
    """The SQL condition of a MongoDB-style filter (``{}`` or None matches everything)."""
    if query is None:
        return sa.true()
    if not isinstance(query, dict):
        raise QueryError(f"filter: expected a dict, got {type(query).__name__}")
    parts = [sa.true()]
    for key, spec in query.items():
        if key in ("$and", "$or"):
            if not isinstance(spec, list) or not spec:
                raise QueryError(f"filter {key}: expected a non-empty list of filters")
            subs = [compile_filter(doc, sub) for sub in spec]
            parts.append(sa.and_(*subs) if key == "$and" else sa.or_(*subs))
        elif isinstance(key, str) and key.startswith("$"):
            raise QueryError(f"filter: top-level operator {key!r} is not supported (use $and or $or)")
        else:
            parts.append(field_condition(doc, key, spec))
    return sa.and_(*parts)


def sort_spec(key_or_list, direction=None) -> list[tuple[str, int]]:
    """pymongo's ``sort`` arguments as [(field, 1 | -1)]."""
    pairs = [(key_or_list, direction or 1)] if isinstance(key_or_list, str) else list(key_or_list or [])
    result = []
    for pair in pairs:
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and pair[1] in (1, -1)):
            raise QueryError(f"sort {pair!r}: expected (field, 1 or -1)")
        split_path(pair[0])
        result.append((pair[0], pair[1]))
    return result
