"""Quarantine entries keep the item's UID, a redacted summary and the time it may block.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch_op:
        batch_op.add_column(
            sa.Column("uid", sa.String(length=500), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("summary", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("spans", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quarantine") as batch_op:
        batch_op.drop_column("spans")
        batch_op.drop_column("summary")
        batch_op.drop_column("uid")
