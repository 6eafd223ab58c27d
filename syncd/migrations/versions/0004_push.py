"""Push subscriptions and the hints that route notifications to the lease holder.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import syncd.store.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = syncd.store.tables.UTCDateTime(timezone=True)
    op.create_table(
        "push_subscriptions",
        sa.Column("calendar_id", sa.String(length=500), nullable=False),
        sa.Column("backend", sa.String(length=16), nullable=False),
        sa.Column("subscription_id", sa.String(length=400), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires_at", when, nullable=True),
        sa.Column("renew_requested", sa.Boolean(), nullable=False),
        sa.Column("retry_at", when, nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_notification_at", when, nullable=True),
        sa.Column("updated_at", when, nullable=True),
        sa.PrimaryKeyConstraint("calendar_id"),
    )
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_push_subscriptions_subscription_id"), ["subscription_id"], unique=False
        )
    op.create_table(
        "push_hints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("calendar_id", sa.String(length=500), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("received_at", when, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("push_hints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_push_hints_calendar_id"), ["calendar_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("push_hints")
    op.drop_table("push_subscriptions")
