"""assistant: knowledge-base vectors and members' training profiles

The fitness assistant's curated facts (gymchain/assistant/kb/facts.json), one row per fact and language, with the
sentence embedding as ``real[]`` (pgvector is not packaged for this platform's PostgreSQL; at a few hundred rows
the search is a NumPy matrix product in the service). ``assistant_profiles`` holds what a member told the
assistant about their training (goal, level, days per week) for personalised plans.

Revision ID: as0001_assistant_kb
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "as0001_assistant_kb"
down_revision = None
branch_labels = ("assistant",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assistant_kb",
        sa.Column("fact_id", sa.String(60), nullable=False),
        sa.Column("lang", sa.String(5), nullable=False),
        sa.Column("topic", sa.String(20), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("embedding", postgresql.ARRAY(sa.REAL), nullable=False),
        sa.Column("model", sa.String(120), nullable=False),
        sa.Column("kb_hash", sa.String(64), nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("fact_id", "lang", name="pk_assistant_kb"),
        sa.CheckConstraint("lang IN ('pt', 'en')", name="ck_assistant_kb_lang"),
    )
    op.create_table(
        "assistant_profiles",
        sa.Column("member_id", sa.BigInteger, nullable=False),
        sa.Column("goal", sa.String(20), nullable=False),
        sa.Column("level", sa.String(20), nullable=True),
        sa.Column("days_per_week", sa.SmallInteger, nullable=False),
        sa.Column("minutes_per_session", sa.SmallInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("member_id", name="pk_assistant_profiles"),
        sa.CheckConstraint("goal IN ('strength', 'hypertrophy', 'weight_loss', 'endurance', 'health')",
                           name="ck_assistant_profiles_goal"),
        sa.CheckConstraint("days_per_week BETWEEN 1 AND 7", name="ck_assistant_profiles_days"),
        sa.CheckConstraint("minutes_per_session BETWEEN 15 AND 180", name="ck_assistant_profiles_minutes"),
    )


def downgrade() -> None:
    op.drop_table("assistant_profiles")
    op.drop_table("assistant_kb")
