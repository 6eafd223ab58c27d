"""Kapacitet: demand as counts per site, team, conversation type and deadline week.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import syncd.store.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "capacity_demand",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=False),
        sa.Column("type_code", sa.String(length=64), nullable=False),
        sa.Column("deadline_week", sa.Date(), nullable=False),
        sa.Column("latest_date", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("updated_at", syncd.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_capacity_demand_key",
        "capacity_demand",
        ["site_id", "team", "type_code", "deadline_week"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_capacity_demand_key", table_name="capacity_demand")
    op.drop_table("capacity_demand")
