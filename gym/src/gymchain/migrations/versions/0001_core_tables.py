"""core tables: auth users and refresh tokens, members domain, audit log

Revision ID: 0001_core
Revises:
Create Date: 2026-12-06 18:56:34.502527
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_core"
down_revision = None
branch_labels = ("core",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_actor", "audit_log", ["actor_user_id", "at"], unique=False)
    op.create_index("ix_audit_log_subject", "audit_log", ["subject_type", "subject_id", "at"], unique=False)
    op.create_table(
        "plans",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("monthly_price_cents", sa.Integer(), nullable=False),
        sa.Column("weekly_class_limit", sa.Integer(), nullable=True),
        sa.Column("all_units", sa.Boolean(), server_default="false", nullable=False),
        sa.CheckConstraint("monthly_price_cents >= 0", name=op.f("ck_plans_price")),
        sa.CheckConstraint("weekly_class_limit IS NULL OR weekly_class_limit > 0", name=op.f("ck_plans_class_limit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("code", name=op.f("uq_plans_code")),
    )
    op.create_table(
        "units",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("city", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("code", name=op.f("uq_units_code")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("email_enc", sa.Text(), nullable=True),
        sa.Column("email_index", sa.String(length=64), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=True),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("role <> 'member' OR member_id IS NOT NULL", name=op.f("ck_users_member_link")),
        sa.CheckConstraint("role = 'admin' OR unit_id IS NOT NULL", name=op.f("ck_users_unit_required")),
        sa.CheckConstraint("role IN ('member', 'trainer', 'manager', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email_index", name=op.f("uq_users_email_index")),
        sa.UniqueConstraint("member_id", name=op.f("uq_users_member_id")),
    )
    op.create_table(
        "areas",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.CheckConstraint("capacity BETWEEN 1 AND 2000", name=op.f("ck_areas_capacity")),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_areas_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_areas")),
        sa.UniqueConstraint("unit_id", "name", name=op.f("uq_areas_unit_id_name")),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("full_name_enc", sa.Text(), nullable=True),
        sa.Column("email_enc", sa.Text(), nullable=True),
        sa.Column("email_index", sa.String(length=64), nullable=True),
        sa.Column("cpf_enc", sa.Text(), nullable=True),
        sa.Column("cpf_index", sa.String(length=64), nullable=True),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("birth_date_enc", sa.Text(), nullable=True),
        sa.Column("camera_consent", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("consent_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('active', 'erased')", name=op.f("ck_members_status")),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_members_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("cpf_index", name=op.f("uq_members_cpf_index")),
        sa.UniqueConstraint("email_index", name=op.f("uq_members_email_index")),
    )
    op.create_index("ix_members_unit_id", "members", ["unit_id", "id"], unique=False)
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_refresh_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index("ix_refresh_tokens_family", "refresh_tokens", ["family_id"], unique=False)
    op.create_table(
        "checkins",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("checked_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=16), server_default="desk", nullable=False),
        sa.Column("origin_event_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint("source IN ('desk', 'app', 'turnstile', 'sync', 'seed')", name=op.f("ck_checkins_source")),
        sa.CheckConstraint("checked_out_at IS NULL OR checked_out_at >= checked_in_at", name=op.f("ck_checkins_times")),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_checkins_area_id_areas")),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_checkins_member_id_members")),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_checkins_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkins")),
        sa.UniqueConstraint("origin_event_id", name=op.f("uq_checkins_origin_event_id")),
    )
    op.create_index("ix_checkins_member_time", "checkins", ["member_id", "checked_in_at"], unique=False)
    op.create_index(
        "ix_checkins_open_area",
        "checkins",
        ["area_id"],
        unique=False,
        postgresql_where=sa.text("checked_out_at IS NULL"),
    )
    op.create_index("ix_checkins_unit_time", "checkins", ["unit_id", "checked_in_at"], unique=False)
    op.create_index(
        "uq_checkins_open", "checkins", ["member_id"], unique=True, postgresql_where=sa.text("checked_out_at IS NULL")
    )
    op.create_table(
        "class_sessions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("trainer_user_id", sa.BigInteger(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="scheduled", nullable=False),
        sa.CheckConstraint("status IN ('scheduled', 'cancelled')", name=op.f("ck_class_sessions_status")),
        sa.CheckConstraint("booked_count BETWEEN 0 AND capacity", name=op.f("ck_class_sessions_seats")),
        sa.CheckConstraint("capacity BETWEEN 1 AND 500", name=op.f("ck_class_sessions_capacity")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_class_sessions_times")),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_class_sessions_area_id_areas")),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_class_sessions_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_sessions")),
    )
    op.create_index("ix_class_sessions_unit_start", "class_sessions", ["unit_id", "starts_at"], unique=False)
    op.create_table(
        "contracts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("monthly_price_cents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('active', 'cancelled', 'ended')", name=op.f("ck_contracts_status")),
        sa.CheckConstraint("ends_on > starts_on", name=op.f("ck_contracts_dates")),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_contracts_member_id_members")),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name=op.f("fk_contracts_plan_id_plans")),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_contracts_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
    )
    op.create_index(
        "uq_contracts_active", "contracts", ["member_id"], unique=True, postgresql_where=sa.text("status = 'active'")
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("class_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("origin_event_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint("status IN ('confirmed', 'waitlisted', 'cancelled')", name=op.f("ck_bookings_status")),
        sa.ForeignKeyConstraint(["class_id"], ["class_sessions.id"], name=op.f("fk_bookings_class_id_class_sessions")),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_bookings_member_id_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("origin_event_id", name=op.f("uq_bookings_origin_event_id")),
    )
    op.create_index("ix_bookings_class_queue", "bookings", ["class_id", "status", "created_at"], unique=False)
    op.create_index("ix_bookings_member", "bookings", ["member_id", "created_at"], unique=False)
    op.create_index(
        "uq_bookings_live",
        "bookings",
        ["class_id", "member_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'cancelled'"),
    )


def downgrade() -> None:
    op.drop_index("uq_bookings_live", table_name="bookings", postgresql_where=sa.text("status <> 'cancelled'"))
    op.drop_index("ix_bookings_member", table_name="bookings")
    op.drop_index("ix_bookings_class_queue", table_name="bookings")
    op.drop_table("bookings")
    op.drop_index("uq_contracts_active", table_name="contracts", postgresql_where=sa.text("status = 'active'"))
    op.drop_table("contracts")
    op.drop_index("ix_class_sessions_unit_start", table_name="class_sessions")
    op.drop_table("class_sessions")
    op.drop_index("uq_checkins_open", table_name="checkins", postgresql_where=sa.text("checked_out_at IS NULL"))
    op.drop_index("ix_checkins_unit_time", table_name="checkins")
    op.drop_index("ix_checkins_open_area", table_name="checkins", postgresql_where=sa.text("checked_out_at IS NULL"))
    op.drop_index("ix_checkins_member_time", table_name="checkins")
    op.drop_table("checkins")
    op.drop_index("ix_refresh_tokens_family", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_members_unit_id", table_name="members")
    op.drop_table("members")
    op.drop_table("areas")
    op.drop_table("users")
    op.drop_table("units")
    op.drop_table("plans")
    op.drop_index("ix_audit_log_subject", table_name="audit_log")
    op.drop_index("ix_audit_log_actor", table_name="audit_log")
    op.drop_table("audit_log")
