"""analytics: model registry (versions, metrics, training window, LightGBM text model)

Revision ID: an0001_model_registry
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "an0001_model_registry"
down_revision = None
branch_labels = ("analytics",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ml_models",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("metrics", postgresql.JSONB, nullable=False),
        sa.Column("metadata", postgresql.JSONB, nullable=False),
        sa.Column("train_from", sa.Date, nullable=False),
        sa.Column("train_to", sa.Date, nullable=False),
        sa.Column("test_date", sa.Date, nullable=False),
        sa.Column("horizon_days", sa.Integer, nullable=False),
        sa.Column("model_text", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_ml_models"),
        sa.UniqueConstraint("name", "version", name="uq_ml_models_name_version"),
        sa.CheckConstraint("horizon_days BETWEEN 1 AND 365", name="ck_ml_models_horizon"),
    )
    op.create_index("uq_ml_models_active", "ml_models", ["name"], unique=True,
                    postgresql_where=sa.text("active"))


def downgrade() -> None:
    op.drop_index("uq_ml_models_active", table_name="ml_models")
    op.drop_table("ml_models")
