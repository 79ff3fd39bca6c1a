"""datastores: what each unit has acknowledged of its feed (lets old feed rows be purged)

Revision ID: ds0006_sync_cursor
Revises: ds0005_stream_offsets
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "ds0006_sync_cursor"
down_revision = "ds0005_stream_offsets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_unit_cursor",
        sa.Column("unit_code", sa.String(32), nullable=False),
        sa.Column("acked_seq", sa.BigInteger, nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("unit_code", name="pk_sync_unit_cursor"),
    )


def downgrade() -> None:
    op.drop_table("sync_unit_cursor")
