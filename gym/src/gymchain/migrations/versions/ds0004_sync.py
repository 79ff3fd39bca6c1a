"""datastores: central tables of the unit sync (processed events, downstream feed, reference digests)

Revision ID: ds0004_sync
Revises: ds0003_timeseries
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "ds0004_sync"
down_revision = "ds0003_timeseries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_processed_events",
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("unit_code", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200)),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("event_id", name="pk_sync_processed_events"),
    )
    op.create_index("ix_sync_processed_events_unit", "sync_processed_events", ["unit_code", "processed_at"])
    op.create_table(
        "sync_downstream",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("unit_code", sa.String(32), nullable=False),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("seq", name="pk_sync_downstream"),
        sa.UniqueConstraint("event_id", name="uq_sync_downstream_event_id"),
    )
    op.create_index("ix_sync_downstream_unit_seq", "sync_downstream", ["unit_code", "seq"])
    op.create_table(
        "sync_reference_state",
        sa.Column("unit_code", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.BigInteger, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("unit_code", "entity", "entity_id", name="pk_sync_reference_state"),
    )


def downgrade() -> None:
    op.drop_table("sync_reference_state")
    op.drop_table("sync_downstream")
    op.drop_table("sync_processed_events")
