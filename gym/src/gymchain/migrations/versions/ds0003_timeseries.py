"""datastores: time-series tables (monthly range partitions + BRIN, or TimescaleDB hypertables when present)

Revision ID: ds0003_timeseries
Revises: ds0002_documents
Create Date: 2026-12-06

The DDL lives in gymchain.common.timeseries (it picks partitioning or TimescaleDB by what the server has, and
creates the partitions of the current month and three ahead); later partitions are made by the writers and by
``ensure_partitions``.
"""

import sqlalchemy as sa
from alembic import op

revision = "ds0003_timeseries"
down_revision = "ds0002_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from gymchain.common.timeseries import create_timeseries_tables

    create_timeseries_tables(op.get_bind())


def downgrade() -> None:
    op.execute(sa.text("DROP MATERIALIZED VIEW IF EXISTS sensor_readings_hourly CASCADE"))
    op.execute(sa.text("DROP TABLE IF EXISTS sensor_readings CASCADE"))
    op.execute(sa.text("DROP TABLE IF EXISTS occupancy_samples CASCADE"))
