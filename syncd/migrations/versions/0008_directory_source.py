"""Caseworkers and rooms read from the calendar system's directory (Entra ID group, Exchange
distribution group or room list, CalDAV homes), kept so a restart keeps them.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import syncd.store.tables

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_source",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("seen_at", syncd.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "id"),
    )


def downgrade() -> None:
    op.drop_table("directory_source")
