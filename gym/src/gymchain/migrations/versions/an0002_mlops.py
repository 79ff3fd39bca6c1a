"""analytics: MLOps - model status/promotion and safetensors artifacts, batch scores, drift alerts, A/B tests

Revision ID: an0002_mlops
Revises: an0001_model_registry
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "an0002_mlops"
down_revision = "an0001_model_registry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # registry: a version is a candidate until promoted (active = the promoted one), or rejected / retired
    op.add_column("ml_models", sa.Column("status", sa.String(12), nullable=False, server_default="candidate"))
    op.add_column("ml_models", sa.Column("promoted_at", sa.DateTime(timezone=True)))
    op.add_column("ml_models", sa.Column("artifact", sa.LargeBinary))  # safetensors bytes (never pickle)
    op.execute("UPDATE ml_models SET status = CASE WHEN active THEN 'promoted' ELSE 'retired' END")
    op.create_check_constraint("ck_ml_models_status", "ml_models",
                               "status IN ('candidate', 'promoted', 'retired', 'rejected') "
                               "AND (active = (status = 'promoted'))")
    op.create_table(
        "ml_scores",  # batch scores written by the batch-scoring worker
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("model_name", sa.String(40), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("unit_id", sa.BigInteger, nullable=False),
        sa.Column("member_id", sa.BigInteger, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("details", postgresql.JSONB),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("job_id", "member_id", name="uq_ml_scores_job_member"),
    )
    op.create_index("ix_ml_scores_unit", "ml_scores", ["model_name", "unit_id", "scored_at"])
    op.create_table(
        "ml_alerts",  # drift reports over the threshold (and what was done about them)
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("model_name", sa.String(40), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("details", postgresql.JSONB, nullable=False),
        sa.Column("retrain_job_id", sa.String(32)),
    )
    op.create_table(
        "ab_exposures",  # first exposure of a member to an experiment (and how often it was shown)
        sa.Column("experiment", sa.String(60), nullable=False),
        sa.Column("member_id", sa.BigInteger, nullable=False),
        sa.Column("unit_id", sa.BigInteger),
        sa.Column("arm", sa.String(20), nullable=False),
        sa.Column("first_exposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exposures", sa.Integer, nullable=False, server_default="1"),
        sa.Column("details", postgresql.JSONB),
        sa.PrimaryKeyConstraint("experiment", "member_id", name="pk_ab_exposures"),
    )
    op.create_table(
        "ab_outcomes",  # the first time an exposed member reached an outcome (a conversion)
        sa.Column("experiment", sa.String(60), nullable=False),
        sa.Column("member_id", sa.BigInteger, nullable=False),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", postgresql.JSONB),
        sa.PrimaryKeyConstraint("experiment", "member_id", "outcome", name="pk_ab_outcomes"),
    )


def downgrade() -> None:
    for table in ("ab_outcomes", "ab_exposures", "ml_alerts"):
        op.drop_table(table)
    op.drop_index("ix_ml_scores_unit", table_name="ml_scores")
    op.drop_table("ml_scores")
    op.drop_constraint("ck_ml_models_status", "ml_models", type_="check")
    for column in ("artifact", "promoted_at", "status"):
        op.drop_column("ml_models", column)
