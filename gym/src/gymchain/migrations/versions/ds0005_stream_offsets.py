"""datastores: consumer offsets kept with the data they produced (gymchain.common.messaging.sensor_ingest)

Revision ID: ds0005_stream_offsets
Revises: ds0004_sync
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "ds0005_stream_offsets"
down_revision = "ds0004_sync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_offsets",
        sa.Column("consumer_group", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("consumer_group", "topic", "partition", name="pk_stream_offsets"),
    )


def downgrade() -> None:
    op.drop_table("stream_offsets")
