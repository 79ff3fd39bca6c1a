"""datastores: JSONB document store table with a GIN index (gymchain.common.docstore)

Revision ID: ds0002_documents
Revises: ds0001_outbox
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "ds0002_documents"
down_revision = "ds0001_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("collection", sa.String(64), nullable=False),
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("doc", postgresql.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("collection", "id", name="pk_documents"),
    )
    op.create_index("ix_documents_doc", "documents", ["doc"], postgresql_using="gin",
                    postgresql_ops={"doc": "jsonb_path_ops"})
    op.create_index("ix_documents_collection_seq", "documents", ["collection", "seq"])


def downgrade() -> None:
    op.drop_table("documents")
