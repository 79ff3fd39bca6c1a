"""The aggregation subset of the JSONB store: ``$match* ($group | $count)? ($sort | $skip | $limit)*``.

``$group`` runs in SQL: ``_id`` is null, ``"$field"`` or ``{"name": "$field", ...}``; accumulators are
``$sum`` (a constant counts, ``"$field"`` adds the numbers), ``$avg``, ``$min``, ``$max`` (numbers only: other
values are ignored, as MongoDB does for ``$sum``/``$avg``) and ``$count: {}``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from gymchain.common.docstore.documents import get_path, normalise_value
from gymchain.common.docstore.query import QueryError, compile_filter, sort_spec, split_path
from gymchain.common.docstore.table import DOC, documents_table, path_value, to_python_number

ACCUMULATORS = ("$sum", "$avg", "$min", "$max", "$count")
MAX_GROUPS = 10_000


def _field_ref(value: object, where: str) -> str:
    if not (isinstance(value, str) and value.startswith("$") and len(value) > 1):
        raise QueryError(f"{where}: expected a field reference like \"$duration_s\", got {value!r}")
    split_path(value[1:])
    return value[1:]


def _numeric(name: str) -> sa.ColumnElement:
    value = path_value(name)
    return sa.case((sa.func.jsonb_typeof(value) == "number", sa.cast(value, sa.Numeric)), else_=None)


def _group_key(spec: object) -> sa.ColumnElement:
    if spec is None:
        return sa.cast(sa.null(), JSONB)
    if isinstance(spec, dict) and spec:
        args = []
        for name, ref in spec.items():
            args += [sa.literal(name), sa.func.coalesce(path_value(_field_ref(ref, f"$group _id.{name}")),
                                                        sa.cast("null", JSONB))]
        return sa.func.jsonb_build_object(*args)
    return path_value(_field_ref(spec, "$group _id"))


def _accumulator(name: str, spec: object) -> sa.ColumnElement:
    if not (isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in ACCUMULATORS):
        raise QueryError(f"$group {name}: expected one of {', '.join(ACCUMULATORS)}, got {spec!r}")
    op, arg = next(iter(spec.items()))
    if op == "$count":
        return sa.func.count()
    if op == "$sum" and isinstance(arg, int | float) and not isinstance(arg, bool):
        return sa.func.count() * arg
    value = _numeric(_field_ref(arg, f"$group {name} {op}"))
    if op == "$sum":
        return sa.func.coalesce(sa.func.sum(value), 0)
    return {"$avg": sa.func.avg, "$min": sa.func.min, "$max": sa.func.max}[op](value)


def _group_rows(collection, condition, spec: dict) -> list[dict]:
    if not isinstance(spec, dict) or "_id" not in spec:
        raise QueryError("$group: expected a dict with an _id")
    key = _group_key(spec["_id"]).label("_id")
    columns = [key] + [_accumulator(name, acc).label(f"a{i}") for i, (name, acc) in
                       enumerate((n, a) for n, a in spec.items() if n != "_id")]
    names = [name for name in spec if name != "_id"]
    stmt = (sa.select(*columns).where(documents_table.c.collection == collection.name, condition)
            .group_by(key).limit(MAX_GROUPS + 1))
    with collection.begin() as conn:
        rows = conn.execute(stmt).all()
    if len(rows) > MAX_GROUPS:
        raise QueryError(f"$group: more than {MAX_GROUPS} groups")
    result = []
    for row in rows:
        doc = {"_id": row[0]}
        for i, name in enumerate(names):
            value = to_python_number(row[i + 1])
            doc[name] = float(value) if value is not None and spec[name].get("$avg") is not None else value
        result.append(doc)
    return result


def _sort_key(value: object) -> tuple:
    """MongoDB's order of types: null < numbers < strings < objects < arrays < booleans."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (5, value)
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3 if isinstance(value, dict) else 4, repr(value))


def _apply_tail(rows: list[dict], stages: list[dict]) -> list[dict]:
    for stage in stages:
        (op, arg), = stage.items()
        if op == "$sort":
            if not isinstance(arg, dict) or not arg:
                raise QueryError(f"$sort: expected {{field: 1 or -1}}, got {arg!r}")
            for name, direction in reversed(sort_spec(list(arg.items()))):
                rows = sorted(rows, key=lambda r, n=name: _sort_key(get_path(r, n)), reverse=direction == -1)
        elif op in ("$skip", "$limit"):
            if isinstance(arg, bool) or not isinstance(arg, int) or arg < 0:
                raise QueryError(f"{op}: expected a non-negative integer, got {arg!r}")
            rows = rows[arg:] if op == "$skip" else rows[:arg]
        else:
            raise QueryError(f"aggregate: stage {op!r} is not supported after $group/$count")
    return rows


def run_pipeline(collection, pipeline: list[dict]) -> list[dict]:
    if not isinstance(pipeline, list):
        raise QueryError("aggregate: expected a list of stages")
    for i, stage in enumerate(pipeline):
        if not isinstance(stage, dict) or len(stage) != 1:
            raise QueryError(f"aggregate stage {i}: expected a dict with one operator, got {stage!r}")
    index, conditions = 0, []
    while index < len(pipeline) and "$match" in pipeline[index]:
        conditions.append(compile_filter(DOC, normalise_value(pipeline[index]["$match"] or {}, "$match")))
        index += 1
    condition = sa.and_(sa.true(), *conditions)
    if index < len(pipeline) and "$group" in pipeline[index]:
        rows = _group_rows(collection, condition, pipeline[index]["$group"])
        return _apply_tail(rows, pipeline[index + 1:])
    if index < len(pipeline) and "$count" in pipeline[index]:
        name = pipeline[index]["$count"]
        if not isinstance(name, str) or not name or name.startswith("$"):
            raise QueryError(f"$count: expected an output field name, got {name!r}")
        with collection.begin() as conn:
            count = conn.execute(sa.select(sa.func.count()).where(
                documents_table.c.collection == collection.name, condition)).scalar_one()
        return _apply_tail([{name: count}] if count else [], pipeline[index + 1:])
    cursor, tail = collection.cursor(condition), pipeline[index:]
    for stage in tail:  # without a group the rest runs in SQL
        (op, arg), = stage.items()
        if op == "$sort" and isinstance(arg, dict) and arg:
            cursor.sort(list(arg.items()))
        elif op == "$limit":
            cursor.limit(arg)
        elif op == "$skip" and not cursor._limit:
            cursor.skip(arg)
        else:
            raise QueryError(f"aggregate: stage {op!r} is not supported here (supported: $match, $group, $count, "
                             "$sort, $skip, $limit)")
    return cursor.to_list()
