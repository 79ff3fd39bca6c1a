"""The ``documents`` table of the JSONB document store and SQL helpers on it."""

from __future__ import annotations

import decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from gymchain.common.db import Base
from gymchain.common.docstore.query import path_value as query_path_value

documents_table = sa.Table(
    "documents",
    Base.metadata,
    sa.Column("collection", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),  # insertion order
    sa.Column("doc", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_documents_doc", "doc", postgresql_using="gin", postgresql_ops={"doc": "jsonb_path_ops"}),
    sa.Index("ix_documents_collection_seq", "collection", "seq"),
)
DOC = documents_table.c.doc


def create_documents_table(bind) -> None:
    """Create the table and its indexes where no migration runs (tests, a unit's local database)."""
    documents_table.create(bind, checkfirst=True)


def path_value(field_name: str) -> sa.ColumnElement:
    """``doc #> '{a,b}'``: the JSONB value at a dot path of the documents column."""
    return query_path_value(DOC, field_name)


def to_python_number(value):
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
